import { describe, expect, it } from 'vitest';
import type { Role } from '../../../core/audio/roles';
import type { AudioFrame } from '../../../core/audiohook/ports';
import type { AudioChunk } from '../../../fargate/src/transcribe/audio-queue';
import { ChunkBuilder, silenceChannelBefore } from '../../../fargate/src/transcribe/chunker';
import { frameOf } from '../../helpers/audio-frames';

function ramp(n: number, start: number): Int16Array {
  return Int16Array.from({ length: n }, (_, i) => start + i);
}

function samplesOf(chunk: AudioChunk, channels: number, channel: number): number[] {
  const view = new DataView(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength);
  return Array.from({ length: chunk.samples }, (_, i) => view.getInt16((i * channels + channel) * 2, true));
}

/** A builder for a session whose channels carry `roles`, and a maker of that session's frames. */
function builder(roles: Role[], chunkSamples: number) {
  const out: AudioChunk[] = [];
  const frame = (position: number, samples: number, pcm: Partial<Record<Role, Int16Array>>): AudioFrame =>
    frameOf(position, samples, pcm, roles);
  return { b: new ChunkBuilder(roles.length, chunkSamples, (c) => out.push(c)), out, frame };
}

describe('ChunkBuilder', () => {
  it('interleaves 16-bit LE samples in the negotiated channel order (customer first)', () => {
    const { b, out, frame } = builder(['customer', 'agent'], 4);
    b.write(frame(0, 4, { customer: ramp(4, 100), agent: ramp(4, -100) }));
    expect(out).toHaveLength(1);
    expect(samplesOf(out[0] as AudioChunk, 2, 0)).toEqual([100, 101, 102, 103]);
    expect(samplesOf(out[0] as AudioChunk, 2, 1)).toEqual([-100, -99, -98, -97]);
  });

  it('puts the agent on channel 0 when internal was negotiated first', () => {
    const { b, out, frame } = builder(['agent', 'customer'], 2);
    b.write(frame(0, 2, { customer: ramp(2, 1), agent: ramp(2, 50) }));
    expect(samplesOf(out[0] as AudioChunk, 2, 0)).toEqual([50, 51]);
    expect(samplesOf(out[0] as AudioChunk, 2, 1)).toEqual([1, 2]);
  });

  it('builds mono chunks for a one-channel session', () => {
    const { b, out, frame } = builder(['customer'], 3);
    b.write(frame(0, 3, { customer: ramp(3, 7) }));
    expect(out[0]?.data.byteLength).toBe(6);
    expect(samplesOf(out[0] as AudioChunk, 1, 0)).toEqual([7, 8, 9]);
  });

  it('builds uniform chunks across frame boundaries, each with its timeline position', () => {
    const { b, out, frame } = builder(['customer', 'agent'], 800);
    for (let i = 0; i < 6; i++) b.write(frame(i * 480, 480, { customer: ramp(480, 0), agent: ramp(480, 0) }));
    expect(out.map((c) => [c.position, c.samples])).toEqual([
      [0, 800],
      [800, 800],
      [1600, 800],
    ]);
    expect(out[0]?.data.byteLength).toBe(3200);
    b.flush();
    expect(out.map((c) => [c.position, c.samples]).at(-1)).toEqual([2400, 480]);
  });

  it('cuts a chunk short at a timeline discontinuity', () => {
    const { b, out, frame } = builder(['customer', 'agent'], 800);
    b.write(frame(0, 300, { customer: ramp(300, 0), agent: ramp(300, 0) }));
    b.write(frame(8000, 300, { customer: ramp(300, 0), agent: ramp(300, 0) })); // after a pause
    b.flush();
    expect(out.map((c) => [c.position, c.samples])).toEqual([
      [0, 300],
      [8000, 300],
    ]);
  });

  it('forgets a partial chunk on reset', () => {
    const { b, out, frame } = builder(['customer'], 800);
    b.write(frame(0, 100, { customer: ramp(100, 0) }));
    b.reset();
    b.flush();
    expect(out).toEqual([]);
  });
});

describe('silenceChannelBefore', () => {
  it('blanks one channel before a timeline position and leaves the other alone', () => {
    const { b, out, frame } = builder(['customer', 'agent'], 4);
    b.write(frame(100, 4, { customer: ramp(4, 10), agent: ramp(4, 20) }));
    const blanked = silenceChannelBefore(out[0] as AudioChunk, 2, 0, 102);
    expect(samplesOf(blanked, 2, 0)).toEqual([0, 0, 12, 13]);
    expect(samplesOf(blanked, 2, 1)).toEqual([20, 21, 22, 23]);
    expect(samplesOf(out[0] as AudioChunk, 2, 0)).toEqual([10, 11, 12, 13]);
  });

  it('returns the chunk unchanged when it starts at or after the position', () => {
    const c: AudioChunk = { position: 500, samples: 2, data: new Uint8Array(8) };
    expect(silenceChannelBefore(c, 2, 1, 400)).toBe(c);
  });
});

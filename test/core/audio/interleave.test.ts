import { describe, expect, it } from 'vitest';
import { channelSamples, writeL16 } from '../../../core/audio/interleave';
import { encodeMulaw } from '../../../core/audio/mulaw';

const le16 = (bytes: Uint8Array, i: number) => new DataView(bytes.buffer, bytes.byteOffset).getInt16(i * 2, true);
const read = (bytes: Uint8Array, n: number) => Array.from({ length: n }, (_, i) => le16(bytes, i));

/** Interleaved L16 bytes of the given sample frames. */
function l16(frames: number[][]): Uint8Array {
  const flat = frames.flat();
  const out = new Uint8Array(flat.length * 2);
  const view = new DataView(out.buffer);
  for (const [i, v] of flat.entries()) view.setInt16(i * 2, v, true);
  return out;
}

describe('writeL16', () => {
  it('decodes stereo PCMU (the reference vectors) into interleaved little-endian 16-bit from a frame offset', () => {
    // 0x00 → -32124, 0x80 → 32124, 0xFF → 0, 0x7F → -1 (docs/audiohook-protocol.md §9.5)
    const data = Uint8Array.from([0x00, 0x80, 0xff, 0x7f, 0x80, 0x00]);
    const out = new Uint8Array(4 * 2 * 2).fill(0xaa);
    writeL16({ format: 'PCMU', channels: 2, data }, 1, 2, out, 1);
    expect(read(out, 6)).toEqual([le16(out, 0), le16(out, 1), 0, -1, 32124, -32124]);
  });

  it('copies L16 as is (it is already little-endian 16-bit)', () => {
    const data = l16([
      [300, -300],
      [32767, -32768],
    ]);
    const out = new Uint8Array(8);
    writeL16({ format: 'L16', channels: 2, data }, 0, 2, out, 0);
    expect(read(out, 4)).toEqual([300, -300, 32767, -32768]);
  });

  it('reorders channels through a map, and writes -1 as silence', () => {
    const data = l16([
      [1, -1],
      [2, -2],
    ]);
    const out = new Uint8Array(2 * 3 * 2).fill(0xff);
    writeL16({ format: 'L16', channels: 2, data }, 0, 2, out, 0, [1, -1, 0]);
    expect(read(out, 6)).toEqual([-1, 0, 1, -2, 0, 2]);
  });

  it('maps PCMU channels too (a mono session into a stereo file)', () => {
    const data = encodeMulaw(Int16Array.from([1000, -1000]));
    const out = new Uint8Array(2 * 2 * 2).fill(0xff);
    writeL16({ format: 'PCMU', channels: 1, data }, 0, 2, out, 0, [-1, 0]);
    const [a, b] = [le16(out, 1), le16(out, 3)];
    expect([le16(out, 0), le16(out, 2)]).toEqual([0, 0]);
    expect(Math.abs(a - 1000)).toBeLessThan(40);
    expect(Math.abs(b + 1000)).toBeLessThan(40);
  });

  it('gives the same bytes into an odd-aligned view (the portable path)', () => {
    const data = Uint8Array.from([0x00, 0x80, 0xff, 0x7f]);
    const aligned = new Uint8Array(8);
    writeL16({ format: 'PCMU', channels: 2, data }, 0, 2, aligned, 0);
    const backing = new Uint8Array(1 + 8);
    const odd = backing.subarray(1);
    writeL16({ format: 'PCMU', channels: 2, data }, 0, 2, odd, 0);
    expect(read(odd, 4)).toEqual(read(aligned, 4));
    expect(read(odd, 4)).toEqual([-32124, 32124, 0, -1]);
  });
});

describe('channelSamples', () => {
  it('takes one channel out of an interleaved frame', () => {
    const data = l16([
      [5, 6],
      [7, 8],
      [9, 10],
    ]);
    expect(Array.from(channelSamples({ format: 'L16', channels: 2, data }, 1))).toEqual([6, 8, 10]);
    expect(Array.from(channelSamples({ format: 'PCMU', channels: 2, data: Uint8Array.from([0x00, 0xff]) }, 0))).toEqual(
      [-32124],
    );
  });
});

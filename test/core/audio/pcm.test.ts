import { describe, expect, it } from 'vitest';
import { decodeMulaw } from '../../../core/audio/mulaw';
import { bytesPerSample, decodeFrame, samplesInFrame } from '../../../core/audio/pcm';
import { type ChannelName, rolesOf } from '../../../core/audio/roles';
import {
  encodeFrame,
  PCMU_SILENCE,
  REFERENCE_TONE,
  REFERENCE_TONE_PERIOD_PCMU,
  referenceToneFrame,
  samplesPerFrame,
  silenceFrame,
  ToneOptionsError,
  ToneSource,
  toneFrames,
} from '../../../core/audio/tone';
import { samplesToDuration } from '../../../core/audiohook/duration';
import type { MediaParameter } from '../../../core/audiohook/messages';

function media(format: 'PCMU' | 'L16', channels: ChannelName[]): MediaParameter {
  return { type: 'audio', format, channels, rate: 8000 };
}

const STEREO: ChannelName[] = ['external', 'internal'];
const PERIOD_LINEAR = [0, -18812, -25980, -18812, 0, 18812, 25980, 18812];

function decodeOk(m: MediaParameter, bytes: Uint8Array): Int16Array[] {
  const r = decodeFrame(m, bytes);
  if (!r.ok) throw new Error(`expected a decodable frame: ${r.error}`);
  return r.channels;
}

describe('binary audio frames (§2.5)', () => {
  describe('frame duration', () => {
    it('uses 1 byte per PCMU sample and 2 per L16 sample', () => {
      expect(bytesPerSample('PCMU')).toBe(1);
      expect(bytesPerSample('L16')).toBe(2);
    });

    it.each([
      ['stereo PCMU', media('PCMU', STEREO), 1600, 800, 'PT0.1S'],
      ['stereo L16', media('L16', STEREO), 6400, 1600, 'PT0.2S'],
      ['mono PCMU', media('PCMU', ['external']), 160, 160, 'PT0.02S'],
      ['mono PCMU, one sample', media('PCMU', ['internal']), 1, 1, 'PT0.000125S'],
      ['stereo PCMU, the reference 200 ms frame', media('PCMU', STEREO), 3200, 1600, 'PT0.2S'],
    ])('%s: %i bytes hold %i samples per channel (%s)', (_name, m, bytes, samples, duration) => {
      expect(samplesInFrame(m, bytes)).toBe(samples);
      expect(samplesToDuration(samples)).toBe(duration);
    });

    it.each([
      ['stereo PCMU', media('PCMU', STEREO), 3],
      ['mono L16', media('L16', ['external']), 3],
      ['stereo L16', media('L16', STEREO), 6],
      ['stereo L16', media('L16', STEREO), 6402],
    ])('rejects %s frames of %i bytes (not whole sample-frames)', (_name, m, bytes) => {
      expect(samplesInFrame(m, bytes)).toBeNull();
      const r = decodeFrame(m, new Uint8Array(bytes));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toContain(`${bytes} bytes`);
    });

    it('accepts an empty frame as zero samples', () => {
      const r = decodeFrame(media('PCMU', STEREO), new Uint8Array(0));
      expect(r).toEqual({ ok: true, samples: 0, channels: [new Int16Array(0), new Int16Array(0)] });
    });
  });

  describe('PCMU decoding', () => {
    it('decodes the reference mono tone period', () => {
      const [ch0] = decodeOk(media('PCMU', ['external']), Uint8Array.from(REFERENCE_TONE_PERIOD_PCMU));
      expect(Array.from(ch0 as Int16Array)).toEqual(PERIOD_LINEAR);
    });

    it('splits the reference stereo tone period into two identical channels', () => {
      const stereo = Uint8Array.of(
        ...[0xff, 0xff, 0x0d, 0x0d, 0x06, 0x06, 0x0d, 0x0d],
        ...[0xff, 0xff, 0x8d, 0x8d, 0x86, 0x86, 0x8d, 0x8d],
      );
      const [a, b] = decodeOk(media('PCMU', STEREO), stereo);
      expect(Array.from(a as Int16Array)).toEqual(PERIOD_LINEAR);
      expect(Array.from(b as Int16Array)).toEqual(PERIOD_LINEAR);
    });

    describe('stereo interleaving', () => {
      // a-bytes decode negative, b-bytes positive, so a swap cannot go unnoticed.
      const a = [0x00, 0x0d, 0x06];
      const b = [0x80, 0x8d, 0x86];
      const frame = Uint8Array.of(
        a[0] as number,
        b[0] as number,
        a[1] as number,
        b[1] as number,
        a[2] as number,
        b[2] as number,
      );

      it('gives the first interleaved sample to the first negotiated channel: external = customer', () => {
        const channels: ChannelName[] = ['external', 'internal'];
        const [c0, c1] = decodeOk(media('PCMU', channels), frame);
        const roles = rolesOf(channels);
        expect(roles).toEqual(['customer', 'agent']);
        expect(Array.from(c0 as Int16Array)).toEqual(Array.from(decodeMulaw(Uint8Array.from(a))));
        expect(Array.from(c1 as Int16Array)).toEqual(Array.from(decodeMulaw(Uint8Array.from(b))));
      });

      it('swaps the roles when negotiated as ["internal","external"]', () => {
        const channels: ChannelName[] = ['internal', 'external'];
        const decoded = decodeOk(media('PCMU', channels), frame);
        const byRole = Object.fromEntries(
          rolesOf(channels).map((role, i) => [role, Array.from(decoded[i] as Int16Array)]),
        );
        expect(byRole.agent).toEqual([-32124, -18812, -25980]);
        expect(byRole.customer).toEqual([32124, 18812, 25980]);
      });
    });
  });

  describe('L16 decoding', () => {
    it('reads samples as little-endian signed 16-bit', () => {
      const [ch] = decodeOk(media('L16', ['external']), Uint8Array.of(0x34, 0x12, 0xff, 0xff, 0x00, 0x80, 0xff, 0x7f));
      expect(Array.from(ch as Int16Array)).toEqual([0x1234, -1, -32768, 32767]);
    });

    it('de-interleaves stereo in negotiated order', () => {
      const [c0, c1] = decodeOk(media('L16', STEREO), Uint8Array.of(0x01, 0x00, 0xfe, 0xff, 0x02, 0x00, 0xfd, 0xff));
      expect(Array.from(c0 as Int16Array)).toEqual([1, 2]);
      expect(Array.from(c1 as Int16Array)).toEqual([-2, -3]);
    });

    it('reads a frame that is a view at an odd offset into a larger buffer', () => {
      const backing = Uint8Array.of(0xaa, 0x34, 0x12, 0x78, 0x56, 0xbb);
      const [ch] = decodeOk(media('L16', ['internal']), backing.subarray(1, 5));
      expect(Array.from(ch as Int16Array)).toEqual([0x1234, 0x5678]);
    });
  });
});

describe('tone synthesis (core/audio/tone)', () => {
  it('reproduces the reference 1 kHz PCMU tone period exactly', () => {
    const source = new ToneSource({ format: 'PCMU', channels: 1, ...REFERENCE_TONE });
    expect(Array.from(source.next(8))).toEqual([0xff, 0x0d, 0x06, 0x0d, 0xff, 0x8d, 0x86, 0x8d]);
    expect(Array.from(source.next(8))).toEqual(Array.from(REFERENCE_TONE_PERIOD_PCMU));
  });

  it('produces the reference 200 ms frames: 1600 bytes mono, 3200 stereo, the period repeated', () => {
    const [mono] = toneFrames({ format: 'PCMU', channels: 1, ...REFERENCE_TONE, count: 1 });
    const [stereo] = toneFrames({ format: 'PCMU', channels: 2, ...REFERENCE_TONE, count: 1 });
    expect(mono).toEqual(referenceToneFrame(1));
    expect(stereo).toEqual(referenceToneFrame(2));
    expect(stereo?.byteLength).toBe(3200);
    expect(Array.from((stereo as Uint8Array).subarray(0, 16))).toEqual([
      0xff, 0xff, 0x0d, 0x0d, 0x06, 0x06, 0x0d, 0x0d, 0xff, 0xff, 0x8d, 0x8d, 0x86, 0x86, 0x8d, 0x8d,
    ]);
  });

  it('keeps a running clock so consecutive frames join, and skip() moves it without audio', () => {
    const whole = new ToneSource({ format: 'L16', channels: 1, hz: 440 }).next(300);
    const split = new ToneSource({ format: 'L16', channels: 1, hz: 440 });
    const first = split.next(100);
    split.skip(100);
    const third = split.next(100);
    expect(split.position).toBe(300);
    expect(first).toEqual(whole.subarray(0, 200));
    expect(third).toEqual(whole.subarray(400, 600));
  });

  it('gives each channel its own frequency and round-trips through decodeFrame', () => {
    const source = new ToneSource({ format: 'L16', channels: 2, hz: [1000, 0], amplitude: 0.5, frameMs: 20 });
    expect(source.frameSamples).toBe(160);
    const [left, right] = decodeOk(media('L16', STEREO), source.nextFrame());
    expect((left as Int16Array)[2]).toBe(Math.round(0.5 * 32767));
    expect(Array.from(right as Int16Array).every((s) => s === 0)).toBe(true);
  });

  it('encodes per-channel PCM into interleaved wire frames', () => {
    expect(Array.from(encodeFrame('PCMU', [Int16Array.of(0, 32124), Int16Array.of(-32124, -1)]))).toEqual([
      0xff, 0x00, 0x80, 0x7f,
    ]);
    expect(Array.from(encodeFrame('L16', [Int16Array.of(0x1234), Int16Array.of(-2)]))).toEqual([
      0x34, 0x12, 0xfe, 0xff,
    ]);
    expect(() => encodeFrame('L16', [Int16Array.of(1), Int16Array.of(1, 2)])).toThrow(ToneOptionsError);
  });

  it('makes silence in both formats', () => {
    expect(Array.from(silenceFrame('PCMU', 2, 2))).toEqual([PCMU_SILENCE, PCMU_SILENCE, PCMU_SILENCE, PCMU_SILENCE]);
    expect(Array.from(silenceFrame('L16', 1, 2))).toEqual([0, 0, 0, 0]);
    const [pcmuZero] = toneFrames({ format: 'PCMU', channels: 1, hz: 0, frameMs: 10, count: 1 });
    expect(Array.from(pcmuZero as Uint8Array).every((b) => b === PCMU_SILENCE)).toBe(true);
  });

  it('rejects options that cannot describe 8 kHz audio', () => {
    expect(() => samplesPerFrame(0.01)).toThrow(ToneOptionsError);
    expect(() => new ToneSource({ format: 'PCMU', channels: 2, hz: [1000] })).toThrow(ToneOptionsError);
    expect(() => new ToneSource({ format: 'PCMU', channels: 1, hz: 5000 })).toThrow(ToneOptionsError);
    expect(() => new ToneSource({ format: 'PCMU', channels: 1, hz: 100, amplitude: 1.5 })).toThrow(ToneOptionsError);
    expect(() => toneFrames({ format: 'PCMU', channels: 1, hz: 100, count: -1 })).toThrow(ToneOptionsError);
  });
});

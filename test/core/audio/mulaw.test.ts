import { describe, expect, it } from 'vitest';
import { decodeMulaw, encodeMulaw, encodeMulawSample, MULAW_DECODE_TABLE } from '../../../core/audio/mulaw';

describe('µ-law codec', () => {
  describe('decoding (§9.5 reference LUT)', () => {
    it.each([
      [0x00, -32124],
      [0x80, 32124],
      [0xff, 0],
      [0x0d, -18812],
      [0x06, -25980],
      [0x8d, 18812],
      [0x86, 25980],
      [0x7f, -1],
    ])('decodes byte %i to %i', (byte, linear) => {
      expect(MULAW_DECODE_TABLE[byte]).toBe(linear);
      expect(Array.from(decodeMulaw(Uint8Array.of(byte)))).toEqual([linear]);
    });

    it('decodes one period of the reference 1 kHz tone to a sine wave that starts negative', () => {
      const period = Uint8Array.of(0xff, 0x0d, 0x06, 0x0d, 0xff, 0x8d, 0x86, 0x8d);
      expect(Array.from(decodeMulaw(period))).toEqual([0, -18812, -25980, -18812, 0, 18812, 25980, 18812]);
    });

    it('is symmetric: byte b and b ^ 0x80 decode to opposite values (except the two zeros)', () => {
      for (let b = 0; b < 0x80; b++) {
        if (b === 0x7f) continue;
        expect(MULAW_DECODE_TABLE[b]).toBe(-(MULAW_DECODE_TABLE[b | 0x80] as number));
      }
    });
  });

  describe('encoding', () => {
    it('encodes linear 0 as 0xFF', () => {
      expect(encodeMulawSample(0)).toBe(0xff);
    });

    it('re-encodes every decoded byte to itself', () => {
      const all = Array.from({ length: 256 }, (_, b) => b);
      expect(all.map((b) => encodeMulawSample(MULAW_DECODE_TABLE[b] as number))).toEqual(all);
    });

    it('clips values beyond the 16-bit range to the extreme codes', () => {
      expect(encodeMulawSample(40_000)).toBe(0x80);
      expect(encodeMulawSample(32_767)).toBe(0x80);
      expect(encodeMulawSample(-40_000)).toBe(0x00);
      expect(encodeMulawSample(-32_768)).toBe(0x00);
    });

    it('rounds non-integer input to the nearest sample', () => {
      expect(encodeMulawSample(18811.6)).toBe(encodeMulawSample(18812));
      expect(encodeMulawSample(-0.4)).toBe(0xff);
    });

    it('encodes arrays element-wise', () => {
      expect(Array.from(encodeMulaw(Int16Array.of(0, 32124, -32124, -1)))).toEqual([0xff, 0x80, 0x00, 0x7f]);
    });
  });

  describe('round trip', () => {
    it('stays within half a quantization step, (|x| + 132) / 32, for every 16-bit value', () => {
      let worst = 0;
      const violations: number[] = [];
      for (let x = -32768; x <= 32767; x++) {
        const err = Math.abs((MULAW_DECODE_TABLE[encodeMulawSample(x)] as number) - x);
        if (err > (Math.abs(x) + 132) / 32) violations.push(x);
        worst = Math.max(worst, err);
      }
      expect(violations).toEqual([]);
      // The bound is tight in the loudest segment (step 1024 → up to 512 off) and at the clip level.
      expect(worst).toBeGreaterThanOrEqual(512);
      expect(worst).toBeLessThanOrEqual(644);
    });

    it('is monotonic: a louder input never decodes quieter', () => {
      const inversions: number[] = [];
      let previous = -Infinity;
      for (let x = -32768; x <= 32767; x++) {
        const y = MULAW_DECODE_TABLE[encodeMulawSample(x)] as number;
        if (y < previous) inversions.push(x);
        previous = y;
      }
      expect(inversions).toEqual([]);
    });
  });
});

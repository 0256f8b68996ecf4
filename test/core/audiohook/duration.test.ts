import { describe, expect, it } from 'vitest';
import {
  isDuration,
  msToDuration,
  msToSamples,
  parseDurationSamples,
  parseDurationSeconds,
  samplesToDuration,
  samplesToMs,
} from '../../../core/audiohook/duration';

describe('duration', () => {
  describe('parsing', () => {
    it.each([
      ['PT0S', 0],
      ['PT0.2S', 0.2],
      ['PT12.345S', 12.345],
      ['PT.5S', 0.5],
      ['PT1M2.5S', 62.5],
      ['PT1H', 3600],
      ['PT2H3M4S', 7384],
    ])('reads %s as %d seconds', (text, seconds) => {
      expect(parseDurationSeconds(text)).toBeCloseTo(seconds, 9);
    });

    it.each(['', 'PT', 'P1D', 'PT-1S', 'PT1e-7S', '1S', 'PT1.S', 'pt1s', 'PT1.5', 'PT 1S'])('rejects %j', (text) => {
      expect(parseDurationSeconds(text)).toBeNull();
      expect(isDuration(text)).toBe(false);
    });

    it('converts to whole samples at 8 kHz', () => {
      expect(parseDurationSamples('PT0.2S')).toBe(1600);
      expect(parseDurationSamples('PT0.000125S')).toBe(1);
      expect(parseDurationSamples('PT12S')).toBe(96_000);
    });
  });

  describe('formatting', () => {
    it('emits the seconds-only form of the protocol vectors (§9.5)', () => {
      expect(samplesToDuration(0)).toBe('PT0S');
      expect(samplesToDuration(800)).toBe('PT0.1S');
      expect(samplesToDuration(1600)).toBe('PT0.2S');
      expect(samplesToDuration(160)).toBe('PT0.02S');
      expect(samplesToDuration(1)).toBe('PT0.000125S');
      expect(samplesToDuration(96_000 + 4000)).toBe('PT12.5S');
    });

    it('never produces exponent notation for tiny values', () => {
      expect(msToDuration(0.0001)).toBe('PT0.0000001S');
      expect(msToDuration(1)).toBe('PT0.001S');
      expect(msToDuration(83_420)).toBe('PT83.42S');
    });

    it('round-trips every sample count of a long call exactly', () => {
      for (let n = 0; n < 8000 * 3; n += 7) {
        expect(parseDurationSamples(samplesToDuration(n))).toBe(n);
      }
      const fourHours = 4 * 3600 * 8000 + 3;
      expect(parseDurationSamples(samplesToDuration(fourHours))).toBe(fourHours);
    });

    it('converts between samples and milliseconds', () => {
      expect(samplesToMs(8000)).toBe(1000);
      expect(samplesToMs(1)).toBe(0.125);
      expect(msToSamples(200)).toBe(1600);
    });
  });
});

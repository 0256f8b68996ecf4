/**
 * The tone code the soak harness uses as ground truth: IDs survive the audio path the gateway and the local
 * endpoint put them through (µ-law, 8 → 16 kHz), and a cut or corrupted utterance never reads as a valid ID.
 */
import { describe, expect, it } from 'vitest';
import { decodeMulaw, encodeMulaw } from '../../../core/audio/mulaw';
import { Resampler } from '../../../local/transcribe/resample';
import {
  decodeToneSymbols,
  parseToneWords,
  SYMBOL_MS,
  synthesizeToneUtterance,
  TONE_REPEAT,
  TONE_SYMBOL_HZ,
  TONE_WORDS,
  toneIdOf,
  toneSymbols,
  toneUtteranceMs,
  toneWords,
} from '../../../local/transcribe/tone-code';

const SAMPLE_IDS = [0, 9, 10, 99_999, 999_999, 111_111, 100_100, 123_456, 505_050, 700_007];

/** What the local endpoint's recognizer gets for audio the harness sends: PCMU on the wire, 16 kHz after. */
function throughTelephonyPath(pcm8k: Int16Array): Int16Array {
  const decoded = decodeMulaw(encodeMulaw(pcm8k));
  const resampler = new Resampler(8000, 16000);
  const head = resampler.push(decoded);
  const tail = resampler.flush();
  const out = new Int16Array(head.length + tail.length);
  out.set(head);
  out.set(tail, head.length);
  return out;
}

const wordsOf = (symbols: readonly number[]) => symbols.map((s) => TONE_WORDS[s] as string);

/** A small deterministic generator (LCG), so sampled IDs are the same on every run. */
function* seededIds(count: number, seed: number): Generator<number> {
  let x = seed;
  for (let i = 0; i < count; i++) {
    x = (x * 1_103_515_245 + 12_345) % 2 ** 31;
    yield x % 1_000_000;
  }
}

describe('tone code', () => {
  describe('alphabet', () => {
    it('has 11 distinct words and frequencies inside the telephone band, no harmonic on another symbol', () => {
      expect(new Set(TONE_WORDS).size).toBe(11);
      expect(TONE_WORDS[TONE_REPEAT]).toBe('again');
      for (const hz of TONE_SYMBOL_HZ) {
        expect(hz).toBeGreaterThanOrEqual(300);
        expect(hz).toBeLessThanOrEqual(3400);
        for (const other of TONE_SYMBOL_HZ) {
          if (other !== hz) expect(Math.abs(other - hz)).toBeGreaterThanOrEqual(150);
          for (const harmonic of [2, 3]) expect(Math.abs(harmonic * hz - other)).toBeGreaterThanOrEqual(40);
        }
      }
    });
  });

  describe('encoding', () => {
    it('writes 6 digits and a check digit, with "again" for a repeated digit and never two equal symbols in a row', () => {
      expect(toneWords(123_456).slice(0, 6)).toEqual(['one', 'two', 'three', 'four', 'five', 'six']);
      expect(toneWords(111_111).slice(0, 6)).toEqual(['one', 'again', 'one', 'again', 'one', 'again']);
      expect(toneWords(100_100).slice(0, 6)).toEqual(['one', 'zero', 'again', 'one', 'zero', 'again']);
      for (const id of [...SAMPLE_IDS, ...seededIds(500, 7)]) {
        const symbols = toneSymbols(id);
        expect(symbols).toHaveLength(7);
        expect(symbols[0]).not.toBe(TONE_REPEAT);
        for (let i = 1; i < symbols.length; i++) expect(symbols[i]).not.toBe(symbols[i - 1]);
        expect(toneIdOf(symbols)).toBe(id);
        expect(parseToneWords(toneWords(id))).toEqual({ id });
      }
    });

    it('rejects ids that are not integers in [0, 10^6) with a RangeError naming the value', () => {
      for (const bad of [-1, 1_000_000, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        expect(() => toneWords(bad)).toThrow(RangeError);
        expect(() => synthesizeToneUtterance(bad, 8000)).toThrow(/integer in \[0, 1000000\)/);
      }
    });

    it('rejects sample rates the top tone does not fit in', () => {
      expect(() => synthesizeToneUtterance(1, 4000)).toThrow(RangeError);
      expect(() => decodeToneSymbols(new Int16Array(160), 8000.5)).toThrow(/sample rate/);
    });
  });

  describe('synthesis', () => {
    it('is 7 symbols of continuous tone at about 0.3 of full scale, ramped only at the ends', () => {
      const pcm = synthesizeToneUtterance(123_456, 8000);
      expect(toneUtteranceMs()).toBe(7 * SYMBOL_MS);
      expect(pcm.length).toBe((toneUtteranceMs() * 8000) / 1000);
      const peak = pcm.reduce((m, s) => Math.max(m, Math.abs(s)), 0);
      expect(peak / 32767).toBeCloseTo(0.3, 2);
      expect(Math.abs(pcm[0] as number)).toBeLessThan(200);
      // No gap: every 10 ms frame away from the ends carries the tone at full level.
      for (let f = 1; f < pcm.length / 80 - 1; f++) {
        const frame = pcm.subarray(f * 80, (f + 1) * 80);
        const rms = Math.sqrt(frame.reduce((a, s) => a + s * s, 0) / frame.length);
        expect(rms / 32767).toBeGreaterThan(0.18);
      }
    });
  });

  describe('decoding through µ-law and 8 → 16 kHz resampling', () => {
    it.each(SAMPLE_IDS)('round-trips id %i', (id) => {
      const symbols = decodeToneSymbols(throughTelephonyPath(synthesizeToneUtterance(id, 8000)), 16000);
      expect(symbols).toEqual(toneSymbols(id));
      expect(parseToneWords(wordsOf(symbols))).toEqual({ id });
    });

    it('finds nothing in silence and in broadband noise', () => {
      expect(decodeToneSymbols(new Int16Array(16000), 16000)).toEqual([]);
      let x = 1;
      const noise = Int16Array.from({ length: 16000 }, () => {
        x = (x * 1_103_515_245 + 12_345) % 2 ** 31;
        return (x % 20_000) - 10_000;
      });
      expect(decodeToneSymbols(noise, 16000)).toEqual([]);
    });
  });

  describe('a cut utterance is a fragment, never an id', () => {
    const id = 123_456;
    const pcm = synthesizeToneUtterance(id, 8000);
    const perSymbol = (SYMBOL_MS * 8000) / 1000;
    const cuts: [string, number, number][] = [];
    for (const k of [1, 2, 3]) {
      cuts.push([`first ${k} symbol(s) cut`, k * perSymbol, pcm.length]);
      cuts.push([`last ${k} symbol(s) cut`, 0, pcm.length - k * perSymbol]);
    }
    cuts.push(['cut in the middle of the 4th symbol', 0, 3.5 * perSymbol]);
    cuts.push(['cut in the middle of the last symbol', 0, 6.5 * perSymbol]);
    cuts.push(['started in the middle of the first symbol', 0.5 * perSymbol, pcm.length]);
    cuts.push(['started 40 ms into the first symbol', (0.04 * 8000) | 0, pcm.length]);

    it.each(cuts)('%s', (_name, from, to) => {
      const symbols = decodeToneSymbols(throughTelephonyPath(pcm.slice(from, to)), 16000);
      expect(symbols.length).toBeGreaterThan(0);
      expect(symbols.length).toBeLessThan(7);
      const parsed = parseToneWords(wordsOf(symbols));
      expect(parsed).toEqual({ fragment: wordsOf(symbols).join(' ') });
    });
  });

  describe('parsing words', () => {
    it('catches every single-symbol substitution (exhaustive over positions and symbols, sampled ids)', () => {
      let tried = 0;
      const accepted: string[] = [];
      for (const id of [...SAMPLE_IDS, ...seededIds(2000, 42)]) {
        const words = toneWords(id);
        for (let i = 0; i < words.length; i++) {
          for (const other of TONE_WORDS) {
            if (other === words[i]) continue;
            const corrupted = words.with(i, other);
            if ('id' in parseToneWords(corrupted)) accepted.push(corrupted.join(' '));
            tried++;
          }
        }
      }
      expect(accepted).toEqual([]);
      expect(tried).toBe((SAMPLE_IDS.length + 2000) * 7 * 10);
    });

    it('rejects a flipped id digit and a wrong check digit', () => {
      expect(parseToneWords(toneWords(123_456).with(2, 'nine'))).toHaveProperty('fragment');
      const words = toneWords(123_456);
      const wrongCheck = TONE_WORDS.find((w) => w !== words[6] && w !== words[5]) as string;
      expect(parseToneWords(words.with(6, wrongCheck))).toHaveProperty('fragment');
    });

    it('rejects truncated, extended, merged and non-tone word sequences', () => {
      const words = toneWords(654_321);
      expect(parseToneWords(words.slice(1))).toHaveProperty('fragment');
      expect(parseToneWords(words.slice(0, 6))).toHaveProperty('fragment');
      expect(parseToneWords([...words, 'one'])).toHaveProperty('fragment');
      expect(parseToneWords([...words, ...toneWords(1)])).toHaveProperty('fragment');
      expect(parseToneWords(['noise'])).toEqual({ fragment: 'noise' });
      expect(parseToneWords([])).toEqual({ fragment: '' });
    });

    it('reads words as a transcript spells them (capitalised, with the final period)', () => {
      const words = toneWords(654_321);
      const asTranscript = words.map((w, i) => (i === 0 ? w[0]?.toUpperCase() + w.slice(1) : w));
      asTranscript[6] = `${asTranscript[6]}.`;
      expect(parseToneWords(asTranscript)).toEqual({ id: 654_321 });
    });
  });
});

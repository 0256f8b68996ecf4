import { describe, expect, it } from 'vitest';
import { applyPii, classifyDigitRun, digitOf, findDigitRuns, type TimedWord } from '../../../local/transcribe/pii';

const words = (text: string): TimedWord[] =>
  text.split(' ').map((word, i) => ({ word, startSec: i, endSec: i + 0.5, confidence: 0.8 }));
const spoken = (n: number) =>
  Array.from({ length: n }, (_, i) => ['one', 'two', 'three', 'oh', 'nine'][i % 5] as string);

describe('pii', () => {
  describe('digitOf', () => {
    it('maps spoken digits (and "oh") to digits, case-insensitively', () => {
      expect(['zero', 'Oh', 'ONE', 'seven', '4'].map(digitOf)).toEqual(['0', '0', '1', '7', '4']);
      expect(['to', 'for', 'ten', 'won'].map(digitOf)).toEqual([undefined, undefined, undefined, undefined]);
    });
  });

  describe('classifyDigitRun', () => {
    it.each([
      [3, undefined],
      [4, 'PIN'],
      [6, 'PIN'],
      [7, undefined],
      [9, undefined],
      [10, 'PHONE'],
      [11, 'PHONE'],
      [12, undefined],
      [13, 'CREDIT_DEBIT_NUMBER'],
      [19, 'CREDIT_DEBIT_NUMBER'],
      [20, undefined],
    ])('classifies %i digits as %s', (n, type) => {
      expect(classifyDigitRun(n)).toBe(type);
    });
  });

  describe('findDigitRuns', () => {
    it('finds maximal runs and keeps those of PII length', () => {
      const w = ['my', 'pin', 'is', ...spoken(4), 'and', 'my', 'number', 'is', ...spoken(10), 'ok', ...spoken(3)];
      expect(findDigitRuns(w)).toEqual([
        { start: 3, end: 7, type: 'PIN' },
        { start: 11, end: 21, type: 'PHONE' },
      ]);
    });

    it('finds a card number at the end of the words', () => {
      expect(findDigitRuns(['card', ...spoken(16)])).toEqual([{ start: 1, end: 17, type: 'CREDIT_DEBIT_NUMBER' }]);
    });

    it('respects the requested entity types', () => {
      const w = [...spoken(4), 'x', ...spoken(10)];
      expect(findDigitRuns(w, ['PHONE'])).toEqual([{ start: 5, end: 15, type: 'PHONE' }]);
      expect(findDigitRuns(w, ['SSN'])).toEqual([]);
    });
  });

  describe('applyPii', () => {
    it('reports an entity spanning the run and leaves the words alone when identifying', () => {
      const input = words('my pin is one two three four thanks');
      const { words: out, entities } = applyPii(input, 'identify');
      expect(out).toEqual(input);
      expect(entities).toEqual([
        { Category: 'PII', Type: 'PIN', Content: 'one two three four', StartTime: 3, EndTime: 6.5, Confidence: 0.8 },
      ]);
    });

    it('replaces the run with one [PII] word when redacting', () => {
      const { words: out, entities } = applyPii(words('my pin is one two three four thanks'), 'redact');
      expect(out.map((w) => w.word)).toEqual(['my', 'pin', 'is', '[PII]', 'thanks']);
      expect(out[3]).toMatchObject({ startSec: 3, endSec: 6.5 });
      expect(entities).toMatchObject([{ Type: 'PIN', Content: '[PII]', StartTime: 3, EndTime: 6.5 }]);
    });

    it('changes nothing without a PII-length run', () => {
      const input = words('one two three');
      expect(applyPii(input, 'redact')).toEqual({ words: input, entities: [] });
    });
  });
});

import { describe, expect, it } from 'vitest';
import { normalizeWords, wordErrorRate } from '../../../local/transcribe/wer';

describe('wordErrorRate', () => {
  it('is 0 for the same words regardless of case and punctuation', () => {
    expect(wordErrorRate('Thank you for calling.', 'thank you, for calling')).toMatchObject({
      wer: 0,
      referenceWords: 4,
    });
  });

  it('counts a substitution', () => {
    expect(wordErrorRate('check my order status', 'check my order stats')).toMatchObject({
      wer: 0.25,
      substitutions: 1,
      deletions: 0,
      insertions: 0,
    });
  });

  it('counts deletions and insertions', () => {
    expect(wordErrorRate('a b c d', 'a c d')).toMatchObject({ wer: 0.25, deletions: 1 });
    expect(wordErrorRate('a b', 'so a b')).toMatchObject({ wer: 0.5, insertions: 1 });
  });

  it('can exceed 1 when the hypothesis is longer and wrong', () => {
    expect(wordErrorRate('yes', 'no no no').wer).toBe(3);
  });

  it('handles empty texts', () => {
    expect(wordErrorRate('', '').wer).toBe(0);
    expect(wordErrorRate('', 'hello').wer).toBe(Number.POSITIVE_INFINITY);
    expect(wordErrorRate('hello there', '').wer).toBe(1);
  });

  it('keeps apostrophes inside words and [PII] tokens', () => {
    expect(normalizeWords("I'll say [PII]. 'ok'")).toEqual(["i'll", 'say', '[pii]', 'ok']);
  });
});

import { describe, expect, it } from 'vitest';
import { locateItems, redactTranscript } from '../../../core/transcript/redaction';
import { fixtureResult } from './fixtures';

function alt(resultId: string) {
  const a = fixtureResult('pii', resultId).Alternatives?.[0];
  if (a?.Transcript === undefined) throw new Error('fixture without transcript');
  return { transcript: a.Transcript, items: a.Items ?? [], entities: a.Entities ?? [] };
}

describe('redactTranscript', () => {
  it('masks an entity located by its time with # of the same length', () => {
    const { transcript, items, entities } = alt('r-pin');
    const r = redactTranscript(transcript, items, entities);
    expect(r.text).toBe('PIN number is ####.');
    expect(r.itemMasked).toEqual([false, false, false, true, false]);
    expect(r.unlocated).toBe(0);
  });

  it('masks a multi-word entity as one span, spaces included', () => {
    const { transcript, items, entities } = alt('r-card');
    const r = redactTranscript(transcript, items, entities);
    expect(r.text).toBe(`My card is ${'#'.repeat(19)} thanks`);
    expect(r.text).toHaveLength(transcript.length);
    expect(r.itemMasked).toEqual([false, false, false, true, true, true, true, false]);
  });

  it('falls back to the entity content when there are no item times', () => {
    const { transcript, items, entities } = alt('r-name-no-times');
    expect(redactTranscript(transcript, items, entities).text).toBe('this is ######## speaking');
  });

  it('masks both occurrences when the same content is identified twice', () => {
    const { transcript, items, entities } = alt('r-two-pins');
    expect(redactTranscript(transcript, items, entities).text).toBe('#### or ####');
  });

  it('fails closed: an entity it cannot locate masks the whole text', () => {
    const { transcript, items, entities } = alt('r-unlocatable');
    const r = redactTranscript(transcript, items, entities);
    expect(r.text).toBe('#'.repeat(transcript.length));
    expect(r.unlocated).toBe(1);
  });

  it('leaves the text alone without entities', () => {
    expect(redactTranscript('nothing to hide', [], []).text).toBe('nothing to hide');
  });

  it('matches content case-insensitively as a last resort', () => {
    const r = redactTranscript('my name is JANE', [], [{ Content: 'Jane' }]);
    expect(r.text).toBe('my name is ####');
  });
});

describe('locateItems', () => {
  it('places items in order, so repeated words get successive spans', () => {
    expect(locateItems('1111 1111.', [{ Content: '1111' }, { Content: '1111' }, { Content: '.' }])).toEqual([
      { start: 0, end: 4 },
      { start: 5, end: 9 },
      { start: 9, end: 10 },
    ]);
  });

  it('reports an item whose content is not in the transcript as unplaced', () => {
    expect(locateItems('hello', [{ Content: 'bye' }, { Content: 'hello' }])).toEqual([undefined, { start: 0, end: 5 }]);
  });
});

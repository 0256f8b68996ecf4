import { describe, expect, it } from 'vitest';
import { FeedSelectorError, parseSelectors } from '../../../core/feeds/selectors';

describe('File Exporter selectors (A11)', () => {
  it('accepts bare and prefixed forms and returns bare values', () => {
    const all = ['feed', 'version', 'format', 'date', 'interval', 'fileName'] as const;
    expect(
      parseSelectors(
        {
          feed: 'utterances',
          version: 'version=1',
          format: 'format=JSONL',
          date: 'dt=2022-06-27',
          interval: 'hr=3',
          file: 'part-00000.jsonl.gz',
        },
        all,
      ),
    ).toEqual({
      feed: 'utterances',
      version: '1',
      format: 'jsonl',
      date: '2022-06-27',
      interval: '03',
      fileName: 'part-00000.jsonl.gz',
    });
    expect(
      parseSelectors({ version: '1', date: '2022-06-27', interval: '23/' }, ['version', 'date', 'interval']),
    ).toEqual({
      version: '1',
      date: '2022-06-27',
      interval: '23',
    });
  });

  it('prefers fileName over file, and keeps a finer interval for a 404 rather than a 400', () => {
    expect(parseSelectors({ fileName: 'a.gz', file: 'b.gz' }, ['fileName']).fileName).toBe('a.gz');
    expect(parseSelectors({ interval: 'hr=01/mi=15' }, [], ['interval']).interval).toBe('hr=01/mi=15');
    expect(parseSelectors({ interval: null }, [], ['interval'])).toEqual({});
  });

  it.each([
    [{}, ['feed'], 'feed is required'],
    [{ feed: 7 }, ['feed'], 'feed must be a string'],
    [{ date: '2025-02-30' }, ['date'], 'date must be'],
    [{ date: '' }, ['date'], 'date must be'],
    [{ interval: 'hr=24' }, ['interval'], 'interval must be'],
    [{ fileName: '../x' }, ['fileName'], 'fileName must be'],
    [{ fileName: 'a/b' }, ['fileName'], 'fileName must be'],
  ] as const)('rejects %j', (body, required, message) => {
    expect(() => parseSelectors(body, required)).toThrow(FeedSelectorError);
    expect(() => parseSelectors(body, required)).toThrow(message);
  });

  it('rejects a body that is not an object', () => {
    expect(() => parseSelectors([1], ['feed'])).toThrow('JSON object');
  });
});

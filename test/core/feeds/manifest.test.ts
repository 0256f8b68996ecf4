import { describe, expect, it } from 'vitest';
import {
  buildManifest,
  FeedStateFormatError,
  type ManifestFile,
  parseCheckpoint,
  parseManifest,
} from '../../../core/feeds/manifest';

const file = (hour: string, n: number, rows: number): ManifestFile => ({
  hour,
  fileName: `part-0000${n}.jsonl.gz`,
  key: `feeds/utterances/version=1/format=jsonl/dt=2025-01-15/hr=${hour}/part-0000${n}.jsonl.gz`,
  rows,
  bytes: 10,
  sha256: 'a'.repeat(64),
});
const base = {
  feed: 'utterances',
  version: '1',
  format: 'jsonl',
  date: '2025-01-15',
  columns: ['x'],
  exportedAt: '2025-01-16T02:00:00.000Z',
};

describe('manifest', () => {
  it('covers the whole day for a day run, sorted, with its row total', () => {
    const m = buildManifest({ ...base, files: [file('14', 0, 3), file('02', 1, 2), file('02', 0, 5)] });
    expect(m.complete).toBe(true);
    expect(m.hours).toHaveLength(24);
    expect(m.rows).toBe(10);
    expect(m.files.map((f) => `${f.hour}/${f.fileName}`)).toEqual([
      '02/part-00000.jsonl.gz',
      '02/part-00001.jsonl.gz',
      '14/part-00000.jsonl.gz',
    ]);
    expect(parseManifest(JSON.parse(JSON.stringify(m)))).toEqual(m);
  });

  it('replaces one hour of a previous manifest for an hour run', () => {
    const day = buildManifest({ ...base, files: [file('01', 0, 1), file('02', 0, 2)] });
    const m = buildManifest({ ...base, hour: '02', previous: day, files: [file('02', 0, 7)] });
    expect(m.complete).toBe(true);
    expect(m.files.map((f) => `${f.hour}:${f.rows}`)).toEqual(['01:1', '02:7']);
    const alone = buildManifest({ ...base, hour: '05', files: [] });
    expect(alone).toMatchObject({ complete: false, hours: ['05'], rows: 0 });
  });

  it('refuses objects we did not write', () => {
    expect(() => parseManifest({ manifestVersion: 2 })).toThrow(FeedStateFormatError);
    const m = buildManifest({ ...base, files: [file('01', 0, 1)] });
    const bad = JSON.parse(JSON.stringify(m)) as { files: { sha256: string }[] };
    (bad.files[0] as { sha256: string }).sha256 = 'nope';
    expect(() => parseManifest(bad)).toThrow(/sha256/);
    expect(() => parseCheckpoint({ checkpointVersion: 1, budget: {} })).toThrow(FeedStateFormatError);
  });
});

import { describe, expect, it } from 'vitest';
import {
  checkpointKey,
  dayOfManifestKey,
  exportRequestKey,
  hourOf,
  isValidDay,
  manifestKey,
  parseExportRequestKey,
  partFileName,
  partIndexOf,
  partKey,
  previousUtcDay,
  UTTERANCES_TABLE,
} from '../../../core/feeds/partitions';

describe('feed partitions', () => {
  it('names parts under Hive-style dt=/hr= partitions', () => {
    expect(partKey(UTTERANCES_TABLE, '2025-01-15', '07', 12)).toBe(
      'feeds/utterances/version=1/format=jsonl/dt=2025-01-15/hr=07/part-00012.jsonl.gz',
    );
    expect(partIndexOf(partFileName(UTTERANCES_TABLE, 99_999))).toBe(99_999);
    expect(partIndexOf('part-1.jsonl.gz')).toBeUndefined();
    expect(() => partFileName(UTTERANCES_TABLE, 100_000)).toThrow(RangeError);
  });

  it('keeps manifests and checkpoints outside every data partition', () => {
    const m = manifestKey(UTTERANCES_TABLE, '2025-01-15');
    expect(m).toBe('feeds/utterances/version=1/format=jsonl/_manifests/dt=2025-01-15.json');
    expect(dayOfManifestKey(UTTERANCES_TABLE, m)).toBe('2025-01-15');
    expect(dayOfManifestKey(UTTERANCES_TABLE, `${m}.bak`)).toBeUndefined();
    expect(checkpointKey(UTTERANCES_TABLE, '2025-01-15')).not.toBe(checkpointKey(UTTERANCES_TABLE, '2025-01-15', '03'));
  });

  it('round-trips export request keys and rejects foreign ones', () => {
    const scope = { table: UTTERANCES_TABLE, day: '2025-01-15', hour: '09' };
    expect(parseExportRequestKey(exportRequestKey(scope, '17-abc'))).toEqual(scope);
    expect(parseExportRequestKey(exportRequestKey({ table: UTTERANCES_TABLE, day: '2025-01-15' }, 'x'))).toEqual({
      table: UTTERANCES_TABLE,
      day: '2025-01-15',
    });
    expect(parseExportRequestKey('feeds/_requests/other/version=1/format=jsonl/dt=2025-01-15/x.json')).toBeUndefined();
    expect(
      parseExportRequestKey('feeds/_requests/utterances/version=1/format=jsonl/dt=2025-02-30/x.json'),
    ).toBeUndefined();
  });

  it('knows calendar days, hours of createdAt and the previous UTC day', () => {
    expect(isValidDay('2024-02-29')).toBe(true);
    expect(isValidDay('2025-02-29')).toBe(false);
    expect(isValidDay('2025-1-01')).toBe(false);
    expect(hourOf('2025-01-15T23:59:59.999Z')).toBe('23');
    expect(previousUtcDay(Date.parse('2025-03-01T02:00:00Z'))).toBe('2025-02-28');
    expect(previousUtcDay(Date.parse('2025-01-01T00:00:00Z'))).toBe('2024-12-31');
  });
});

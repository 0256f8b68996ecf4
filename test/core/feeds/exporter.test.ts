/**
 * The export's orchestration over in-memory ports (the DynamoDB/S3 adapters are covered in
 * test/lambdas/export.test.ts): merge order, the deadline inside a part, argument checks.
 */

import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  type ExportItem,
  type ExportSource,
  exportFeed,
  type FeedObjectStore,
  type PartWriter,
} from '../../../core/feeds/exporter';
import { UTTERANCES_TABLE } from '../../../core/feeds/partitions';

type Row = ExportItem & { shard: number; i: number };

function item(shard: number, i: number, createdAt: string): Row {
  return {
    shard,
    i,
    conversationId: `c${shard}`,
    segment: 1,
    streamId: 's',
    role: 'customer',
    utteranceId: `u-${shard}-${i}`,
    startMs: i,
    endMs: i + 1,
    text: 't',
    language: 'en-US',
    createdAt,
    exportSk: `${createdAt}#c${shard}#${i}`,
  };
}

/** Shards of items, paged by 3; cursors are `{shard, i}`. */
function memorySource(shards: Row[][]): ExportSource & { served: number } {
  const source = {
    served: 0,
    shards: shards.length,
    async *pages(
      _day: string,
      shard: number,
      options: { exclusiveStartKey?: Record<string, unknown>; fromHour?: string },
    ) {
      let items = shards[shard] ?? [];
      const after = options.exclusiveStartKey?.i as number | undefined;
      if (after !== undefined) items = items.filter((x) => x.i > after);
      if (options.fromHour !== undefined)
        items = items.filter((x) => x.createdAt.slice(11, 13) >= (options.fromHour as string));
      for (let p = 0; p < items.length; p += 3) {
        const page = items.slice(p, p + 3);
        source.served += page.length;
        yield { items: page, ...(p + 3 < items.length && { lastEvaluatedKey: { i: (page[2] as Row).i } }) };
      }
    },
    cursorOf: (x: ExportItem) => ({ shard: (x as Row).shard, i: (x as Row).i }),
  };
  return source;
}

function memoryStore(): FeedObjectStore & { objects: Map<string, unknown>; aborted: number } {
  const objects = new Map<string, unknown>();
  const store = {
    objects,
    aborted: 0,
    openPart(key: string): PartWriter {
      let text = '';
      return {
        write: async (t) => {
          text += t;
        },
        finish: async () => {
          const bytes = gzipSync(text);
          objects.set(key, text);
          return { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
        },
        abort: async () => {
          store.aborted++;
        },
      };
    },
    getJson: async (k: string) => objects.get(k),
    putJson: async (k: string, v: unknown) => {
      objects.set(k, JSON.parse(JSON.stringify(v)));
    },
    async *listKeys(prefix: string) {
      for (const k of [...objects.keys()].sort()) if (k.startsWith(prefix)) yield k;
    },
    deleteKeys: async (keys: readonly string[]) => {
      for (const k of keys) objects.delete(k);
    },
  };
  return store;
}

const day = '2025-01-15';
const at = (h: number, s: number) => `${day}T${String(h).padStart(2, '0')}:00:${String(s).padStart(2, '0')}.000Z`;

describe('exportFeed', () => {
  it('merges the shards into createdAt order', async () => {
    const source = memorySource([
      [item(0, 0, at(1, 5)), item(0, 1, at(1, 30))],
      [item(1, 0, at(1, 1)), item(1, 1, at(1, 10)), item(1, 2, at(2, 0))],
    ]);
    const store = memoryStore();
    const result = await exportFeed(
      source,
      store,
      { table: UTTERANCES_TABLE, day },
      {
        budget: { maxRowsPerPart: 100, maxBytesPerPart: 1 << 20 },
      },
    );
    expect(result).toMatchObject({ status: 'complete', rows: 5, files: 2 });
    const hour1 = store.objects.get(
      `feeds/utterances/version=1/format=jsonl/dt=${day}/hr=01/part-00000.jsonl.gz`,
    ) as string;
    expect(
      hour1
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { event_uuid: string }).event_uuid),
    ).toEqual(['u-1-0', 'u-0-0', 'u-1-1', 'u-0-1']);
  });

  it('abandons the part in progress at the deadline and redoes it in the next run', async () => {
    const rows = Array.from({ length: 2500 }, (_, i) =>
      item(
        0,
        i,
        `${day}T03:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}.000Z`,
      ),
    );
    rows.sort((a, b) => (a.exportSk < b.exportSk ? -1 : 1));
    rows.forEach((r, i) => {
      r.i = i;
    });
    const store = memoryStore();
    let calls = 0;
    const first = await exportFeed(
      memorySource([rows]),
      store,
      { table: UTTERANCES_TABLE, day },
      {
        budget: { maxRowsPerPart: 2000, maxBytesPerPart: 1 << 30 },
        safetyMs: 100,
        // Plenty of time for the first 1,000-row check, then the deadline is near.
        remainingMs: () => (calls++ < 1 ? 10_000 : 50),
      },
    );
    expect(first).toMatchObject({ status: 'incomplete', files: 0, rows: 0 });
    expect(store.aborted).toBe(1);
    const second = await exportFeed(
      memorySource([rows]),
      store,
      { table: UTTERANCES_TABLE, day },
      {
        budget: { maxRowsPerPart: 2000, maxBytesPerPart: 1 << 30 },
      },
    );
    expect(second).toMatchObject({ status: 'complete', rows: 2500, files: 2 });
  });

  it('exports one hour only and stops reading a shard past it', async () => {
    const source = memorySource([
      [
        item(0, 0, at(1, 0)),
        item(0, 1, at(2, 0)),
        item(0, 2, at(2, 1)),
        ...Array.from({ length: 30 }, (_, k) => item(0, 3 + k, at(3, k))),
      ],
    ]);
    const store = memoryStore();
    const result = await exportFeed(
      source,
      store,
      { table: UTTERANCES_TABLE, day, hour: '02' },
      {
        budget: { maxRowsPerPart: 100, maxBytesPerPart: 1 << 20 },
      },
    );
    expect(result).toMatchObject({ status: 'complete', rows: 2, hour: '02' });
    expect(source.served).toBeLessThan(12);
  });

  it('refuses a bad day, hour or budget', async () => {
    const run = (scope: { day: string; hour?: string }, rows = 1) =>
      exportFeed(
        memorySource([]),
        memoryStore(),
        { table: UTTERANCES_TABLE, ...scope },
        {
          budget: { maxRowsPerPart: rows, maxBytesPerPart: 1 },
        },
      );
    await expect(run({ day: '2025-13-01' })).rejects.toThrow(/day/);
    await expect(run({ day, hour: '24' })).rejects.toThrow(/hour/);
    await expect(run({ day }, 0)).rejects.toThrow(/budget/);
  });
});

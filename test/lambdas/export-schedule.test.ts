/**
 * The local schedule of the export (local/scheduler.ts: 02:00 UTC, previous day; export requests) and the
 * CLI's arguments and configuration (local/export-cli.ts), driven by fake time.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { previousUtcDay } from '../../core/feeds/partitions';
import { scopesOf } from '../../lambdas/export/handler';
import { localExportEnv, parseExportArgs } from '../../local/export-cli';
import { nextRunAt, pollExportRequests, type SchedulerTimers, startDailyScheduler } from '../../local/scheduler';

const timers: SchedulerTimers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

describe('local daily schedule', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('next fires at 02:00 UTC, today if still ahead, else tomorrow', () => {
    expect(new Date(nextRunAt(Date.parse('2025-01-15T01:59:59Z'))).toISOString()).toBe('2025-01-15T02:00:00.000Z');
    expect(new Date(nextRunAt(Date.parse('2025-01-15T02:00:00Z'))).toISOString()).toBe('2025-01-16T02:00:00.000Z');
    expect(new Date(nextRunAt(Date.parse('2025-12-31T23:00:00Z'))).toISOString()).toBe('2026-01-01T02:00:00.000Z');
  });

  it('runs once a day with the scheduled time, which the export reads as the previous UTC day', async () => {
    vi.setSystemTime(new Date('2025-01-15T20:00:00Z'));
    const runs: string[] = [];
    const scheduler = startDailyScheduler({
      run: async (t) => {
        runs.push(
          scopesOf({ source: 'schedule', scheduledTime: t.toISOString() }, Date.now()).scopes[0]?.scope.day ?? '',
        );
      },
      timers,
    });
    await vi.advanceTimersByTimeAsync(5 * 3_600_000);
    expect(runs).toEqual([]);
    await vi.advanceTimersByTimeAsync(1 * 3_600_000 + 1000);
    expect(runs).toEqual(['2025-01-15']);
    await vi.advanceTimersByTimeAsync(24 * 3_600_000);
    expect(runs).toEqual(['2025-01-15', '2025-01-16']);
    expect(new Date(scheduler.nextRunAt()).toISOString()).toBe('2025-01-18T02:00:00.000Z');
    scheduler.stop();
    await vi.advanceTimersByTimeAsync(48 * 3_600_000);
    expect(runs).toHaveLength(2);
  });

  it('keeps its schedule after a failed run', async () => {
    vi.setSystemTime(new Date('2025-01-15T01:00:00Z'));
    const errors: unknown[] = [];
    let calls = 0;
    const scheduler = startDailyScheduler({
      run: async () => {
        calls++;
        throw new Error('boom');
      },
      onError: (e) => errors.push(e),
      timers,
    });
    await vi.advanceTimersByTimeAsync(25 * 3_600_000);
    expect(calls).toBe(2);
    expect(errors).toHaveLength(2);
    scheduler.stop();
  });

  it('hands export request objects to the handler as S3 notification records', async () => {
    const key = 'feeds/_requests/utterances/version=1/format=jsonl/dt=2025-01-14/1-a.json';
    // Served requests are deleted by the handler: the second poll finds nothing.
    const keys = [key];
    const handled: unknown[] = [];
    const stop = pollExportRequests({
      store: {
        async *listKeys() {
          yield* keys.splice(0);
        },
        async deleteKeys() {
          throw new Error('a valid request is deleted by the handler, not the poller');
        },
      },
      handle: async (event) => {
        handled.push(event);
      },
      intervalMs: 1000,
      timers,
    });
    await vi.advanceTimersByTimeAsync(2500);
    stop();
    expect(handled).toEqual([{ Records: [{ s3: { object: { key } } }] }]);
  });

  describe('an object under the request prefix that is not a valid request', () => {
    const valid = 'feeds/_requests/utterances/version=1/format=jsonl/dt=2025-01-14/1-a.json';
    const junk = [
      'feeds/_requests/constructor/version=1/format=jsonl/dt=2025-01-14/1-b.json',
      'feeds/_requests/utterances/version=1/format=jsonl/dt=2025-02-30/1-c.json',
      'feeds/_requests/notes\nFAKE.txt',
    ];

    /** A bucket whose objects stay until deleted, like S3; `failDeletes` makes the next deletes fail. */
    function bucket(initial: string[]) {
      const objects = new Set(initial);
      const state = { failDeletes: 0, deleteCalls: 0 };
      return {
        objects,
        state,
        store: {
          async *listKeys(prefix: string) {
            yield* [...objects].filter((k) => k.startsWith(prefix));
          },
          async deleteKeys(keys: readonly string[]) {
            state.deleteCalls++;
            if (state.failDeletes > 0) {
              state.failDeletes--;
              throw new Error('S3 unavailable');
            }
            for (const k of keys) objects.delete(k);
          },
        },
      };
    }

    it('is deleted and reported once, never handed to the handler, while valid requests are served', async () => {
      const b = bucket([valid, ...junk]);
      const handled: string[] = [];
      const rejected: string[] = [];
      const stop = pollExportRequests({
        store: b.store,
        handle: async (event) => {
          for (const r of event.Records) {
            handled.push(r.s3.object.key);
            b.objects.delete(r.s3.object.key); // what the export handler does once a request is served
          }
        },
        onRejected: (key) => rejected.push(key),
        intervalMs: 2000,
        timers,
      });
      // Six polls: the old poller offered every junk object to the handler (which logs it) on each one.
      await vi.advanceTimersByTimeAsync(10_500);
      stop();
      expect(handled).toEqual([valid]);
      expect(rejected.sort()).toEqual([...junk].sort());
      expect([...b.objects]).toEqual([]);
    });

    it('stays until its delete succeeds, and is reported only then', async () => {
      const b = bucket([junk[0] as string]);
      b.state.failDeletes = 2;
      const rejected: string[] = [];
      const errors: unknown[] = [];
      const stop = pollExportRequests({
        store: b.store,
        handle: async () => {
          throw new Error('must not be called');
        },
        onRejected: (key) => rejected.push(key),
        onError: (err) => errors.push(err),
        intervalMs: 2000,
        timers,
      });
      await vi.advanceTimersByTimeAsync(10_500);
      stop();
      expect(errors.map((e) => (e as Error).message)).toEqual(['S3 unavailable', 'S3 unavailable']);
      expect(rejected).toEqual([junk[0]]);
      expect(b.state.deleteCalls).toBe(3);
      expect(b.objects.size).toBe(0);
    });
  });
});

describe('npm run export', () => {
  const now = Date.parse('2025-03-01T10:00:00Z');

  it('reads --day, --hour and --yesterday', () => {
    expect(parseExportArgs(['--day', '2025-01-15', '--hour', '7'], now).scope).toMatchObject({
      day: '2025-01-15',
      hour: '07',
    });
    expect(parseExportArgs(['--yesterday'], now).scope.day).toBe(previousUtcDay(now));
    expect(() => parseExportArgs([], now)).toThrow(/usage/);
    expect(() => parseExportArgs(['--day', '2025-02-30'], now)).toThrow(/bad day/);
    expect(() => parseExportArgs(['--day', '2025-01-15', '--hour', '24'], now)).toThrow(/bad hour/);
  });

  it('takes unset settings from the local stack endpoints file and uses the local S3 keys on loopback', () => {
    const dir = mkdtempSync(join(tmpdir(), 'endpoints-'));
    const file = join(dir, 'endpoints.json');
    writeFileSync(
      file,
      JSON.stringify({
        dynamodb: { endpoint: 'http://127.0.0.1:8000', tablePrefix: 'local' },
        s3: { endpoint: 'http://127.0.0.1:4568', bucket: 'local-feeds' },
      }),
    );
    try {
      expect(localExportEnv({ EXPORT_PAGE_SIZE: '50' }, file)).toMatchObject({
        UTTERANCES_TABLE: 'local-utterances',
        DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000',
        S3_ENDPOINT: 'http://127.0.0.1:4568',
        FEEDS_BUCKET: 'local-feeds',
        EXPORT_PAGE_SIZE: '50',
        LOCAL_S3: '1',
      });
      const aws = localExportEnv({ FEEDS_BUCKET: 'prod', S3_ENDPOINT: 'https://s3.eu-west-1.amazonaws.com' }, file);
      expect(aws.FEEDS_BUCKET).toBe('prod');
      expect(aws.LOCAL_S3).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

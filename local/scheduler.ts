/**
 * The local stand-in for EventBridge Scheduler and the S3 notification on export requests: an in-process
 * daily timer that fires at 02:00 UTC and hands the export handler the same schedule event AWS sends
 * (`{"source":"schedule","scheduledTime":…}` → the previous UTC day), and a poller that turns export
 * request objects (`feeds/_requests/…`, written by `POST /fileexporter/v1/admin/exportfeed`) into the S3
 * notification records the handler reads. Business rules stay in lambdas/export/handler.ts.
 *
 * An object under the request prefix whose key names no export (left by an earlier bug, or junk) is set
 * aside once: deleted, with one log line naming its key (docs/feeds.md), instead of being offered to the
 * handler, found again and logged on every poll, forever.
 *
 * As a process (`tsx local/scheduler.ts [--now]`, started by `npm start`): configuration as for
 * `npm run export` (environment, else `.local/endpoints.json`); `--now` also runs the previous day at once.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { EXPORT_REQUESTS_PREFIX, parseExportRequestKey } from '../core/feeds/partitions';
import { type ExportSummary, exportDepsFromConfig, makeExportHandler } from '../lambdas/export/handler';
import { loadExportConfig } from '../lambdas/shared/export-config';
import type { S3FeedStore } from '../store/feeds';
import { localExportEnv } from './export-cli';
import { escapeControlCharacters } from './log-format';
import { LOCAL_S3_CREDENTIALS } from './s3';

/** When the daily run fires. */
export interface DailySchedule {
  /** UTC hour. @default 2 */
  hourUtc?: number;
  /** UTC minute. @default 0 */
  minuteUtc?: number;
}

/** Epoch ms of the first run strictly after `nowMs`. */
export function nextRunAt(nowMs: number, schedule: DailySchedule = {}): number {
  const d = new Date(nowMs);
  const at = Date.UTC(
    d.getUTCFullYear(),
    d.getUTCMonth(),
    d.getUTCDate(),
    schedule.hourUtc ?? 2,
    schedule.minuteUtc ?? 0,
  );
  return at > nowMs ? at : at + 86_400_000;
}

/** Timer functions (injectable so tests drive time). */
export interface SchedulerTimers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Options of {@link startDailyScheduler}. */
export interface DailySchedulerOptions extends DailySchedule {
  /** Runs once per day with the scheduled time (what EventBridge Scheduler passes as `scheduledTime`). */
  run: (scheduledTime: Date) => Promise<unknown>;
  /** A failed run (the next day's run still happens). */
  onError?: (err: unknown) => void;
  timers?: SchedulerTimers;
}

/** A running daily scheduler. */
export interface DailyScheduler {
  /** Epoch ms of the next run. */
  readonly nextRunAt: () => number;
  stop(): void;
}

const realTimers: SchedulerTimers = {
  now: Date.now,
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

// setTimeout's delay is a signed 32-bit number of ms; a day fits, but re-arm in steps to stay accurate.
const MAX_WAIT_MS = 6 * 3_600_000;

/** Fires `run` at every `hourUtc:minuteUtc` UTC until stopped; runs never overlap. */
export function startDailyScheduler(options: DailySchedulerOptions): DailyScheduler {
  const timers = options.timers ?? realTimers;
  let due = nextRunAt(timers.now(), options);
  let handle: unknown;
  let stopped = false;
  const arm = () => {
    if (stopped) return;
    const wait = Math.max(0, Math.min(due - timers.now(), MAX_WAIT_MS));
    handle = timers.setTimeout(tick, wait);
  };
  const tick = () => {
    if (stopped) return;
    if (timers.now() < due) return arm();
    const scheduled = new Date(due);
    due = nextRunAt(due, options);
    options
      .run(scheduled)
      .catch((err: unknown) => options.onError?.(err))
      .finally(arm);
  };
  arm();
  return {
    nextRunAt: () => due,
    stop() {
      stopped = true;
      timers.clearTimeout(handle);
    },
  };
}

/** Options of {@link pollExportRequests}. */
export interface ExportRequestPollerOptions {
  store: Pick<S3FeedStore, 'listKeys' | 'deleteKeys'>;
  /** Called with S3-notification-shaped records, one per valid request object found. */
  handle: (event: { Records: { s3: { object: { key: string } } }[] }) => Promise<unknown>;
  /**
   * An object under the request prefix that is not a valid request (its key names no served export) was
   * deleted; called once per such object, after the delete succeeded. A failed delete fails the poll
   * (`onError`) and is tried again on the next one.
   */
  onRejected?: (key: string) => void;
  /** @default 2000 */
  intervalMs?: number;
  onError?: (err: unknown) => void;
  /** After every poll that did not fail. */
  onPolled?: () => void;
  timers?: SchedulerTimers;
}

/** Polls the export request prefix (the local stand-in for the bucket's notification); returns `stop`. */
export function pollExportRequests(options: ExportRequestPollerOptions): () => void {
  const timers = options.timers ?? realTimers;
  let stopped = false;
  let handle: unknown;
  const poll = async () => {
    const keys: string[] = [];
    for await (const key of options.store.listKeys(EXPORT_REQUESTS_PREFIX)) keys.push(key);
    // The handler deletes each request once served; one at a time keeps a day's runs from overlapping.
    for (const key of keys) {
      // The same check the handler makes (core/feeds/partitions.ts). The handler would only log and keep an
      // invalid object, which this poller would then find every 2 s: delete it here, once. A valid key
      // also holds no character S3 would URL-encode in a notification, so it is passed as it is.
      if (parseExportRequestKey(key) === undefined) {
        await options.store.deleteKeys([key]);
        options.onRejected?.(key);
        continue;
      }
      await options.handle({ Records: [{ s3: { object: { key } } }] });
    }
    options.onPolled?.();
  };
  const loop = () => {
    if (stopped) return;
    poll()
      .catch((err: unknown) => options.onError?.(err))
      .finally(() => {
        if (!stopped) handle = timers.setTimeout(loop, options.intervalMs ?? 2000);
      });
  };
  loop();
  return () => {
    stopped = true;
    timers.clearTimeout(handle);
  };
}

function describeRun(summary: ExportSummary): string {
  return summary.exports
    .map((e) => `${e.day}${e.hour ? ` hr=${e.hour}` : ''}: ${e.status}, ${e.rows} rows in ${e.files} files`)
    .join('; ');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { now: { type: 'boolean', default: false } } });
  const env = localExportEnv(process.env);
  const config = loadExportConfig(env);
  const deps = exportDepsFromConfig(
    config,
    'local-scheduler',
    env.LOCAL_S3 === '1' ? { credentials: LOCAL_S3_CREDENTIALS } : {},
  );
  // Locally nothing else picks up a continuation request: the poller below runs it as the next "invocation".
  const handler = makeExportHandler(deps);
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const fail = (err: unknown) => say(`export failed: ${err instanceof Error ? err.message : String(err)}`);
  const runScheduled = async (scheduledTime: Date) => {
    const summary = await handler({ source: 'schedule', scheduledTime: scheduledTime.toISOString() });
    say(`scheduled export ${describeRun(summary)} → s3://${config.feedsBucket}/feeds/utterances/`);
  };
  const scheduler = startDailyScheduler({ run: runScheduled, onError: fail });
  say(`daily export scheduled at 02:00 UTC; next run ${new Date(scheduler.nextRunAt()).toISOString()}`);
  // The poller retries every 2 s: report a failure once, not on every attempt, until a poll succeeds.
  let lastPollError: string | undefined;
  const stopPolling = pollExportRequests({
    store: deps.store as S3FeedStore,
    handle: async (event) => {
      const summary = await handler(event);
      if (summary.exports.length > 0) say(`requested export ${describeRun(summary)}`);
    },
    onError: (err) => {
      const message = err instanceof Error ? err.message : String(err);
      if (message !== lastPollError) say(`export request failed (retrying every 2 s): ${message}`);
      lastPollError = message;
    },
    onPolled: () => {
      lastPollError = undefined;
    },
    onRejected: (key) =>
      say(`deleted ${escapeControlCharacters(JSON.stringify(key))}: not a valid export request (docs/feeds.md)`),
  });
  if (values.now) await runScheduled(new Date()).catch(fail);
  const stop = () => {
    scheduler.stop();
    stopPolling();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    process.stderr.write(`local scheduler failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}

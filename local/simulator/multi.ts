/**
 * Many simulated sessions at once, started on an even ramp (a burst of calls at peak hour, §6.2 item 11)
 * and optionally capped in concurrency. At most one ramp timer is pending at any time, whatever the
 * number of sessions, so ten thousand sessions cost ten thousand results and nothing more.
 */
import { runSimulatedSession } from './client';
import type { SessionOutcome, SimulatedSessionOptions, SimulatedSessionResult } from './options';

/** Options of {@link runManySessions}. */
export interface ManySessionsOptions {
  /** How many sessions to run. */
  sessions: number;
  /** Sessions started per second (evenly spaced); `Infinity` starts them all at once. */
  rampPerSec: number;
  /** Most sessions running at the same time. @default - unlimited */
  concurrencyLimit?: number;
  /** Options of session `index` (0-based). */
  makeOptions: (index: number) => SimulatedSessionOptions;
  /** Called after every start and every finish. */
  onProgress?: (progress: ManySessionsProgress) => void;
  /** Called when a session finishes, in completion order. */
  onResult?: (index: number, result: SimulatedSessionResult) => void;
  /** Stops starting new sessions; running ones end gracefully if their options carry the same signal. */
  signal?: AbortSignal;
}

/** Running totals. */
export interface ManySessionsProgress {
  started: number;
  finished: number;
  active: number;
  byOutcome: Record<SessionOutcome, number>;
}

/** Percentiles of the `open` → `opened` latency over the sessions that opened. */
export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** Aggregate of a run. */
export interface ManySessionsSummary {
  sessions: number;
  started: number;
  byOutcome: Record<SessionOutcome, number>;
  /** Sessions whose outcome is `closed`. */
  closedCleanly: number;
  openLatencyMs: LatencySummary;
  audioMsSent: number;
  protocolErrors: number;
  durationMs: number;
}

/** Results (index = session index; `undefined` for sessions never started because of the signal). */
export interface ManySessionsResult {
  results: Array<SimulatedSessionResult | undefined>;
  summary: ManySessionsSummary;
}

const OUTCOMES: readonly SessionOutcome[] = [
  'closed',
  'disconnected',
  'rejected',
  'protocol-error',
  'timeout',
  'socket-error',
];

function emptyCounts(): Record<SessionOutcome, number> {
  return Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<SessionOutcome, number>;
}

/** Nearest-rank percentile of ascending `sorted` (0 when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

/** Summarizes finished sessions. */
export function summarize(
  results: ReadonlyArray<SimulatedSessionResult | undefined>,
  sessions: number,
  durationMs: number,
): ManySessionsSummary {
  const byOutcome = emptyCounts();
  const latencies: number[] = [];
  let audioMsSent = 0;
  let protocolErrors = 0;
  let started = 0;
  for (const r of results) {
    if (!r) continue;
    started++;
    byOutcome[r.outcome]++;
    if (r.openLatencyMs !== undefined) latencies.push(r.openLatencyMs);
    audioMsSent += r.audioMsSent;
    protocolErrors += r.protocolErrors.length;
  }
  latencies.sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    sessions,
    started,
    byOutcome,
    closedCleanly: byOutcome.closed,
    openLatencyMs: {
      count: latencies.length,
      p50: round(percentile(latencies, 50)),
      p99: round(percentile(latencies, 99)),
      max: round(latencies[latencies.length - 1] ?? 0),
    },
    audioMsSent,
    protocolErrors,
    durationMs: Math.round(durationMs),
  };
}

function failedResult(options: SimulatedSessionOptions | undefined, err: unknown): SimulatedSessionResult {
  return {
    outcome: 'socket-error',
    sessionId: options?.sessionId ?? '',
    failure: `session could not run: ${err instanceof Error ? err.message : String(err)}`,
    serverMessages: [],
    exchange: [],
    audioBytesSent: 0,
    audioMsSent: 0,
    positionMs: 0,
    protocolErrors: [],
    durationMs: 0,
  };
}

/**
 * Runs `sessions` simulated sessions, session `i` starting no earlier than `i / rampPerSec` seconds after
 * the first, and no more than `concurrencyLimit` at a time. Never rejects because of a session: a session
 * whose options are invalid is reported as a `socket-error` result.
 */
export async function runManySessions(opts: ManySessionsOptions): Promise<ManySessionsResult> {
  const { sessions, rampPerSec, signal } = opts;
  if (!Number.isSafeInteger(sessions) || sessions < 0)
    throw new RangeError(`sessions must be a count, got ${sessions}`);
  if (!(rampPerSec > 0)) throw new RangeError(`rampPerSec must be positive, got ${rampPerSec}`);
  const limit = opts.concurrencyLimit ?? Number.POSITIVE_INFINITY;
  if (!(limit >= 1)) throw new RangeError(`concurrencyLimit must be at least 1, got ${limit}`);

  const started = performance.now();
  const gapMs = Number.isFinite(rampPerSec) ? 1000 / rampPerSec : 0;
  const results: Array<SimulatedSessionResult | undefined> = new Array(sessions).fill(undefined);
  const byOutcome = emptyCounts();
  let startedCount = 0;
  let finished = 0;
  let active = 0;
  let slotFreed: (() => void) | undefined;
  let allDone: (() => void) | undefined;
  const progress = () => opts.onProgress?.({ started: startedCount, finished, active, byOutcome: { ...byOutcome } });

  const launch = (index: number): void => {
    let options: SimulatedSessionOptions | undefined;
    let run: Promise<SimulatedSessionResult>;
    try {
      options = opts.makeOptions(index);
      run = runSimulatedSession(options);
    } catch (err) {
      run = Promise.resolve(failedResult(options, err));
    }
    active++;
    startedCount++;
    progress();
    run
      .catch((err: unknown) => failedResult(options, err))
      .then((result) => {
        results[index] = result;
        byOutcome[result.outcome]++;
        active--;
        finished++;
        opts.onResult?.(index, result);
        progress();
        slotFreed?.();
        if (active === 0) allDone?.();
      })
      .catch(() => {
        // A throwing callback must not leave the run hanging; its error is the caller's to log.
        slotFreed?.();
        if (active === 0) allDone?.();
      });
  };

  for (let i = 0; i < sessions; i++) {
    if (signal?.aborted) break;
    const wait = started + i * gapMs - performance.now();
    if (wait > 0) await sleep(wait, signal);
    while (active >= limit && !signal?.aborted) {
      await new Promise<void>((resolve) => {
        slotFreed = resolve;
      });
      slotFreed = undefined;
    }
    if (signal?.aborted) break;
    launch(i);
  }
  if (active > 0) {
    await new Promise<void>((resolve) => {
      allDone = resolve;
    });
  }
  return { results, summary: summarize(results, sessions, performance.now() - started) };
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * The API benchmark's client side: one timed request through the local adapter (`call`), the error that
 * names a failed request's cause, closed-loop phases of `n` operations at a given concurrency, and the
 * row of figures (percentiles, rate) each phase yields.
 */
import { AppError } from '../core/errors';
import { percentile } from './stats';

const REQUEST_TIMEOUT_MS = 30_000;

/** The measured figures of one operation at one concurrency. */
export interface ApiBenchRow {
  operation: string;
  concurrency: number;
  /** Successful samples. */
  count: number;
  /** Failed requests (or cycles) by cause, e.g. `{"409-201": 1, "unconfirmed": 2}`. */
  errors: Record<string, number>;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Completed operations per second of the phase's wall time; null when the phase is paced by design. */
  perSec: number | null;
}

export interface Phase {
  latencies: number[];
  errors: Record<string, number>;
  wallMs: number;
}

export class RequestFailed extends AppError {
  override readonly name = 'RequestFailed';
  declare readonly code: 'BENCH_API_REQUEST_FAILED';
  constructor(readonly reason: string) {
    super('BENCH_API_REQUEST_FAILED', `request failed: ${reason}`);
  }
}

export interface Api {
  base: string;
  headers: Record<string, string>;
}

interface Answer<T> {
  ms: number;
  body: T;
}

/** One request; resolves with the latency (request → last body byte) and the JSON body of a 200. */
export async function call<T = Record<string, unknown>>(
  api: Api,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<Answer<T>> {
  const t0 = performance.now();
  let res: Response;
  let text: string;
  try {
    res = await fetch(`${api.base}${path}`, {
      method,
      headers: body === undefined ? api.headers : { ...api.headers, 'Content-Type': 'application/json' },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    text = await res.text();
  } catch (err) {
    throw new RequestFailed(err instanceof Error && err.name === 'TimeoutError' ? 'timeout' : 'network');
  }
  const ms = performance.now() - t0;
  if (res.status !== 200) {
    let code = String(res.status);
    try {
      code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? code;
    } catch {
      // not the envelope: keep the status
    }
    throw new RequestFailed(code);
  }
  return { ms, body: JSON.parse(text) as T };
}

export function causeOf(err: unknown): string {
  if (err instanceof RequestFailed) return err.reason;
  return err instanceof Error ? err.message.slice(0, 60) : String(err);
}

/**
 * Runs `n` operations with `concurrency` in flight (closed loop). `op(i)` returns the latencies to record
 * (usually one) or throws; a throw counts as one error of its cause.
 */
export async function closedLoop(n: number, concurrency: number, op: (i: number) => Promise<number[]>): Promise<Phase> {
  const phase: Phase = { latencies: [], errors: {}, wallMs: 0 };
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      for (let i = next++; i < n; i = next++) {
        try {
          phase.latencies.push(...(await op(i)));
        } catch (err) {
          const cause = causeOf(err);
          phase.errors[cause] = (phase.errors[cause] ?? 0) + 1;
        }
      }
    }),
  );
  phase.wallMs = performance.now() - t0;
  return phase;
}

/** Setup and warm-up phases must not fail: their errors would only resurface as noise in the figures. */
export function mustSucceed(what: string, phase: Phase): void {
  const errors = Object.entries(phase.errors);
  if (errors.length > 0) throw new Error(`${what} failed: ${errors.map(([k, v]) => `${v}×${k}`).join(', ')}`);
}

export function rowOf(operation: string, concurrency: number, phase: Phase, paced = false): ApiBenchRow {
  const xs = phase.latencies;
  return {
    operation,
    concurrency,
    count: xs.length,
    errors: phase.errors,
    p50Ms: percentile(xs, 50),
    p95Ms: percentile(xs, 95),
    p99Ms: percentile(xs, 99),
    maxMs: xs.length > 0 ? Math.max(...xs) : Number.NaN,
    perSec: paced || phase.wallMs <= 0 ? null : xs.length / (phase.wallMs / 1000),
  };
}

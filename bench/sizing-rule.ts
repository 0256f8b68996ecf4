/**
 * The sizing rule (CPU ≤ 60 % of one core, event-loop delay p99 < 50 ms), one measured step's figures, and
 * the derivation from the steps: where each part of the rule is crossed (interpolated, or extrapolated
 * from a least-squares fit), and the `maxSessionsPerTask` / `targetSessionsPerTask` that follow.
 */
import type { SharedCpu } from './proc-sampling';
import type { LoopDelay } from './sizing-children';
import { fmt } from './stats';

/** The sizing rule: one gateway process may use this much of one core… */
export const CPU_LIMIT_PCT = 60;
/** …with an event-loop delay p99 below this. */
export const ELD_P99_LIMIT_MS = 50;
/** `targetSessionsPerTask` = this share of `maxSessionsPerTask` (rounded down to a multiple of 5). */
export const TARGET_SHARE = 0.7;
/** Below this share of real time the load generator or the endpoint was starved (a warning). */
export const REALTIME_MIN = 0.95;

/** One step's figures: the gateway's over the steady-state window, and what shared the cores. */
export interface Step {
  sessions: number;
  closedCleanly: number;
  /** Sessions streaming to Transcribe at the end of the window (gateway gauge / endpoint gauge). */
  streamingGateway: number;
  streamsEndpoint: number;
  /** The gateway's own CPU (admin /metrics, process.cpuUsage), % of one core. */
  cpuPct: number;
  cpuPctPerSession: number;
  eventLoopP50Ms: number;
  eventLoopP99Ms: number;
  eventLoopMaxMs: number;
  /** The idle probe process's event-loop delay in the same window: the machine's share of the gateway's. */
  probeEventLoop: LoopDelay;
  idleCpuPct: number;
  idleEventLoopP99Ms: number;
  rssMiB: number;
  rssMiBIdle: number;
  rssMiBPerSession: number;
  utterancesPerSessionMin: number;
  /** Audio the endpoint received in the window ÷ N sessions × the window in real time (1 = real time). */
  audioRealtime: number;
  putFailures: number;
  shared: SharedCpu;
  loadAvg1mStart: number;
  loadAvg1mEnd: number;
  windowSec: number;
  /** Which part of the rule this step broke, if any. */
  broke: string[];
}

export interface Limit {
  /** Largest N within this part of the rule (fractional). */
  n: number;
  how: string;
  /** True when no step crossed the limit and `n` is an extrapolation (or just the largest step). */
  extrapolated: boolean;
}

export interface Derived {
  cpuPctPerSession: number;
  cpuInterceptPct: number;
  byCpu: Limit;
  byEventLoop: Limit;
  byCleanSessions: Limit;
  largestN: number;
  maxSessionsPerTask: number;
  targetSessionsPerTask: number;
  targetRule: string;
  rssMiBAtMax: number;
}

/** Least-squares line y = a + b·x. */
function fitLine(points: Array<[number, number]>): { a: number; b: number } {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const b = sxx > 0 ? sxy / sxx : my / mx;
  return { a: my - b * mx, b };
}

/**
 * N where `value` reaches `limit`, linearly interpolated between the last step under it and the first
 * step at or over it (the idle gateway is the N = 0 point).
 */
function crossing(
  steps: Step[],
  value: (s: Step) => number,
  idleValue: number,
  over: (v: number) => boolean,
  limit: number,
  unit: string,
): Limit | undefined {
  let prev: [number, number] = [0, idleValue];
  for (const s of steps) {
    const v = value(s);
    if (over(v)) {
      const [n0, v0] = prev;
      const n = v > v0 ? n0 + ((limit - v0) / (v - v0)) * (s.sessions - n0) : n0;
      return {
        n: Math.max(n0, Math.min(s.sessions, n)),
        how: `interpolated between ${n0} (${fmt(v0, 1)} ${unit}) and ${s.sessions} (${fmt(v, 1)} ${unit})`,
        extrapolated: false,
      };
    }
    prev = [s.sessions, v];
  }
  return undefined;
}

/** A step whose audio did not arrive in real time under-reports the gateway's CPU. */
export function isStarved(s: Step): boolean {
  return s.audioRealtime < REALTIME_MIN;
}

/** The derivation from the steps that were not starved; undefined when none. */
export function derive(all: Step[]): Derived | undefined {
  const steps = all.filter((s) => !isStarved(s));
  if (steps.length === 0) return undefined;
  const last = steps[steps.length - 1] as Step;
  const mean = (f: (s: Step) => number) => steps.reduce((sum, s) => sum + f(s), 0) / steps.length;
  // Each step's idle gateway (no session) is an N = 0 point.
  const idleCpuPct = mean((s) => s.idleCpuPct);
  const fit = fitLine([[0, idleCpuPct], ...steps.map((s): [number, number] => [s.sessions, s.cpuPct])]);
  const byCpu: Limit = crossing(
    steps,
    (s) => s.cpuPct,
    idleCpuPct,
    (v) => v > CPU_LIMIT_PCT,
    CPU_LIMIT_PCT,
    '%',
  ) ?? {
    n: Math.max(last.sessions, (CPU_LIMIT_PCT - fit.a) / fit.b),
    how: `not reached up to ${last.sessions}: extrapolated from the fit (${CPU_LIMIT_PCT} − ${fmt(fit.a, 2)}) / ${fmt(fit.b, 3)}`,
    extrapolated: true,
  };
  const byEventLoop: Limit = crossing(
    steps,
    (s) => s.eventLoopP99Ms,
    mean((s) => s.idleEventLoopP99Ms),
    (v) => v >= ELD_P99_LIMIT_MS,
    ELD_P99_LIMIT_MS,
    'ms',
  ) ?? {
    n: Number.POSITIVE_INFINITY,
    how: `not reached up to ${last.sessions} (p99 at most ${fmt(Math.max(...steps.map((s) => s.eventLoopP99Ms)), 1)} ms)`,
    extrapolated: true,
  };
  const unclean = steps.findIndex((s) => s.closedCleanly < s.sessions || s.streamingGateway < s.sessions);
  const byCleanSessions: Limit =
    unclean >= 0
      ? {
          n: unclean > 0 ? (steps[unclean - 1] as Step).sessions : 0,
          how: `sessions lost or not transcribing at ${(steps[unclean] as Step).sessions}: the last clean step`,
          extrapolated: false,
        }
      : { n: Number.POSITIVE_INFINITY, how: `every session closed cleanly and transcribed`, extrapolated: true };
  const largestN = Math.min(byCpu.n, byEventLoop.n, byCleanSessions.n);
  const maxSessionsPerTask = Math.floor(largestN / 5) * 5;
  const targetSessionsPerTask = Math.floor((maxSessionsPerTask * TARGET_SHARE) / 5) * 5;
  const rssFit = fitLine([
    [0, mean((s) => s.rssMiBIdle)],
    ...steps.map((s): [number, number] => [s.sessions, s.rssMiB]),
  ]);
  return {
    cpuPctPerSession: fit.b,
    cpuInterceptPct: fit.a,
    byCpu,
    byEventLoop,
    byCleanSessions,
    largestN,
    maxSessionsPerTask,
    targetSessionsPerTask,
    targetRule: `${Math.round(TARGET_SHARE * 100)} % of maxSessionsPerTask, rounded down to a multiple of 5`,
    rssMiBAtMax: rssFit.a + rssFit.b * maxSessionsPerTask,
  };
}

/**
 * Ports the domain depends on. The domain never reads the wall clock, schedules timers or logs through
 * globals: the composition roots (gateway main, Lambda handlers, tests) pass these in.
 */

/** Wall-clock and monotonic time. Tests inject a fake. */
export interface Clock {
  /** Milliseconds since the UNIX epoch (wall clock; used for signature windows and timestamps). */
  now(): number;
  /** Monotonic milliseconds (for latencies and timeouts; unaffected by wall-clock steps). */
  monotonic(): number;
}

/** Cancels a timer created by {@link Timers.setTimeout}. */
export interface TimerHandle {
  cancel(): void;
}

/** Timer scheduling, injectable so state machines can be driven with fake time. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): TimerHandle;
}

/** Structured logger (pino-compatible call shape: context object first, then message). */
export interface Logger {
  debug(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/** The real clock, built on Node built-ins only. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
};

/** Real timers. `unref` so a pending timer never keeps a process alive on its own. */
export const systemTimers: Timers = {
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
};

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

/** Whether `p` settles (either way) within `ms` on `timers`; the timer is cancelled when it does. */
export function settlesWithin(timers: Timers, p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = timers.setTimeout(() => resolve(false), ms);
    const done = () => {
      t.cancel();
      resolve(true);
    };
    p.then(done, done);
  });
}

/**
 * The timers of one session: every timer it schedules is tracked so that socket loss cancels them all,
 * and each callback runs guarded (a timer never throws into the event loop).
 */
import type { TimerHandle, Timers } from '../ports';

/** Tracks a session's timers. */
export class SessionTimers {
  readonly #timers: Timers;
  readonly #guard: (where: string, fn: () => void) => void;
  readonly #pending = new Set<TimerHandle>();

  /** @param guard - runs a callback so that nothing it throws escapes (the session's guard). */
  constructor(timers: Timers, guard: (where: string, fn: () => void) => void) {
    this.#timers = timers;
    this.#guard = guard;
  }

  /** Schedules `fn` in `ms`; cancelled by {@link cancelAll} if still pending. */
  schedule(fn: () => void, ms: number): TimerHandle {
    const handle = this.#timers.setTimeout(() => {
      this.#pending.delete(handle);
      this.#guard('timer', fn);
    }, ms);
    this.#pending.add(handle);
    return {
      cancel: () => {
        this.#pending.delete(handle);
        handle.cancel();
      },
    };
  }

  /** Cancels every pending timer (the socket is gone). */
  cancelAll(): void {
    for (const t of this.#pending) t.cancel();
    this.#pending.clear();
  }

  /**
   * Calls `then` once: when `p` settles or after `ms`, whichever comes first. `detached`: the timer is
   * not tracked, so {@link cancelAll} (already called when the socket went) cannot leave `then` unbounded.
   */
  boundedWait(p: Promise<unknown>, ms: number, then: (timedOut: boolean) => void, detached: boolean): void {
    let done = false;
    const finish = (timedOut: boolean) => {
      if (done) return;
      done = true;
      timer.cancel();
      this.#guard('boundedWait', () => then(timedOut));
    };
    const timer = detached ? this.#timers.setTimeout(() => finish(true), ms) : this.schedule(() => finish(true), ms);
    p.then(
      () => finish(false),
      () => finish(false),
    );
  }
}

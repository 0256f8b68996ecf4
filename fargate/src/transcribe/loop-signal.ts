/**
 * How a {@link SegmentStreamer}'s stream loop waits: for audio (woken by the next chunk or the end) and
 * through a backoff (cut short when the segment is abandoned). One waiter of each kind at a time, since
 * there is one loop per streamer.
 */
import type { Timers } from '../../../core/ports';

/** The stream loop's wake-up and sleep, on injected timers. */
export class LoopSignal {
  readonly #timers: Timers;
  #wake: (() => void) | undefined;
  #cancelSleep: (() => void) | undefined;

  constructor(timers: Timers) {
    this.#timers = timers;
  }

  /** Wakes the loop if it waits (a no-op otherwise). */
  signal(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  /** Resolves at the next {@link signal}. */
  wait(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  /** Resolves after `ms`, or at once on {@link cancelSleep}. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = this.#timers.setTimeout(() => {
        this.#cancelSleep = undefined;
        resolve();
      }, ms);
      this.#cancelSleep = () => {
        t.cancel();
        resolve();
      };
    });
  }

  /** Ends the sleep in progress, if any. */
  cancelSleep(): void {
    this.#cancelSleep?.();
  }
}

/**
 * How recording uploads are paced: a limit on how many run at once (each may buffer one 5 MiB part, so a
 * drain that closes hundreds of segments must not start hundreds of uploads), shared by first uploads and
 * background retries of kept recordings; and the jittered exponential delay between attempts.
 */

/** A counting semaphore: at most `max` pieces of work run at once, the others wait in arrival order. */
export class UploadSlots {
  readonly #max: number;
  readonly #waiting: (() => void)[] = [];
  #busy = 0;

  /** @param max - slots (at least 1; a smaller or fractional value is raised to a whole slot) */
  constructor(max: number) {
    this.#max = Math.max(1, Math.floor(max));
  }

  /** Runs `work` once a slot is free, and frees the slot when it settles. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    await this.#acquire();
    try {
      return await work();
    } finally {
      this.#release();
    }
  }

  async #acquire(): Promise<void> {
    if (this.#busy < this.#max) {
      this.#busy++;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    // The slot passes straight to the next waiter, so a newcomer cannot overtake it.
    const next = this.#waiting.shift();
    if (next !== undefined) next();
    else this.#busy--;
  }
}

/** An exponential backoff: `baseMs` doubling per attempt, never more than `capMs`. */
export interface BackoffSteps {
  readonly baseMs: number;
  readonly capMs: number;
}

/**
 * The wait after failed attempt number `attempt` (1 for the first failure), with "equal jitter": a random
 * point in the upper half of the step, so retries of many recordings spread out and still really wait.
 * @param random - a uniform [0, 1) source (injectable for tests)
 */
export function backoffDelayMs(attempt: number, steps: BackoffSteps, random: () => number): number {
  const step = Math.min(steps.capMs, steps.baseMs * 2 ** Math.min(Math.max(attempt, 1) - 1, 30));
  return Math.round(step / 2 + (random() * step) / 2);
}

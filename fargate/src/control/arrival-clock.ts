/**
 * When each stretch of a session's audio arrived at the gateway, so the end of an utterance (a position
 * on the AudioHook timeline) can be turned back into the moment its last sample was received: the start
 * of the end-of-speech → stored latency (`UtteranceLatencyMs`). Memory is bounded: one entry per
 * `granularitySamples` of audio, at most `capacity` entries (the oldest are forgotten; an utterance that
 * ends before the remembered window gets no latency rather than a wrong one).
 */

/** Options of {@link ArrivalClock}. */
export interface ArrivalClockOptions {
  /** Samples between remembered points. @default 800 (100 ms at 8 kHz) */
  granularitySamples?: number;
  /** Remembered points. @default 6000 (10 minutes at the default granularity) */
  capacity?: number;
}

/** Timeline position → monotonic arrival time, for one session. */
export class ArrivalClock {
  readonly #granularity: number;
  readonly #capacity: number;
  /** Ring buffers: end position of the audio received so far, and when (monotonic ms). */
  readonly #positions: Float64Array;
  readonly #times: Float64Array;
  #start = 0;
  #size = 0;
  #lastKept = 0;

  constructor(options: ArrivalClockOptions = {}) {
    this.#granularity = options.granularitySamples ?? 800;
    this.#capacity = options.capacity ?? 6000;
    this.#positions = new Float64Array(this.#capacity);
    this.#times = new Float64Array(this.#capacity);
  }

  /** Audio up to `endPosition` (exclusive, in samples) had arrived at `monotonicMs`. */
  record(endPosition: number, monotonicMs: number): void {
    if (endPosition - this.#lastKept < this.#granularity) return;
    this.#lastKept = endPosition;
    const slot = (this.#start + this.#size) % this.#capacity;
    this.#positions[slot] = endPosition;
    this.#times[slot] = monotonicMs;
    if (this.#size < this.#capacity) this.#size++;
    else this.#start = (this.#start + 1) % this.#capacity;
  }

  /**
   * When the sample at `position` had arrived: the first remembered point at or past it (late by at most
   * one granularity step). `undefined` when that audio is older than the window or has not arrived yet.
   */
  arrivedAt(position: number): number | undefined {
    if (this.#size === 0) return undefined;
    const at = (i: number) => (this.#start + i) % this.#capacity;
    if ((this.#positions[at(0)] as number) > position + this.#granularity) return undefined;
    let lo = 0;
    let hi = this.#size - 1;
    if ((this.#positions[at(hi)] as number) < position) return undefined;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.#positions[at(mid)] as number) >= position) hi = mid;
      else lo = mid + 1;
    }
    return this.#times[at(lo)];
  }
}

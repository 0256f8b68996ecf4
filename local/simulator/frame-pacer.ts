/**
 * The simulated client's clock: one tick per audio frame, paced in real time divided by `speed`. Ticks
 * are scheduled on absolute times (anchor + k·interval) so timer lateness never accumulates into drift;
 * the anchor moves only when the interval changes. At speed 0 streaming ticks run back to back (waiting
 * for the socket to drain past {@link MAX_BUFFERED_BYTES}) while paused time still runs in real time, so
 * a server can resume.
 */

/** Above this much unsent data at speed 0 the client waits for the socket to drain. */
const MAX_BUFFERED_BYTES = 1 << 20;

/** Wall milliseconds for `ms` of stream time at `speed` (0 = as fast as possible: unscaled). */
export function scaledMs(ms: number, speed: number): number {
  return speed > 0 ? ms / speed : ms;
}

/** Options of {@link FramePacer}. */
export interface FramePacerOptions {
  speed: number;
  frameMs: number;
  /** Whether audio is being sent (at speed 0 it sets the pace). */
  streaming(): boolean;
  /** Bytes the socket has not sent yet. */
  backlogBytes(): number;
  onTick(): void;
}

/** Schedules the frame ticks of one session. */
export class FramePacer {
  readonly #o: FramePacerOptions;
  #ticks = 0;
  #anchorWall = 0;
  #anchorTick = 0;
  #anchorInterval = -1;
  // At most one of them is pending at any time.
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;

  constructor(o: FramePacerOptions) {
    this.#o = o;
  }

  /** Counts a tick that ran (the schedule is relative to it). */
  countTick(): void {
    this.#ticks += 1;
  }

  /** Forgets the anchor: the next {@link reanchorIfNeeded} starts the clock now. */
  resetAnchor(): void {
    this.#anchorInterval = -1;
  }

  /** Moves the anchor to now when the interval changed (a pause or resume at speed 0), rescheduling. */
  reanchorIfNeeded(): void {
    const interval = this.#interval();
    if (interval === this.#anchorInterval) return;
    this.#anchorInterval = interval;
    this.#anchorWall = performance.now();
    this.#anchorTick = this.#ticks;
    if (this.#timer !== undefined || this.#immediate !== undefined) {
      this.clear();
      this.schedule();
    }
  }

  /** Cancels the pending tick. */
  clear(): void {
    clearTimeout(this.#timer);
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
  }

  /** Schedules the next tick. */
  schedule(): void {
    const interval = this.#anchorInterval;
    if (interval === 0) {
      if (this.#o.backlogBytes() > MAX_BUFFERED_BYTES) this.#timer = setTimeout(() => this.schedule(), 5);
      else this.#immediate = setImmediate(() => this.#fire());
      return;
    }
    // Absolute schedule: tick k fires at anchor + k·interval however late earlier ticks ran.
    const due = this.#anchorWall + (this.#ticks + 1 - this.#anchorTick) * interval;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, due - performance.now()));
  }

  /** Wall milliseconds per frame tick: paused time runs in real time at speed 0 so a server can resume. */
  #interval(): number {
    if (this.#o.speed > 0) return this.#o.frameMs / this.#o.speed;
    return this.#o.streaming() ? 0 : this.#o.frameMs;
  }

  #fire(): void {
    this.#timer = undefined;
    this.#immediate = undefined;
    this.#o.onTick();
  }
}

/**
 * Holding `event` messages while the client asked us to back off (client `error` 429 with `retryAfter`,
 * docs/audiohook-protocol.md §3.4, §6.1). Events keep their order: once a hold is active, every later
 * event queues behind it until the hold expires, then all go out in order.
 */
import type { Clock, TimerHandle, Timers } from '../ports';

/** Collaborators of an {@link EventHold}. */
export interface EventHoldDeps {
  clock: Clock;
  timers: Timers;
  /** Bound on queued events; beyond it new events are refused (memory stays bounded under a long hold). */
  maxQueued: number;
  /** Sends one held event (serialized `parameters`) when the hold expires. */
  release(parametersJson: string): void;
}

/** A bounded, ordered queue of events waiting for a client-requested back-off to expire. */
export class EventHold {
  readonly #deps: EventHoldDeps;
  readonly #queue: string[] = [];
  #until = 0;
  #timer: TimerHandle | undefined;
  #waiters: Array<() => void> = [];

  constructor(deps: EventHoldDeps) {
    this.#deps = deps;
  }

  /** Events currently held. */
  get size(): number {
    return this.#queue.length;
  }

  /** True while a new event must queue (a hold is running, or older events are still waiting). */
  isHolding(): boolean {
    return this.#queue.length > 0 || this.#deps.clock.monotonic() < this.#until;
  }

  /** Holds events for `ms` from now (extends, never shortens, a running hold). */
  holdFor(ms: number): void {
    const until = this.#deps.clock.monotonic() + Math.max(0, ms);
    if (until <= this.#until) return;
    this.#until = until;
    this.#schedule();
  }

  /** Queues one event; `false` when the queue is full. */
  enqueue(parametersJson: string): boolean {
    if (this.#queue.length >= this.#deps.maxQueued) return false;
    this.#queue.push(parametersJson);
    if (this.#timer === undefined) this.#schedule();
    return true;
  }

  /** Resolves once no event is held (immediately when the queue is empty). */
  drained(): Promise<void> {
    if (this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Drops every held event and stops the hold timer. @returns how many events were dropped. */
  clear(): number {
    const dropped = this.#queue.length;
    this.#queue.length = 0;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#until = 0;
    this.#notify();
    return dropped;
  }

  #schedule(): void {
    this.#timer?.cancel();
    const wait = Math.max(0, this.#until - this.#deps.clock.monotonic());
    this.#timer = this.#deps.timers.setTimeout(() => this.#expire(), wait);
  }

  #expire(): void {
    this.#timer = undefined;
    if (this.#deps.clock.monotonic() < this.#until) {
      this.#schedule();
      return;
    }
    // Release one at a time so an event that triggers a new hold leaves the rest queued in order.
    while (this.#queue.length > 0 && this.#deps.clock.monotonic() >= this.#until) {
      const next = this.#queue.shift() as string;
      this.#deps.release(next);
    }
    if (this.#queue.length > 0) this.#schedule();
    else this.#notify();
  }

  #notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}

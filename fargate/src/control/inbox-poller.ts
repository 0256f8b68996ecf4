/**
 * The gateway task's reader of its control inbox (architecture.md §4, docs/data-model.md "TASK#"): every
 * `intervalMs` (jittered, so the tasks of a fleet do not poll in lockstep) it queries its own inbox
 * partition and hands each item to `apply`, then acks it.
 *
 * - Never overlapping: the next poll is scheduled only when the previous one has returned.
 * - Applies never hold up polling: a stop can take seconds (the recognizer flushes its last results),
 *   and a start for another conversation must not wait behind it. An item whose apply is still running
 *   is skipped by later polls (unless a newer version of it arrived, which is applied once the running
 *   one is done).
 * - A failed apply leaves the item in the inbox, so the next poll retries it; a failed poll backs off
 *   exponentially (full jitter) up to `maxBackoffMs`, and logs once per outage plus every
 *   {@link LOG_EVERY_FAILURES} failures.
 */
import { describeError } from '../../../core/errors';
import type { Logger, TimerHandle, Timers } from '../../../core/ports';
import type { InboxItem } from '../../../store/control-inbox';
import { fullJitterDelay } from '../transcribe/backoff';

/** The slice of `ControlInbox` the poller uses. */
export interface InboxPort {
  poll(taskId: string): Promise<InboxItem[]>;
  ack(taskId: string, conversationId: string, version: number): Promise<'acked' | 'superseded'>;
}

/** Options of {@link InboxPoller}. */
export interface InboxPollerOptions {
  taskId: string;
  inbox: InboxPort;
  /** Converges local sessions to the conversation's desired state; rejecting keeps the item for a retry. */
  apply: (item: InboxItem) => Promise<void>;
  /** Mean poll period. @default 200 */
  intervalMs?: number;
  /** Each period is drawn uniformly from `intervalMs × [1 − jitter, 1 + jitter]`. @default 0.2 */
  jitter?: number;
  /** Longest wait between polls while the store fails. @default 5000 */
  maxBackoffMs?: number;
  timers: Timers;
  logger: Logger;
  /** @default Math.random */
  random?: () => number;
  /** Called after each poll (counts, errors) for metrics. */
  onPoll?: (outcome: { items: number; error?: unknown }) => void;
  /** Called when an apply rejected (the item stays for the next poll). */
  onApplyError?: (item: InboxItem, error: unknown) => void;
}

/** A failed poll is logged on the first failure and then every this many consecutive failures. */
export const LOG_EVERY_FAILURES = 25;

/** Polls a task's control inbox and applies what it finds. */
export class InboxPoller {
  readonly #o: Required<Omit<InboxPollerOptions, 'onPoll' | 'onApplyError'>> &
    Pick<InboxPollerOptions, 'onPoll' | 'onApplyError'>;
  readonly #log: Logger;
  #timer: TimerHandle | undefined;
  #running = false;
  #polling: Promise<void> | undefined;
  #failures = 0;
  /** Applies in flight, by conversation, with the version being applied. */
  readonly #inFlight = new Map<string, { version: number; done: Promise<void> }>();

  constructor(opts: InboxPollerOptions) {
    this.#o = {
      intervalMs: 200,
      jitter: 0.2,
      maxBackoffMs: 5_000,
      random: Math.random,
      ...opts,
    };
    this.#log = opts.logger.child({ component: 'control-inbox' });
  }

  /** Starts polling (the first poll runs after one period). Idempotent. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(this.#period());
  }

  /** Stops polling; resolves once the current poll and every running apply have finished. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = undefined;
    await this.#polling;
    await Promise.all([...this.#inFlight.values()].map((f) => f.done));
  }

  /** Runs one poll now (tests, and a nudge after a local event). Resolves when the poll (not the applies) is done. */
  pollOnce(): Promise<void> {
    this.#polling ??= this.#poll().finally(() => {
      this.#polling = undefined;
    });
    return this.#polling;
  }

  /** Resolves when every apply started so far has finished. */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight.values()].map((f) => f.done));
  }

  #period(): number {
    const { intervalMs, jitter, random } = this.#o;
    return Math.max(1, Math.round(intervalMs * (1 - jitter + 2 * jitter * random())));
  }

  #schedule(ms: number): void {
    if (!this.#running) return;
    this.#timer = this.#o.timers.setTimeout(() => {
      this.#timer = undefined;
      void this.pollOnce().then(() => {
        if (this.#timer === undefined) this.#schedule(this.#nextDelay());
      });
    }, ms);
  }

  #nextDelay(): number {
    if (this.#failures === 0) return this.#period();
    // At least one regular period, then exponential with full jitter on top.
    const { intervalMs, maxBackoffMs, random } = this.#o;
    return intervalMs + fullJitterDelay({ baseMs: intervalMs, capMs: maxBackoffMs }, this.#failures - 1, random);
  }

  async #poll(): Promise<void> {
    let items: InboxItem[];
    try {
      items = await this.#o.inbox.poll(this.#o.taskId);
    } catch (err) {
      this.#failures++;
      if (this.#failures === 1 || this.#failures % LOG_EVERY_FAILURES === 0) {
        this.#log.warn(
          { err: describeError(err), consecutiveFailures: this.#failures },
          'control inbox poll failed: backing off (starts/stops for this task are delayed until the store answers)',
        );
      }
      this.#o.onPoll?.({ items: 0, error: err });
      return;
    }
    if (this.#failures > 0) {
      this.#log.info({ afterFailures: this.#failures }, 'control inbox poll recovered');
      this.#failures = 0;
    }
    this.#o.onPoll?.({ items: items.length });
    for (const item of items) this.#dispatch(item);
  }

  #dispatch(item: InboxItem): void {
    const running = this.#inFlight.get(item.conversationId);
    // Redelivery of what is being applied: nothing to do until it finishes (the next poll sees the item
    // again if the apply fails). A newer version waits for the running apply, then applies itself.
    if (running && running.version >= item.version) return;
    const after = running?.done ?? Promise.resolve();
    const done = after.then(() => this.#apply(item));
    const entry = { version: item.version, done };
    this.#inFlight.set(item.conversationId, entry);
    void done.finally(() => {
      if (this.#inFlight.get(item.conversationId) === entry) this.#inFlight.delete(item.conversationId);
    });
  }

  async #apply(item: InboxItem): Promise<void> {
    try {
      await this.#o.apply(item);
    } catch (err) {
      this.#o.onApplyError?.(item, err);
      this.#log.warn(
        { conversationId: item.conversationId, version: item.version, err: describeError(err) },
        'applying a control inbox item failed: it stays in the inbox and is retried on the next poll',
      );
      return;
    }
    try {
      await this.#o.inbox.ack(this.#o.taskId, item.conversationId, item.version);
    } catch (err) {
      // Harmless: the next poll redelivers the item and re-applying converges to the same state.
      this.#log.debug(
        { conversationId: item.conversationId, version: item.version, err: describeError(err) },
        'control inbox ack failed; the item will be applied again',
      );
    }
  }
}

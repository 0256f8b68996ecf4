/**
 * The controller's per-conversation bookkeeping: the local sessions of each conversation and one promise
 * chain per conversation through which every store mutation runs, so an open, an inbox apply, a counter
 * flush and an end never interleave (e.g. no counter `ADD` after the final summary). A conversation's
 * entry is dropped once it has no session and nothing queued or running.
 */
import type { Timers } from '../../../core/ports';
import { StoreError } from '../../../store/errors';
import { fullJitterDelay } from '../transcribe/backoff';
import type { LocalSession } from './local-session';

/** One conversation as this task knows it. */
export interface ConversationEntry {
  sessions: Set<LocalSession>;
  chain: Promise<unknown>;
  /** Operations running outside the chain (segment flushes). */
  background: Set<Promise<void>>;
  /** Chain operations plus background operations not yet settled. */
  pending: number;
  /** Highest META desiredVersion this task converged to. */
  appliedVersion: number;
}

/** The conversations of one gateway task, each with its operation chain. */
export class ConversationQueue {
  readonly #conversations = new Map<string, ConversationEntry>();

  /** The conversation's entry, if this task knows it. */
  get(conversationId: string): ConversationEntry | undefined {
    return this.#conversations.get(conversationId);
  }

  /** The conversation's entry, created when missing. */
  entry(conversationId: string): ConversationEntry {
    let entry = this.#conversations.get(conversationId);
    if (entry === undefined) {
      entry = { sessions: new Set(), chain: Promise.resolve(), background: new Set(), pending: 0, appliedVersion: 0 };
      this.#conversations.set(conversationId, entry);
    }
    return entry;
  }

  /** Every known conversation with its entry. */
  entries(): IterableIterator<[string, ConversationEntry]> {
    return this.#conversations.entries();
  }

  /** Runs `fn` after every earlier operation of the conversation (whatever their outcome). */
  enqueue<T>(conversationId: string, fn: () => Promise<T>): Promise<T> {
    const entry = this.entry(conversationId);
    entry.pending++;
    const run = entry.chain.then(fn, fn);
    entry.chain = run.then(
      () => undefined,
      () => undefined,
    );
    void run.then(
      () => this.#release(conversationId, entry),
      () => this.#release(conversationId, entry),
    );
    return run;
  }

  /** Keeps the conversation entry (and `idle()`) busy until a background operation settles. */
  track(conversationId: string, work: Promise<void>): void {
    const entry = this.entry(conversationId);
    entry.pending++;
    entry.background.add(work);
    void work.then(() => {
      entry.background.delete(work);
      this.#release(conversationId, entry);
    });
  }

  /** Resolves when no conversation operation (including background segment flushes) is queued or running. */
  async idle(): Promise<void> {
    for (;;) {
      const busy = [...this.#conversations.values()]
        .filter((c) => c.pending > 0)
        .flatMap((c) => [c.chain, ...c.background]);
      if (busy.length === 0) return;
      await Promise.allSettled(busy);
    }
  }

  #release(conversationId: string, entry: ConversationEntry): void {
    entry.pending--;
    if (entry.pending === 0 && entry.sessions.size === 0 && this.#conversations.get(conversationId) === entry) {
      this.#conversations.delete(conversationId);
    }
  }
}

/** Retries `fn` on retryable store errors (throttling, network), a few times with full jitter. */
export async function retryStore<T>(
  fn: () => Promise<T>,
  opts: { attempts: number; timers: Timers; random: () => number },
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof StoreError && err.retryable) || attempt >= opts.attempts) throw err;
      await new Promise<void>((resolve) =>
        opts.timers.setTimeout(resolve, fullJitterDelay({ baseMs: 50, capMs: 1_000 }, attempt - 1, opts.random)),
      );
    }
  }
}

/**
 * Live partials to WebSocket subscribers, straight from the gateway (docs/realtime.md §5): the
 * {@link PartialSink} the conversation controller hands each unredacted segment. Partials are not
 * stored, so they cannot ride the Utterances table stream like finals do; the gateway posts them itself
 * through the WebSocket API's management API, which keeps audio → caption well under a second.
 *
 * Cost and back-pressure, per conversation:
 * - the subscriber list is read at most once per `subscriberCacheMs` (a failed read is not cached), and a
 *   conversation nobody watches costs nothing more than that cached read;
 * - one send (lookup + posts) runs at a time; partials arriving meanwhile are coalesced to the newest per
 *   role (a caption only needs the latest hypothesis) and sent when it ends;
 * - state is dropped after `idleMs` without partials and the number of conversations is capped.
 * Best effort by design: nothing is retried (the final `transcript` follows anyway).
 */
import type { Role } from '../../../core/audio/roles';
import { toPartialMessage } from '../../../core/delivery/partial-message';
import { describeError } from '../../../core/errors';
import type { Clock, Logger } from '../../../core/ports';
import type { PartialSink, PartialUtterance } from '../../../core/transcript/utterance';
import type { ConnectionPusher } from '../../../store/connection-pusher';
import type { PartialCounterName } from '../control/metrics';

/** Where the publisher counts (the pipeline's `PipelineStats`, so `GET /metrics` shows them). */
export interface PartialCounters {
  count(name: PartialCounterName, value?: number): void;
}

/** Collaborators and limits of {@link PartialPublisher}. */
export interface PartialPublisherOptions {
  /** Connection ids subscribed to a conversation, directly or to "all conversations", without duplicates. */
  subscribers(conversationId: string, nowMs: number): Promise<string[]>;
  pusher: Pick<ConnectionPusher, 'post'>;
  clock: Clock;
  logger: Logger;
  counters: PartialCounters;
  /** How long a conversation's subscriber list is reused. @default 1000 */
  subscriberCacheMs?: number;
  /** A conversation without a partial for this long is forgotten. @default 30_000 */
  idleMs?: number;
  /** Most conversations tracked at once (least recently used dropped first). @default 10_000 */
  maxConversations?: number;
  /** Most connections remembered as gone. @default 10_000 */
  maxGoneConnections?: number;
}

/** What the publisher keeps per conversation. */
interface ConversationState {
  /** The last subscriber list read, when one was. */
  subscribers: string[] | undefined;
  /** Monotonic time the last successful read began. */
  readAt: number;
  /** A send (lookup and posts) is running: new partials wait in {@link pending}. */
  busy: boolean;
  /** Newest partial per role not yet sent. */
  readonly pending: Map<Role, PartialUtterance>;
  /** Monotonic time of the last partial. */
  lastUsed: number;
}

/** Posts each conversation's partials to its WebSocket subscribers; never throws, never blocks. */
export class PartialPublisher implements PartialSink {
  readonly #o: PartialPublisherOptions;
  readonly #cacheMs: number;
  readonly #idleMs: number;
  readonly #maxConversations: number;
  readonly #maxGone: number;
  /** Insertion order = least recently used first (a state is re-inserted on each partial). */
  readonly #conversations = new Map<string, ConversationState>();
  /** Connections the management API answered 410 for: connection ids are never reused. */
  readonly #gone = new Set<string>();
  /** Sends running now, so {@link settled} can wait for them. */
  readonly #inFlight = new Set<Promise<void>>();
  #lastSweep: number;

  constructor(options: PartialPublisherOptions) {
    this.#o = options;
    this.#cacheMs = options.subscriberCacheMs ?? 1000;
    this.#idleMs = options.idleMs ?? 30_000;
    this.#maxConversations = Math.max(1, options.maxConversations ?? 10_000);
    this.#maxGone = Math.max(1, options.maxGoneConnections ?? 10_000);
    this.#lastSweep = options.clock.monotonic();
  }

  /** Conversations currently tracked (for tests and diagnostics). */
  get trackedConversations(): number {
    return this.#conversations.size;
  }

  /** Resolves once no send is running (shutdown, before the management client is released; tests). */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  partial(p: PartialUtterance): void {
    try {
      this.#accept(p);
    } catch (err) {
      // Only a broken collaborator (clock, counters) can get here: the caller's audio path must not see it.
      this.#o.logger.debug({ conversationId: p.conversationId, err: describeError(err) }, 'partial dropped');
    }
  }

  #accept(p: PartialUtterance): void {
    const now = this.#o.clock.monotonic();
    this.#sweep(now);
    const state = this.#touch(p.conversationId, now);
    if (state.busy) {
      const replaced = state.pending.has(p.role);
      state.pending.set(p.role, p);
      if (replaced) this.#o.counters.count('partialsCoalesced');
      return;
    }
    // The common case: nobody watches this conversation, and that was checked less than cacheMs ago.
    if (state.subscribers?.length === 0 && now - state.readAt < this.#cacheMs) return;
    state.pending.set(p.role, p);
    state.busy = true;
    const send = this.#drain(p.conversationId, state);
    this.#inFlight.add(send);
    void send.then(() => this.#inFlight.delete(send));
  }

  /** The conversation's state, created if new, moved to the most recently used end. */
  #touch(conversationId: string, now: number): ConversationState {
    let state = this.#conversations.get(conversationId);
    if (state) this.#conversations.delete(conversationId);
    else state = { subscribers: undefined, readAt: 0, busy: false, pending: new Map(), lastUsed: now };
    state.lastUsed = now;
    this.#conversations.set(conversationId, state);
    // A dropped state that is still sending finishes with its own reference; only its cache is lost.
    while (this.#conversations.size > this.#maxConversations) {
      const oldest = this.#conversations.keys().next().value as string;
      this.#conversations.delete(oldest);
    }
    return state;
  }

  /** Forgets idle conversations, at most once per idle period's tenth (the map is ordered by last use). */
  #sweep(now: number): void {
    if (now - this.#lastSweep < this.#idleMs / 10) return;
    this.#lastSweep = now;
    for (const [id, state] of this.#conversations) {
      if (now - state.lastUsed < this.#idleMs) break;
      if (!state.busy) this.#conversations.delete(id);
    }
  }

  /** Sends what is pending until nothing is; settles, never rejects. */
  async #drain(conversationId: string, state: ConversationState): Promise<void> {
    try {
      while (state.pending.size > 0) {
        const batch = [...state.pending.values()];
        state.pending.clear();
        const connections = await this.#subscribersOf(conversationId, state);
        if (connections === undefined) {
          this.#o.counters.count('partialsFailed', batch.length);
          continue;
        }
        if (connections.length === 0) continue;
        const sentAt = new Date(this.#o.clock.now()).toISOString();
        await Promise.all(batch.map((p) => this.#post(state, p, connections, sentAt)));
      }
    } catch (err) {
      this.#o.logger.debug({ conversationId, err: describeError(err) }, 'partials send failed');
    } finally {
      state.busy = false;
    }
  }

  /** The cached subscribers, or a fresh read; undefined when they cannot be read (not cached). */
  async #subscribersOf(conversationId: string, state: ConversationState): Promise<string[] | undefined> {
    const startedAt = this.#o.clock.monotonic();
    if (state.subscribers !== undefined && startedAt - state.readAt < this.#cacheMs) {
      return state.subscribers.filter((c) => !this.#gone.has(c));
    }
    try {
      const read = await this.#o.subscribers(conversationId, this.#o.clock.now());
      state.subscribers = read.filter((c) => !this.#gone.has(c));
      state.readAt = startedAt;
      return state.subscribers;
    } catch (err) {
      state.subscribers = undefined;
      this.#o.logger.debug({ conversationId, err: describeError(err) }, 'partial subscribers could not be read');
      return undefined;
    }
  }

  /** Posts one partial's frame to every connection. */
  async #post(state: ConversationState, p: PartialUtterance, connections: string[], sentAt: string): Promise<void> {
    const frame = JSON.stringify(toPartialMessage(p, sentAt));
    await Promise.all(
      connections.map(async (connectionId) => {
        try {
          if ((await this.#o.pusher.post(connectionId, frame)) === 'gone') {
            this.#markGone(state, connectionId);
            this.#o.logger.debug({ conversationId: p.conversationId, connectionId }, 'partial subscriber gone');
            return;
          }
          this.#o.counters.count('partialsSent');
        } catch (err) {
          this.#o.counters.count('partialsFailed');
          this.#o.logger.debug(
            { conversationId: p.conversationId, connectionId, err: describeError(err) },
            'partial post failed',
          );
        }
      }),
    );
  }

  /** Drops a gone connection from the cached list and remembers it (the table keeps it until the fan-out deletes it). */
  #markGone(state: ConversationState, connectionId: string): void {
    state.subscribers = state.subscribers?.filter((c) => c !== connectionId);
    if (this.#gone.has(connectionId)) return;
    if (this.#gone.size >= this.#maxGone) this.#gone.delete(this.#gone.values().next().value as string);
    this.#gone.add(connectionId);
  }
}

/**
 * WebSocket delivery: best effort and live only. One `postToConnection` per subscriber of the record's
 * conversation (and of "all conversations"); a gone connection is deleted; a failed post is not retried
 * (a client that missed something reads the messages API). Only when the subscribers cannot be read at
 * all (the Subscriptions table throttled or unreachable) is the record handed back to the stream, and
 * only while it is younger than {@link SUBSCRIBERS_RETRY_MAX_AGE_MS}: a short DynamoDB fault then delays
 * pushes instead of losing them, and a long one cannot hold the stream back for more than that.
 */
import { toSubscriberMessage } from '../../core/delivery/transcript-message';
import { describeError } from '../../core/errors';
import { ALL_CONVERSATIONS } from '../../store/subscriptions';
import { DeliveryMemory } from './delivery-memory';
import type { FanoutDeps } from './deps';
import type { ParsedRecord } from './stream-records';

/** How long after it was stored a record is still handed back because its subscribers could not be read. */
export const SUBSCRIBERS_RETRY_MAX_AGE_MS = 60_000;

/** `retry`: the subscribers could not be read and the record is young enough to come back for them. */
export type PushOutcome = 'done' | 'retry';

/** Pushes records to WebSocket subscribers, remembering per container what was pushed. */
export class SubscriberPush {
  readonly #deps: FanoutDeps;
  readonly #now: () => number;
  readonly #pushed = new DeliveryMemory<true>();

  constructor(deps: FanoutDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  /**
   * The "all conversations" subscribers, read once per batch (not once per record) by the returned
   * function; a failed read is tried again by the next record.
   */
  supervisorsOfBatch(): () => Promise<string[]> {
    let allSubscribers: Promise<string[]> | undefined;
    return () => {
      const ws = this.#deps.websocket;
      if (!ws) return Promise.resolve([]);
      allSubscribers ??= ws.subscriptions.connectionsOf(ALL_CONVERSATIONS, this.#now()).catch((err: unknown) => {
        allSubscribers = undefined;
        throw err;
      });
      return allSubscribers;
    };
  }

  /** Pushes the record's subscriber message to every connection that wants it; never throws. */
  async push(r: ParsedRecord, supervisors: () => Promise<string[]>): Promise<PushOutcome> {
    const deps = this.#deps;
    const now = this.#now;
    const ws = deps.websocket;
    if (!ws || this.#pushed.get(r.utterance.utteranceId)) return 'done';
    const ids = { conversationId: r.conversationId, utteranceId: r.utterance.utteranceId };
    try {
      const [direct, all] = await Promise.all([ws.subscriptions.connectionsOf(r.conversationId, now()), supervisors()]);
      const connections = [...new Set([...direct, ...all])];
      if (connections.length === 0) return 'done';
      const frame = JSON.stringify(toSubscriberMessage(r.utterance));
      await Promise.all(
        connections.map(async (connectionId) => {
          try {
            if ((await ws.pusher.post(connectionId, frame)) === 'gone') {
              deps.metrics.addMetric('WebSocketGone', 'Count', 1);
              await ws.subscriptions.removeConnection(connectionId);
              deps.logger.info('websocket connection gone; removed', { ...ids, connectionId });
              return;
            }
            deps.metrics.addMetric('WebSocketPushed', 'Count', 1);
            deps.metrics.addMetric('StoredToWebSocketMs', 'Milliseconds', Math.max(0, now() - r.storedAtMs));
          } catch (err) {
            deps.metrics.addMetric('WebSocketPushFailed', 'Count', 1);
            deps.logger.warn('websocket push failed', { ...ids, connectionId, err: describeError(err) });
          }
        }),
      );
      this.#pushed.set(r.utterance.utteranceId, true);
      return 'done';
    } catch (err) {
      const retry = now() - r.storedAtMs < SUBSCRIBERS_RETRY_MAX_AGE_MS;
      deps.metrics.addMetric('WebSocketPushFailed', 'Count', 1);
      deps.logger.warn('websocket subscribers unavailable', { ...ids, retry, err: describeError(err) });
      return retry ? 'retry' : 'done';
    }
  }
}

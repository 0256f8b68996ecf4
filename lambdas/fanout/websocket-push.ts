/**
 * WebSocket delivery: best effort and live only. One `postToConnection` per subscriber of the record's
 * conversation (and of "all conversations"); a gone connection is deleted; a failure never holds back the
 * stream (a client that missed something reads the messages API).
 */
import { toSubscriberMessage } from '../../core/delivery/transcript-message';
import { describeError } from '../../core/errors';
import { ALL_CONVERSATIONS } from '../../store/subscriptions';
import { DeliveryMemory } from './delivery-memory';
import type { FanoutDeps } from './deps';
import type { ParsedRecord } from './stream-records';

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
  async push(r: ParsedRecord, supervisors: () => Promise<string[]>): Promise<void> {
    const deps = this.#deps;
    const now = this.#now;
    const ws = deps.websocket;
    if (!ws || this.#pushed.get(r.utterance.utteranceId)) return;
    const ids = { conversationId: r.conversationId, utteranceId: r.utterance.utteranceId };
    try {
      const [direct, all] = await Promise.all([ws.subscriptions.connectionsOf(r.conversationId, now()), supervisors()]);
      const connections = [...new Set([...direct, ...all])];
      if (connections.length === 0) return;
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
    } catch (err) {
      deps.metrics.addMetric('WebSocketPushFailed', 'Count', 1);
      deps.logger.warn('websocket subscribers unavailable', { ...ids, err: describeError(err) });
    }
  }
}

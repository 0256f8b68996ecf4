/**
 * The `subscribe` and `unsubscribe` routes of the WebSocket API (route selection `$request.body.action`).
 *
 * `{"action":"subscribe","conversationId":"<Genesys conversationId>"}` subscribes to one conversation;
 * `{"action":"subscribe","all":true}` to every conversation, which only a supervisor connection may do
 * (an api id listed in `REALTIME_SUPERVISOR_API_IDS`, or a supervisor token). A connection opened with a
 * conversation-scoped token may subscribe to that conversation only. Every request is answered with a
 * `subscribed` / `unsubscribed` / `error` frame (echoing the request's optional `id`).
 *
 * A subscription to one conversation may add `"history": true`: after `subscribed`, the utterances stored
 * so far follow in `history` frames (oldest first, the shape of pushed `transcript` messages, the last one
 * `complete: true`), then a `status` frame (state, call ended, when the timeline began). `"status": true`
 * asks for the `status` frame alone (a page checking whether the call has ended). Subscribing first and
 * reading after means nothing stored in between is missed: it is either read or pushed, possibly both,
 * and clients de-duplicate by `utteranceId` (delivery is at least once anyway).
 */
import type { ConversationMeta } from '../../../core/conversation/conversation';
import type { SessionRecord } from '../../../core/conversation/session';
import { type SubscriberTranscriptMessage, toSubscriberMessage } from '../../../core/delivery/transcript-message';
import { StoreUnavailableError } from '../../../store/errors';
import { ALL_CONVERSATIONS, type ConnectionRecord } from '../../../store/subscriptions';
import { loadWebSocketConfig } from '../../shared/realtime-config';
import {
  type ControlFrame,
  type HistoryFrame,
  reply,
  type StatusFrame,
  type WebSocketDeps,
  type WebSocketEvent,
  type WebSocketHandler,
  type WebSocketResult,
  webSocketDepsFromConfig,
} from '../../shared/websocket';

/** Most utterances one `history` frame carries. */
export const HISTORY_MAX_ITEMS_PER_FRAME = 100;
/**
 * Most bytes of one `history` frame: API Gateway refuses a message over 128 KiB; 8 KiB stay spare so that
 * the limit holds whatever the envelope (ids) weighs.
 */
export const HISTORY_MAX_FRAME_BYTES = 120 * 1024;
/** Utterances read per DynamoDB page while sending history. */
const HISTORY_READ_PAGE = 500;

/** A parsed subscribe/unsubscribe request. */
export interface SubscriptionRequest {
  action: 'subscribe' | 'unsubscribe';
  /** A conversation id, or `*` for every conversation. */
  target: string;
  id?: string;
  /** Send the conversation's stored utterances, then its status (subscribe to one conversation only). */
  history?: true;
  /** Send the conversation's status (subscribe to one conversation only). */
  status?: true;
}

/** Parses the frame; a string describing the problem when it is not a valid request. */
export function parseSubscriptionRequest(body: string | null | undefined): SubscriptionRequest | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body ?? '');
  } catch {
    return 'the frame is not JSON';
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'the frame must be a JSON object';
  const o = parsed as Record<string, unknown>;
  if (o.action !== 'subscribe' && o.action !== 'unsubscribe') return 'action must be subscribe or unsubscribe';
  const id = typeof o.id === 'string' && o.id.length <= 128 ? o.id : undefined;
  const withId = id === undefined ? {} : { id };
  for (const flag of ['history', 'status'] as const) {
    if (o[flag] !== undefined && typeof o[flag] !== 'boolean') return `${flag} must be true or false`;
  }
  const extras = {
    ...(o.history === true && { history: true as const }),
    ...(o.status === true && { status: true as const }),
  };
  const asksExtras = extras.history !== undefined || extras.status !== undefined;
  if (asksExtras && o.action !== 'subscribe') return 'history and status apply to subscribe only';
  if (o.all === true && o.conversationId === undefined) {
    if (asksExtras) return 'history and status need a conversationId, not all: true';
    return { action: o.action, target: ALL_CONVERSATIONS, ...withId };
  }
  const c = o.conversationId;
  if (typeof c !== 'string' || c.length === 0 || c.length > 255 || c === ALL_CONVERSATIONS) {
    return 'give either conversationId (1-255 characters) or all: true';
  }
  return { action: o.action, target: c, ...withId, ...extras };
}

/**
 * Packs transcript messages into `history` frames of at most {@link HISTORY_MAX_ITEMS_PER_FRAME} items and
 * {@link HISTORY_MAX_FRAME_BYTES} bytes, in order; the last frame says `complete` when `last` is set. No
 * items and `last` give one empty complete frame; no items otherwise give none. An item too large for a
 * frame on its own travels without its word tokens (the text is what a page shows).
 */
export function packHistoryFrames(
  conversationId: string,
  items: readonly SubscriberTranscriptMessage[],
  options: { last: boolean; id?: string },
): HistoryFrame[] {
  const frameOf = (page: SubscriberTranscriptMessage[]): HistoryFrame => ({
    type: 'history',
    conversationId,
    items: page,
    complete: false,
    ...(options.id !== undefined && { id: options.id }),
  });
  // `"complete":false` is the longer envelope; each item adds its bytes and a comma.
  const envelopeBytes = Buffer.byteLength(JSON.stringify(frameOf([])));
  const frames: HistoryFrame[] = [];
  let page: SubscriberTranscriptMessage[] = [];
  let bytes = envelopeBytes;
  for (const original of items) {
    let item = original;
    let size = Buffer.byteLength(JSON.stringify(item)) + 1;
    if (envelopeBytes + size > HISTORY_MAX_FRAME_BYTES) {
      item = withoutTokens(original);
      size = Buffer.byteLength(JSON.stringify(item)) + 1;
    }
    if (page.length > 0 && (page.length >= HISTORY_MAX_ITEMS_PER_FRAME || bytes + size > HISTORY_MAX_FRAME_BYTES)) {
      frames.push(frameOf(page));
      page = [];
      bytes = envelopeBytes;
    }
    page.push(item);
    bytes += size;
  }
  if (page.length > 0 || (options.last && frames.length === 0)) frames.push(frameOf(page));
  const final = frames.at(-1);
  if (final && options.last) final.complete = true;
  return frames;
}

function withoutTokens(m: SubscriberTranscriptMessage): SubscriberTranscriptMessage {
  const [first] = m.autotranscribeResponse.utterance;
  return {
    ...m,
    autotranscribeResponse: { ...m.autotranscribeResponse, utterance: [{ text: first.text }] },
  };
}

/**
 * The `status` frame of a conversation: its control state (`unknown` without a live META item), whether
 * the call has ended (every AudioHook session closed, at least one seen) and when the first session
 * opened: utterance offsets count from that session's position 0, so it anchors them to wall-clock time.
 */
export function statusFrameOf(
  conversationId: string,
  meta: Pick<ConversationMeta, 'status' | 'ttl'> | undefined,
  sessions: readonly Pick<SessionRecord, 'state' | 'openedAt' | 'closedAt'>[],
  nowMs: number,
  id?: string,
): StatusFrame {
  const live = meta !== undefined && meta.ttl * 1000 > nowMs ? meta : undefined;
  const opened = [...sessions].sort((a, b) => a.openedAt.localeCompare(b.openedAt));
  const callEnded = opened.length > 0 && opened.every((s) => s.state === 'closed');
  const closedAt = opened
    .map((s) => s.closedAt)
    .filter((t): t is string => t !== undefined)
    .sort()
    .at(-1);
  return {
    type: 'status',
    conversationId,
    state: live?.status ?? 'unknown',
    callEnded,
    ...(opened[0] !== undefined && { timelineStartedAt: opened[0].openedAt }),
    ...(callEnded && closedAt !== undefined && { endedAt: closedAt }),
    ...(id !== undefined && { id }),
  };
}

/** May this connection subscribe to `target`? */
export function grantAllows(connection: Pick<ConnectionRecord, 'grant'>, target: string): boolean {
  const g = connection.grant;
  if (g.kind === 'supervisor') return true;
  if (target === ALL_CONVERSATIONS) return false;
  return g.kind === 'any' || g.conversationId === target;
}

function targetFields(target: string): { conversationId?: string; all?: true } {
  return target === ALL_CONVERSATIONS ? { all: true } : { conversationId: target };
}

/** Builds the subscribe/unsubscribe handler. */
export function makeHandler(deps: WebSocketDeps): WebSocketHandler {
  const now = deps.now ?? Date.now;
  return async (event: WebSocketEvent): Promise<WebSocketResult> => {
    const { connectionId, requestId } = event.requestContext;
    const refuse = async (status: number, frame: Extract<ControlFrame, { type: 'error' }>) => {
      deps.logger.info('websocket request refused', { requestId, connectionId, code: frame.code });
      deps.metrics.addMetric('WebSocketSubscribeRefused', 'Count', 1);
      deps.metrics.publish();
      await reply(deps, event, frame);
      return { statusCode: status };
    };
    const request = parseSubscriptionRequest(event.body);
    if (typeof request === 'string') return refuse(400, { type: 'error', code: 'BAD_REQUEST', message: request });
    const withId = request.id === undefined ? {} : { id: request.id };
    try {
      const connection = await deps.subscriptions.getConnection(connectionId, now());
      if (!connection) {
        return refuse(403, { type: 'error', code: 'FORBIDDEN', message: 'unknown or expired connection', ...withId });
      }
      if (request.action === 'unsubscribe') {
        await deps.subscriptions.unsubscribe(connectionId, request.target);
        await reply(deps, event, { type: 'unsubscribed', ...targetFields(request.target), ...withId });
        deps.logger.info('websocket unsubscribed', {
          requestId,
          connectionId,
          all: request.target === ALL_CONVERSATIONS,
        });
        return { statusCode: 200 };
      }
      if (!grantAllows(connection, request.target)) {
        const message =
          request.target === ALL_CONVERSATIONS
            ? 'the all-conversations subscription needs a supervisor credential'
            : 'this connection may not subscribe to that conversation';
        return refuse(403, { type: 'error', code: 'FORBIDDEN', message, ...withId });
      }
      const outcome = await deps.subscriptions.subscribe(connectionId, request.target, now());
      if (outcome === 'no-connection') {
        return refuse(403, { type: 'error', code: 'FORBIDDEN', message: 'unknown or expired connection', ...withId });
      }
      if (outcome === 'too-many') {
        return refuse(429, {
          type: 'error',
          code: 'TOO_MANY_SUBSCRIPTIONS',
          message: 'subscription limit reached',
          ...withId,
        });
      }
      await reply(deps, event, { type: 'subscribed', ...targetFields(request.target), ...withId });
      deps.logger.info('websocket subscribed', {
        requestId,
        connectionId,
        apiId: connection.apiId,
        ...targetFields(request.target),
      });
      deps.metrics.addMetric('WebSocketSubscribed', 'Count', 1);
      if (request.history || request.status) {
        const failure = await sendHistoryAndStatus(deps, event, request, now);
        if (failure) return refuse(failure.status, { ...failure.frame, ...withId });
      }
      deps.metrics.publish();
      return { statusCode: 200 };
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      // Throttled or unreachable: say so, so the client retries the same frame, instead of failing the route.
      return refuse(503, {
        type: 'error',
        code: 'UNAVAILABLE',
        message: 'the subscriptions store is busy or unavailable: retry shortly',
        ...withId,
      });
    }
  };
}

type Refusal = { status: number; frame: Extract<ControlFrame, { type: 'error' }> };

/**
 * After `subscribed`: the history frames (when asked and served), then the status frame (when served).
 * Answers a refusal instead when what was asked is not served here, or the tables are busy; the
 * subscription itself stands either way.
 */
async function sendHistoryAndStatus(
  deps: WebSocketDeps,
  event: WebSocketEvent,
  request: SubscriptionRequest,
  now: () => number,
): Promise<Refusal | undefined> {
  const conversationId = request.target;
  const { utterances, conversations } = deps;
  if ((request.history && !utterances) || (request.status && !request.history && !conversations)) {
    const what = request.history ? 'history' : 'status';
    return {
      status: 501,
      frame: { type: 'error', code: 'UNSUPPORTED', message: `this deployment does not serve ${what}; live only` },
    };
  }
  try {
    if (request.history && utterances) {
      let nextToken: string | undefined;
      let sent = 0;
      do {
        // Strongly consistent: an utterance stored just before the subscription must be in the history.
        const page = await utterances.listByConversation(conversationId, {
          limit: HISTORY_READ_PAGE,
          consistentRead: true,
          ...(nextToken !== undefined && { nextToken }),
        });
        nextToken = page.nextToken;
        const items = page.items.map(toSubscriberMessage);
        for (const frame of packHistoryFrames(conversationId, items, {
          last: nextToken === undefined,
          ...(request.id !== undefined && { id: request.id }),
        })) {
          if ((await deps.pusherFor(event).post(event.requestContext.connectionId, JSON.stringify(frame))) === 'gone') {
            return undefined;
          }
        }
        sent += items.length;
      } while (nextToken !== undefined);
      deps.metrics.addMetric('WebSocketHistoryItems', 'Count', sent);
    }
    if (conversations) {
      const [meta, sessions] = await Promise.all([
        conversations.getMeta(conversationId),
        conversations.listSessions(conversationId),
      ]);
      await reply(deps, event, statusFrameOf(conversationId, meta, sessions, now(), request.id));
    }
    return undefined;
  } catch (err) {
    if (!(err instanceof StoreUnavailableError)) throw err;
    return {
      status: 503,
      frame: {
        type: 'error',
        code: 'UNAVAILABLE',
        message: 'the conversation could not be read: subscribed, but ask for history or status again shortly',
      },
    };
  }
}

let live: WebSocketHandler | undefined;

/** The Lambda entry point (routes `subscribe` and `unsubscribe`). */
export const handler: WebSocketHandler = (event) => {
  live ??= makeHandler(webSocketDepsFromConfig(loadWebSocketConfig(), 'ws-subscribe'));
  return live(event);
};

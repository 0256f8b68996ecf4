/**
 * The `subscribe` and `unsubscribe` routes of the WebSocket API (route selection `$request.body.action`).
 *
 * `{"action":"subscribe","conversationId":"<Genesys conversationId>"}` subscribes to one conversation;
 * `{"action":"subscribe","all":true}` to every conversation, which only a supervisor connection may do
 * (an api id listed in `REALTIME_SUPERVISOR_API_IDS`, or a supervisor token). A connection opened with a
 * conversation-scoped token may subscribe to that conversation only. Every request is answered with a
 * `subscribed` / `unsubscribed` / `error` frame (echoing the request's optional `id`).
 */
import { StoreUnavailableError } from '../../../store/errors';
import { ALL_CONVERSATIONS, type ConnectionRecord } from '../../../store/subscriptions';
import { loadWebSocketConfig } from '../../shared/realtime-config';
import {
  type ControlFrame,
  reply,
  type WebSocketDeps,
  type WebSocketEvent,
  type WebSocketHandler,
  type WebSocketResult,
  webSocketDepsFromConfig,
} from '../../shared/websocket';

/** A parsed subscribe/unsubscribe request. */
export interface SubscriptionRequest {
  action: 'subscribe' | 'unsubscribe';
  /** A conversation id, or `*` for every conversation. */
  target: string;
  id?: string;
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
  if (o.all === true && o.conversationId === undefined)
    return { action: o.action, target: ALL_CONVERSATIONS, ...withId };
  const c = o.conversationId;
  if (typeof c !== 'string' || c.length === 0 || c.length > 255 || c === ALL_CONVERSATIONS) {
    return 'give either conversationId (1-255 characters) or all: true';
  }
  return { action: o.action, target: c, ...withId };
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

let live: WebSocketHandler | undefined;

/** The Lambda entry point (routes `subscribe` and `unsubscribe`). */
export const handler: WebSocketHandler = (event) => {
  live ??= makeHandler(webSocketDepsFromConfig(loadWebSocketConfig(), 'ws-subscribe'));
  return live(event);
};

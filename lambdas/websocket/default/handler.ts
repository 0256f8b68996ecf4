/**
 * `$default` of the WebSocket API: any frame whose `action` matches no route. Answers an `error` frame
 * (`UNKNOWN_ACTION`, or `BAD_REQUEST` when the frame is not a JSON object) and keeps the connection.
 */
import { loadWebSocketConfig } from '../../shared/realtime-config';
import {
  reply,
  type WebSocketDeps,
  type WebSocketEvent,
  type WebSocketHandler,
  type WebSocketResult,
  webSocketDepsFromConfig,
} from '../../shared/websocket';

/** Builds the `$default` handler. */
export function makeHandler(deps: WebSocketDeps): WebSocketHandler {
  return async (event: WebSocketEvent): Promise<WebSocketResult> => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(event.body ?? '');
    } catch {
      parsed = undefined;
    }
    const isObject = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
    const o = (isObject ? parsed : {}) as Record<string, unknown>;
    const id = typeof o.id === 'string' && o.id.length <= 128 ? { id: o.id } : {};
    deps.logger.info('websocket frame without a route', {
      requestId: event.requestContext.requestId,
      connectionId: event.requestContext.connectionId,
      json: isObject,
    });
    await reply(
      deps,
      event,
      isObject
        ? { type: 'error', code: 'UNKNOWN_ACTION', message: 'action must be subscribe or unsubscribe', ...id }
        : { type: 'error', code: 'BAD_REQUEST', message: 'frames must be JSON objects with an action' },
    );
    return { statusCode: 400 };
  };
}

let live: WebSocketHandler | undefined;

/** The Lambda entry point. */
export const handler: WebSocketHandler = (event) => {
  live ??= makeHandler(webSocketDepsFromConfig(loadWebSocketConfig(), 'ws-default'));
  return live(event);
};

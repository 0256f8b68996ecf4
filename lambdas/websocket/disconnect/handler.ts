/**
 * `$disconnect` of the WebSocket API: deletes the connection and every subscription it held. API
 * Gateway delivers `$disconnect` on a best-effort basis, so the items also carry a TTL and the fan-out
 * deletes a connection the management API reports gone.
 */
import { loadWebSocketConfig } from '../../shared/realtime-config';
import {
  type WebSocketDeps,
  type WebSocketEvent,
  type WebSocketHandler,
  type WebSocketResult,
  webSocketDepsFromConfig,
} from '../../shared/websocket';

/** Builds the `$disconnect` handler. */
export function makeHandler(deps: WebSocketDeps): WebSocketHandler {
  return async (event: WebSocketEvent): Promise<WebSocketResult> => {
    const { connectionId, requestId } = event.requestContext;
    const removed = await deps.subscriptions.removeConnection(connectionId);
    deps.logger.info('websocket disconnected', {
      requestId,
      connectionId,
      subscriptions: removed,
      ...(event.requestContext.disconnectStatusCode !== undefined && {
        closeCode: event.requestContext.disconnectStatusCode,
      }),
    });
    deps.metrics.addMetric('WebSocketDisconnected', 'Count', 1);
    deps.metrics.publish();
    return { statusCode: 200 };
  };
}

let live: WebSocketHandler | undefined;

/** The Lambda entry point. */
export const handler: WebSocketHandler = (event) => {
  live ??= makeHandler(webSocketDepsFromConfig(loadWebSocketConfig(), 'ws-disconnect'));
  return live(event);
};

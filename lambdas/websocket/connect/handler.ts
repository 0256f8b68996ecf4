/**
 * `$connect` of the WebSocket API: authenticates the handshake and records the connection with what it
 * may subscribe to. A non-2xx answer makes API Gateway refuse the handshake with that status.
 *
 * Two ways in (docs/realtime.md):
 * - the REST API's credentials, as headers `asapp-api-id` + `asapp-api-secret` (server-side clients):
 *   any single conversation, plus "all conversations" when the api id is a configured supervisor;
 * - `?token=<rt1…>` from `POST /realtime/v1/token` (browsers cannot set handshake headers, and a secret
 *   never goes in a URL): exactly the scope the token names.
 *
 * Answers: 200 accepted; 401 no or bad credentials / bad or expired token; 403 a disabled credential,
 * or a supervisor token whose api id is no longer a supervisor.
 */
import { createHash } from 'node:crypto';
import { verifySecret } from '../../../core/api/credentials';
import { DeliveryError } from '../../../core/delivery/errors';
import { verifyRealtimeToken } from '../../../core/delivery/realtime-token';
import type { ConnectionGrant } from '../../../store/subscriptions';
import { API_ID_HEADER, API_SECRET_HEADER } from '../../authorizer/handler';
import { loadWebSocketConfig } from '../../shared/realtime-config';
import {
  eventHeader,
  type WebSocketDeps,
  type WebSocketEvent,
  type WebSocketHandler,
  type WebSocketResult,
  webSocketDepsFromConfig,
} from '../../shared/websocket';

type Verdict = { ok: true; apiId: string; grant: ConnectionGrant } | { ok: false; status: 401 | 403; reason: string };

const refused = (status: 401 | 403, reason: string): Verdict => ({ ok: false, status, reason });

/** Builds the `$connect` handler. `cacheTtlMs` keeps positive credential verdicts (one scrypt per caller). */
export function makeHandler(deps: WebSocketDeps, options: { cacheTtlMs?: number } = {}): WebSocketHandler {
  const now = deps.now ?? Date.now;
  const cacheTtlMs = options.cacheTtlMs ?? 60_000;
  const cache = new Map<string, { apiId: string; expiresAt: number }>();

  const byCredentials = async (apiId: string, secret: string): Promise<Verdict> => {
    const key = `${apiId}\u0000${createHash('sha256').update(secret, 'utf8').digest('hex')}`;
    const hit = cache.get(key);
    if (!(hit && hit.expiresAt > now())) {
      const entry = await deps.credentials.lookup(apiId);
      if (!entry || !(await verifySecret(entry, secret))) return refused(401, 'invalid-credentials');
      if (entry.disabled) return refused(403, 'credential-disabled');
      if (cache.size > 10_000) cache.clear();
      cache.set(key, { apiId, expiresAt: now() + cacheTtlMs });
    }
    return {
      ok: true,
      apiId,
      grant: deps.supervisorApiIds.has(apiId) ? { kind: 'supervisor' } : { kind: 'any' },
    };
  };

  const byToken = (token: string): Verdict => {
    if (deps.tokenKey === undefined) return refused(401, 'tokens-disabled');
    try {
      const claims = verifyRealtimeToken(deps.tokenKey, token, Math.floor(now() / 1000));
      if ('all' in claims.scope) {
        // Supervisor status is re-checked at use: removing an api id from the list takes effect at once.
        if (!deps.supervisorApiIds.has(claims.sub)) return refused(403, 'not-a-supervisor');
        return { ok: true, apiId: claims.sub, grant: { kind: 'supervisor' } };
      }
      return {
        ok: true,
        apiId: claims.sub,
        grant: { kind: 'conversation', conversationId: claims.scope.conversationId },
      };
    } catch (err) {
      if (err instanceof DeliveryError) return refused(401, 'invalid-token');
      throw err;
    }
  };

  return async (event: WebSocketEvent): Promise<WebSocketResult> => {
    const { connectionId, requestId } = event.requestContext;
    const token = event.queryStringParameters?.token;
    const apiId = eventHeader(event, API_ID_HEADER);
    const secret = eventHeader(event, API_SECRET_HEADER);
    let verdict: Verdict;
    if (apiId !== undefined && secret !== undefined) verdict = await byCredentials(apiId, secret);
    else if (token) verdict = byToken(token);
    else verdict = refused(401, 'missing-credentials');
    if (!verdict.ok) {
      deps.logger.info('websocket connect refused', { requestId, connectionId, reason: verdict.reason });
      deps.metrics.addMetric('WebSocketConnectRefused', 'Count', 1);
      deps.metrics.publish();
      return { statusCode: verdict.status, body: verdict.status === 401 ? 'Unauthorized' : 'Forbidden' };
    }
    await deps.subscriptions.putConnection({ connectionId, apiId: verdict.apiId, grant: verdict.grant }, now());
    deps.logger.info('websocket connected', {
      requestId,
      connectionId,
      apiId: verdict.apiId,
      grant: verdict.grant.kind,
    });
    deps.metrics.addMetric('WebSocketConnected', 'Count', 1);
    deps.metrics.publish();
    return { statusCode: 200 };
  };
}

let live: WebSocketHandler | undefined;

/** The Lambda entry point. */
export const handler: WebSocketHandler = (event) => {
  live ??= makeHandler(webSocketDepsFromConfig(loadWebSocketConfig(), 'ws-connect'));
  return live(event);
};

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
 * Both ways need a credential holding the `realtime` scope (docs/security.md §3); a token's subject is
 * looked up again at every `$connect`.
 *
 * Answers: 200 accepted; 401 no or bad credentials / bad or expired token / a token whose credential is
 * gone; 403 a disabled credential, one without the `realtime` scope, or a supervisor token whose api id is
 * no longer a supervisor; 503 a token when the token key's secret
 * cannot be read and no earlier key is held (logged with the {@link TokenKeyError} code; API credentials
 * still work).
 *
 * A token naming another key (`kid`) triggers one early re-read of the key (at most every 30 s): after a
 * rotation the token route may already sign with the new key while this container still holds the old.
 */

import { createHash } from 'node:crypto';
import { verifySecret } from '../../../core/api/credentials';
import { DeliveryError } from '../../../core/delivery/errors';
import { claimedKeyId, keyId, type RealtimeClaims, verifyRealtimeToken } from '../../../core/delivery/realtime-token';
import { StoreUnavailableError } from '../../../store/errors';
import type { ConnectionGrant } from '../../../store/subscriptions';
import { API_ID_HEADER, API_SECRET_HEADER } from '../../authorizer/handler';
import { loadWebSocketConfig } from '../../shared/realtime-config';
import { TokenKeyError, type TokenKeyProvider, tokenKeyProvider } from '../../shared/token-key';
import {
  eventHeader,
  type WebSocketDeps,
  type WebSocketEvent,
  type WebSocketHandler,
  type WebSocketResult,
  webSocketDepsFromConfig,
} from '../../shared/websocket';

type RefusalStatus = 401 | 403 | 503;
type Verdict =
  | { ok: true; apiId: string; grant: ConnectionGrant }
  | { ok: false; status: RefusalStatus; reason: string; code?: string };

const refused = (status: RefusalStatus, reason: string, code?: string): Verdict => ({
  ok: false,
  status,
  reason,
  ...(code !== undefined && { code }),
});

const STATUS_TEXT: Record<RefusalStatus, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  503: 'Service Unavailable',
};

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
      // Always one hash, known id or not (verifySecret hashes a dummy for an unknown one): the answer's
      // timing must not tell which api ids exist.
      const ok = await verifySecret(entry, secret);
      if (!ok || entry === undefined) return refused(401, 'invalid-credentials');
      if (entry.disabled) return refused(403, 'credential-disabled');
      if (!entry.scopes.has('realtime')) return refused(403, 'scope-missing');
      if (cache.size > 10_000) cache.clear();
      cache.set(key, { apiId, expiresAt: now() + cacheTtlMs });
    }
    return {
      ok: true,
      apiId,
      grant: deps.supervisorApiIds.has(apiId) ? { kind: 'supervisor' } : { kind: 'any' },
    };
  };

  const keys = deps.tokenKey === undefined ? undefined : tokenKeyProvider(deps.tokenKey);

  /** The claims, or undefined when the token does not verify with the current key (nor a re-read one). */
  const verify = async (provider: TokenKeyProvider, token: string): Promise<RealtimeClaims | undefined> => {
    const attempt = (key: string) => {
      try {
        return verifyRealtimeToken(key, token, Math.floor(now() / 1000));
      } catch (err) {
        if (err instanceof DeliveryError) return undefined;
        throw err;
      }
    };
    const key = await provider.key();
    const claims = attempt(key);
    // Re-read the key only for a token that names another key (a rotation in flight), not for every
    // bad token: a flood of forged tokens must not turn into Secrets Manager reads.
    if (claims !== undefined || claimedKeyId(token) === keyId(key)) return claims;
    if (!(await provider.refreshEarly())) return undefined;
    const fresh = await provider.key();
    return fresh === key ? undefined : attempt(fresh);
  };

  const byToken = async (token: string): Promise<Verdict> => {
    if (keys === undefined) return refused(401, 'tokens-disabled');
    let claims: RealtimeClaims | undefined;
    try {
      claims = await verify(keys, token);
    } catch (err) {
      if (err instanceof TokenKeyError) return refused(503, 'token-key-unavailable', err.code);
      throw err;
    }
    if (claims === undefined) return refused(401, 'invalid-token');
    // The subject must still be a credential allowed real-time access: removing or disabling a credential,
    // or taking its `realtime` scope away, ends its outstanding tokens at once.
    const subject = await deps.credentials.lookup(claims.sub);
    if (subject === undefined) return refused(401, 'token-subject-unknown');
    if (subject.disabled) return refused(403, 'credential-disabled');
    if (!subject.scopes.has('realtime')) return refused(403, 'scope-missing');
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
  };

  return async (event: WebSocketEvent): Promise<WebSocketResult> => {
    const { connectionId, requestId } = event.requestContext;
    const token = event.queryStringParameters?.token;
    const apiId = eventHeader(event, API_ID_HEADER);
    const secret = eventHeader(event, API_SECRET_HEADER);
    let verdict: Verdict;
    if (apiId !== undefined && secret !== undefined) verdict = await byCredentials(apiId, secret);
    else if (token) verdict = await byToken(token);
    else verdict = refused(401, 'missing-credentials');
    if (!verdict.ok) {
      const attributes = {
        requestId,
        connectionId,
        reason: verdict.reason,
        ...(verdict.code !== undefined && { code: verdict.code }),
      };
      if (verdict.status >= 500) deps.logger.error('websocket connect failed', attributes);
      else deps.logger.info('websocket connect refused', attributes);
      deps.metrics.addMetric('WebSocketConnectRefused', 'Count', 1);
      deps.metrics.publish();
      return { statusCode: verdict.status, body: STATUS_TEXT[verdict.status] };
    }
    try {
      await deps.subscriptions.putConnection({ connectionId, apiId: verdict.apiId, grant: verdict.grant }, now());
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      // Throttled or unreachable: a retryable answer (the client reconnects), not an internal error.
      deps.logger.warn('websocket connect deferred: the subscriptions store is unavailable', {
        requestId,
        connectionId,
        code: err.code,
      });
      deps.metrics.addMetric('WebSocketConnectRefused', 'Count', 1);
      deps.metrics.publish();
      return { statusCode: 503, body: STATUS_TEXT[503] };
    }
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

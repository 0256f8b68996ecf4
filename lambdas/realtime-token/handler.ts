/**
 * `POST /realtime/v1/token` [EXT]: a short-lived token for the WebSocket API's `$connect`
 * (core/delivery/realtime-token.ts), for clients that cannot send the API credentials on a WebSocket
 * handshake (browsers). Behind the same authorizer as every REST route; the token's subject is the
 * calling api id.
 *
 * Body `{"conversationId":"…"}` → a token for that conversation only; `{"all":true}` → an "all
 * conversations" token, for supervisor api ids only (`REALTIME_SUPERVISOR_API_IDS`, else `403-01`).
 * Answers `{token, expiresAt, expiresInSec[, url]}`. Without a token key (`REALTIME_TOKEN_SECRET` or
 * `REALTIME_TOKEN_SECRET_ID`) the route is off (`404-01`); when the key's secret cannot be read and no
 * earlier key is held, `503-01` (retry shortly) and a log line with the {@link TokenKeyError} code.
 */
import { ApiError } from '../../core/api/errors';
import { issueRealtimeToken, type RealtimeScope } from '../../core/delivery/realtime-token';
import { loadConfig } from '../shared/config';
import { type ApiDeps, depsFromConfig } from '../shared/deps';
import { parseJsonBody, type RouteHandler, runRoute } from '../shared/http';
import { TokenKeyError, tokenKeyProvider } from '../shared/token-key';

/** The route's 200 body. */
export interface RealtimeTokenResponse {
  token: string;
  expiresAt: string;
  expiresInSec: number;
  /** The WebSocket URL to connect to with `?token=`, when configured. */
  url?: string;
}

function scopeOf(body: unknown): RealtimeScope {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError('400-01', 'Request body must be a JSON object with conversationId or all');
  }
  const o = body as Record<string, unknown>;
  if (o.all === true && o.conversationId === undefined) return { all: true };
  const c = o.conversationId;
  if (typeof c !== 'string' || c.length === 0 || c.length > 255 || c === '*') {
    throw new ApiError('400-01', 'give either conversationId (1-255 characters) or all: true');
  }
  return { conversationId: c };
}

/** Builds the route handler around injected collaborators. */
export function makeHandler(deps: Pick<ApiDeps, 'realtime' | 'logger' | 'metrics' | 'now'>): RouteHandler {
  const now = deps.now ?? Date.now;
  return (event) =>
    runRoute(event, { route: 'realtime-token', logger: deps.logger, metrics: deps.metrics }, async ({ apiId, log }) => {
      const settings = deps.realtime;
      if (!settings) throw new ApiError('404-01', 'Real-time tokens are not enabled');
      if (apiId === undefined) throw new ApiError('401-01');
      const scope = scopeOf(parseJsonBody(event));
      if ('all' in scope && !settings.supervisorApiIds.has(apiId)) {
        throw new ApiError('403-01', 'The all-conversations subscription needs a supervisor credential');
      }
      let key: string;
      try {
        key = await tokenKeyProvider(settings.tokenSecret).key();
      } catch (err) {
        if (!(err instanceof TokenKeyError)) throw err;
        log.error('realtime token key unavailable', { code: err.code, reason: err.message });
        throw new ApiError('503-01', 'Real-time tokens are unavailable; retry shortly', {
          cause: err,
          retryAfterSec: 1,
        });
      }
      const { token, claims } = issueRealtimeToken(key, apiId, scope, Math.floor(now() / 1000), settings.ttlSec);
      log.info('realtime token issued', { all: 'all' in scope, expiresAt: claims.exp });
      const body: RealtimeTokenResponse = {
        token,
        expiresAt: new Date(claims.exp * 1000).toISOString(),
        expiresInSec: settings.ttlSec,
        ...(settings.websocketUrl !== undefined && { url: settings.websocketUrl }),
      };
      return { status: 200, body };
    });
}

let live: RouteHandler | undefined;

/** The Lambda entry point. */
export const handler: RouteHandler = (event, context) => {
  live ??= makeHandler(depsFromConfig(loadConfig(), 'realtime-token'));
  return live(event, context);
};

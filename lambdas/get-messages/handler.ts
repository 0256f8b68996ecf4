/**
 * `GET /conversation/v1/conversation/messages` (api-contract.md §2.1): the utterances of one
 * conversation, oldest first, in the ASAPP `Message` shape.
 *
 * - The conversation id comes from `externalId` (canonical), else the `externalConversationId` query
 *   alias, else a JSON body `{"externalId": …}` (some ASAPP samples send a body on the GET; §7 A1).
 * - [EXT] `limit` (1–1000, default 1000) and an opaque `nextToken`; a body with more utterances than the
 *   page carries a top-level `nextToken`. The default request keeps the ASAPP shape exactly.
 * - Unknown or expired (past its retention) conversation → `404-01`; a conversation in progress → 200 with
 *   what exists so far; a bad token → `400-01`.
 * - `nextToken`s are HMAC-signed. In AWS the key is read from Secrets Manager (`PAGE_TOKEN_SECRET_ID`,
 *   lambdas/shared/page-token-key.ts) and the Lambda refuses to start without a key; when the key cannot be
 *   read → `503-01` (retry shortly).
 */

import { ApiError } from '../../core/api/errors';
import { segmentContexts, toAsappMessage } from '../../core/api/messages';
import { loadConfig, requirePageTokenKey } from '../shared/config';
import { type ApiDeps, depsFromConfig } from '../shared/deps';
import { parseJsonBody, type RouteHandler, runRoute } from '../shared/http';
import { type PageReader, PageTokenKeyError } from '../shared/page-token-key';
import { parseMessagesQuery } from '../shared/schemas';

function externalIdFromBody(body: unknown): string | undefined {
  if (body === undefined) return undefined;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError('400-01', 'Request body must be a JSON object');
  }
  const v = (body as Record<string, unknown>).externalId;
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new ApiError('400-01', 'externalId must be a string');
  return v;
}

/**
 * Builds the route handler around injected collaborators. Pages are read through `deps.pages` when given
 * (the key read from Secrets Manager), else through `deps.utterances`.
 */
export function makeHandler(
  deps: Pick<ApiDeps, 'conversations' | 'logger' | 'metrics' | 'now' | 'pages'> & { utterances: PageReader },
): RouteHandler {
  const now = deps.now ?? Date.now;
  const pages = deps.pages ?? deps.utterances;
  return (event) =>
    runRoute(event, { route: 'get-messages', logger: deps.logger, metrics: deps.metrics }, async ({ log, metrics }) => {
      const q = event.queryStringParameters ?? {};
      const fromQuery = q.externalId ?? q.externalConversationId;
      const externalId = fromQuery ?? externalIdFromBody(parseJsonBody(event));
      const input = parseMessagesQuery({ externalId, limit: q.limit, nextToken: q.nextToken });
      const conversationId = input.externalId;

      const meta = await deps.conversations.getMeta(conversationId, { consistent: false });
      // DynamoDB deletes expired items up to a few days late; an item past its TTL is already gone for us.
      if (!meta || meta.ttl * 1000 <= now()) {
        throw new ApiError('404-01', 'No conversation found for this externalId');
      }
      let page: Awaited<ReturnType<PageReader['listByConversation']>>;
      try {
        page = await pages.listByConversation(conversationId, {
          ...(input.limit !== undefined && { limit: input.limit }),
          ...(input.nextToken !== undefined && { nextToken: input.nextToken }),
        });
      } catch (err) {
        if (!(err instanceof PageTokenKeyError)) throw err;
        log.error('page token key unavailable', { code: err.code, reason: err.message });
        throw new ApiError('503-01', 'Messages are unavailable; retry shortly', { cause: err, retryAfterSec: 1 });
      }
      const [segments, sessions] = await Promise.all([
        deps.conversations.listSegments(conversationId),
        deps.conversations.listSessions(conversationId),
      ]);
      const contexts = segmentContexts({ segments, sessions });
      const items = page.items.map((u) => toAsappMessage(u, contexts.get(u.segment)));
      metrics.addMetric('MessagesReturned', 'Count', items.length);
      log.info('messages served', {
        conversationId,
        count: items.length,
        paged: input.nextToken !== undefined,
        more: page.nextToken !== undefined,
      });
      return { status: 200, body: page.nextToken === undefined ? { items } : { items, nextToken: page.nextToken } };
    });
}

let live: RouteHandler | undefined;

/**
 * The Lambda entry point (collaborators built on first invocation, then reused by the container). A function
 * without a page-token key fails here with a `ConfigError` rather than hand out unsigned `nextToken`s.
 */
export const handler: RouteHandler = (event) => {
  live ??= makeHandler(depsFromConfig(requirePageTokenKey(loadConfig()), 'get-messages'));
  return live(event);
};

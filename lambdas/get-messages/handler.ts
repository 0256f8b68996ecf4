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
 */

import { ApiError } from '../../core/api/errors';
import { segmentContexts, toAsappMessage } from '../../core/api/messages';
import { loadConfig } from '../shared/config';
import { type ApiDeps, depsFromConfig } from '../shared/deps';
import { parseJsonBody, type RouteHandler, runRoute } from '../shared/http';
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

/** Builds the route handler around injected collaborators. */
export function makeHandler(
  deps: Pick<ApiDeps, 'conversations' | 'utterances' | 'logger' | 'metrics' | 'now'>,
): RouteHandler {
  const now = deps.now ?? Date.now;
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
      const page = await deps.utterances.listByConversation(conversationId, {
        ...(input.limit !== undefined && { limit: input.limit }),
        ...(input.nextToken !== undefined && { nextToken: input.nextToken }),
      });
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

/** The Lambda entry point (collaborators built on first invocation, then reused by the container). */
export const handler: RouteHandler = (event) => {
  live ??= makeHandler(depsFromConfig(loadConfig(), 'get-messages'));
  return live(event);
};

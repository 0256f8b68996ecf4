/**
 * [EXT] `GET /mg-autotranscribe/v1/conversations/{guid}/status`: the transcription control state of one
 * call — desired state and version, `waiting-for-audio` for a start that precedes the audio, segments with
 * their summaries, AudioHook sessions with a coarse health. Not part of the ASAPP contract; it lives under
 * the media-gateway prefix because it is keyed by the start/stop `guid` (the ASAPP Conversations API's
 * `{conversationId}` is a different, internal id, which a future `getConversation` may need).
 */
import { ApiError } from '../../core/api/errors';
import { conversationStatusView } from '../../core/api/status';
import { loadConfig } from '../shared/config';
import { type ApiDeps, depsFromConfig } from '../shared/deps';
import { type RouteHandler, runRoute } from '../shared/http';
import { conversationIdSchema } from '../shared/schemas';

/** Builds the route handler around injected collaborators. */
export function makeHandler(deps: Pick<ApiDeps, 'conversations' | 'logger' | 'metrics' | 'now'>): RouteHandler {
  const now = deps.now ?? Date.now;
  return (event) =>
    runRoute(event, { route: 'conversation-status', logger: deps.logger, metrics: deps.metrics }, async ({ log }) => {
      const raw = event.pathParameters?.guid;
      // API Gateway hands path parameters over already URL-decoded.
      const parsed = conversationIdSchema.safeParse(raw);
      if (!parsed.success) throw new ApiError('400-01', parsed.error.issues[0]?.message ?? 'invalid guid');
      const conversationId = parsed.data;
      const meta = await deps.conversations.getMeta(conversationId);
      if (!meta || meta.ttl * 1000 <= now()) throw new ApiError('404-01', 'No conversation found for this guid');
      const [segments, sessions] = await Promise.all([
        deps.conversations.listSegments(conversationId),
        deps.conversations.listSessions(conversationId),
      ]);
      log.debug('status served', { conversationId, state: meta.status });
      return { status: 200, body: conversationStatusView(conversationId, meta, segments, sessions) };
    });
}

let live: RouteHandler | undefined;

/** The Lambda entry point (collaborators built on first invocation, then reused by the container). */
export const handler: RouteHandler = (event) => {
  live ??= makeHandler(depsFromConfig(loadConfig(), 'conversation-status'));
  return live(event);
};

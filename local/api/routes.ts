/**
 * The REST routes wired to the real handlers, for the local adapter: the same route table CDK reads
 * (lambdas/shared/routes.ts), each entry bound to its handler's `makeHandler`.
 */
import { makeHandler as conversationStatus } from '../../lambdas/conversation-status/handler';
import { makeHandler as getMessages } from '../../lambdas/get-messages/handler';
import type { ApiDeps } from '../../lambdas/shared/deps';
import type { RouteHandler } from '../../lambdas/shared/http';
import { ROUTES, type RouteSpec } from '../../lambdas/shared/routes';
import { makeHandler as startStreaming } from '../../lambdas/start-streaming/handler';
import { makeHandler as stopStreaming } from '../../lambdas/stop-streaming/handler';
import type { LocalRoute } from './server';

const FACTORIES: Readonly<Record<RouteSpec['id'], (deps: ApiDeps) => RouteHandler>> = {
  'start-streaming': startStreaming,
  'stop-streaming': stopStreaming,
  'get-messages': getMessages,
  'conversation-status': conversationStatus,
};

/** Every route of {@link ROUTES}, served by its real handler built around `deps`. */
export function localRoutes(deps: ApiDeps): LocalRoute[] {
  return ROUTES.map((r) => ({ method: r.method, path: r.path, handler: FACTORIES[r.id](deps) }));
}

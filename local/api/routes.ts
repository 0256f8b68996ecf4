/**
 * The REST routes wired to the real handlers, for the local adapter: the same route table CDK reads
 * (contract/routes.ts), each entry bound to its handler's `makeHandler`.
 */

import { ROUTES, type RouteSpec } from '../../contract/routes';
import { makeHandler as conversationStatus } from '../../lambdas/conversation-status/handler';
import { makeHandler as requestExport } from '../../lambdas/file-exporter/request-export/handler';
import { makeOperationHandler as fileExporter } from '../../lambdas/file-exporter/static/handler';
import { makeHandler as getMessages } from '../../lambdas/get-messages/handler';
import { makeHandler as realtimeToken } from '../../lambdas/realtime-token/handler';
import type { ApiDeps } from '../../lambdas/shared/deps';
import type { RouteHandler } from '../../lambdas/shared/http';
import { makeHandler as startStreaming } from '../../lambdas/start-streaming/handler';
import { makeHandler as stopStreaming } from '../../lambdas/stop-streaming/handler';
import type { LocalRoute } from './server';

const FACTORIES: Readonly<Record<RouteSpec['id'], (deps: ApiDeps) => RouteHandler>> = {
  'start-streaming': startStreaming,
  'stop-streaming': stopStreaming,
  'get-messages': getMessages,
  'conversation-status': conversationStatus,
  'file-exporter-list-feeds': (deps) => fileExporter(deps, 'listfeeds'),
  'file-exporter-list-feed-versions': (deps) => fileExporter(deps, 'listfeedversions'),
  'file-exporter-list-feed-formats': (deps) => fileExporter(deps, 'listfeedformats'),
  'file-exporter-list-feed-dates': (deps) => fileExporter(deps, 'listfeeddates'),
  'file-exporter-list-feed-intervals': (deps) => fileExporter(deps, 'listfeedintervals'),
  'file-exporter-list-feed-files': (deps) => fileExporter(deps, 'listfeedfiles'),
  'file-exporter-get-feed-file': (deps) => fileExporter(deps, 'getfeedfile'),
  'request-export': requestExport,
  'realtime-token': realtimeToken,
};

/** Every route of {@link ROUTES}, served by its real handler built around `deps`. */
export function localRoutes(deps: ApiDeps): LocalRoute[] {
  return ROUTES.map((r) => ({ method: r.method, path: r.path, handler: FACTORIES[r.id](deps) }));
}

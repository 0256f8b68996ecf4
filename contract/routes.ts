/**
 * The REST API's routes as plain data: method, path, the handler's entry file, its operationId in
 * docs/openapi.yaml. Deliberately import-free so lib/ (CDK) may read it to create one function per entry
 * without importing runtime code, and the local adapter and the OpenAPI test use the same list.
 */

/** One route of the REST API. */
export interface RouteSpec {
  /** Stable id: the handler folder name and the function's logical id. */
  readonly id:
    | 'start-streaming'
    | 'stop-streaming'
    | 'get-messages'
    | 'conversation-status'
    | 'realtime-token'
    | 'file-exporter-list-feeds'
    | 'file-exporter-list-feed-versions'
    | 'file-exporter-list-feed-formats'
    | 'file-exporter-list-feed-dates'
    | 'file-exporter-list-feed-intervals'
    | 'file-exporter-list-feed-files'
    | 'file-exporter-get-feed-file'
    | 'request-export';
  readonly method: 'GET' | 'POST';
  /** API Gateway resource path (`{name}` for path parameters). */
  readonly path: string;
  /** Entry file of the handler, relative to the repository root (for bundling). */
  readonly entry: string;
  /** operationId in docs/openapi.yaml. */
  readonly operationId: string;
  /**
   * The credential scope the route needs (core/api/credentials.ts `SCOPES`; docs/security.md §3): the
   * authorizer's policy allows a credential exactly the routes of its scopes.
   */
  readonly scope: 'control' | 'read' | 'realtime' | 'export' | 'admin';
}

/** Every route. All of them sit behind the REQUEST authorizer. */
export const ROUTES: readonly RouteSpec[] = [
  {
    id: 'start-streaming',
    method: 'POST',
    path: '/mg-autotranscribe/v1/start-streaming',
    entry: 'lambdas/start-streaming/handler.ts',
    operationId: 'startStreaming',
    scope: 'control',
  },
  {
    id: 'stop-streaming',
    method: 'POST',
    path: '/mg-autotranscribe/v1/stop-streaming',
    entry: 'lambdas/stop-streaming/handler.ts',
    operationId: 'stopStreaming',
    scope: 'control',
  },
  {
    id: 'get-messages',
    method: 'GET',
    path: '/conversation/v1/conversation/messages',
    entry: 'lambdas/get-messages/handler.ts',
    operationId: 'getMessagesByExternalId',
    scope: 'read',
  },
  {
    id: 'conversation-status',
    method: 'GET',
    path: '/mg-autotranscribe/v1/conversations/{guid}/status',
    entry: 'lambdas/conversation-status/handler.ts',
    operationId: 'getConversationStatus',
    scope: 'read',
  },
  {
    id: 'realtime-token',
    method: 'POST',
    path: '/realtime/v1/token',
    entry: 'lambdas/realtime-token/handler.ts',
    operationId: 'issueRealtimeToken',
    scope: 'realtime',
  },
  // File Exporter (api-contract.md §4): one entry serves the seven static routes (it dispatches on the path).
  ...(
    [
      ['file-exporter-list-feeds', 'listfeeds', 'listFeeds'],
      ['file-exporter-list-feed-versions', 'listfeedversions', 'listFeedVersions'],
      ['file-exporter-list-feed-formats', 'listfeedformats', 'listFeedFormats'],
      ['file-exporter-list-feed-dates', 'listfeeddates', 'listFeedDates'],
      ['file-exporter-list-feed-intervals', 'listfeedintervals', 'listFeedIntervals'],
      ['file-exporter-list-feed-files', 'listfeedfiles', 'listFeedFiles'],
      // The contract's operationId for getfeedfile really is listFeedFile.
      ['file-exporter-get-feed-file', 'getfeedfile', 'listFeedFile'],
    ] as const
  ).map(
    ([id, operation, operationId]): RouteSpec => ({
      id,
      method: 'POST',
      path: `/fileexporter/v1/static/${operation}`,
      entry: 'lambdas/file-exporter/static/handler.ts',
      operationId,
      scope: 'export',
    }),
  ),
  {
    // [EXT] on-demand export of a day or hour (docs/feeds.md); the export itself runs in the export function.
    id: 'request-export',
    method: 'POST',
    path: '/fileexporter/v1/admin/exportfeed',
    entry: 'lambdas/file-exporter/request-export/handler.ts',
    operationId: 'requestFeedExport',
    scope: 'admin',
  },
];

/** Entry file of the REQUEST authorizer. */
export const AUTHORIZER_ENTRY = 'lambdas/authorizer/handler.ts';

/**
 * Identity sources of the authorizer (both headers; API Gateway answers 401 itself when one is missing
 * and caches verdicts per pair).
 */
export const AUTHORIZER_IDENTITY_SOURCES = [
  'method.request.header.asapp-api-id',
  'method.request.header.asapp-api-secret',
];

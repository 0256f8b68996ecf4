/**
 * The REST API's routes as plain data: method, path, the handler's entry file, its operationId in
 * docs/openapi.yaml. Deliberately import-free so lib/ (CDK) may read it to create one function per entry
 * without importing runtime code, and the local adapter and the OpenAPI test use the same list.
 */

/** One route of the REST API. */
export interface RouteSpec {
  /** Stable id: the handler folder name and the function's logical id. */
  readonly id: 'start-streaming' | 'stop-streaming' | 'get-messages' | 'conversation-status';
  readonly method: 'GET' | 'POST';
  /** API Gateway resource path (`{name}` for path parameters). */
  readonly path: string;
  /** Entry file of the handler, relative to the repository root (for bundling). */
  readonly entry: string;
  /** operationId in docs/openapi.yaml. */
  readonly operationId: string;
}

/** Every route. All of them sit behind the REQUEST authorizer. */
export const ROUTES: readonly RouteSpec[] = [
  {
    id: 'start-streaming',
    method: 'POST',
    path: '/mg-autotranscribe/v1/start-streaming',
    entry: 'lambdas/start-streaming/handler.ts',
    operationId: 'startStreaming',
  },
  {
    id: 'stop-streaming',
    method: 'POST',
    path: '/mg-autotranscribe/v1/stop-streaming',
    entry: 'lambdas/stop-streaming/handler.ts',
    operationId: 'stopStreaming',
  },
  {
    id: 'get-messages',
    method: 'GET',
    path: '/conversation/v1/conversation/messages',
    entry: 'lambdas/get-messages/handler.ts',
    operationId: 'getMessagesByExternalId',
  },
  {
    id: 'conversation-status',
    method: 'GET',
    path: '/mg-autotranscribe/v1/conversations/{guid}/status',
    entry: 'lambdas/conversation-status/handler.ts',
    operationId: 'getConversationStatus',
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

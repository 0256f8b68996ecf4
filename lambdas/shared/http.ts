/**
 * The HTTP edge shared by the route handlers: API Gateway REST proxy events in, proxy results out.
 * Every route runs through {@link runRoute}, which gives it the request id, parses nothing it was not
 * asked to, turns every thrown error into the contract's envelope exactly once (api-contract.md §1.3),
 * records a metric per outcome and never lets an internal detail reach the body.
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { ApiError, type ApiErrorCode, errorEnvelope } from '../../core/api/errors';
import { describeError } from '../../core/errors';
import { InvalidTokenError, StoreUnavailableError } from '../../store/errors';
import { type ApiLogger, type MetricsSink, withKeys } from './observability';

/** The event every route handler receives (REST API, Lambda proxy integration, payload v1). */
export type ApiEvent = APIGatewayProxyEvent;
/** What every route handler returns. */
export type ApiResult = APIGatewayProxyResult;
/** A route handler, as exported by each `lambdas/<route>/handler.ts`. */
export type RouteHandler = (event: ApiEvent, context?: unknown) => Promise<ApiResult>;

/** Largest request body a route accepts; larger bodies answer `413-01`. */
export const MAX_BODY_BYTES = 64 * 1024;

/** What a route's logic returns on success. */
export interface RouteResponse {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** Per-request context handed to a route's logic. */
export interface RouteRequest {
  event: ApiEvent;
  /** API Gateway's `requestContext.requestId` (a fresh UUID when absent, e.g. a hand-made test event). */
  requestId: string;
  /** The calling credential's id from the authorizer context, when there is one. */
  apiId: string | undefined;
  log: ApiLogger;
  metrics: MetricsSink;
}

/** Options of {@link runRoute}. */
export interface RunRouteOptions {
  /** Route name for logs and metrics, e.g. `start-streaming`. */
  route: string;
  logger: ApiLogger;
  metrics: MetricsSink;
  /**
   * Code for an unexpected failure. The start/stop router answers `500-201` (api-contract.md §1.3); the
   * Conversations routes the generic `500-01`.
   */
  internalErrorCode?: Extract<ApiErrorCode, '500-01' | '500-201'>;
}

const JSON_HEADERS = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' };

/** A JSON proxy result. */
export function jsonResult(status: number, body: unknown, headers: Record<string, string> = {}): ApiResult {
  return { statusCode: status, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** The envelope result for an {@link ApiError}, with `Retry-After` when the error carries one. */
export function errorResult(requestId: string, err: ApiError): ApiResult {
  const headers: Record<string, string> = {};
  if (err.retryAfterSec !== undefined) headers['Retry-After'] = String(err.retryAfterSec);
  return jsonResult(err.status, errorEnvelope(requestId, err.code, err.message), headers);
}

/** A header value, looked up case-insensitively (API Gateway REST passes names as the client sent them). */
export function header(event: Pick<ApiEvent, 'headers'>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(event.headers ?? {})) {
    if (k.toLowerCase() === wanted && v !== undefined) return v;
  }
  return undefined;
}

/**
 * Maps anything a route threw to a contract error. Store errors that mean something to the caller keep
 * that meaning (a forged page token is the caller's `400-01`; DynamoDB throttling is a retryable
 * `503-01`); everything else is an internal error whose details stay in the log.
 */
export function toApiError(err: unknown, internalCode: ApiErrorCode = '500-01'): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof InvalidTokenError)
    return new ApiError('400-01', 'nextToken is invalid or expired', { cause: err });
  if (err instanceof StoreUnavailableError) {
    return new ApiError('503-01', 'Service Unavailable; retry shortly', { cause: err, retryAfterSec: 1 });
  }
  return new ApiError(internalCode, undefined, { cause: err });
}

/**
 * Runs one route invocation: request id and logger keys, the route's logic, the envelope for failures,
 * one `Requests` metric per outcome class and a latency metric, then flushes metrics.
 */
export async function runRoute(
  event: ApiEvent,
  options: RunRouteOptions,
  logic: (request: RouteRequest) => Promise<RouteResponse>,
): Promise<ApiResult> {
  const started = performance.now();
  const requestId = event.requestContext?.requestId || randomUUID();
  const authorizer = (event.requestContext?.authorizer ?? {}) as Record<string, unknown>;
  const apiId = typeof authorizer.apiId === 'string' ? authorizer.apiId : undefined;
  const log = withKeys(options.logger, { requestId, route: options.route, ...(apiId && { apiId }) });
  let result: ApiResult;
  try {
    const response = await logic({ event, requestId, apiId, log, metrics: options.metrics });
    result = jsonResult(response.status, response.body, response.headers);
  } catch (err) {
    const apiError = toApiError(err, options.internalErrorCode);
    if (apiError.status >= 500) {
      log.error('request failed', { code: apiError.code, err: describeError(err, { stack: true }) });
    } else {
      log.info('request rejected', { code: apiError.code, status: apiError.status, reason: apiError.message });
    }
    result = errorResult(requestId, apiError);
  }
  const statusClass = `${Math.floor(result.statusCode / 100)}xx`;
  options.metrics.addMetric(`Requests${statusClass}`, 'Count', 1);
  options.metrics.addMetric('Latency', 'Milliseconds', Math.round(performance.now() - started));
  try {
    options.metrics.publish();
  } catch (err) {
    // Metrics are best effort: a failed flush must not turn a served request into an error.
    log.warn('metrics flush failed', { err: describeError(err, { stack: true }) });
  }
  return result;
}

/**
 * The JSON body of a request, or `undefined` when there is none.
 * - larger than {@link MAX_BODY_BYTES} → `413-01`
 * - a `Content-Type` other than JSON (`application/json`, `application/*+json`) → `400-01` (the contract
 *   has no 415; an absent `Content-Type` is tolerated, since some HTTP clients omit it)
 * - not parseable as JSON → `400-01`
 */
export function parseJsonBody(event: Pick<ApiEvent, 'body' | 'isBase64Encoded' | 'headers'>): unknown {
  if (event.body === null || event.body === undefined || event.body === '') return undefined;
  const raw = event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
  if (raw.byteLength > MAX_BODY_BYTES) {
    throw new ApiError('413-01', `Request body exceeds ${MAX_BODY_BYTES} bytes`);
  }
  const contentType = header(event, 'content-type');
  if (contentType !== undefined) {
    const media = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
    if (media !== 'application/json' && !/^application\/[a-z0-9.+-]+\+json$/.test(media)) {
      throw new ApiError('400-01', `Content-Type must be application/json (got '${media || contentType}')`);
    }
  }
  const text = raw.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ApiError('400-01', 'Request body is not valid JSON');
  }
}

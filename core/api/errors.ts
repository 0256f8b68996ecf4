/**
 * The customer-facing API's error codes (api-contract.md §1.3, §2.1, §5), one table for every route.
 *
 * Every non-2xx body is the envelope `{"error":{"requestId","message","code"}}`; `code` is
 * `<HTTP status>-<subcode>` and the status is always the code's prefix, so the table cannot drift.
 * Messages are for humans and never carry internals (stack traces, table names, SDK errors).
 */
import { AppError } from '../errors';

/** Every code the API answers with. Listed with meanings in docs/errors.md. */
export type ApiErrorCode =
  | '400-01'
  | '400-201'
  | '400-202'
  | '400-203'
  | '401-01'
  | '403-01'
  | '404-01'
  | '409-201'
  | '409-202'
  | '409-203'
  | '413-01'
  | '422-01'
  | '429-01'
  | '500-01'
  | '500-201'
  | '503-01';

/** Default human-readable message per code (the OpenAPI examples' wording where the contract gives one). */
export const API_ERROR_MESSAGES: Readonly<Record<ApiErrorCode, string>> = {
  '400-01': 'Bad request',
  '400-201': 'Invalid Start/Stop API parameter',
  '400-202': 'Invalid transcription parameter',
  '400-203': 'No call found for this guid',
  '401-01': 'Unauthorized',
  '403-01': 'Forbidden Response',
  '404-01': 'Not Found',
  '409-201': 'Call transcription already stopped',
  '409-202': 'Another request for this guid is still pending',
  '409-203': 'Call teardown in progress',
  '413-01': 'Request Entity Too Large',
  '422-01': 'Unprocessable Entity',
  '429-01': 'Too Many Requests',
  '500-01': 'Internal server error',
  '500-201': 'Internal error in the router or transcriber',
  '503-01': 'Service Unavailable',
};

/** Every code, in table order (for docs and exhaustive tests). */
export const API_ERROR_CODES = Object.keys(API_ERROR_MESSAGES) as ApiErrorCode[];

/** The HTTP status of a code: its prefix. */
export function statusOf(code: ApiErrorCode): number {
  return Number(code.slice(0, 3));
}

/** Options of {@link ApiError}. */
export interface ApiErrorOptions {
  cause?: unknown;
  /** Seconds the client should wait before retrying (sent as `Retry-After` on 429 and 503). */
  retryAfterSec?: number;
}

/**
 * A request-level failure with a stable contract code. Thrown by the rules and the handlers, turned into
 * the envelope exactly once at the handler edge.
 */
export class ApiError extends AppError {
  override readonly name = 'ApiError';
  declare readonly code: ApiErrorCode;
  readonly status: number;
  readonly retryAfterSec: number | undefined;
  constructor(code: ApiErrorCode, message: string = API_ERROR_MESSAGES[code], options: ApiErrorOptions = {}) {
    super(code, message, options);
    this.status = statusOf(code);
    this.retryAfterSec = options.retryAfterSec;
  }
}

/** The contract's error body. */
export interface ErrorEnvelope {
  error: { requestId: string; message: string; code: ApiErrorCode };
}

/** Builds the envelope for an error and the request it answers. */
export function errorEnvelope(requestId: string, code: ApiErrorCode, message: string = API_ERROR_MESSAGES[code]) {
  const body: ErrorEnvelope = { error: { requestId, message, code } };
  return body;
}

/**
 * Errors of the persistence layer. Every class carries a `name` and a stable `code` (listed in
 * docs/errors.md). Conditional-check failures that are part of normal operation (a duplicate utterance, a
 * start of a running segment, a lost optimistic race) never surface as errors: the repositories return
 * them as domain outcomes. What remains here is what a caller must map to a response: bad input, a bad
 * page token, a missing item, and an unavailable or misbehaving DynamoDB. No raw SDK error leaks out:
 * {@link toStoreError} wraps it, keeping it as `cause`.
 */
import { AppError, type AppErrorOptions, errorFields } from '../core/errors';

/** Stable codes of {@link StoreError}s. */
export type StoreErrorCode =
  | 'STORE_INVALID_ARGUMENT'
  | 'STORE_INVALID_TOKEN'
  | 'STORE_NOT_FOUND'
  | 'STORE_UNAVAILABLE'
  | 'STORE_REQUEST_REJECTED'
  | 'STORE_FAILURE';

/** Base class of every error thrown by `store/`. */
export abstract class StoreError extends AppError {
  declare readonly code: StoreErrorCode;
  /** True when repeating the same call later may succeed (throttling, a transient outage). */
  readonly retryable: boolean = false;
}

/** A caller passed a value the store cannot accept (out-of-range limit, malformed day, empty id…). */
export class InvalidArgumentError extends StoreError {
  override readonly name = 'InvalidArgumentError';
  declare readonly code: 'STORE_INVALID_ARGUMENT';
  constructor(message: string, options?: AppErrorOptions) {
    super('STORE_INVALID_ARGUMENT', message, options);
  }
}

/**
 * A `nextToken` was not issued by us for this query: malformed, tampered with (bad HMAC), or issued for
 * another conversation. Maps to `400-01`.
 */
export class InvalidTokenError extends StoreError {
  override readonly name = 'InvalidTokenError';
  declare readonly code: 'STORE_INVALID_TOKEN';
  constructor(message: string, options?: AppErrorOptions) {
    super('STORE_INVALID_TOKEN', message, options);
  }
}

/** The item an operation needs (e.g. the segment to count into) does not exist. */
export class NotFoundError extends StoreError {
  override readonly name = 'NotFoundError';
  declare readonly code: 'STORE_NOT_FOUND';
  constructor(message: string, options?: AppErrorOptions) {
    super('STORE_NOT_FOUND', message, options);
  }
}

/** DynamoDB throttled us or is briefly unavailable, after the SDK's own retries. Retry later (`503`). */
export class StoreUnavailableError extends StoreError {
  override readonly name = 'StoreUnavailableError';
  declare readonly code: 'STORE_UNAVAILABLE';
  override readonly retryable = true;
  constructor(message: string, options?: AppErrorOptions) {
    super('STORE_UNAVAILABLE', message, options);
  }
}

/**
 * DynamoDB rejected the request itself (validation: an item over 400 KB, a wrong key, a missing table).
 * Retrying the same request cannot help; usually a bug or a misconfigured table name.
 */
export class StoreRequestRejectedError extends StoreError {
  override readonly name = 'StoreRequestRejectedError';
  declare readonly code: 'STORE_REQUEST_REJECTED';
  constructor(message: string, options?: AppErrorOptions) {
    super('STORE_REQUEST_REJECTED', message, options);
  }
}

/** Any other failure while talking to DynamoDB. */
export class StoreFailureError extends StoreError {
  override readonly name = 'StoreFailureError';
  declare readonly code: 'STORE_FAILURE';
  constructor(message: string, options?: AppErrorOptions) {
    super('STORE_FAILURE', message, options);
  }
}

const TRANSIENT = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'TransactionConflictException',
  'TransactionInProgressException',
  'LimitExceededException',
  'TimeoutError',
]);

/** Node socket errors: DynamoDB (or DynamoDB Local) is unreachable for now. */
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND']);

const REJECTED = new Set([
  'ValidationException',
  'ResourceNotFoundException',
  'ItemCollectionSizeLimitExceededException',
  'IdempotentParameterMismatchException',
  'SerializationException',
]);

/** The SDK error's name, or undefined for anything that is not an Error. */
export function errorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

/**
 * Normalizes anything a DynamoDB call threw into a {@link StoreError}, once, at the repository boundary.
 * `operation` names what we were doing (e.g. `utterances.putFinal`) for the message; the original error
 * stays reachable as `cause`.
 */
export function toStoreError(err: unknown, operation: string): StoreError {
  if (err instanceof StoreError) return err;
  const name = errorName(err) ?? 'UnknownError';
  const detail = err instanceof Error ? err.message : String(err);
  const message = `${operation} failed: ${name}: ${detail}`;
  const fields = errorFields(err);
  const sdkRetryable = Boolean(fields.$retryable);
  const sysCode = fields.code === undefined ? '' : String(fields.code);
  if (TRANSIENT.has(name) || sdkRetryable || NETWORK.has(sysCode))
    return new StoreUnavailableError(message, { cause: err });
  if (REJECTED.has(name)) return new StoreRequestRejectedError(message, { cause: err });
  return new StoreFailureError(message, { cause: err });
}

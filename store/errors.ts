/**
 * Errors of the persistence layer. Every class carries a `name` and a stable `code` (listed in
 * docs/errors.md). Conditional-check failures that are part of normal operation (a duplicate utterance, a
 * start of a running segment, a lost optimistic race) never surface as errors: the repositories return
 * them as domain outcomes. What remains here is what a caller must map to a response: bad input, a bad
 * page token, a missing item, and an unavailable or misbehaving DynamoDB. No raw SDK error leaks out:
 * {@link toStoreError} wraps it, keeping it as `cause`.
 */

/** Stable codes of {@link StoreError}s. */
export type StoreErrorCode =
  | 'STORE_INVALID_ARGUMENT'
  | 'STORE_INVALID_TOKEN'
  | 'STORE_NOT_FOUND'
  | 'STORE_UNAVAILABLE'
  | 'STORE_REQUEST_REJECTED'
  | 'STORE_FAILURE';

/** Base class of every error thrown by `store/`. */
export abstract class StoreError extends Error {
  abstract readonly code: StoreErrorCode;
  /** True when repeating the same call later may succeed (throttling, a transient outage). */
  readonly retryable: boolean = false;
}

/** A caller passed a value the store cannot accept (out-of-range limit, malformed day, empty id…). */
export class InvalidArgumentError extends StoreError {
  override readonly name = 'InvalidArgumentError';
  readonly code = 'STORE_INVALID_ARGUMENT';
}

/**
 * A `nextToken` was not issued by us for this query: malformed, tampered with (bad HMAC), or issued for
 * another conversation. Maps to `400-01`.
 */
export class InvalidTokenError extends StoreError {
  override readonly name = 'InvalidTokenError';
  readonly code = 'STORE_INVALID_TOKEN';
}

/** The item an operation needs (e.g. the segment to count into) does not exist. */
export class NotFoundError extends StoreError {
  override readonly name = 'NotFoundError';
  readonly code = 'STORE_NOT_FOUND';
}

/** DynamoDB throttled us or is briefly unavailable, after the SDK's own retries. Retry later (`503`). */
export class StoreUnavailableError extends StoreError {
  override readonly name = 'StoreUnavailableError';
  readonly code = 'STORE_UNAVAILABLE';
  override readonly retryable = true;
}

/**
 * DynamoDB rejected the request itself (validation: an item over 400 KB, a wrong key, a missing table).
 * Retrying the same request cannot help; usually a bug or a misconfigured table name.
 */
export class StoreRequestRejectedError extends StoreError {
  override readonly name = 'StoreRequestRejectedError';
  readonly code = 'STORE_REQUEST_REJECTED';
}

/** Any other failure while talking to DynamoDB. */
export class StoreFailureError extends StoreError {
  override readonly name = 'StoreFailureError';
  readonly code = 'STORE_FAILURE';
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
  const sdkRetryable =
    typeof err === 'object' &&
    err !== null &&
    '$retryable' in err &&
    Boolean((err as { $retryable?: unknown }).$retryable);
  const sysCode =
    typeof err === 'object' && err !== null && 'code' in err ? String((err as { code?: unknown }).code) : '';
  if (TRANSIENT.has(name) || sdkRetryable || NETWORK.has(sysCode))
    return new StoreUnavailableError(message, { cause: err });
  if (REJECTED.has(name)) return new StoreRequestRejectedError(message, { cause: err });
  return new StoreFailureError(message, { cause: err });
}

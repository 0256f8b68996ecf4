/**
 * Errors of real-time delivery (webhook, WebSocket, dead letters). One class, stable codes, listed in
 * docs/errors.md and docs/realtime.md. Messages never carry transcript text, secrets or tokens.
 */
import { AppError, type AppErrorOptions } from '../errors';

/** Stable codes of {@link DeliveryError}. */
export type DeliveryErrorCode =
  /** A stream record is not a usable utterance (wrong event, missing field); it is skipped, not retried. */
  | 'DELIVERY_INVALID_RECORD'
  /** A webhook target's configuration is unusable. */
  | 'DELIVERY_INVALID_TARGET'
  /** The receiver did not answer within the per-request timeout. */
  | 'WEBHOOK_TIMEOUT'
  /** Connection refused/reset, DNS, TLS handshake (bad CA, client certificate refused)… */
  | 'WEBHOOK_NETWORK'
  /** The receiver answered a non-2xx status. */
  | 'WEBHOOK_HTTP_STATUS'
  /** The OAuth2 token endpoint refused us or answered something that is not a token. */
  | 'WEBHOOK_OAUTH_FAILED'
  /** A real-time token is malformed, forged, expired or used outside its scope. */
  | 'REALTIME_TOKEN_INVALID';

/** A delivery failure with a stable code. `retryable` says whether trying again later can help. */
export class DeliveryError extends AppError {
  override readonly name = 'DeliveryError';
  declare readonly code: DeliveryErrorCode;
  constructor(
    code: DeliveryErrorCode,
    message: string,
    readonly retryable = false,
    options?: AppErrorOptions,
  ) {
    super(code, message, options);
  }
}

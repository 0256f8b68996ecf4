/**
 * Error classes of the AudioHook upgrade authentication (docs/audiohook-protocol.md §1.3).
 * Request-time verification never throws: it returns a result carrying one of the stable
 * {@link AuthFailureCode}s. These classes are for malformed configuration and malformed
 * structured-field input, where an exception is the natural signal.
 */
import { AppError, type AppErrorOptions } from '../errors';

/** Stable codes of a rejected upgrade request (see `AuthOutcome` in `authenticator.ts`). */
export type AuthFailureCode =
  | 'missing-header'
  | 'invalid-header'
  | 'unknown-api-key'
  | 'signature-required'
  | SignatureFailureCode
  | 'nonce-replayed'
  | 'replay-cache-full'
  | 'organization-not-allowed';

/** Stable codes of a failed HTTP message signature verification. */
export type SignatureFailureCode =
  | 'signature-malformed'
  | 'signature-params'
  | 'signature-components'
  | 'signature-keyid'
  | 'signature-nonce'
  | 'signature-expired'
  | 'signature-not-yet-valid'
  | 'signature-mismatch';

/** A structured-field header (RFC 8941) that does not parse, or a value that cannot be serialized. */
export class StructuredFieldError extends AppError {
  override readonly name = 'StructuredFieldError';
  declare readonly code: 'structured-field-invalid';
  /** Character offset in the input where parsing stopped (`-1` for serialization errors). */
  readonly offset: number;

  constructor(message: string, offset = -1) {
    super('structured-field-invalid', offset >= 0 ? `${message} (at offset ${offset})` : message);
    this.offset = offset;
  }
}

/** A covered component that cannot be put into a signature base (unknown, absent, or unsafe value). */
export class SignatureBaseError extends AppError {
  override readonly name = 'SignatureBaseError';
  declare readonly code: 'signature-components';
  constructor(message: string, options?: AppErrorOptions) {
    super('signature-components', message, options);
  }
}

/** Invalid API key configuration (`AUDIOHOOK_API_KEYS`). Messages name entry labels, never keys or secrets. */
export class ApiKeyConfigError extends AppError {
  override readonly name = 'ApiKeyConfigError';
  declare readonly code: 'api-key-config-invalid';
  constructor(message: string, options?: AppErrorOptions) {
    super('api-key-config-invalid', message, options);
  }
}

/** Invalid options passed to the `Authenticator` (a programming or configuration mistake). */
export class AuthConfigError extends AppError {
  override readonly name = 'AuthConfigError';
  declare readonly code: 'auth-config-invalid';
  constructor(message: string, options?: AppErrorOptions) {
    super('auth-config-invalid', message, options);
  }
}

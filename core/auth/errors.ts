/**
 * Error classes of the AudioHook upgrade authentication (docs/audiohook-protocol.md §1.3).
 * Request-time verification never throws: it returns a result carrying one of the stable
 * {@link AuthFailureCode}s. These classes are for malformed configuration and malformed
 * structured-field input, where an exception is the natural signal.
 */

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
export class StructuredFieldError extends Error {
  override readonly name = 'StructuredFieldError';
  readonly code = 'structured-field-invalid';
  /** Character offset in the input where parsing stopped (`-1` for serialization errors). */
  readonly offset: number;

  constructor(message: string, offset = -1) {
    super(offset >= 0 ? `${message} (at offset ${offset})` : message);
    this.offset = offset;
  }
}

/** A covered component that cannot be put into a signature base (unknown, absent, or unsafe value). */
export class SignatureBaseError extends Error {
  override readonly name = 'SignatureBaseError';
  readonly code = 'signature-components';
}

/** Invalid API key configuration (`AUDIOHOOK_API_KEYS`). Messages name entry labels, never keys or secrets. */
export class ApiKeyConfigError extends Error {
  override readonly name = 'ApiKeyConfigError';
  readonly code = 'api-key-config-invalid';
}

/** Invalid options passed to the `Authenticator` (a programming or configuration mistake). */
export class AuthConfigError extends Error {
  override readonly name = 'AuthConfigError';
  readonly code = 'auth-config-invalid';
}

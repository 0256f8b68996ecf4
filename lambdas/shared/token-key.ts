/**
 * The HMAC key of the WebSocket API's connect tokens, as the token route (signs) and `$connect`
 * (verifies) get it. In AWS the key lives in a Secrets Manager secret and only its id is in the
 * functions' environment (`REALTIME_TOKEN_SECRET_ID`): anyone allowed to read a function's configuration
 * would otherwise read the key. It is read on first use and cached like the API credentials
 * ({@link CachedValue}), so a `put-secret-value` is picked up within the cache TTL without a redeploy.
 * Local runs pass the key itself (`REALTIME_TOKEN_SECRET`), which never changes for a process.
 */

import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AppError, type AppErrorOptions } from '../../core/errors';
import { CachedValue, CredentialSourceError, type CredentialStoreOptions, readSecretString } from './credential-store';

/** Shortest key accepted, in characters (the same rule as `REALTIME_TOKEN_SECRET`). */
export const MIN_TOKEN_KEY_LENGTH = 32;

/** Codes of {@link TokenKeyError}. */
export type TokenKeyErrorCode = 'REALTIME_TOKEN_KEY_UNAVAILABLE' | 'REALTIME_TOKEN_KEY_INVALID';

/**
 * No usable key: the secret cannot be read (`REALTIME_TOKEN_KEY_UNAVAILABLE`) or holds no key of at least
 * {@link MIN_TOKEN_KEY_LENGTH} characters (`REALTIME_TOKEN_KEY_INVALID`), and no earlier key is held. The
 * message names the secret and the SDK error, never a value.
 */
export class TokenKeyError extends AppError {
  override readonly name = 'TokenKeyError';
  declare readonly code: TokenKeyErrorCode;
  constructor(code: TokenKeyErrorCode, message: string, options?: AppErrorOptions) {
    super(code, message, options);
  }
}

/** Where a handler gets the key. */
export interface TokenKeyProvider {
  /** The current key. Throws {@link TokenKeyError} when none can be had. */
  key(): Promise<string>;
  /**
   * Re-reads the key ahead of its TTL (a presented token did not verify: the key may have been rotated),
   * at most every `minRefreshMs`. Answers whether a fresh read succeeded; never throws.
   */
  refreshEarly(): Promise<boolean>;
}

/** What the handlers' dependencies accept: the key itself (local runs, tests) or a provider. */
export type TokenKey = string | TokenKeyProvider;

/** A fixed key (`REALTIME_TOKEN_SECRET`). */
export function staticTokenKey(key: string): TokenKeyProvider {
  return { key: async () => key, refreshEarly: async () => false };
}

/** A provider for either form. */
export function tokenKeyProvider(key: TokenKey): TokenKeyProvider {
  return typeof key === 'string' ? staticTokenKey(key) : key;
}

/** Reads the raw `SecretString` (a port, so tests need no network). */
export type SecretStringReader = () => Promise<string>;

/** How {@link cachedSecretKey} reports a key it cannot use (each key kind has its own error class and codes). */
export type SecretKeyFailure = (kind: 'unavailable' | 'invalid', message: string, cause?: unknown) => Error;

/**
 * A key kept in a secret whose `SecretString` is the key itself, read by `read` and cached. A failed
 * re-read keeps the last good key; only a container that never read one fails, with `fail('unavailable')`;
 * a value shorter than `minLength` fails with `fail('invalid')` (the value is never quoted).
 */
export function cachedSecretKey(
  read: SecretStringReader,
  options: CredentialStoreOptions & { description: string; minLength: number; fail: SecretKeyFailure },
): TokenKeyProvider & { readonly cache: CachedValue<string> } {
  const cache = new CachedValue(async () => {
    let text: string;
    try {
      text = await read();
    } catch (err) {
      // Our own read errors carry a safe message; anything else is reduced to its name.
      const reason = err instanceof CredentialSourceError ? err.message : err instanceof Error ? err.name : 'error';
      throw options.fail('unavailable', `${options.description} cannot be read (${reason})`, err);
    }
    if (text.length < options.minLength) {
      throw options.fail('invalid', `${options.description} holds no key of at least ${options.minLength} characters`);
    }
    return text;
  }, options);
  return { cache, key: () => cache.get(), refreshEarly: () => cache.refreshEarly() };
}

/**
 * A cached key read by `read` (in AWS, {@link secretsManagerTokenKey}). A failed re-read keeps the last
 * good key; only a container that never read one fails, with a {@link TokenKeyError}.
 */
export function cachedTokenKey(
  read: SecretStringReader,
  options: CredentialStoreOptions & { description: string },
): TokenKeyProvider & { readonly cache: CachedValue<string> } {
  return cachedSecretKey(read, {
    ...options,
    minLength: MIN_TOKEN_KEY_LENGTH,
    fail: (kind, message, cause) =>
      new TokenKeyError(
        kind === 'unavailable' ? 'REALTIME_TOKEN_KEY_UNAVAILABLE' : 'REALTIME_TOKEN_KEY_INVALID',
        message,
        cause === undefined ? undefined : { cause },
      ),
  });
}

/** The key in a Secrets Manager secret whose `SecretString` is the key itself. */
export function secretsManagerTokenKey(
  client: SecretsManagerClient,
  secretId: string,
  options: CredentialStoreOptions,
): TokenKeyProvider {
  return cachedTokenKey(() => readSecretString(client, secretId), {
    ...options,
    description: `secretsmanager:${secretId}`,
  });
}

/** The settings {@link tokenKeyFromConfig} reads (both loaders produce them). */
export interface TokenKeyConfig {
  realtimeTokenSecret?: string;
  realtimeTokenSecretId?: string;
  realtimeTokenSecretCacheTtlSec?: number;
  secretsManagerEndpoint?: string;
  awsRegion?: string;
}

/**
 * The key a config names: the value itself, a cached Secrets Manager read (the client is built here, once
 * per container; nothing is read until the first token), or undefined when tokens are not enabled.
 */
export function tokenKeyFromConfig(config: TokenKeyConfig): TokenKey | undefined {
  if (config.realtimeTokenSecret !== undefined) return config.realtimeTokenSecret;
  if (config.realtimeTokenSecretId === undefined) return undefined;
  const client = new SecretsManagerClient({
    ...(config.awsRegion !== undefined && { region: config.awsRegion }),
    ...(config.secretsManagerEndpoint !== undefined && { endpoint: config.secretsManagerEndpoint }),
  });
  return secretsManagerTokenKey(client, config.realtimeTokenSecretId, {
    ttlMs: (config.realtimeTokenSecretCacheTtlSec ?? 300) * 1000,
  });
}

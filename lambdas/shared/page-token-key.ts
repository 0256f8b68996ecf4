/**
 * The HMAC key of the messages route's `nextToken`s, as the route gets it in AWS. The stack generates the key
 * in a Secrets Manager secret and puts only its id in the function's environment (`PAGE_TOKEN_SECRET_ID`):
 * anyone allowed to read a function's configuration would otherwise read the key and forge tokens. The key
 * is read on first use and cached like the API credentials ({@link CachedValue}), so a `put-secret-value` is
 * picked up within {@link PAGE_TOKEN_KEY_CACHE_TTL_MS} without a redeploy. The repository signs with a fixed
 * key, so {@link keyedPageReader} keeps one repository per key and swaps it when the key changes. Local
 * runs pass the key itself (`PAGE_TOKEN_SECRET`) and never come here.
 */

import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AppError, type AppErrorOptions } from '../../core/errors';
import { InvalidTokenError } from '../../store/errors';
import type { UtterancesRepository } from '../../store/utterances';
import type { CachedValue, CredentialStoreOptions } from './credential-store';
import { readSecretString } from './credential-store';
import { cachedSecretKey, type SecretStringReader, type TokenKeyProvider } from './token-key';

/** How long a key read from Secrets Manager is reused before it is read again (one read per container per 5 min). */
export const PAGE_TOKEN_KEY_CACHE_TTL_MS = 300_000;
/** Shortest key accepted, in characters (the same rule as `PAGE_TOKEN_SECRET`). */
export const MIN_PAGE_TOKEN_KEY_LENGTH = 16;

/** Codes of {@link PageTokenKeyError}. */
export type PageTokenKeyErrorCode = 'PAGE_TOKEN_KEY_UNAVAILABLE' | 'PAGE_TOKEN_KEY_INVALID';

/**
 * No usable key: the secret cannot be read (`PAGE_TOKEN_KEY_UNAVAILABLE`) or holds fewer than
 * {@link MIN_PAGE_TOKEN_KEY_LENGTH} characters (`PAGE_TOKEN_KEY_INVALID`), and no earlier key is held. The
 * message names the secret and the SDK error, never a value.
 */
export class PageTokenKeyError extends AppError {
  override readonly name = 'PageTokenKeyError';
  declare readonly code: PageTokenKeyErrorCode;
  constructor(code: PageTokenKeyErrorCode, message: string, options?: AppErrorOptions) {
    super(code, message, options);
  }
}

/**
 * A cached page-token key read by `read`. A failed re-read keeps the last good key; only a container that
 * never read one fails, with a {@link PageTokenKeyError}.
 */
export function cachedPageTokenKey(
  read: SecretStringReader,
  options: CredentialStoreOptions & { description: string },
): TokenKeyProvider & { readonly cache: CachedValue<string> } {
  return cachedSecretKey(read, {
    ...options,
    minLength: MIN_PAGE_TOKEN_KEY_LENGTH,
    fail: (kind, message, cause) =>
      new PageTokenKeyError(
        kind === 'unavailable' ? 'PAGE_TOKEN_KEY_UNAVAILABLE' : 'PAGE_TOKEN_KEY_INVALID',
        message,
        cause === undefined ? undefined : { cause },
      ),
  });
}

/** The key in a Secrets Manager secret whose `SecretString` is the key itself. */
export function secretsManagerPageTokenKey(
  client: SecretsManagerClient,
  secretId: string,
  options: CredentialStoreOptions = { ttlMs: PAGE_TOKEN_KEY_CACHE_TTL_MS },
): TokenKeyProvider & { readonly cache: CachedValue<string> } {
  return cachedPageTokenKey(() => readSecretString(client, secretId), {
    ...options,
    description: `secretsmanager:${secretId}`,
  });
}

/** What the messages route reads pages through. */
export type PageReader = Pick<UtterancesRepository, 'listByConversation'>;

/**
 * A page reader that signs and verifies `nextToken`s with the current key of `key`, through the reader
 * `readerFor` builds for that key (built once per key). A token that does not verify may have been signed
 * by a container that already holds a rotated key: the key is then re-read early (at most every
 * `minRefreshMs`) and, when it changed, the page is read once more with the new key.
 * Throws {@link PageTokenKeyError} when no key can be had.
 */
export function keyedPageReader(key: TokenKeyProvider, readerFor: (key: string) => PageReader): PageReader {
  let current: { key: string; reader: PageReader } | undefined;
  const readerOf = (k: string): PageReader => {
    if (current?.key !== k) current = { key: k, reader: readerFor(k) };
    return current.reader;
  };
  return {
    async listByConversation(conversationId, options = {}) {
      const used = await key.key();
      try {
        return await readerOf(used).listByConversation(conversationId, options);
      } catch (err) {
        if (!(err instanceof InvalidTokenError) || options.nextToken === undefined) throw err;
        if (!(await key.refreshEarly())) throw err;
        const fresh = await key.key();
        if (fresh === used) throw err;
        return readerOf(fresh).listByConversation(conversationId, options);
      }
    },
  };
}

/** The settings {@link pageTokenKeyFromConfig} reads (lambdas/shared/config.ts produces them). */
export interface PageTokenKeyConfig {
  pageTokenSecretId?: string;
  secretsManagerEndpoint?: string;
  awsRegion?: string;
}

/**
 * The cached Secrets Manager key a config names by id (the client is built here, once per container; nothing
 * is read until the first page), or undefined when the config names no secret (a fixed `PAGE_TOKEN_SECRET`,
 * or local runs without one).
 */
export function pageTokenKeyFromConfig(config: PageTokenKeyConfig): TokenKeyProvider | undefined {
  if (config.pageTokenSecretId === undefined) return undefined;
  const client = new SecretsManagerClient({
    ...(config.awsRegion !== undefined && { region: config.awsRegion }),
    ...(config.secretsManagerEndpoint !== undefined && { endpoint: config.secretsManagerEndpoint }),
  });
  return secretsManagerPageTokenKey(client, config.pageTokenSecretId);
}

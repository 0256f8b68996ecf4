/**
 * Secrets the API Lambdas read at run time, cached in memory: the authorizer's API credential set (a
 * Secrets Manager secret in AWS, a JSON file or inline JSON locally) and, through {@link CachedValue},
 * the real-time token key (lambdas/shared/token-key.ts). A value is re-read after `ttlMs` (one
 * GetSecretValue per container every few minutes, not one per request); an early re-read (an unknown api
 * id, a token signed with another key) happens at most every `minRefreshMs`, so a newly added credential
 * or a rotated key works within seconds without letting unknown callers hammer Secrets Manager. A failed
 * re-read keeps the last good value.
 */

import { readFile } from 'node:fs/promises';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type CredentialEntry, parseCredentials } from '../../core/api/credentials';
import { AppError, type AppErrorOptions } from '../../core/errors';

/** Supplies the raw credential JSON. */
export interface CredentialSource {
  /** Short description for logs (never the content). */
  readonly description: string;
  load(): Promise<unknown>;
}

/** Failure to read the credential set (the authorizer then answers 500 → `500-01` via API Gateway). */
export class CredentialSourceError extends AppError {
  override readonly name = 'CredentialSourceError';
  declare readonly code: 'CREDENTIALS_UNAVAILABLE';
  constructor(message: string, options?: AppErrorOptions) {
    super('CREDENTIALS_UNAVAILABLE', message, options);
  }
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new CredentialSourceError(`${where} is not valid JSON`);
  }
}

/**
 * The `SecretString` of a secret. Failures are {@link CredentialSourceError}s naming the secret and the
 * SDK error's name only: an SDK message may quote request details, and nothing here may echo a value.
 */
export async function readSecretString(client: SecretsManagerClient, secretId: string): Promise<string> {
  let text: string | undefined;
  try {
    const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    text = out.SecretString;
  } catch (err) {
    throw new CredentialSourceError(`GetSecretValue ${secretId} failed: ${err instanceof Error ? err.name : 'error'}`, {
      cause: err,
    });
  }
  if (text === undefined) throw new CredentialSourceError(`secret ${secretId} has no SecretString`);
  return text;
}

/** A Secrets Manager secret whose `SecretString` is the credential JSON. */
export function secretsManagerSource(client: SecretsManagerClient, secretId: string): CredentialSource {
  return {
    description: `secretsmanager:${secretId}`,
    load: async () => parseJson(await readSecretString(client, secretId), `secret ${secretId}`),
  };
}

/** A JSON file, re-read on every refresh (edit it while `npm start` runs). */
export function fileSource(path: string): CredentialSource {
  return {
    description: `file:${path}`,
    async load() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        throw new CredentialSourceError(`cannot read ${path}`, { cause: err });
      }
      return parseJson(text, path);
    },
  };
}

/** Inline JSON (tests, local runs). */
export function inlineSource(json: string | Record<string, unknown>): CredentialSource {
  return {
    description: 'inline',
    load: async () => (typeof json === 'string' ? parseJson(json, 'API_CREDENTIALS_JSON') : json),
  };
}

/** Options of {@link CachedValue} and {@link CredentialStore}. */
export interface CredentialStoreOptions {
  /** How long a loaded value is used before it is re-read. */
  ttlMs: number;
  /** Shortest interval between early re-reads, and the pause after a failed re-read. @default 30000 */
  minRefreshMs?: number;
  now?: () => number;
}

/**
 * A value loaded on first use and re-read after `ttlMs`. Concurrent callers share one read; a failed
 * re-read keeps the last good value and is retried after `minRefreshMs` rather than on every call. Only
 * when no value was ever loaded does {@link get} throw (the loader's error).
 */
export class CachedValue<T> {
  private value: { current: T } | undefined;
  private loadedAt = Number.NEGATIVE_INFINITY;
  private loading: Promise<void> | undefined;
  private retryAt = Number.NEGATIVE_INFINITY;
  private readonly minRefreshMs: number;
  private readonly now: () => number;
  /** Number of successful loads (observability and tests). */
  loads = 0;
  /** Number of failed re-reads while a previous value stayed in use. */
  failures = 0;

  constructor(
    private readonly load: () => Promise<T>,
    private readonly options: CredentialStoreOptions,
  ) {
    this.minRefreshMs = options.minRefreshMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  /** The current value, (re-)reading it first when there is none or its TTL has passed. */
  async get(): Promise<T> {
    const now = this.now();
    if (this.value === undefined || (now - this.loadedAt >= this.options.ttlMs && now >= this.retryAt)) {
      await this.refresh();
    }
    // refresh() either set a value or threw.
    return (this.value as { current: T }).current;
  }

  /**
   * Re-reads before the TTL when the caller has reason to think the value changed, at most every
   * `minRefreshMs`. Answers whether a re-read happened and succeeded; never throws.
   */
  async refreshEarly(): Promise<boolean> {
    const now = this.now();
    if (now - this.loadedAt < this.minRefreshMs || now < this.retryAt) return false;
    const before = this.loads;
    try {
      await this.refresh();
    } catch {
      return false;
    }
    return this.loads > before;
  }

  private async refresh(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const next = await this.load();
        this.value = { current: next };
        this.loads++;
        this.loadedAt = this.now();
      } catch (err) {
        if (this.value === undefined) throw err;
        this.retryAt = this.now() + this.minRefreshMs;
        this.failures++;
      } finally {
        this.loading = undefined;
      }
    })();
    await this.loading;
  }
}

/** A cached view of a {@link CredentialSource}. */
export class CredentialStore {
  private readonly cache: CachedValue<Map<string, CredentialEntry>>;

  constructor(
    readonly source: CredentialSource,
    options: CredentialStoreOptions,
  ) {
    this.cache = new CachedValue(async () => parseCredentials(await source.load()), options);
  }

  /** Number of successful loads (observability and tests). */
  get loads(): number {
    return this.cache.loads;
  }

  /** Number of failed re-reads while a previous set stayed in use. */
  get failures(): number {
    return this.cache.failures;
  }

  /** The entry for `apiId`, or undefined when the current set has none. */
  async lookup(apiId: string): Promise<CredentialEntry | undefined> {
    const entry = (await this.cache.get()).get(apiId);
    if (entry !== undefined || !(await this.cache.refreshEarly())) return entry;
    return (await this.cache.get()).get(apiId);
  }
}

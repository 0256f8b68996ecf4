/**
 * Where the authorizer gets the API credential set: a Secrets Manager secret in AWS, a JSON file or inline
 * JSON locally. The parsed set is cached in memory for `ttlMs` (one GetSecretValue per container every few
 * minutes, not one per request); an unknown api id triggers an early re-read at most every
 * `minRefreshMs`, so a newly added credential works within seconds without letting unknown ids hammer
 * Secrets Manager. A failed re-read keeps the last good set.
 */
import { readFile } from 'node:fs/promises';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type CredentialEntry, parseCredentials } from '../../core/api/credentials';

/** Supplies the raw credential JSON. */
export interface CredentialSource {
  /** Short description for logs (never the content). */
  readonly description: string;
  load(): Promise<unknown>;
}

/** Failure to read the credential set (the authorizer then answers 500 → `500-01` via API Gateway). */
export class CredentialSourceError extends Error {
  override readonly name = 'CredentialSourceError';
  readonly code = 'CREDENTIALS_UNAVAILABLE';
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new CredentialSourceError(`${where} is not valid JSON`);
  }
}

/** A Secrets Manager secret whose `SecretString` is the credential JSON. */
export function secretsManagerSource(client: SecretsManagerClient, secretId: string): CredentialSource {
  return {
    description: `secretsmanager:${secretId}`,
    async load() {
      let text: string | undefined;
      try {
        const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
        text = out.SecretString;
      } catch (err) {
        throw new CredentialSourceError(
          `GetSecretValue ${secretId} failed: ${err instanceof Error ? err.name : 'error'}`,
          {
            cause: err,
          },
        );
      }
      if (text === undefined) throw new CredentialSourceError(`secret ${secretId} has no SecretString`);
      return parseJson(text, `secret ${secretId}`);
    },
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

/** Options of {@link CredentialStore}. */
export interface CredentialStoreOptions {
  /** How long a loaded set is used before it is re-read. */
  ttlMs: number;
  /** Shortest interval between early re-reads caused by unknown ids. @default 30000 */
  minRefreshMs?: number;
  now?: () => number;
}

/** A cached view of a {@link CredentialSource}. */
export class CredentialStore {
  private entries: Map<string, CredentialEntry> | undefined;
  private loadedAt = Number.NEGATIVE_INFINITY;
  private loading: Promise<void> | undefined;
  private retryAt = Number.NEGATIVE_INFINITY;
  private readonly minRefreshMs: number;
  private readonly now: () => number;
  /** Number of successful loads (observability and tests). */
  loads = 0;
  /** Number of failed re-reads while a previous set stayed in use. */
  failures = 0;

  constructor(
    readonly source: CredentialSource,
    private readonly options: CredentialStoreOptions,
  ) {
    this.minRefreshMs = options.minRefreshMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  /** The entry for `apiId`, or undefined when the current set has none. */
  async lookup(apiId: string): Promise<CredentialEntry | undefined> {
    const now = this.now();
    if (this.entries === undefined || (now - this.loadedAt >= this.options.ttlMs && now >= this.retryAt)) {
      await this.refresh();
    }
    let entry = this.entries?.get(apiId);
    if (entry === undefined && this.now() - this.loadedAt >= this.minRefreshMs && this.now() >= this.retryAt) {
      await this.refresh();
      entry = this.entries?.get(apiId);
    }
    return entry;
  }

  private async refresh(): Promise<void> {
    // Concurrent lookups share one read.
    this.loading ??= (async () => {
      try {
        const next = parseCredentials(await this.source.load());
        this.entries = next;
        this.loads++;
        this.loadedAt = this.now();
      } catch (err) {
        if (this.entries === undefined) throw err;
        // Keep serving the last good set; try again after minRefreshMs rather than on every request.
        this.retryAt = this.now() + this.minRefreshMs;
        this.failures++;
      } finally {
        this.loading = undefined;
      }
    })();
    await this.loading;
  }
}

/**
 * Sources of AudioHook API keys for the gateway. In production the keys live in one Secrets Manager
 * secret (architecture §5) whose `SecretString` is the same JSON `ApiKeyStore.fromJson` accepts; the
 * source keeps one long-lived `ApiKeyStore` (the one the Authenticator holds) and swaps its contents in
 * place, so a rotated key is honoured without a restart.
 */

import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type ApiKeyDefinition, ApiKeyStore } from '../../core/auth/api-keys';
import { AppError, type AppErrorOptions, describeError, toError } from '../../core/errors';
import type { Clock, Logger, TimerHandle, Timers } from '../../core/ports';

/** What the gateway needs from a key source. */
export interface ApiKeySource {
  /** The store the Authenticator reads; its contents may change, the object never does. */
  readonly store: ApiKeyStore;
  /**
   * Called when an upgrade presents an unknown key: re-reads the keys if that is allowed now.
   * Resolves `true` when fresh keys were loaded (worth authenticating again), `false` otherwise.
   * Never rejects.
   */
  refreshIfStale(): Promise<boolean>;
  /** Stops background refreshes. */
  close(): void;
}

/** A failure to read or parse the API keys secret. Never carries the secret's value. */
export class SecretsError extends AppError {
  override readonly name = 'SecretsError';
  declare readonly code: 'SECRETS_FETCH_FAILED' | 'SECRETS_INVALID';
  constructor(code: 'SECRETS_FETCH_FAILED' | 'SECRETS_INVALID', message: string, options?: AppErrorOptions) {
    super(code, message, options);
  }
}

/** Keys given inline (`AUDIOHOOK_API_KEYS`): fixed for the life of the process. */
export class StaticKeySource implements ApiKeySource {
  readonly store: ApiKeyStore;
  constructor(json: unknown) {
    this.store = ApiKeyStore.fromJson(json);
  }
  refreshIfStale(): Promise<boolean> {
    return Promise.resolve(false);
  }
  close(): void {}
}

/** Options of {@link createSecretsManagerClient}. */
export interface SecretsClientOptions {
  region?: string;
  /** @default - the SDK's endpoint resolution (tests point it at a local server) */
  endpoint?: string;
  /** @default - the SDK's default credential chain (the ECS task role in production) */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** @default - SDK default (3) */
  maxAttempts?: number;
}

/** Creates the Secrets Manager client once, for the life of the process. */
export function createSecretsManagerClient(opts: SecretsClientOptions = {}): SecretsManagerClient {
  return new SecretsManagerClient({
    ...(opts.region ? { region: opts.region } : {}),
    ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
    ...(opts.maxAttempts ? { maxAttempts: opts.maxAttempts } : {}),
  });
}

/** Options of {@link SecretsManagerKeySource}. */
export interface SecretsManagerKeySourceOptions {
  /** Secret name or ARN. */
  secretId: string;
  client: Pick<SecretsManagerClient, 'send'>;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  /** Background refresh period. @default 300_000 (5 min) */
  refreshIntervalMs?: number;
  /**
   * Minimum time between reads triggered by unknown keys. A flood of upgrades with bogus keys must not
   * turn into a flood of paid API calls, so at most one read per interval. @default 60_000
   */
  unknownKeyMinIntervalMs?: number;
}

/** API keys read from Secrets Manager, refreshed in the background and on demand. */
export class SecretsManagerKeySource implements ApiKeySource {
  readonly store: ApiKeyStore;
  private readonly refreshIntervalMs: number;
  private readonly unknownKeyMinIntervalMs: number;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private inFlight: Promise<boolean> | undefined;
  private timer: TimerHandle | undefined;
  private closed = false;

  private constructor(
    private readonly opts: SecretsManagerKeySourceOptions,
    initial: ApiKeyStore,
  ) {
    this.store = initial;
    this.refreshIntervalMs = opts.refreshIntervalMs ?? 300_000;
    this.unknownKeyMinIntervalMs = opts.unknownKeyMinIntervalMs ?? 60_000;
  }

  /**
   * Reads the secret once and starts the background refresh.
   * @throws SecretsError when the first read fails: without keys the gateway cannot serve anyone.
   */
  static async create(opts: SecretsManagerKeySourceOptions): Promise<SecretsManagerKeySource> {
    const started = opts.clock.monotonic();
    const store = new ApiKeyStore(await fetchDefinitions(opts));
    const source = new SecretsManagerKeySource(opts, store);
    source.lastAttemptAt = started;
    source.schedule();
    return source;
  }

  /** Re-reads the secret now (concurrent callers share one read). Resolves `true` on success; never rejects. */
  refresh(): Promise<boolean> {
    if (this.inFlight) return this.inFlight;
    this.lastAttemptAt = this.opts.clock.monotonic();
    this.inFlight = fetchDefinitions(this.opts)
      .then((definitions) => {
        this.store.replaceAll(definitions);
        this.opts.logger.info(
          { secretId: this.opts.secretId, keyCount: this.store.size },
          'api keys refreshed from Secrets Manager',
        );
        return true;
      })
      .catch((err: unknown) => {
        // Keep serving with the last good keys: a transient AWS error must not lock every caller out.
        this.opts.logger.error(
          { secretId: this.opts.secretId, err: describeError(err) },
          'api keys refresh failed; keeping the previous keys',
        );
        return false;
      })
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }

  refreshIfStale(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.inFlight) return this.inFlight;
    if (this.opts.clock.monotonic() - this.lastAttemptAt < this.unknownKeyMinIntervalMs) return Promise.resolve(false);
    return this.refresh();
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = this.opts.timers.setTimeout(() => {
      void this.refresh().finally(() => this.schedule());
    }, this.refreshIntervalMs);
  }
}

async function fetchDefinitions(opts: SecretsManagerKeySourceOptions): Promise<ApiKeyDefinition[]> {
  let text: string;
  try {
    const out = await opts.client.send(new GetSecretValueCommand({ SecretId: opts.secretId }));
    if (out.SecretString !== undefined) text = out.SecretString;
    else if (out.SecretBinary !== undefined) text = Buffer.from(out.SecretBinary).toString('utf8');
    else throw new SecretsError('SECRETS_INVALID', `secret ${opts.secretId} has no value`);
  } catch (err) {
    if (err instanceof SecretsError) throw err;
    const e = toError(err);
    throw new SecretsError('SECRETS_FETCH_FAILED', `cannot read secret ${opts.secretId}: ${e.name}: ${e.message}`, {
      cause: err,
    });
  }
  try {
    // parseJson's messages name entries by label, never by key or secret.
    return ApiKeyStore.parseJson(text);
  } catch (err) {
    throw new SecretsError(
      'SECRETS_INVALID',
      `secret ${opts.secretId} is not a valid API key map: ${toError(err).message}`,
      { cause: err },
    );
  }
}

/**
 * Configuration of the real-time Lambdas: the fan-out ({@link loadFanoutConfig}) and the WebSocket route
 * handlers ({@link loadWebSocketConfig}). Same rules as lambdas/shared/config.ts: the only place they
 * read their environment, every variable validated at once, one line per problem, no secret echoed.
 */
import { z } from 'zod';
import { commaList, type Env, integer, nonEmpty, present, problemsOf, url } from '../../contract/env';
import type {
  API_ENV,
  EnvSchemaOf,
  FANOUT_ENV,
  LAMBDA_OBSERVABILITY_ENV,
  WEBSOCKET_ENV,
} from '../../contract/env-names';
import { ConfigError } from '../../core/config-error';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../../core/delivery/retry-policy';
import {
  API_CONFIG_SUBJECT,
  type CredentialSourceConfig,
  credentialSourceOf,
  type ObservabilityConfig,
  observability,
  observabilitySchema,
  realtimeTokenKeySchema,
  TOKEN_KEY_BOTH_SET,
} from './config';
import { parseWebhookTargets, targetFromEnv, WebhookConfigError, type WebhookTarget } from './webhook-targets';

/** Where the fan-out finds its webhook targets. */
export type WebhookTargetsSource =
  | { source: 'none' }
  /** Parsed already: `WEBHOOK_TARGETS_JSON`, or the single-target `WEBHOOK_URL` family (local). */
  | { source: 'inline'; targets: WebhookTarget[] }
  /** A Secrets Manager secret whose `SecretString` is the targets JSON (AWS: it holds credentials). */
  | { source: 'secrets-manager'; secretId: string; endpoint?: string };

/** Configuration of the fan-out Lambda. */
export interface FanoutConfig extends ObservabilityConfig {
  /** `SUBSCRIPTIONS_TABLE` (required): connections, subscriptions, dead letters. */
  subscriptionsTable: string;
  /** `DYNAMODB_ENDPOINT` @default - the regional endpoint */
  dynamoDbEndpoint?: string;
  /**
   * `WEBSOCKET_MANAGEMENT_ENDPOINT`: the WebSocket API's management endpoint
   * (`https://<api-id>.execute-api.<region>.amazonaws.com/<stage>`, or the local front's).
   * @default - no WebSocket delivery
   */
  managementEndpoint?: string;
  webhooks: WebhookTargetsSource;
  /** `SECRETS_MANAGER_ENDPOINT` @default - the regional endpoint */
  secretsManagerEndpoint?: string;
  /**
   * `WEBHOOK_TIMEOUT_MS` (5000), `WEBHOOK_MAX_ATTEMPTS_PER_RUN` (4), `WEBHOOK_BACKOFF_BASE_MS` (250),
   * `WEBHOOK_BACKOFF_MAX_MS` (8000), `WEBHOOK_MAX_RETRY_SEC` (900).
   */
  retry: RetryPolicy;
  /** `DEAD_LETTER_RETENTION_DAYS` @default 14 */
  deadLetterRetentionDays: number;
  /** `FANOUT_CONCURRENCY`: conversations delivered in parallel within a batch. @default 16 */
  concurrency: number;
  /**
   * `FANOUT_TIME_BUDGET_MS`: time an invocation may spend when the Lambda context gives none (local
   * poller). In Lambda the remaining time minus a margin is used. @default 30000
   */
  timeBudgetMs: number;
}

/** Configuration of the WebSocket route handlers ($connect, $disconnect, subscribe, $default). */
export interface WebSocketConfig extends ObservabilityConfig {
  subscriptionsTable: string;
  dynamoDbEndpoint?: string;
  /** `WEBSOCKET_MANAGEMENT_ENDPOINT` @default - `https://<domainName>/<stage>` of each event */
  managementEndpoint?: string;
  /** Same variables as the REST authorizer (`API_CREDENTIALS_SECRET_ID` / `_JSON` / `_FILE`). */
  credentials: CredentialSourceConfig;
  /** `CREDENTIALS_CACHE_TTL_SEC` @default 300 */
  cacheTtlSec: number;
  /** `REALTIME_TOKEN_SECRET`: the connect-token key itself (local runs). @default - see `realtimeTokenSecretId` */
  realtimeTokenSecret?: string;
  /**
   * `REALTIME_TOKEN_SECRET_ID`: a Secrets Manager secret whose `SecretString` is the key (AWS). At most one
   * of the two. @default - neither: tokens are not accepted, only API credentials
   */
  realtimeTokenSecretId?: string;
  /** `REALTIME_TOKEN_SECRET_CACHE_TTL_SEC`: how long a key read from Secrets Manager is reused. @default 300 */
  realtimeTokenSecretCacheTtlSec: number;
  /** `SECRETS_MANAGER_ENDPOINT` @default - the regional endpoint */
  secretsManagerEndpoint?: string;
  /** `REALTIME_SUPERVISOR_API_IDS` @default [] */
  supervisorApiIds: string[];
  /** `CONNECTION_TTL_SEC` @default 7800 (API Gateway's 2 h connection cap + 10 min) */
  connectionTtlSec: number;
  /**
   * `UTTERANCES_TABLE`: where `subscribe` reads a conversation's history (read only).
   * @default - `"history": true` is answered with an `UNSUPPORTED` error frame
   */
  utterancesTable?: string;
  /**
   * `CONVERSATIONS_TABLE`: where `subscribe` reads a conversation's state for its `status` frame (read only).
   * @default - no `status` frame; `"status": true` is answered with an `UNSUPPORTED` error frame
   */
  conversationsTable?: string;
}

/**
 * The tables only the subscribe route reads. Their names are the REST handlers' (`API_ENV`) until
 * contract/env-names.ts lists them under `WEBSOCKET_ENV` too; checked against the contract either way.
 */
const historyTablesSchema = {
  UTTERANCES_TABLE: nonEmpty('UTTERANCES_TABLE').optional(),
  CONVERSATIONS_TABLE: nonEmpty('CONVERSATIONS_TABLE').optional(),
} satisfies EnvSchemaOf<Pick<typeof API_ENV, 'UTTERANCES_TABLE' | 'CONVERSATIONS_TABLE'>, z.ZodType>;

const fanoutSchema = observabilitySchema.extend({
  SUBSCRIPTIONS_TABLE: nonEmpty('SUBSCRIPTIONS_TABLE'),
  DYNAMODB_ENDPOINT: url('DYNAMODB_ENDPOINT').optional(),
  WEBSOCKET_MANAGEMENT_ENDPOINT: url('WEBSOCKET_MANAGEMENT_ENDPOINT').optional(),
  WEBHOOK_TARGETS_JSON: z.string().min(1).optional(),
  WEBHOOK_TARGETS_SECRET_ID: z.string().min(1).optional(),
  WEBHOOK_URL: z.string().min(1).optional(),
  SECRETS_MANAGER_ENDPOINT: url('SECRETS_MANAGER_ENDPOINT').optional(),
  WEBHOOK_TIMEOUT_MS: integer('WEBHOOK_TIMEOUT_MS', 100, 60_000).default(DEFAULT_RETRY_POLICY.requestTimeoutMs),
  WEBHOOK_MAX_ATTEMPTS_PER_RUN: integer('WEBHOOK_MAX_ATTEMPTS_PER_RUN', 1, 20).default(
    DEFAULT_RETRY_POLICY.maxAttemptsPerRun,
  ),
  WEBHOOK_BACKOFF_BASE_MS: integer('WEBHOOK_BACKOFF_BASE_MS', 1, 60_000).default(DEFAULT_RETRY_POLICY.baseDelayMs),
  WEBHOOK_BACKOFF_MAX_MS: integer('WEBHOOK_BACKOFF_MAX_MS', 1, 300_000).default(DEFAULT_RETRY_POLICY.maxDelayMs),
  WEBHOOK_MAX_RETRY_SEC: integer('WEBHOOK_MAX_RETRY_SEC', 0, 86_400).default(DEFAULT_RETRY_POLICY.maxRetryAgeMs / 1000),
  DEAD_LETTER_RETENTION_DAYS: integer('DEAD_LETTER_RETENTION_DAYS', 1, 365).default(14),
  FANOUT_CONCURRENCY: integer('FANOUT_CONCURRENCY', 1, 256).default(16),
  FANOUT_TIME_BUDGET_MS: integer('FANOUT_TIME_BUDGET_MS', 1000, 900_000).default(30_000),
} satisfies EnvSchemaOf<Omit<typeof FANOUT_ENV, keyof typeof LAMBDA_OBSERVABILITY_ENV>, z.ZodType>);

/** Reads and validates the fan-out's configuration. Throws {@link ConfigError}. */
export function loadFanoutConfig(env: Env = process.env): FanoutConfig {
  const vars = present(env);
  const parsed = fanoutSchema.safeParse(vars);
  if (!parsed.success) throw new ConfigError(problemsOf(parsed.error), API_CONFIG_SUBJECT);
  const v = parsed.data;
  const sources = [v.WEBHOOK_TARGETS_JSON, v.WEBHOOK_TARGETS_SECRET_ID, v.WEBHOOK_URL].filter((s) => s !== undefined);
  if (sources.length > 1) {
    throw new ConfigError(
      ['set at most one of WEBHOOK_TARGETS_JSON, WEBHOOK_TARGETS_SECRET_ID, WEBHOOK_URL'],
      API_CONFIG_SUBJECT,
    );
  }
  let webhooks: WebhookTargetsSource = { source: 'none' };
  try {
    if (v.WEBHOOK_TARGETS_JSON !== undefined) {
      webhooks = { source: 'inline', targets: parseWebhookTargets(v.WEBHOOK_TARGETS_JSON) };
    } else if (v.WEBHOOK_TARGETS_SECRET_ID !== undefined) {
      webhooks = {
        source: 'secrets-manager',
        secretId: v.WEBHOOK_TARGETS_SECRET_ID,
        ...(v.SECRETS_MANAGER_ENDPOINT !== undefined && { endpoint: v.SECRETS_MANAGER_ENDPOINT }),
      };
    } else {
      const target = targetFromEnv(vars);
      if (target) webhooks = { source: 'inline', targets: [target] };
    }
  } catch (err) {
    if (err instanceof WebhookConfigError) throw new ConfigError(err.problems, API_CONFIG_SUBJECT);
    throw err;
  }
  if (v.WEBHOOK_BACKOFF_BASE_MS > v.WEBHOOK_BACKOFF_MAX_MS) {
    throw new ConfigError(['WEBHOOK_BACKOFF_BASE_MS must not exceed WEBHOOK_BACKOFF_MAX_MS'], API_CONFIG_SUBJECT);
  }
  return {
    ...observability(v),
    subscriptionsTable: v.SUBSCRIPTIONS_TABLE,
    ...(v.DYNAMODB_ENDPOINT !== undefined && { dynamoDbEndpoint: v.DYNAMODB_ENDPOINT }),
    ...(v.WEBSOCKET_MANAGEMENT_ENDPOINT !== undefined && { managementEndpoint: v.WEBSOCKET_MANAGEMENT_ENDPOINT }),
    ...(v.SECRETS_MANAGER_ENDPOINT !== undefined && { secretsManagerEndpoint: v.SECRETS_MANAGER_ENDPOINT }),
    webhooks,
    retry: {
      requestTimeoutMs: v.WEBHOOK_TIMEOUT_MS,
      maxAttemptsPerRun: v.WEBHOOK_MAX_ATTEMPTS_PER_RUN,
      baseDelayMs: v.WEBHOOK_BACKOFF_BASE_MS,
      maxDelayMs: v.WEBHOOK_BACKOFF_MAX_MS,
      maxRetryAgeMs: v.WEBHOOK_MAX_RETRY_SEC * 1000,
    },
    deadLetterRetentionDays: v.DEAD_LETTER_RETENTION_DAYS,
    concurrency: v.FANOUT_CONCURRENCY,
    timeBudgetMs: v.FANOUT_TIME_BUDGET_MS,
  };
}

const webSocketSchema = observabilitySchema
  .extend({
    SUBSCRIPTIONS_TABLE: nonEmpty('SUBSCRIPTIONS_TABLE'),
    DYNAMODB_ENDPOINT: url('DYNAMODB_ENDPOINT').optional(),
    WEBSOCKET_MANAGEMENT_ENDPOINT: url('WEBSOCKET_MANAGEMENT_ENDPOINT').optional(),
    API_CREDENTIALS_SECRET_ID: z.string().min(1).optional(),
    API_CREDENTIALS_JSON: z.string().min(1).optional(),
    API_CREDENTIALS_FILE: z.string().min(1).optional(),
    SECRETS_MANAGER_ENDPOINT: url('SECRETS_MANAGER_ENDPOINT').optional(),
    CREDENTIALS_CACHE_TTL_SEC: integer('CREDENTIALS_CACHE_TTL_SEC', 0, 3600).default(300),
    ...realtimeTokenKeySchema,
    REALTIME_SUPERVISOR_API_IDS: z.string().transform(commaList).default([]),
    CONNECTION_TTL_SEC: integer('CONNECTION_TTL_SEC', 60, 86_400).default(7800),
  } satisfies EnvSchemaOf<Omit<typeof WEBSOCKET_ENV, keyof typeof LAMBDA_OBSERVABILITY_ENV>, z.ZodType>)
  .extend(historyTablesSchema);

/** Reads and validates the WebSocket handlers' configuration. Throws {@link ConfigError}. */
export function loadWebSocketConfig(env: Env = process.env): WebSocketConfig {
  const parsed = webSocketSchema.safeParse(present(env));
  if (!parsed.success) throw new ConfigError(problemsOf(parsed.error), API_CONFIG_SUBJECT);
  const v = parsed.data;
  if (v.REALTIME_TOKEN_SECRET !== undefined && v.REALTIME_TOKEN_SECRET_ID !== undefined) {
    throw new ConfigError([TOKEN_KEY_BOTH_SET], API_CONFIG_SUBJECT);
  }
  const credentials = credentialSourceOf(v);
  return {
    ...observability(v),
    subscriptionsTable: v.SUBSCRIPTIONS_TABLE,
    ...(v.DYNAMODB_ENDPOINT !== undefined && { dynamoDbEndpoint: v.DYNAMODB_ENDPOINT }),
    ...(v.WEBSOCKET_MANAGEMENT_ENDPOINT !== undefined && { managementEndpoint: v.WEBSOCKET_MANAGEMENT_ENDPOINT }),
    credentials,
    cacheTtlSec: v.CREDENTIALS_CACHE_TTL_SEC,
    ...(v.REALTIME_TOKEN_SECRET !== undefined && { realtimeTokenSecret: v.REALTIME_TOKEN_SECRET }),
    ...(v.REALTIME_TOKEN_SECRET_ID !== undefined && { realtimeTokenSecretId: v.REALTIME_TOKEN_SECRET_ID }),
    realtimeTokenSecretCacheTtlSec: v.REALTIME_TOKEN_SECRET_CACHE_TTL_SEC,
    ...(v.SECRETS_MANAGER_ENDPOINT !== undefined && { secretsManagerEndpoint: v.SECRETS_MANAGER_ENDPOINT }),
    supervisorApiIds: v.REALTIME_SUPERVISOR_API_IDS,
    connectionTtlSec: v.CONNECTION_TTL_SEC,
    ...(v.UTTERANCES_TABLE !== undefined && { utterancesTable: v.UTTERANCES_TABLE }),
    ...(v.CONVERSATIONS_TABLE !== undefined && { conversationsTable: v.CONVERSATIONS_TABLE }),
  };
}

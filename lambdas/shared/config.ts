/**
 * Configuration of the API Lambdas: the only place they read their environment (style.md habit 1).
 * Two families, one loader each: the route handlers (start, stop, messages, status) share
 * {@link loadConfig}; the authorizer has {@link loadAuthorizerConfig}. Both validate every variable at
 * once and fail fast with one line per problem, naming the variable and how to fix it. Secret values are
 * never echoed.
 */
import { z } from 'zod';
import {
  boolean,
  cloudWatchNamespace,
  commaList,
  type Env,
  integer,
  languageList,
  nonEmpty,
  present,
  problemsOf,
  url,
} from '../../contract/env';
import type { API_ENV, AUTHORIZER_ENV, EnvSchemaOf, LAMBDA_OBSERVABILITY_ENV } from '../../contract/env-names';
import { supportedDefaultLanguage } from '../../core/api/default-language';
import { ConfigError } from '../../core/config-error';

/** Powertools log levels. */
export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';

/** Settings shared by every Lambda of the API. */
export interface ObservabilityConfig {
  /** `POWERTOOLS_SERVICE_NAME` @default 'audiohook-transcribe-api' */
  serviceName: string;
  /** `POWERTOOLS_METRICS_NAMESPACE` @default 'AudiohookTranscribe' */
  metricsNamespace: string;
  /** `LOG_LEVEL` (or `POWERTOOLS_LOG_LEVEL`) @default 'INFO' */
  logLevel: LogLevel;
  /**
   * `TRACING_ENABLED` (`true`/`false`). @default - true inside Lambda (`AWS_LAMBDA_FUNCTION_NAME` set),
   * false elsewhere: the X-Ray daemon only exists in Lambda, so local runs would only log errors.
   */
  tracingEnabled: boolean;
  /** `METRICS_ENABLED` @default - true inside Lambda, false elsewhere (EMF lines are noise on a terminal) */
  metricsEnabled: boolean;
  /** `AWS_REGION` @default - the SDK's own resolution */
  awsRegion?: string;
}

/** Configuration of the route handlers (start, stop, messages, status). Units are in the names. */
export interface ApiConfig extends ObservabilityConfig {
  /** `CONVERSATIONS_TABLE` (required) */
  conversationsTable: string;
  /** `UTTERANCES_TABLE` (required) */
  utterancesTable: string;
  /** `DYNAMODB_ENDPOINT`: DynamoDB Local or another endpoint override. @default - the regional endpoint */
  dynamoDbEndpoint?: string;
  /** `SUPPORTED_LANGUAGES`: canonical IETF tags, comma-separated. @default ['en-US', 'es-US'] */
  supportedLanguages: string[];
  /** `DEFAULT_LANGUAGE`, one of the supported languages. @default 'en-US' */
  defaultLanguage: string;
  /** `REDACTION_ENABLED` (`true`/`false`): whether PII redaction is configured. @default true */
  redactionEnabled: boolean;
  /** `STOP_WAIT_MS`: how long stop waits for the gateway to close the segment. @default 5000 */
  stopWaitMs: number;
  /** `STOP_POLL_MS`: interval of the strongly consistent segment reads while waiting. @default 100 */
  stopPollMs: number;
  /** `RETENTION_DAYS`: TTL of conversation items written here. @default 7 */
  retentionDays: number;
  /**
   * `PAGE_TOKEN_SECRET`: key that signs `nextToken`s of the messages route, so a token cannot be forged
   * or replayed against another conversation. @default - the store's own default
   */
  pageTokenSecret?: string;
  /**
   * `PAGE_TOKEN_SECRET_ID`: a Secrets Manager secret (id or ARN) whose `SecretString` is that key (AWS: the
   * stack generates it; the key never sits in the function's configuration). At most one of this and
   * `pageTokenSecret`; the messages route's Lambda entry refuses to start with neither
   * ({@link requirePageTokenKey}). @default - see `pageTokenSecret`
   */
  pageTokenSecretId?: string;
  /**
   * `REALTIME_TOKEN_SECRET`: key of the WebSocket API's short-lived connect tokens (`POST
   * /realtime/v1/token`), as a value (local runs). At most one of this and `realtimeTokenSecretId`.
   * @default - the token route answers 404-01 (not enabled)
   */
  realtimeTokenSecret?: string;
  /**
   * `REALTIME_TOKEN_SECRET_ID`: a Secrets Manager secret (id or ARN) whose `SecretString` is that key (AWS:
   * the key never sits in the function's configuration). @default - see `realtimeTokenSecret`
   */
  realtimeTokenSecretId?: string;
  /** `REALTIME_TOKEN_SECRET_CACHE_TTL_SEC`: how long a key read from Secrets Manager is reused. @default 300 */
  realtimeTokenSecretCacheTtlSec?: number;
  /** `SECRETS_MANAGER_ENDPOINT` @default - the regional endpoint */
  secretsManagerEndpoint?: string;
  /** `REALTIME_TOKEN_TTL_SEC`: lifetime of a connect token. @default 300 */
  realtimeTokenTtlSec?: number;
  /** `REALTIME_SUPERVISOR_API_IDS`: api ids allowed the "all conversations" subscription. @default [] */
  realtimeSupervisorApiIds?: string[];
  /** `WEBSOCKET_URL`: the WebSocket API's public URL, echoed in token responses. */
  websocketUrl?: string;
  /** `FEEDS_BUCKET`: the feed bucket; the File Exporter routes answer `403-01` without it. @default - feeds off */
  feedsBucket?: string;
  /** `S3_ENDPOINT`: a local S3 (s3rver) or another endpoint override. @default - the regional endpoint */
  s3Endpoint?: string;
  /** `FEED_URL_TTL_SEC`: lifetime of File Exporter download URLs. @default 900 */
  feedUrlTtlSec?: number;
}

/** Where the authorizer reads API credentials from. */
export type CredentialSourceConfig =
  /** A Secrets Manager secret whose `SecretString` is the credentials JSON (AWS). */
  | { source: 'secrets-manager'; secretId: string; endpoint?: string }
  /** Inline JSON (`API_CREDENTIALS_JSON`): local runs and tests. */
  | { source: 'inline'; json: string }
  /** A JSON file (`API_CREDENTIALS_FILE`): local runs. */
  | { source: 'file'; path: string };

/**
 * The credential source named by exactly one of `API_CREDENTIALS_SECRET_ID`, `_JSON`, `_FILE` (the
 * authorizer's and the WebSocket handlers' loaders read the same variables). Throws {@link ConfigError}.
 */
export function credentialSourceOf(v: {
  API_CREDENTIALS_SECRET_ID?: string | undefined;
  API_CREDENTIALS_JSON?: string | undefined;
  API_CREDENTIALS_FILE?: string | undefined;
  SECRETS_MANAGER_ENDPOINT?: string | undefined;
}): CredentialSourceConfig {
  const sources = [v.API_CREDENTIALS_SECRET_ID, v.API_CREDENTIALS_JSON, v.API_CREDENTIALS_FILE].filter(
    (s) => s !== undefined,
  );
  if (sources.length !== 1) {
    throw new ConfigError(
      [
        'set exactly one of API_CREDENTIALS_SECRET_ID (AWS), API_CREDENTIALS_JSON or API_CREDENTIALS_FILE (local); ' +
          'entries come from `npx tsx lambdas/authorizer/hash-secret.ts`',
      ],
      API_CONFIG_SUBJECT,
    );
  }
  if (v.API_CREDENTIALS_SECRET_ID !== undefined) {
    return {
      source: 'secrets-manager',
      secretId: v.API_CREDENTIALS_SECRET_ID,
      ...(v.SECRETS_MANAGER_ENDPOINT !== undefined && { endpoint: v.SECRETS_MANAGER_ENDPOINT }),
    };
  }
  if (v.API_CREDENTIALS_JSON !== undefined) return { source: 'inline', json: v.API_CREDENTIALS_JSON };
  return { source: 'file', path: v.API_CREDENTIALS_FILE as string };
}

/** Configuration of the authorizer. */
export interface AuthorizerConfig extends ObservabilityConfig {
  credentials: CredentialSourceConfig;
  /** `CREDENTIALS_CACHE_TTL_SEC`: how long the credential set and positive verdicts are reused. @default 300 */
  cacheTtlSec: number;
  /** `NEGATIVE_CACHE_TTL_SEC`: how long a failed verification is remembered. @default 10 */
  negativeCacheTtlSec: number;
}

/** What the Lambdas' `ConfigError`s say they were configuring. */
export const API_CONFIG_SUBJECT = 'API configuration';

const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT'] as const;

/** The Powertools variables every Lambda reads. */
export const observabilitySchema = z.object({
  POWERTOOLS_SERVICE_NAME: z.string().min(1).default('audiohook-transcribe-api'),
  POWERTOOLS_METRICS_NAMESPACE: cloudWatchNamespace('POWERTOOLS_METRICS_NAMESPACE').default('AudiohookTranscribe'),
  LOG_LEVEL: z
    .string()
    .transform((s) => s.toUpperCase())
    .pipe(z.enum(LOG_LEVELS, { message: `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}` }))
    .optional(),
  POWERTOOLS_LOG_LEVEL: z
    .string()
    .transform((s) => s.toUpperCase())
    .pipe(z.enum(LOG_LEVELS, { message: `POWERTOOLS_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}` }))
    .optional(),
  TRACING_ENABLED: boolean('TRACING_ENABLED').optional(),
  METRICS_ENABLED: boolean('METRICS_ENABLED').optional(),
  AWS_LAMBDA_FUNCTION_NAME: z.string().optional(),
  AWS_REGION: z.string().min(1).optional(),
} satisfies EnvSchemaOf<typeof LAMBDA_OBSERVABILITY_ENV, z.ZodType>);

/** The connect-token key's variables: the token route (REST) and `$connect` (WebSocket) read the same key. */
export const realtimeTokenKeySchema = {
  REALTIME_TOKEN_SECRET: z
    .string()
    .min(32, { message: 'REALTIME_TOKEN_SECRET must be at least 32 characters' })
    .optional(),
  REALTIME_TOKEN_SECRET_ID: z.string().min(1).optional(),
  REALTIME_TOKEN_SECRET_CACHE_TTL_SEC: integer('REALTIME_TOKEN_SECRET_CACHE_TTL_SEC', 0, 3600).default(300),
};

const apiSchema = observabilitySchema.extend({
  CONVERSATIONS_TABLE: nonEmpty('CONVERSATIONS_TABLE'),
  UTTERANCES_TABLE: nonEmpty('UTTERANCES_TABLE'),
  DYNAMODB_ENDPOINT: url('DYNAMODB_ENDPOINT', 'http://127.0.0.1:8000').optional(),
  SUPPORTED_LANGUAGES: languageList('SUPPORTED_LANGUAGES').default(['en-US', 'es-US']),
  DEFAULT_LANGUAGE: z.string().default('en-US'),
  REDACTION_ENABLED: boolean('REDACTION_ENABLED').default(true),
  // API Gateway REST integrations time out at 29 s; the wait must end well before that.
  STOP_WAIT_MS: integer('STOP_WAIT_MS', 0, 25_000).default(5000),
  STOP_POLL_MS: integer('STOP_POLL_MS', 10, 5000).default(100),
  RETENTION_DAYS: integer('RETENTION_DAYS', 1, 3650).default(7),
  PAGE_TOKEN_SECRET: z.string().min(16, { message: 'PAGE_TOKEN_SECRET must be at least 16 characters' }).optional(),
  PAGE_TOKEN_SECRET_ID: z.string().min(1).optional(),
  ...realtimeTokenKeySchema,
  SECRETS_MANAGER_ENDPOINT: url('SECRETS_MANAGER_ENDPOINT').optional(),
  REALTIME_TOKEN_TTL_SEC: integer('REALTIME_TOKEN_TTL_SEC', 10, 900).default(300),
  REALTIME_SUPERVISOR_API_IDS: z.string().transform(commaList).default([]),
  WEBSOCKET_URL: z.url({ message: 'WEBSOCKET_URL must be a ws(s) URL' }).optional(),
  FEEDS_BUCKET: z.string().min(3, { message: 'FEEDS_BUCKET must be a bucket name' }).optional(),
  S3_ENDPOINT: url('S3_ENDPOINT', 'http://127.0.0.1:4568').optional(),
  // S3 pre-signed URLs live at most 7 days.
  FEED_URL_TTL_SEC: integer('FEED_URL_TTL_SEC', 60, 604_800).default(900),
} satisfies EnvSchemaOf<Omit<typeof API_ENV, keyof typeof LAMBDA_OBSERVABILITY_ENV>, z.ZodType>);

const authorizerSchema = observabilitySchema.extend({
  API_CREDENTIALS_SECRET_ID: z.string().min(1).optional(),
  API_CREDENTIALS_JSON: z.string().min(1).optional(),
  API_CREDENTIALS_FILE: z.string().min(1).optional(),
  SECRETS_MANAGER_ENDPOINT: url('SECRETS_MANAGER_ENDPOINT').optional(),
  CREDENTIALS_CACHE_TTL_SEC: integer('CREDENTIALS_CACHE_TTL_SEC', 0, 3600).default(300),
  NEGATIVE_CACHE_TTL_SEC: integer('NEGATIVE_CACHE_TTL_SEC', 0, 300).default(10),
} satisfies EnvSchemaOf<Omit<typeof AUTHORIZER_ENV, keyof typeof LAMBDA_OBSERVABILITY_ENV>, z.ZodType>);

/** The observability settings from parsed variables. */
export function observability(v: z.infer<typeof observabilitySchema>): ObservabilityConfig {
  const inLambda = v.AWS_LAMBDA_FUNCTION_NAME !== undefined;
  return {
    serviceName: v.POWERTOOLS_SERVICE_NAME,
    metricsNamespace: v.POWERTOOLS_METRICS_NAMESPACE,
    logLevel: v.LOG_LEVEL ?? v.POWERTOOLS_LOG_LEVEL ?? 'INFO',
    tracingEnabled: v.TRACING_ENABLED ?? inLambda,
    metricsEnabled: v.METRICS_ENABLED ?? inLambda,
    ...(v.AWS_REGION !== undefined && { awsRegion: v.AWS_REGION }),
  };
}

/** The one problem line when both forms of the real-time token key are set. */
export const TOKEN_KEY_BOTH_SET =
  'set at most one of REALTIME_TOKEN_SECRET (the key itself, local runs) and REALTIME_TOKEN_SECRET_ID ' +
  '(a Secrets Manager secret holding it, AWS)';

/** The one problem line when both forms of the page-token key are set. */
export const PAGE_TOKEN_KEY_BOTH_SET =
  'set at most one of PAGE_TOKEN_SECRET (the key itself, local runs) and PAGE_TOKEN_SECRET_ID ' +
  '(a Secrets Manager secret holding it, AWS)';

/** The one problem line when the messages route's Lambda has no page-token key. */
export const PAGE_TOKEN_KEY_MISSING =
  'PAGE_TOKEN_SECRET_ID is not set: the messages route signs its nextTokens with the key in that Secrets Manager ' +
  'secret (the stack sets it to the PageTokenKey secret; redeploy the stack, or set PAGE_TOKEN_SECRET to a key ' +
  'of at least 16 characters)';

/**
 * Returns `config` unchanged when it names a page-token key (a value or a secret id). The messages route's
 * Lambda entry calls it at cold start, so a function deployed without a key fails with a configuration error
 * instead of handing out unsigned `nextToken`s. Local runs, which may page unsigned, do not call it.
 * @throws ConfigError with {@link PAGE_TOKEN_KEY_MISSING}
 */
export function requirePageTokenKey<C extends Pick<ApiConfig, 'pageTokenSecret' | 'pageTokenSecretId'>>(config: C): C {
  if (config.pageTokenSecret === undefined && config.pageTokenSecretId === undefined) {
    throw new ConfigError([PAGE_TOKEN_KEY_MISSING], API_CONFIG_SUBJECT);
  }
  return config;
}

/** Reads and validates the route handlers' configuration. Throws {@link ConfigError}. */
export function loadConfig(env: Env = process.env): ApiConfig {
  const parsed = apiSchema.safeParse(present(env));
  if (!parsed.success) throw new ConfigError(problemsOf(parsed.error), API_CONFIG_SUBJECT);
  const v = parsed.data;
  const keyProblems = [
    ...(v.REALTIME_TOKEN_SECRET !== undefined && v.REALTIME_TOKEN_SECRET_ID !== undefined ? [TOKEN_KEY_BOTH_SET] : []),
    ...(v.PAGE_TOKEN_SECRET !== undefined && v.PAGE_TOKEN_SECRET_ID !== undefined ? [PAGE_TOKEN_KEY_BOTH_SET] : []),
  ];
  if (keyProblems.length > 0) throw new ConfigError(keyProblems, API_CONFIG_SUBJECT);
  const defaultLanguage = supportedDefaultLanguage(v.DEFAULT_LANGUAGE, v.SUPPORTED_LANGUAGES);
  if (!defaultLanguage.ok) throw new ConfigError([defaultLanguage.problem], API_CONFIG_SUBJECT);
  return {
    ...observability(v),
    conversationsTable: v.CONVERSATIONS_TABLE,
    utterancesTable: v.UTTERANCES_TABLE,
    ...(v.DYNAMODB_ENDPOINT !== undefined && { dynamoDbEndpoint: v.DYNAMODB_ENDPOINT }),
    supportedLanguages: v.SUPPORTED_LANGUAGES,
    defaultLanguage: defaultLanguage.language,
    redactionEnabled: v.REDACTION_ENABLED,
    stopWaitMs: v.STOP_WAIT_MS,
    stopPollMs: v.STOP_POLL_MS,
    retentionDays: v.RETENTION_DAYS,
    ...(v.PAGE_TOKEN_SECRET !== undefined && { pageTokenSecret: v.PAGE_TOKEN_SECRET }),
    ...(v.PAGE_TOKEN_SECRET_ID !== undefined && { pageTokenSecretId: v.PAGE_TOKEN_SECRET_ID }),
    ...(v.REALTIME_TOKEN_SECRET !== undefined && { realtimeTokenSecret: v.REALTIME_TOKEN_SECRET }),
    ...(v.REALTIME_TOKEN_SECRET_ID !== undefined && { realtimeTokenSecretId: v.REALTIME_TOKEN_SECRET_ID }),
    realtimeTokenSecretCacheTtlSec: v.REALTIME_TOKEN_SECRET_CACHE_TTL_SEC,
    ...(v.SECRETS_MANAGER_ENDPOINT !== undefined && { secretsManagerEndpoint: v.SECRETS_MANAGER_ENDPOINT }),
    realtimeTokenTtlSec: v.REALTIME_TOKEN_TTL_SEC,
    realtimeSupervisorApiIds: v.REALTIME_SUPERVISOR_API_IDS,
    ...(v.WEBSOCKET_URL !== undefined && { websocketUrl: v.WEBSOCKET_URL }),
    ...(v.FEEDS_BUCKET !== undefined && { feedsBucket: v.FEEDS_BUCKET }),
    ...(v.S3_ENDPOINT !== undefined && { s3Endpoint: v.S3_ENDPOINT }),
    feedUrlTtlSec: v.FEED_URL_TTL_SEC,
  };
}

/** Reads and validates the authorizer's configuration. Throws {@link ConfigError}. */
export function loadAuthorizerConfig(env: Env = process.env): AuthorizerConfig {
  const parsed = authorizerSchema.safeParse(present(env));
  if (!parsed.success) throw new ConfigError(problemsOf(parsed.error), API_CONFIG_SUBJECT);
  const v = parsed.data;
  const credentials = credentialSourceOf(v);
  return {
    ...observability(v),
    credentials,
    cacheTtlSec: v.CREDENTIALS_CACHE_TTL_SEC,
    negativeCacheTtlSec: v.NEGATIVE_CACHE_TTL_SEC,
  };
}

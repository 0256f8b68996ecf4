/**
 * The environment variables of every runtime, by name: one constant object per entry point family. The
 * CDK stack (lib/) sets them and the configuration loaders (fargate/src/config.ts, lambdas/shared/*-config.ts)
 * parse them; both sides check their keys against these lists (`satisfies EnvironmentOf<…>` and
 * `satisfies EnvSchemaOf<…>`), so a variable renamed or misspelt on either side fails the typecheck instead
 * of being silently ignored at run time. What each variable means and its default: the loaders' config types.
 */

/** `{ NAME: 'NAME', … }` for a list of names: `X_ENV.NAME` is a checked string, `keyof` the name union. */
function names<const N extends string>(list: readonly N[]): { readonly [K in N]: K } {
  return Object.fromEntries(list.map((n) => [n, n])) as { readonly [K in N]: K };
}

/** The gateway container (fargate/src/config.ts). */
export const GATEWAY_ENV = names([
  'PORT',
  'HOST',
  'AUDIOHOOK_PATHS',
  'AUDIOHOOK_API_KEYS',
  'AUDIOHOOK_API_KEYS_SECRET_ID',
  'AUDIOHOOK_EXPECTED_AUTHORITY',
  'AUDIO_SINK',
  'WAV_DIR',
  'SUPPORTED_LANGUAGES',
  'DEFAULT_LANGUAGE',
  'REDACTION_ENABLED',
  'MAX_SESSIONS',
  'DRAIN_TIMEOUT_SEC',
  'CLOSE_FLUSH_BUDGET_MS',
  'OPEN_TIMEOUT_MS',
  'ADMIN_PORT',
  'ADMIN_HOST',
  'LOG_LEVEL',
  'AWS_REGION',
  'SIGNATURE_MAX_AGE_SEC',
  'SIGNATURE_CLOCK_SKEW_SEC',
  'ECS_CONTAINER_METADATA_URI_V4',
  'CONVERSATIONS_TABLE',
  'UTTERANCES_TABLE',
  'SUBSCRIPTIONS_TABLE',
  'WEBSOCKET_MANAGEMENT_ENDPOINT',
  'DYNAMODB_ENDPOINT',
  'TRANSCRIBE_ENDPOINT',
  'TASK_ID',
  'CONTROL_POLL_MS',
  'TRANSCRIBE_END_TIMEOUT_MS',
  'RECORDINGS_BUCKET',
  'S3_ENDPOINT',
  'RECORDINGS_SPOOL_DIR',
  'RECORDINGS_KMS_KEY_ID',
  'METRICS_NAMESPACE',
  'METRICS_SERVICE',
  'METRICS_INTERVAL_SEC',
  'TASK_PROTECTION_ENABLED',
  'ECS_AGENT_URI',
  'TASK_PROTECTION_EXPIRES_MIN',
  'TASK_PROTECTION_RELEASE_DELAY_SEC',
  'SELF_DRAIN_ENABLED',
  'TARGET_GROUP_ARN',
  'SELF_DRAIN_CHECK_SEC',
  'ECS_ENDPOINT',
  'ELB_ENDPOINT',
  'SOURCE_LIMIT_ENABLED',
  'SOURCE_LIMIT_UPGRADES_PER_SEC',
  'SOURCE_LIMIT_UPGRADES_BURST',
  'SOURCE_LIMIT_FAILURES_PER_SEC',
  'SOURCE_LIMIT_FAILURES_BURST',
]);

const OBSERVABILITY = [
  'POWERTOOLS_SERVICE_NAME',
  'POWERTOOLS_METRICS_NAMESPACE',
  'LOG_LEVEL',
  'POWERTOOLS_LOG_LEVEL',
  'TRACING_ENABLED',
  'METRICS_ENABLED',
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_REGION',
] as const;

/** What every Lambda reads: Powertools settings and what Lambda itself sets (lambdas/shared/config.ts). */
export const LAMBDA_OBSERVABILITY_ENV = names(OBSERVABILITY);

const CREDENTIALS = [
  'API_CREDENTIALS_SECRET_ID',
  'API_CREDENTIALS_JSON',
  'API_CREDENTIALS_FILE',
  'SECRETS_MANAGER_ENDPOINT',
  'CREDENTIALS_CACHE_TTL_SEC',
] as const;

/** The REST route handlers: start, stop, messages, status, token, File Exporter (lambdas/shared/config.ts). */
export const API_ENV = names([
  ...OBSERVABILITY,
  'CONVERSATIONS_TABLE',
  'UTTERANCES_TABLE',
  'DYNAMODB_ENDPOINT',
  'SUPPORTED_LANGUAGES',
  'DEFAULT_LANGUAGE',
  'REDACTION_ENABLED',
  'STOP_WAIT_MS',
  'STOP_POLL_MS',
  'RETENTION_DAYS',
  'PAGE_TOKEN_SECRET',
  'PAGE_TOKEN_SECRET_ID',
  'REALTIME_TOKEN_SECRET',
  'REALTIME_TOKEN_SECRET_ID',
  'REALTIME_TOKEN_SECRET_CACHE_TTL_SEC',
  'SECRETS_MANAGER_ENDPOINT',
  'REALTIME_TOKEN_TTL_SEC',
  'REALTIME_SUPERVISOR_API_IDS',
  'WEBSOCKET_URL',
  'FEEDS_BUCKET',
  'S3_ENDPOINT',
  'FEED_URL_TTL_SEC',
]);

/** The REST API's REQUEST authorizer (lambdas/shared/config.ts). */
export const AUTHORIZER_ENV = names([...OBSERVABILITY, ...CREDENTIALS, 'NEGATIVE_CACHE_TTL_SEC']);

/** The real-time fan-out on the Utterances stream (lambdas/shared/realtime-config.ts). */
export const FANOUT_ENV = names([
  ...OBSERVABILITY,
  'SUBSCRIPTIONS_TABLE',
  'DYNAMODB_ENDPOINT',
  'WEBSOCKET_MANAGEMENT_ENDPOINT',
  'WEBHOOK_TARGETS_JSON',
  'WEBHOOK_TARGETS_SECRET_ID',
  'WEBHOOK_URL',
  'SECRETS_MANAGER_ENDPOINT',
  'WEBHOOK_TIMEOUT_MS',
  'WEBHOOK_MAX_ATTEMPTS_PER_RUN',
  'WEBHOOK_BACKOFF_BASE_MS',
  'WEBHOOK_BACKOFF_MAX_MS',
  'WEBHOOK_MAX_RETRY_SEC',
  'DEAD_LETTER_RETENTION_DAYS',
  'FANOUT_CONCURRENCY',
  'FANOUT_TIME_BUDGET_MS',
]);

/** The WebSocket API's route handlers: $connect, $disconnect, subscribe, $default (lambdas/shared/realtime-config.ts). */
export const WEBSOCKET_ENV = names([
  ...OBSERVABILITY,
  ...CREDENTIALS,
  'SUBSCRIPTIONS_TABLE',
  'DYNAMODB_ENDPOINT',
  'WEBSOCKET_MANAGEMENT_ENDPOINT',
  'REALTIME_TOKEN_SECRET',
  'REALTIME_TOKEN_SECRET_ID',
  'REALTIME_TOKEN_SECRET_CACHE_TTL_SEC',
  'REALTIME_SUPERVISOR_API_IDS',
  'CONNECTION_TTL_SEC',
]);

/** The nightly feed export, its CLI and the local scheduler (lambdas/shared/export-config.ts). */
export const EXPORT_ENV = names([
  ...OBSERVABILITY,
  'UTTERANCES_TABLE',
  'FEEDS_BUCKET',
  'DYNAMODB_ENDPOINT',
  'S3_ENDPOINT',
  'EXPORT_MAX_ROWS_PER_PART',
  'EXPORT_MAX_BYTES_PER_PART',
  'EXPORT_PAGE_SIZE',
  'EXPORT_SAFETY_MS',
  'FEED_COMPANY_MARKER',
]);

/** The variable names of one of the objects above. */
export type EnvName<T> = keyof T & string;

/** An environment a deployment sets for a runtime: only names that runtime reads, as strings. */
export type EnvironmentOf<T> = { readonly [K in EnvName<T>]?: string };

/** What a loader's zod object shape must cover: exactly the runtime's names, one parser each. */
export type EnvSchemaOf<T, S> = { readonly [K in EnvName<T>]: S };

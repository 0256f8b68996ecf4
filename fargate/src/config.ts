/**
 * Gateway configuration: the only place the gateway reads its environment (style.md habit 1).
 * `loadConfig()` validates every variable at once and fails fast with one line per problem, each naming
 * the variable and how to fix it. Secret values are never echoed back.
 */
import { z } from 'zod';
import { cloudWatchNamespace, commaList, endpoint, integer, problemsOf, tableName } from '../../contract/env';
import { type EnvSchemaOf, GATEWAY_ENV } from '../../contract/env-names';
import type { StartPolicy } from '../../core/api/start-stop-rules';
import { DEFAULT_OPEN_TIMEOUT_MS } from '../../core/audiohook/session-open-deadline';
import { ApiKeyStore } from '../../core/auth/api-keys';
import { ConfigError } from '../../core/config-error';
import { type PartialsConfig, partialsConfigOf, partialsConfigProblem } from './realtime/partials-config';
import { startPolicyConfig, startPolicyShape } from './start-policy-config';
import { DEFAULT_SOURCE_LIMITS, type SourceLimitsConfig } from './upgrade-guard';

/** Where the AudioHook API keys come from. */
export type ApiKeysConfig =
  /** Inline JSON (local runs, tests): the parsed value of `AUDIOHOOK_API_KEYS`, shaped per `ApiKeyStore.fromJson`. */
  | { source: 'env'; json: unknown }
  /** A Secrets Manager secret whose `SecretString` holds the same JSON (production). */
  | { source: 'secrets-manager'; secretId: string };

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/**
 * The transcription pipeline (set when both tables are configured): sessions stream to Amazon Transcribe
 * while start/stop say so, and utterances go to DynamoDB. Without it the gateway is protocol-only.
 */
export interface TranscriptionConfig {
  /** `CONVERSATIONS_TABLE` */
  conversationsTable: string;
  /** `UTTERANCES_TABLE` */
  utterancesTable: string;
  /** `AWS_REGION`; may be omitted only when both endpoints are overridden. @default 'us-east-1' then */
  region: string;
  /** `DYNAMODB_ENDPOINT` (DynamoDB Local). @default - the regional endpoint */
  dynamodbEndpoint?: string;
  /** `TRANSCRIBE_ENDPOINT` (the local Transcribe-compatible endpoint). @default - the regional endpoint */
  transcribeEndpoint?: string;
  /** `CONTROL_POLL_MS`: control inbox poll period (architecture §4). @default 200 */
  controlPollMs: number;
  /**
   * `TRANSCRIBE_END_TIMEOUT_MS`: how long a closing segment waits for Transcribe's last results before
   * the stream is aborted (a slower recognizer, like the local one on a busy machine, needs more).
   * @default - the streamer's (10 s)
   */
  streamerConfig?: { endTimeoutMs: number };
  /**
   * Segment recordings (`audioRecordingAllowed`), set when `RECORDINGS_BUCKET` is.
   * @default - no recordings: `audioRecordingAllowed` is ignored and no audio is kept
   */
  recordings?: RecordingsConfig;
  /** Live partials to WebSocket subscribers (docs/realtime.md §5). @default - off: finals only (the fan-out) */
  partials?: PartialsConfig;
}

/** Where segment recordings go (docs/architecture.md "Recordings"). */
export interface RecordingsConfig {
  /** `RECORDINGS_BUCKET` */
  bucket: string;
  /** `S3_ENDPOINT` (local S3). @default - the regional endpoint */
  s3Endpoint?: string;
  /**
   * `RECORDINGS_SPOOL_DIR`: where audio is spooled until upload. An unusable directory turns recordings off
   * (logged, retried), never the gateway. @default - a private `<os tmpdir>/audiohook-recordings-XXXXXX` per process
   */
  spoolDir?: string;
  /** `RECORDINGS_KMS_KEY_ID`: encrypt with `aws:kms` under this key. @default - the bucket's default encryption */
  kmsKeyId?: string;
}

/** The validated gateway configuration. Units are in the names. */
export interface GatewayConfig {
  /** `PORT` @default 8080 */
  port: number;
  /** `HOST` @default '0.0.0.0' */
  host: string;
  /** `AUDIOHOOK_PATHS`: WebSocket paths that accept AudioHook upgrades. @default ['/api/v1/audiohook/ws'] */
  audiohookPaths: string[];
  /** `AUDIOHOOK_API_KEYS` xor `AUDIOHOOK_API_KEYS_SECRET_ID`. */
  apiKeys: ApiKeysConfig;
  /**
   * `AUDIOHOOK_EXPECTED_AUTHORITY`: the `@authority` to verify signatures against when a proxy rewrites `Host`
   * (protocol §1.3 "Proxies"). @default - the request's own `Host` header
   */
  expectedAuthority?: string;
  /** `AUDIO_SINK` @default 'null' */
  audioSink: 'null' | 'wav';
  /** `WAV_DIR`, used when `audioSink` is `wav`. @default '.local/recordings' */
  wavDir: string;
  /** `SUPPORTED_LANGUAGES` (BCP-47 tags) announced in `opened`. @default ['en-US', 'es-US'] */
  supportedLanguages: string[];
  /**
   * The start policy of `genesys`-controlled sessions (docs/genesys.md §0): `SUPPORTED_LANGUAGES`, `DEFAULT_LANGUAGE`
   * (@default 'en-US', else the first supported) and `REDACTION_ENABLED` (@default true), as the start Lambda reads them.
   */
  startPolicy: StartPolicy;
  /** `MAX_SESSIONS` per task; upgrades beyond it get 503 + Retry-After. @default 1000 */
  maxSessions: number;
  /**
   * `DRAIN_TIMEOUT_SEC`: how long SIGTERM waits for live calls to end before disconnecting them.
   * Calls can last hours, so the default is generous; in ECS the task definition's `stopTimeout` (at most
   * 120 s on Fargate) caps it anyway: ECS sends SIGKILL when it expires. Long drains therefore rely on task
   * scale-in protection rather than on SIGTERM (architecture §5). @default 7200
   */
  drainTimeoutSec: number;
  /**
   * `CLOSE_FLUSH_BUDGET_MS`: how long a session's `closed` waits for its last finals (stored, and sent as
   * Transcription Connector events). Genesys gives `close` → `closed` 10 s; events cannot follow `closed`,
   * so a final later than this is stored and served by the API but never reaches Genesys. @default 3000
   */
  closeFlushBudgetMs: number;
  /**
   * `OPEN_TIMEOUT_MS`: a connection with no valid `open` this long after the upgrade gets `disconnect{error}`
   * and is closed, freeing its `MAX_SESSIONS` slot (Genesys sends `open` at once). @default 5000
   */
  openTimeoutMs: number;
  /** `ADMIN_PORT` / `ADMIN_HOST`. @default - admin server disabled */
  admin?: { port: number; host: string };
  /** `LOG_LEVEL` @default 'info' */
  logLevel: LogLevel;
  /** `AWS_REGION` @default - the SDK's own resolution */
  awsRegion?: string;
  /** `SIGNATURE_MAX_AGE_SEC` @default 10 */
  signatureMaxAgeSec: number;
  /** `SIGNATURE_CLOCK_SKEW_SEC` @default 3 */
  signatureClockSkewSec: number;
  /** `ECS_CONTAINER_METADATA_URI_V4` (set by ECS): used once at startup to learn the task id. */
  ecsMetadataUri?: string;
  /**
   * `TASK_ID`: this task's id in logs, session items and the control inbox.
   * @default - the ECS task id from the container metadata (a random id outside ECS)
   */
  taskId?: string;
  /** Present when `CONVERSATIONS_TABLE` and `UTTERANCES_TABLE` are set. @default - protocol-only mode */
  transcription?: TranscriptionConfig;
  /** CloudWatch EMF metrics, when `METRICS_NAMESPACE` is set. @default - no metrics published */
  metrics?: MetricsConfig;
  /**
   * Task scale-in protection, when `TASK_PROTECTION_ENABLED=true` and ECS injected `ECS_AGENT_URI`.
   * @default - off (outside ECS there is nothing to protect)
   */
  taskProtection?: TaskProtectionConfig;
  /**
   * Self-drain (leave the load balancer's rotation when superseded or chosen for scale-in), when
   * `SELF_DRAIN_ENABLED=true`, `TARGET_GROUP_ARN` is set and ECS injected `ECS_CONTAINER_METADATA_URI_V4`.
   * @default - off
   */
  selfDrain?: SelfDrainConfig;
  /** `SELF_DRAIN_ENABLED=true` was asked for but `TARGET_GROUP_ARN` or the ECS metadata is missing. */
  selfDrainMissing?: string[];
  /**
   * Per-source limits checked before authenticating an upgrade (fargate/src/upgrade-guard.ts): upgrades
   * `SOURCE_LIMIT_UPGRADES_PER_SEC` (50) with a burst of `SOURCE_LIMIT_UPGRADES_BURST` (100), failed
   * authentications `SOURCE_LIMIT_FAILURES_PER_SEC` (10) with a burst of `SOURCE_LIMIT_FAILURES_BURST` (20),
   * per source address; beyond them 429 + `Retry-After`. API keys that verified recently are not limited.
   * @default - on with those values; `SOURCE_LIMIT_ENABLED=false` turns it off
   */
  sourceLimits?: SourceLimitsConfig;
}

/** Self-drain (fargate/src/observability/self-drain.ts). */
export interface SelfDrainConfig {
  /** `TARGET_GROUP_ARN`: the gateway's IP target group. */
  targetGroupArn: string;
  /** `ECS_CONTAINER_METADATA_URI_V4` (set by ECS). */
  metadataUri: string;
  /** `SELF_DRAIN_CHECK_SEC` @default 30 */
  checkIntervalMs: number;
  /** `AWS_REGION`. @default - the region of `TARGET_GROUP_ARN` */
  region: string;
  /** `ECS_ENDPOINT` (a local fake). @default - the regional endpoint */
  ecsEndpoint?: string;
  /** `ELB_ENDPOINT` (a local fake). @default - the regional endpoint */
  elbEndpoint?: string;
}

/** Gateway metrics (fargate/src/observability/emf.ts). */
export interface MetricsConfig {
  /** `METRICS_NAMESPACE` */
  namespace: string;
  /** `METRICS_SERVICE`: the `service` dimension. @default 'audiohook-gateway' */
  service: string;
  /** `METRICS_INTERVAL_SEC` @default 60 */
  intervalMs: number;
}

/** Task scale-in protection (fargate/src/observability/task-protection.ts). */
export interface TaskProtectionConfig {
  /** `ECS_AGENT_URI` (set by ECS). */
  agentUri: string;
  /** `TASK_PROTECTION_EXPIRES_MIN`: lifetime of each protection, renewed while busy. @default 60 */
  expiresInMinutes: number;
  /** `TASK_PROTECTION_RELEASE_DELAY_SEC`: idle time before protection is released. @default 30 */
  releaseDelayMs: number;
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

const schema = z.object({
  PORT: integer('PORT', 1, 65_535).default(8080),
  HOST: z.string().default('0.0.0.0'),
  AUDIOHOOK_PATHS: z
    .string()
    .transform(commaList)
    .pipe(
      z
        .array(
          z.string().regex(/^\/[^\s?#]*$/, {
            message: 'AUDIOHOOK_PATHS entries must be absolute paths without query, e.g. /api/v1/audiohook/ws',
          }),
        )
        .min(1, { message: 'AUDIOHOOK_PATHS must list at least one path, e.g. /api/v1/audiohook/ws' }),
    )
    .default(['/api/v1/audiohook/ws']),
  AUDIOHOOK_API_KEYS: z.string().optional(),
  AUDIOHOOK_API_KEYS_SECRET_ID: z.string().optional(),
  AUDIOHOOK_EXPECTED_AUTHORITY: z
    .string()
    .regex(/^[^\s/]+$/, { message: 'AUDIOHOOK_EXPECTED_AUTHORITY must be host[:port], without scheme or path' })
    .optional(),
  AUDIO_SINK: z.enum(['null', 'wav'], { message: 'AUDIO_SINK must be "null" or "wav"' }).default('null'),
  WAV_DIR: z.string().default('.local/recordings'),
  ...startPolicyShape,
  MAX_SESSIONS: integer('MAX_SESSIONS', 1, 100_000).default(1000),
  DRAIN_TIMEOUT_SEC: integer('DRAIN_TIMEOUT_SEC', 0, 86_400).default(7200),
  // Below Genesys's 10 s close timeout, with room for the answer to travel.
  CLOSE_FLUSH_BUDGET_MS: integer('CLOSE_FLUSH_BUDGET_MS', 0, 8000).default(3000),
  OPEN_TIMEOUT_MS: integer('OPEN_TIMEOUT_MS', 100, 60_000).default(DEFAULT_OPEN_TIMEOUT_MS),
  ADMIN_PORT: integer('ADMIN_PORT', 1, 65_535).optional(),
  ADMIN_HOST: z.string().default('127.0.0.1'),
  LOG_LEVEL: z.enum(LOG_LEVELS, { message: `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  AWS_REGION: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, { message: 'AWS_REGION must look like us-east-1' })
    .optional(),
  SIGNATURE_MAX_AGE_SEC: integer('SIGNATURE_MAX_AGE_SEC', 1, 600).default(10),
  SIGNATURE_CLOCK_SKEW_SEC: integer('SIGNATURE_CLOCK_SKEW_SEC', 0, 60).default(3),
  ECS_CONTAINER_METADATA_URI_V4: z.string().optional(),
  CONVERSATIONS_TABLE: tableName('CONVERSATIONS_TABLE').optional(),
  UTTERANCES_TABLE: tableName('UTTERANCES_TABLE').optional(),
  SUBSCRIPTIONS_TABLE: tableName('SUBSCRIPTIONS_TABLE').optional(),
  // The management endpoint has a path (the stage, or the local front's secret prefix).
  WEBSOCKET_MANAGEMENT_ENDPOINT: z
    .url({
      protocol: /^https?$/,
      message:
        'WEBSOCKET_MANAGEMENT_ENDPOINT must be an http(s) URL, e.g. https://<api-id>.execute-api.us-east-1.amazonaws.com/prod',
    })
    .optional(),
  DYNAMODB_ENDPOINT: endpoint('DYNAMODB_ENDPOINT').optional(),
  TRANSCRIBE_ENDPOINT: endpoint('TRANSCRIBE_ENDPOINT').optional(),
  TASK_ID: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, {
      message: 'TASK_ID must be 1-128 characters of letters, digits, _ . : - (e.g. the ECS task id)',
    })
    .optional(),
  CONTROL_POLL_MS: integer('CONTROL_POLL_MS', 20, 10_000).default(200),
  TRANSCRIBE_END_TIMEOUT_MS: integer('TRANSCRIBE_END_TIMEOUT_MS', 1000, 120_000).optional(),
  RECORDINGS_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
      message: 'RECORDINGS_BUCKET must be an S3 bucket name (3-63 lowercase letters, digits, . -)',
    })
    .optional(),
  S3_ENDPOINT: endpoint('S3_ENDPOINT').optional(),
  RECORDINGS_SPOOL_DIR: z.string().optional(),
  RECORDINGS_KMS_KEY_ID: z
    .string()
    .regex(/^\S+$/, { message: 'RECORDINGS_KMS_KEY_ID must be a KMS key id, alias or ARN (no spaces)' })
    .optional(),
  METRICS_NAMESPACE: cloudWatchNamespace('METRICS_NAMESPACE').optional(),
  METRICS_SERVICE: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, { message: 'METRICS_SERVICE must be 1-64 letters, digits, . _ -' })
    .default('audiohook-gateway'),
  METRICS_INTERVAL_SEC: integer('METRICS_INTERVAL_SEC', 10, 3600).default(60),
  TASK_PROTECTION_ENABLED: z
    .enum(['true', 'false'], { message: 'TASK_PROTECTION_ENABLED must be true or false' })
    .default('false'),
  ECS_AGENT_URI: z
    .string()
    .regex(/^https?:\/\/\S+$/, { message: 'ECS_AGENT_URI must be an http(s) URL' })
    .optional(),
  TASK_PROTECTION_EXPIRES_MIN: integer('TASK_PROTECTION_EXPIRES_MIN', 1, 2880).default(60),
  TASK_PROTECTION_RELEASE_DELAY_SEC: integer('TASK_PROTECTION_RELEASE_DELAY_SEC', 0, 3600).default(30),
  SELF_DRAIN_ENABLED: z
    .enum(['true', 'false'], { message: 'SELF_DRAIN_ENABLED must be true or false' })
    .default('false'),
  TARGET_GROUP_ARN: z
    .string()
    .regex(/^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]+\/[0-9a-f]+$/, {
      message:
        'TARGET_GROUP_ARN must be a target group ARN, e.g. arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/gw/0123456789abcdef',
    })
    .optional(),
  SELF_DRAIN_CHECK_SEC: integer('SELF_DRAIN_CHECK_SEC', 1, 3600).default(30),
  ECS_ENDPOINT: endpoint('ECS_ENDPOINT').optional(),
  ELB_ENDPOINT: endpoint('ELB_ENDPOINT').optional(),
  SOURCE_LIMIT_ENABLED: z
    .enum(['true', 'false'], { message: 'SOURCE_LIMIT_ENABLED must be true or false' })
    .default('true'),
  // Defaults applied below from DEFAULT_SOURCE_LIMITS (one home for the numbers).
  SOURCE_LIMIT_UPGRADES_PER_SEC: integer('SOURCE_LIMIT_UPGRADES_PER_SEC', 1, 100_000).optional(),
  SOURCE_LIMIT_UPGRADES_BURST: integer('SOURCE_LIMIT_UPGRADES_BURST', 1, 1_000_000).optional(),
  SOURCE_LIMIT_FAILURES_PER_SEC: integer('SOURCE_LIMIT_FAILURES_PER_SEC', 1, 100_000).optional(),
  SOURCE_LIMIT_FAILURES_BURST: integer('SOURCE_LIMIT_FAILURES_BURST', 1, 1_000_000).optional(),
} satisfies EnvSchemaOf<typeof GATEWAY_ENV, z.ZodType>);

/** Env variables this module reads; a blank value counts as unset (ECS and compose files often leave them ""). */
const KNOWN = Object.values(GATEWAY_ENV);

/**
 * Reads and validates the gateway configuration.
 * @throws ConfigError listing every problem found (never including secret values).
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const input: Record<string, string> = {};
  for (const name of KNOWN) {
    const v = env[name]?.trim();
    if (v !== undefined && v !== '') input[name] = v;
  }

  const problems: string[] = [];
  // Checked apart from the schema so it is reported together with any other problem.
  if (input.AUDIOHOOK_API_KEYS === undefined && input.AUDIOHOOK_API_KEYS_SECRET_ID === undefined) {
    problems.push(
      'no AudioHook API keys configured: set AUDIOHOOK_API_KEYS to a JSON object of keys ' +
        '(e.g. AUDIOHOOK_API_KEYS=\'{"<api key>":"<base64 client secret, or empty for unsigned>"}\') ' +
        'or AUDIOHOOK_API_KEYS_SECRET_ID to a Secrets Manager secret holding that JSON',
    );
  } else if (input.AUDIOHOOK_API_KEYS !== undefined && input.AUDIOHOOK_API_KEYS_SECRET_ID !== undefined) {
    problems.push('set either AUDIOHOOK_API_KEYS or AUDIOHOOK_API_KEYS_SECRET_ID, not both');
  }
  const inlineKeys = input.AUDIOHOOK_API_KEYS === undefined ? undefined : parseInlineKeys(input.AUDIOHOOK_API_KEYS);
  if (inlineKeys && !inlineKeys.ok) problems.push(inlineKeys.problem);

  const parsed = schema.safeParse(input);
  if (!parsed.success) problems.push(...problemsOf(parsed.error));
  const tables = [input.CONVERSATIONS_TABLE, input.UTTERANCES_TABLE].filter((t) => t !== undefined).length;
  if (tables === 1) {
    problems.push(
      'set both CONVERSATIONS_TABLE and UTTERANCES_TABLE to run the transcription pipeline, or neither for protocol-only mode',
    );
  }
  if (tables === 2 && input.AUDIO_SINK === 'wav') {
    problems.push(
      'AUDIO_SINK=wav is for protocol-only mode: unset it, or unset CONVERSATIONS_TABLE and UTTERANCES_TABLE',
    );
  }
  if (tables === 2 && input.AWS_REGION === undefined && !(input.DYNAMODB_ENDPOINT && input.TRANSCRIBE_ENDPOINT)) {
    problems.push('AWS_REGION is required for the transcription pipeline (ECS sets it), e.g. AWS_REGION=us-east-1');
  }
  const partialsProblem = partialsConfigProblem(input, tables === 2);
  if (partialsProblem !== undefined) problems.push(partialsProblem);
  const startPolicy = startPolicyConfig(input);
  if (!startPolicy.ok) problems.push(...startPolicy.problems);
  if (problems.length > 0 || !parsed.success || !startPolicy.ok)
    throw new ConfigError(problems, 'gateway configuration');
  const e = parsed.data;
  const selfDrainMissing =
    e.SELF_DRAIN_ENABLED === 'true'
      ? [
          ...(e.TARGET_GROUP_ARN === undefined ? ['TARGET_GROUP_ARN'] : []),
          ...(e.ECS_CONTAINER_METADATA_URI_V4 === undefined ? ['ECS_CONTAINER_METADATA_URI_V4'] : []),
        ]
      : [];
  const transcription: TranscriptionConfig | undefined =
    e.CONVERSATIONS_TABLE !== undefined && e.UTTERANCES_TABLE !== undefined
      ? {
          conversationsTable: e.CONVERSATIONS_TABLE,
          utterancesTable: e.UTTERANCES_TABLE,
          region: e.AWS_REGION ?? 'us-east-1',
          dynamodbEndpoint: e.DYNAMODB_ENDPOINT,
          transcribeEndpoint: e.TRANSCRIBE_ENDPOINT,
          controlPollMs: e.CONTROL_POLL_MS,
          ...(e.TRANSCRIBE_END_TIMEOUT_MS !== undefined && {
            streamerConfig: { endTimeoutMs: e.TRANSCRIBE_END_TIMEOUT_MS },
          }),
          ...partialsConfigOf(e),
          ...(e.RECORDINGS_BUCKET !== undefined && {
            recordings: {
              bucket: e.RECORDINGS_BUCKET,
              s3Endpoint: e.S3_ENDPOINT,
              spoolDir: e.RECORDINGS_SPOOL_DIR,
              kmsKeyId: e.RECORDINGS_KMS_KEY_ID,
            },
          }),
        }
      : undefined;

  const apiKeys: ApiKeysConfig =
    inlineKeys?.ok === true
      ? { source: 'env', json: inlineKeys.json }
      : { source: 'secrets-manager', secretId: e.AUDIOHOOK_API_KEYS_SECRET_ID as string };

  return {
    port: e.PORT,
    host: e.HOST,
    audiohookPaths: [...new Set(e.AUDIOHOOK_PATHS)],
    apiKeys,
    expectedAuthority: e.AUDIOHOOK_EXPECTED_AUTHORITY,
    audioSink: e.AUDIO_SINK,
    wavDir: e.WAV_DIR,
    supportedLanguages: e.SUPPORTED_LANGUAGES,
    startPolicy: startPolicy.policy,
    maxSessions: e.MAX_SESSIONS,
    drainTimeoutSec: e.DRAIN_TIMEOUT_SEC,
    closeFlushBudgetMs: e.CLOSE_FLUSH_BUDGET_MS,
    openTimeoutMs: e.OPEN_TIMEOUT_MS,
    admin: e.ADMIN_PORT === undefined ? undefined : { port: e.ADMIN_PORT, host: e.ADMIN_HOST },
    logLevel: e.LOG_LEVEL,
    awsRegion: e.AWS_REGION,
    signatureMaxAgeSec: e.SIGNATURE_MAX_AGE_SEC,
    signatureClockSkewSec: e.SIGNATURE_CLOCK_SKEW_SEC,
    ecsMetadataUri: e.ECS_CONTAINER_METADATA_URI_V4,
    taskId: e.TASK_ID,
    transcription,
    ...(e.METRICS_NAMESPACE !== undefined && {
      metrics: {
        namespace: e.METRICS_NAMESPACE,
        service: e.METRICS_SERVICE,
        intervalMs: e.METRICS_INTERVAL_SEC * 1000,
      },
    }),
    ...(e.TASK_PROTECTION_ENABLED === 'true' &&
      e.ECS_AGENT_URI !== undefined && {
        taskProtection: {
          agentUri: e.ECS_AGENT_URI,
          expiresInMinutes: e.TASK_PROTECTION_EXPIRES_MIN,
          releaseDelayMs: e.TASK_PROTECTION_RELEASE_DELAY_SEC * 1000,
        },
      }),
    ...(e.SELF_DRAIN_ENABLED === 'true' &&
      e.TARGET_GROUP_ARN !== undefined &&
      e.ECS_CONTAINER_METADATA_URI_V4 !== undefined && {
        selfDrain: {
          targetGroupArn: e.TARGET_GROUP_ARN,
          metadataUri: e.ECS_CONTAINER_METADATA_URI_V4,
          checkIntervalMs: e.SELF_DRAIN_CHECK_SEC * 1000,
          // The target group's own region when ECS did not say (it always does).
          region: e.AWS_REGION ?? (e.TARGET_GROUP_ARN.split(':')[3] as string),
          ...(e.ECS_ENDPOINT !== undefined && { ecsEndpoint: e.ECS_ENDPOINT }),
          ...(e.ELB_ENDPOINT !== undefined && { elbEndpoint: e.ELB_ENDPOINT }),
        },
      }),
    ...(selfDrainMissing.length > 0 && { selfDrainMissing }),
    ...(e.SOURCE_LIMIT_ENABLED === 'true' && {
      sourceLimits: {
        upgrades: {
          ratePerSec: e.SOURCE_LIMIT_UPGRADES_PER_SEC ?? DEFAULT_SOURCE_LIMITS.upgrades.ratePerSec,
          burst: e.SOURCE_LIMIT_UPGRADES_BURST ?? DEFAULT_SOURCE_LIMITS.upgrades.burst,
        },
        failures: {
          ratePerSec: e.SOURCE_LIMIT_FAILURES_PER_SEC ?? DEFAULT_SOURCE_LIMITS.failures.ratePerSec,
          burst: e.SOURCE_LIMIT_FAILURES_BURST ?? DEFAULT_SOURCE_LIMITS.failures.burst,
        },
      },
    }),
  };
}

/** Parses and validates `AUDIOHOOK_API_KEYS`; problems never quote the value (it holds client secrets). */
function parseInlineKeys(text: string): { ok: true; json: unknown } | { ok: false; problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // The parser's message can quote the input: say only where the problem is.
    return {
      ok: false,
      problem:
        'AUDIOHOOK_API_KEYS is not valid JSON (value not shown because it holds secrets); ' +
        'it must be a JSON object, e.g. \'{"<api key>":"<base64 client secret>"}\'',
    };
  }
  try {
    ApiKeyStore.parseJson(json);
  } catch (err) {
    // ApiKeyStore names entries by label (or a key prefix), never by secret.
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, problem: message.includes('AUDIOHOOK_API_KEYS') ? message : `AUDIOHOOK_API_KEYS: ${message}` };
  }
  return { ok: true, json };
}

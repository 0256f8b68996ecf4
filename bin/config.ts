/**
 * The CDK app's configuration (style.md habit 1): read once from CDK context by `bin/app.ts`, validated
 * here, and handed to the stack as a typed, frozen {@link AppConfig}. Nothing under `lib/` reads context.
 *
 * Where it comes from: the context key `audiohook` (an object in `cdk.json`, or a JSON string given with
 * `cdk deploy -c audiohook='{…}'`), optionally merged over a JSON file named by the context key
 * `audiohookConfigFile`. Every problem is reported at once, each line naming the setting and how to fix it.
 */
import { z } from 'zod';

/** Context key holding the configuration object (or its JSON text). */
export const CONFIG_CONTEXT_KEY = 'audiohook';
/** Context key naming an optional JSON file merged under the context object. */
export const CONFIG_FILE_CONTEXT_KEY = 'audiohookConfigFile';

/** Fargate's hard ceiling for a container's `stopTimeout`. */
export const FARGATE_MAX_STOP_TIMEOUT_SEC = 120;
/** ALB ceiling for target-group deregistration delay. */
export const ALB_MAX_DEREGISTRATION_DELAY_SEC = 3600;
/** ALB ceiling for the connection idle timeout. */
export const ALB_MAX_IDLE_TIMEOUT_SEC = 4000;
/** Genesys sends an AudioHook `ping` every 5 s, paused or not (audiohook-protocol.md §4.3.2). */
export const AUDIOHOOK_PING_INTERVAL_SEC = 5;
/**
 * Margin between the gateway's own drain deadline (`DRAIN_TIMEOUT_SEC`) and ECS's SIGKILL (`stopTimeout`):
 * the gateway needs a few seconds to send `disconnect` and flush the last utterances.
 */
export const DRAIN_MARGIN_SEC = 10;

/** Raised when the configuration is invalid; `problems` holds one fix-it line per problem. */
export class AppConfigError extends Error {
  override readonly name = 'AppConfigError';
  readonly code = 'APP_CONFIG_INVALID';
  constructor(readonly problems: readonly string[]) {
    super(
      `Invalid deployment configuration (context "${CONFIG_CONTEXT_KEY}", see docs/deploy.md):\n` +
        problems.map((p) => `  - ${p}`).join('\n'),
    );
  }
}

const hostName = z.string().regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, {
  message: 'must be a lower-case DNS name such as audiohook.example.com (no scheme, no path)',
});

const arn = (service: string, example: string) =>
  z.string().regex(new RegExp(`^arn:aws[a-z-]*:${service}:[a-z0-9-]+:\\d{12}:.+$`), {
    message: `must be a full ARN, e.g. ${example}`,
  });

const cidr = z
  .string()
  .regex(/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/, { message: 'must be an IPv4 CIDR, e.g. 203.0.113.0/24' });

const languageTag = z
  .string()
  .regex(/^[a-z]{2,3}-[A-Z]{2}$/, { message: 'must be a canonical language tag such as en-US' });

/** Fargate task sizes: valid (cpu, memory) pairs, in CPU units and MiB. */
const FARGATE_SIZES: Record<number, { min: number; max: number; step: number }> = {
  256: { min: 512, max: 2048, step: 1024 },
  512: { min: 1024, max: 4096, step: 1024 },
  1024: { min: 2048, max: 8192, step: 1024 },
  2048: { min: 4096, max: 16384, step: 1024 },
  4096: { min: 8192, max: 30720, step: 1024 },
};

const schema = z
  .object({
    stackName: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9-]{0,100}$/, { message: 'must start with a letter; letters, digits and -' })
      .default('AudiohookTranscribe'),
    account: z
      .string()
      .regex(/^\d{12}$/, { message: 'must be a 12-digit AWS account id' })
      .optional(),
    // Required: the load balancer's access-log bucket policy names the region's log-delivery principal.
    region: z
      .string({ message: 'is required: the deployment region, e.g. "us-east-1"' })
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, { message: 'must be a region such as us-east-1' }),
    domain: z.object({
      gatewayDomainName: hostName,
      apiDomainName: hostName,
      hostedZone: z
        .object({
          id: z.string().regex(/^Z[A-Z0-9]{4,32}$/, { message: 'must be a Route 53 zone id' }),
          name: hostName,
        })
        .optional(),
      certificateArn: arn('acm', 'arn:aws:acm:us-east-1:123456789012:certificate/…').optional(),
    }),
    vpc: z
      .object({
        vpcId: z
          .string()
          .regex(/^vpc-[0-9a-f]{8,17}$/, { message: 'must be a VPC id such as vpc-0abc1234' })
          .optional(),
        maxAzs: z.number().int().min(2).max(6).default(2),
        natGateways: z.number().int().min(1).max(6).default(1),
      })
      .prefault({}),
    gateway: z
      .object({
        cpu: z.number().int().default(1024),
        memoryMiB: z.number().int().default(2048),
        architecture: z.enum(['arm64', 'x86_64']).default('arm64'),
        minTasks: z.number().int().min(1).default(2),
        maxTasks: z.number().int().min(1).max(1000).default(10),
        targetSessionsPerTask: z.number().int().min(1).default(150),
        maxSessionsPerTask: z.number().int().min(1).max(100_000).default(300),
        stopTimeoutSec: z
          .number()
          .int()
          .min(DRAIN_MARGIN_SEC + 5)
          .default(FARGATE_MAX_STOP_TIMEOUT_SEC),
        deregistrationDelaySec: z.number().int().min(0).default(ALB_MAX_DEREGISTRATION_DELAY_SEC),
        idleTimeoutSec: z.number().int().min(1).default(120),
        audiohookPaths: z
          .array(
            z.string().regex(/^\/[A-Za-z0-9._~\-/]*$/, {
              message: 'must be an absolute path such as /mg-genesysaudiohook-autotranscribe/',
            }),
          )
          .min(1)
          .default(['/mg-genesysaudiohook-autotranscribe/', '/mg-genesysaudiohook-autotranscribe']),
        initialApiKey: z
          .string()
          .regex(/^[A-Za-z0-9+/_=-]{8,256}$/, { message: 'must be 8–256 characters of A–Z a–z 0–9 + / _ = -' })
          .default('genesys-audiohook-01'),
        ingressCidrs: z.array(cidr).min(1).default(['0.0.0.0/0']),
        logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
      })
      .prefault({}),
    api: z
      .object({
        throttleRatePerSec: z.number().positive().default(100),
        throttleBurst: z.number().int().positive().default(200),
        quotaPerDay: z.number().int().positive().optional(),
        clients: z
          .array(
            z.object({
              name: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, { message: 'must be 1–64 letters, digits or -' }),
              usageKey: z.string().regex(/^[\x21-\x7e]{20,128}$/, {
                message:
                  'must be the usageKey printed by lambdas/authorizer/hash-secret.ts (20–128 printable characters)',
              }),
              throttleRatePerSec: z.number().positive().optional(),
              throttleBurst: z.number().int().positive().optional(),
              quotaPerDay: z.number().int().positive().optional(),
            }),
          )
          .default([]),
        waf: z.boolean().default(false),
        stopWaitMs: z.number().int().min(0).max(25_000).default(5000),
      })
      .prefault({}),
    transcription: z
      .object({
        languages: z.array(languageTag).min(1).default(['en-US', 'es-US']),
        defaultLanguage: languageTag.default('en-US'),
        redaction: z.boolean().default(true),
      })
      .prefault({}),
    retention: z
      .object({
        transcriptDays: z.number().int().min(1).max(3650).default(7),
        feedDays: z.number().int().min(1).max(3650).default(90),
        logDays: z.number().int().min(1).max(3653).default(30),
        // Call audio is the most sensitive data we hold: kept briefly, then S3 deletes it.
        recordingsDays: z.number().int().min(1).max(3650).default(30),
      })
      .prefault({}),
    webhook: z
      .object({
        url: z.url({ protocol: /^https$/, message: 'must be an https:// URL' }),
        auth: z.enum(['none', 'secret', 'oauth2', 'mtls']).default('none'),
        timeoutMs: z.number().int().min(100).max(30_000).default(5000),
      })
      .optional(),
    realtime: z
      .object({
        /** Api ids allowed the "all conversations" subscription (supervisor dashboards). */
        supervisorApiIds: z
          .array(z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, { message: 'must be an asapp-api-id' }))
          .default([]),
        /**
         * Browser connect tokens (`POST /realtime/v1/token`). The key is generated in Secrets Manager and read
         * by the token route and `$connect` at run time; their configuration holds only the secret's ARN.
         */
        browserTokens: z.boolean().default(true),
        tokenTtlSec: z.number().int().min(10).max(900).default(300),
        throttleRatePerSec: z.number().positive().default(50),
        throttleBurst: z.number().int().positive().default(100),
      })
      .prefault({}),
    features: z
      .object({
        feedExport: z.boolean().default(true),
        realtimeDelivery: z.boolean().default(true),
      })
      .prefault({}),
    alarmEmail: z.email({ message: 'must be an e-mail address' }).optional(),
    metricsNamespace: z
      .string()
      .regex(/^[A-Za-z0-9._/#:-]{1,255}$/, { message: 'must be a CloudWatch namespace' })
      .default('AudiohookTranscribe'),
    retainData: z.boolean().default(true),
  })
  .strict();

/** The validated deployment configuration. Units are in the names. */
export type AppConfig = Readonly<z.infer<typeof schema>> & {
  /** Derived: the gateway's `DRAIN_TIMEOUT_SEC` (`stopTimeoutSec − DRAIN_MARGIN_SEC`). */
  readonly gatewayDrainTimeoutSec: number;
};

/** Input shape (before defaults): what `cdk.json` holds. */
export type AppConfigInput = z.input<typeof schema>;

function pathOf(path: readonly PropertyKey[]): string {
  return [CONFIG_CONTEXT_KEY, ...path.map(String)].join('.');
}

/** Cross-field rules zod cannot express per field; each line says how to fix it. */
function crossChecks(c: z.infer<typeof schema>): string[] {
  const p: string[] = [];
  const g = c.gateway;
  const size = FARGATE_SIZES[g.cpu];
  if (size === undefined) {
    p.push(
      `audiohook.gateway.cpu: ${g.cpu} is not a Fargate size; use one of ${Object.keys(FARGATE_SIZES).join(', ')}`,
    );
  } else if (g.memoryMiB < size.min || g.memoryMiB > size.max || g.memoryMiB % 1024 !== 0) {
    p.push(
      `audiohook.gateway.memoryMiB: ${g.memoryMiB} does not fit cpu ${g.cpu}; use a multiple of 1024 between ${size.min} and ${size.max}`,
    );
  }
  if (g.minTasks > g.maxTasks) {
    p.push(`audiohook.gateway.minTasks (${g.minTasks}) must not exceed maxTasks (${g.maxTasks})`);
  }
  if (g.targetSessionsPerTask >= g.maxSessionsPerTask) {
    p.push(
      `audiohook.gateway.targetSessionsPerTask (${g.targetSessionsPerTask}) must be below maxSessionsPerTask ` +
        `(${g.maxSessionsPerTask}) so scale-out starts before tasks refuse calls; lower it or raise maxSessionsPerTask`,
    );
  }
  if (g.stopTimeoutSec > FARGATE_MAX_STOP_TIMEOUT_SEC) {
    p.push(
      `audiohook.gateway.stopTimeoutSec: Fargate allows at most ${FARGATE_MAX_STOP_TIMEOUT_SEC}; long calls are protected by ` +
        'task scale-in protection and the deregistration delay instead',
    );
  }
  if (g.deregistrationDelaySec > ALB_MAX_DEREGISTRATION_DELAY_SEC) {
    p.push(
      `audiohook.gateway.deregistrationDelaySec: the load balancer allows at most ${ALB_MAX_DEREGISTRATION_DELAY_SEC}`,
    );
  }
  if (g.deregistrationDelaySec < g.stopTimeoutSec) {
    p.push(
      `audiohook.gateway.deregistrationDelaySec (${g.deregistrationDelaySec}) must be at least stopTimeoutSec ` +
        `(${g.stopTimeoutSec}): ECS sends SIGTERM only after draining, and calls deserve at least as long there as after it`,
    );
  }
  if (g.idleTimeoutSec < 6 * AUDIOHOOK_PING_INTERVAL_SEC || g.idleTimeoutSec > ALB_MAX_IDLE_TIMEOUT_SEC) {
    p.push(
      `audiohook.gateway.idleTimeoutSec: use ${6 * AUDIOHOOK_PING_INTERVAL_SEC}–${ALB_MAX_IDLE_TIMEOUT_SEC} ` +
        `(several AudioHook ping intervals of ${AUDIOHOOK_PING_INTERVAL_SEC} s, so a paused call is never cut as idle)`,
    );
  }
  const t = c.transcription;
  if (!t.languages.includes(t.defaultLanguage)) {
    p.push(
      `audiohook.transcription.defaultLanguage (${t.defaultLanguage}) must be one of languages (${t.languages.join(', ')})`,
    );
  }
  const d = c.domain;
  if (d.hostedZone === undefined && d.certificateArn === undefined) {
    p.push(
      'audiohook.domain: set hostedZone {id, name} (a certificate and DNS records are created) or certificateArn ' +
        '(an ACM certificate in the deployment region covering gatewayDomainName and apiDomainName; you create the DNS records)',
    );
  }
  if (d.hostedZone !== undefined) {
    for (const [key, name] of [
      ['gatewayDomainName', d.gatewayDomainName],
      ['apiDomainName', d.apiDomainName],
    ] as const) {
      if (name !== d.hostedZone.name && !name.endsWith(`.${d.hostedZone.name}`)) {
        p.push(`audiohook.domain.${key} (${name}) must be inside hostedZone.name (${d.hostedZone.name})`);
      }
    }
  }
  if (d.gatewayDomainName === d.apiDomainName) {
    p.push(
      'audiohook.domain: gatewayDomainName and apiDomainName must differ (one is the load balancer, one API Gateway)',
    );
  }
  if (c.vpc.vpcId !== undefined && c.account === undefined) {
    p.push('audiohook.vpc.vpcId: an existing VPC is looked up, which needs audiohook.account (12 digits)');
  }
  const names = new Set<string>();
  for (const client of c.api.clients) {
    if (names.has(client.name))
      p.push(`audiohook.api.clients: name "${client.name}" is used twice; names must be unique`);
    names.add(client.name);
  }
  return p;
}

/**
 * Validates a raw configuration object and applies defaults.
 * @throws AppConfigError listing every problem, each with a fix.
 */
export function parseAppConfig(raw: unknown): AppConfig {
  if (raw === undefined || raw === null) {
    throw new AppConfigError([
      `no configuration: add a "${CONFIG_CONTEXT_KEY}" object to the "context" of cdk.json ` +
        `(start from the example there) or pass -c ${CONFIG_FILE_CONTEXT_KEY}=<file.json>`,
    ]);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new AppConfigError(
      parsed.error.issues.map((i) => {
        if (i.code === 'unrecognized_keys')
          return `${pathOf(i.path)}: unknown setting(s) ${i.keys.join(', ')} (check the spelling)`;
        return `${pathOf(i.path)}: ${i.message}`;
      }),
    );
  }
  const problems = crossChecks(parsed.data);
  if (problems.length > 0) throw new AppConfigError(problems);
  return Object.freeze({
    ...parsed.data,
    gatewayDrainTimeoutSec: parsed.data.gateway.stopTimeoutSec - DRAIN_MARGIN_SEC,
  });
}

/** What {@link loadAppConfig} needs from the CDK app. */
export interface ContextSource {
  tryGetContext(key: string): unknown;
}

/**
 * Reads the configuration from CDK context (and the optional file), then validates it.
 * @param readFile reads a UTF-8 file (injected so tests need no file system)
 */
export function loadAppConfig(context: ContextSource, readFile: (path: string) => string): AppConfig {
  const fromContext = decodeJson(context.tryGetContext(CONFIG_CONTEXT_KEY), `context "${CONFIG_CONTEXT_KEY}"`);
  const file = context.tryGetContext(CONFIG_FILE_CONTEXT_KEY);
  let fromFile: unknown;
  if (typeof file === 'string' && file !== '') {
    let text: string;
    try {
      text = readFile(file);
    } catch {
      throw new AppConfigError([
        `${CONFIG_FILE_CONTEXT_KEY}: cannot read ${file}; give a path relative to the project root`,
      ]);
    }
    fromFile = decodeJson(text, file);
  }
  return parseAppConfig(mergeDeep(fromFile, fromContext));
}

function decodeJson(value: unknown, where: string): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    throw new AppConfigError([`${where} is not valid JSON; quote it as -c ${CONFIG_CONTEXT_KEY}='{"domain":{…}}'`]);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `over` wins; objects merge key by key; arrays and scalars replace. */
function mergeDeep(under: unknown, over: unknown): unknown {
  if (over === undefined) return under;
  if (!isPlainObject(under) || !isPlainObject(over)) return over;
  const out: Record<string, unknown> = { ...under };
  for (const [k, v] of Object.entries(over)) out[k] = mergeDeep(under[k], v);
  return out;
}

/**
 * The deployment configuration as data: what `deploy/<env>.json` may hold (zod schema, defaults, the
 * cross-field rules) and the typed, frozen {@link AppConfig} the stack is built from. `bin/config.ts`
 * reads the file and the `-c` overrides and turns problems into its error; `lib/` takes the type as its
 * props. Kept here, apart from both, so `lib/` never imports `bin/` (docs/architecture.md §2). Every
 * problem is one line naming the setting (`audiohook.gateway.cpu`) and how to fix it.
 */
import { z } from 'zod';

/**
 * Prefix of the settings in messages and of the override keys (`audiohook.gateway.maxTasks`). As a context
 * key of its own (the whole configuration as one object, the old form) it is refused with a migration hint.
 */
export const CONFIG_CONTEXT_KEY = 'audiohook';

/** Fargate's hard ceiling for a container's `stopTimeout`. */
export const FARGATE_MAX_STOP_TIMEOUT_SEC = 120;
/** Network load balancer ceiling for a target group's deregistration delay. */
export const NLB_MAX_DEREGISTRATION_DELAY_SEC = 3600;
/**
 * Idle timeout of the gateway's TLS listener. Fixed by AWS for network load balancer TLS listeners (only TCP
 * listeners take `tcp.idle_timeout.seconds`), hence not a setting.
 */
export const NLB_TLS_IDLE_TIMEOUT_SEC = 350;
/** Genesys sends an AudioHook `ping` every 5 s, paused or not (audiohook-protocol.md §4.3.2). */
export const AUDIOHOOK_PING_INTERVAL_SEC = 5;
/**
 * Default `MAX_SESSIONS` per 1 vCPU task (`gateway.maxSessionsPerTask`): a task refuses upgrades above it.
 * Measured (`npm run bench -- sizing`, docs/deploy.md §7): one Node process may spend 60 % of one core with an
 * event-loop delay p99 under 50 ms; transcribed sessions met that up to 51 (the delay bound came first), so
 * 50 rounded down to a multiple of 5. Re-measure and change it here, in one place.
 */
export const DEFAULT_MAX_SESSIONS_PER_TASK = 50;
/**
 * Default scaling target of average live sessions per task (`gateway.targetSessionsPerTask`): 70 % of the
 * maximum, rounded down to a multiple of 5, so a task can take 40 % more calls while a new one starts.
 */
export const DEFAULT_TARGET_SESSIONS_PER_TASK = 35;
/** Default scaling target of the service's average CPU utilization (`gateway.targetCpuPercent`). */
export const DEFAULT_TARGET_CPU_PERCENT = 50;
/** Fargate task storage a task definition may ask for (GiB); 20 GiB without asking. */
export const FARGATE_EPHEMERAL_STORAGE_GIB = { min: 21, max: 200 } as const;
/**
 * Margin between the gateway's own drain deadline (`DRAIN_TIMEOUT_SEC`) and ECS's SIGKILL (`stopTimeout`):
 * the gateway needs a few seconds to send `disconnect` and flush the last utterances.
 */
export const DRAIN_MARGIN_SEC = 10;

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

const appConfigSchema = z
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
        /**
         * NAT gateways of a new VPC. Default: one per AZ (`maxAzs`), so losing an AZ does not cut the egress
         * (Transcribe, Secrets Manager, ECR, CloudWatch) of the others. Fewer is allowed with a synth warning.
         */
        natGateways: z.number().int().min(1).max(6).optional(),
        /**
         * An interface VPC endpoint for Transcribe streaming (private DNS on): the call audio then reaches
         * Transcribe without the NAT gateways' per-GB charge. The endpoint is billed per AZ-hour and per GB.
         */
        transcribeEndpoint: z.boolean().default(false),
      })
      .transform((v) => ({ ...v, natGateways: v.natGateways ?? v.maxAzs }))
      .prefault({}),
    gateway: z
      .object({
        cpu: z.number().int().default(1024),
        memoryMiB: z.number().int().default(2048),
        architecture: z.enum(['arm64', 'x86_64']).default('arm64'),
        minTasks: z.number().int().min(1).default(2),
        maxTasks: z.number().int().min(1).max(1000).default(10),
        targetSessionsPerTask: z.number().int().min(1).default(DEFAULT_TARGET_SESSIONS_PER_TASK),
        maxSessionsPerTask: z.number().int().min(1).max(100_000).default(DEFAULT_MAX_SESSIONS_PER_TASK),
        /** Second scaling target: the service's average CPU utilization, in percent. */
        targetCpuPercent: z.number().int().min(10).max(90).default(DEFAULT_TARGET_CPU_PERCENT),
        /**
         * Fargate task storage (the recordings spool lives there). Default: derived from maxSessionsPerTask
         * (lib/gateway-service.ts `spoolStorageGiB`).
         */
        ephemeralStorageGiB: z
          .number()
          .int()
          .min(FARGATE_EPHEMERAL_STORAGE_GIB.min)
          .max(FARGATE_EPHEMERAL_STORAGE_GIB.max)
          .optional(),
        stopTimeoutSec: z
          .number()
          .int()
          .min(DRAIN_MARGIN_SEC + 5)
          .default(FARGATE_MAX_STOP_TIMEOUT_SEC),
        deregistrationDelaySec: z.number().int().min(0).default(NLB_MAX_DEREGISTRATION_DELAY_SEC),
        /** Removed with the move to a network load balancer: refused with the reason. */
        idleTimeoutSec: z
          .unknown()
          .refine((v) => v === undefined, {
            error:
              `is no longer a setting: the gateway's network load balancer TLS listener has a fixed ${NLB_TLS_IDLE_TIMEOUT_SEC} s ` +
              `idle timeout (AWS allows no other value on TLS listeners) and AudioHook pings every ${AUDIOHOOK_PING_INTERVAL_SEC} s ` +
              'keep every call active; remove it',
          })
          .optional(),
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
        // On by default (docs/deploy.md §3.2); `false` opts out.
        waf: z.boolean().default(true),
        /**
         * How long stop waits for the gateway's segment summary. At most 20 s: the stop function's timeout is
         * this plus a 5 s margin (lib/control-api.ts), and must stay under API Gateway's 29 s integration limit.
         */
        stopWaitMs: z.number().int().min(0).max(20_000).default(5000),
        /**
         * Create the account-level API Gateway CloudWatch role and `AWS::ApiGateway::Account` setting (one per
         * account and region: deploying it overwrites whatever role the account had). Set false when the
         * account already has an API Gateway CloudWatch Logs role: access and execution logs of both APIs need
         * that role, so with false and no role in the account the stages fail to deploy.
         */
        manageCloudWatchRole: z.boolean().default(true),
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
        /**
         * Reserve one concurrent execution for the export function: a hard guarantee of one export at a time.
         * Off by default: Lambda keeps at least 100 executions of the account unreserved, so accounts with a
         * low concurrency quota cannot reserve any. Without it, exports are sequential by construction
         * (lib/feed-export.ts).
         */
        exportReservedConcurrency: z.boolean().optional(),
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
export type AppConfig = Readonly<z.infer<typeof appConfigSchema>> & {
  /** Derived: the gateway's `DRAIN_TIMEOUT_SEC` (`stopTimeoutSec − DRAIN_MARGIN_SEC`). */
  readonly gatewayDrainTimeoutSec: number;
};

/** Input shape (before defaults): what the configuration file holds. */
export type AppConfigInput = z.input<typeof appConfigSchema>;

function pathOf(path: readonly PropertyKey[]): string {
  return [CONFIG_CONTEXT_KEY, ...path.map(String)].join('.');
}

/** Cross-field rules zod cannot express per field; each line says how to fix it. */
function crossChecks(c: z.infer<typeof appConfigSchema>): string[] {
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
  if (g.deregistrationDelaySec > NLB_MAX_DEREGISTRATION_DELAY_SEC) {
    p.push(
      `audiohook.gateway.deregistrationDelaySec: the network load balancer allows at most ${NLB_MAX_DEREGISTRATION_DELAY_SEC}`,
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
  // Fewer NAT gateways than AZs is allowed (lib/network.ts warns at synth); more would sit unused.
  if (c.vpc.natGateways > c.vpc.maxAzs) {
    p.push(
      `audiohook.vpc.natGateways (${c.vpc.natGateways}) must not exceed maxAzs (${c.vpc.maxAzs}): a VPC uses at ` +
        'most one NAT gateway per AZ; lower natGateways or raise maxAzs',
    );
  }
  const names = new Set<string>();
  for (const client of c.api.clients) {
    if (names.has(client.name))
      p.push(`audiohook.api.clients: name "${client.name}" is used twice; names must be unique`);
    names.add(client.name);
  }
  return p;
}

/** The outcome of {@link checkAppConfig}: the configuration, or one fix-it line per problem. */
export type AppConfigCheck =
  | { readonly ok: true; readonly config: AppConfig }
  | { readonly ok: false; readonly problems: readonly string[] };

/** Validates a raw configuration object and applies defaults; never throws. */
export function checkAppConfig(raw: unknown): AppConfigCheck {
  const parsed = appConfigSchema.safeParse(raw);
  if (!parsed.success) {
    return {
      ok: false,
      problems: parsed.error.issues.map((i) => {
        if (i.code === 'unrecognized_keys')
          return `${pathOf(i.path)}: unknown setting(s) ${i.keys.join(', ')} (check the spelling)`;
        return `${pathOf(i.path)}: ${i.message}`;
      }),
    };
  }
  const problems = crossChecks(parsed.data);
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    config: Object.freeze({
      ...parsed.data,
      gatewayDrainTimeoutSec: parsed.data.gateway.stopTimeoutSec - DRAIN_MARGIN_SEC,
    }),
  };
}

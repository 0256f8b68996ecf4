/**
 * Gateway composition root (`npm run gateway`; the container's entry point): reads the configuration once,
 * wires the real collaborators, listens, and owns the process lifecycle. On SIGTERM/SIGINT it drains:
 * health turns 503 (the load balancer stops routing), new upgrades are refused, live calls run to their
 * end up to DRAIN_TIMEOUT_SEC (Genesys cannot resume a session, architecture §5), then the rest are
 * disconnected. A second signal exits at once.
 *
 * With `CONVERSATIONS_TABLE` and `UTTERANCES_TABLE` set it runs the transcription pipeline
 * (fargate/src/control/): sessions register in DynamoDB, follow start/stop through this task's control
 * inbox and stream to Amazon Transcribe while transcription is on. Without them it is protocol-only
 * (null or WAV sink), as before.
 *
 * In ECS, with `SELF_DRAIN_ENABLED=true` and `TARGET_GROUP_ARN`, the task takes itself out of the load
 * balancer's rotation when a newer deployment supersedes it or a scale-in chose it, and finishes its calls
 * (observability/self-drain.ts); scale-in protection then lapses once it is idle.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { hostname } from 'node:os';
import { Authenticator } from '../../core/auth/authenticator';
import { NonceCache } from '../../core/auth/nonce-cache';
import { ConfigError } from '../../core/config-error';
import { describeError } from '../../core/errors';
import { systemClock, systemTimers } from '../../core/ports';
import { type AdminServer, createAdminServer } from './admin';
import { type GatewayConfig, loadConfig } from './config';
import { createPipeline, type Pipeline } from './control/pipeline';
import { createGateway } from './gateway';
import { createLogger, type GatewayLogger } from './logger';
import { countingSinkFactory, GatewayMetrics } from './observability/emf';
import { readTaskMetadata, SelfDrain } from './observability/self-drain';
import { createSelfDrainAws, type SelfDrainAws } from './observability/self-drain-aws';
import { TaskProtection } from './observability/task-protection';
import { type ApiKeySource, createSecretsManagerClient, SecretsManagerKeySource, StaticKeySource } from './secrets';
import { createNullSinkFactory } from './sinks/null-sink';
import { createWavSinkFactory } from './sinks/wav-sink';

/** Sessions-remaining log cadence while draining. */
const DRAIN_PROGRESS_INTERVAL_MS = 10_000;
/** Accept queue for connection bursts (reconnect storms after an outage, protocol §6.2 item 11). */
const LISTEN_BACKLOG = 2048;

async function main(): Promise<void> {
  let config: GatewayConfig;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) return fatalBeforeLogger(err.message, err.code);
    throw err;
  }

  const rootLogger = createLogger({ level: config.logLevel });
  const discoveredTaskId = config.taskId ?? (await discoverTaskId(config.ecsMetadataUri));
  // The pipeline needs a unique id per process (its inbox partition); outside ECS make one up.
  const taskId =
    discoveredTaskId ??
    (config.transcription
      ? `${hostname().slice(0, 64)}-${randomUUID().slice(0, 8)}`.replace(/[^\w.:-]/g, '-')
      : undefined);
  const logger: GatewayLogger = taskId ? rootLogger.child({ taskId }) : rootLogger;

  let keySource: ApiKeySource;
  try {
    keySource =
      config.apiKeys.source === 'env'
        ? new StaticKeySource(config.apiKeys.json)
        : await SecretsManagerKeySource.create({
            secretId: config.apiKeys.secretId,
            client: createSecretsManagerClient({ region: config.awsRegion }),
            clock: systemClock,
            timers: systemTimers,
            logger,
          });
  } catch (err) {
    logger.fatal(
      { err: describeError(err) },
      'cannot load AudioHook API keys: set AUDIOHOOK_API_KEYS (JSON object of keys) or ' +
        'AUDIOHOOK_API_KEYS_SECRET_ID (a readable Secrets Manager secret holding that JSON)',
    );
    process.exit(1);
  }

  const authenticator = new Authenticator({
    keys: keySource.store,
    clock: systemClock,
    nonceCache: new NonceCache({
      clock: systemClock,
      windowSec: config.signatureMaxAgeSec + 2 * config.signatureClockSkewSec,
    }),
    maxSignatureAgeSec: config.signatureMaxAgeSec,
    clockSkewSec: config.signatureClockSkewSec,
    ...(config.expectedAuthority !== undefined && { expectedAuthority: config.expectedAuthority }),
  });

  // The gateway is created below; the metrics and the protection read its session count through this.
  let activeSessions = (): number => 0;
  let streamingSessions = (): number => 0;
  let utterancesHeld = (): number => 0;
  let recordingsUnavailable: (() => number) | undefined;
  let recordingsKept: (() => number) | undefined;
  let selfDrainAws: SelfDrainAws | undefined;
  const selfDrainConfig = config.selfDrain;
  if (selfDrainConfig) {
    selfDrainAws = createSelfDrainAws({
      region: selfDrainConfig.region,
      ...(selfDrainConfig.ecsEndpoint !== undefined && { ecsEndpoint: selfDrainConfig.ecsEndpoint }),
      ...(selfDrainConfig.elbEndpoint !== undefined && { elbEndpoint: selfDrainConfig.elbEndpoint }),
    });
  }
  const selfDrain =
    selfDrainConfig && selfDrainAws
      ? new SelfDrain({
          targetGroupArn: selfDrainConfig.targetGroupArn,
          port: config.port,
          checkIntervalMs: selfDrainConfig.checkIntervalMs,
          metadata: () => readTaskMetadata(selfDrainConfig.metadataUri),
          ecs: selfDrainAws.ecs,
          elb: selfDrainAws.elb,
          clock: systemClock,
          timers: systemTimers,
          logger,
        })
      : undefined;
  const metrics = config.metrics
    ? new GatewayMetrics({
        namespace: config.metrics.namespace,
        service: config.metrics.service,
        intervalMs: config.metrics.intervalMs,
        gauges: {
          activeSessions: () => activeSessions(),
          streamingSessions: () => streamingSessions(),
          ...(config.transcription && { utterancesHeld: () => utterancesHeld() }),
          ...(selfDrain && { outOfRotation: () => selfDrain.outOfRotation() }),
          ...(config.transcription?.recordings && { recordingsUnavailable: () => recordingsUnavailable?.() ?? 0 }),
          ...(config.transcription?.recordings && { recordingsKept: () => recordingsKept?.() ?? 0 }),
        },
        clock: systemClock,
        timers: systemTimers,
        logger,
      })
    : undefined;
  const protection = config.taskProtection
    ? new TaskProtection({
        agentUri: config.taskProtection.agentUri,
        expiresInMinutes: config.taskProtection.expiresInMinutes,
        releaseDelayMs: config.taskProtection.releaseDelayMs,
        activeSessions: () => activeSessions(),
        clock: systemClock,
        timers: systemTimers,
        logger,
      })
    : undefined;

  let pipeline: Pipeline | undefined;
  if (config.transcription) {
    pipeline = createPipeline(
      // `genesys`-controlled sessions start with the deployment's start policy (docs/genesys.md §0).
      { ...config.transcription, taskId: taskId as string, genesysPolicy: config.startPolicy },
      {
        clock: systemClock,
        timers: systemTimers,
        logger,
        ...(metrics && { metricsSink: metrics.pipeline, transcribeMetrics: metrics.transcribe }),
      },
    );
    const recordings = pipeline.recordings;
    if (recordings) {
      recordingsUnavailable = () => (recordings.available ? 0 : 1);
      recordingsKept = () => recordings.stats().recordingsKept;
    }
  }
  const baseSinkFactory = pipeline
    ? pipeline.controller.sinkFactory
    : config.audioSink === 'wav'
      ? createWavSinkFactory({ dir: config.wavDir, logger })
      : createNullSinkFactory();
  // A new session protects the task at once, not at the next periodic check. The sink is created just
  // before the gateway registers the session: evaluate once it is counted.
  const sinkFactory =
    metrics || protection
      ? countingSinkFactory(baseSinkFactory, metrics ?? { addAudioSamples() {} }, () =>
          queueMicrotask(() => void protection?.refresh()),
        )
      : baseSinkFactory;

  const gateway = createGateway({
    paths: config.audiohookPaths,
    maxSessions: config.maxSessions,
    authenticator,
    sinkFactory,
    ...(pipeline && { hooksFactory: pipeline.controller.hooksFactory }),
    sessionOptions: {
      supportedLanguages: config.supportedLanguages,
      flushBudgetMs: config.closeFlushBudgetMs,
      // Sessions it ends are counted in the gateway's stats (GET /metrics: sessionsEndedByOpenTimeout).
      openTimeoutMs: config.openTimeoutMs,
    },
    onUnknownApiKey: () => keySource.refreshIfStale(),
    // Per-source limits on upgrades, checked before any authentication (docs/deploy.md §5).
    ...(config.sourceLimits !== undefined && { sourceLimits: config.sourceLimits }),
    // The CDK alarms on RefusedUpgrades: calls turned away because this task is full.
    ...(metrics && {
      onUpgradeRefused: (code: string) => {
        if (code === 'at-capacity') metrics.refusedUpgrade();
        if (code === 'rate-limited') metrics.rateLimitedUpgrade();
      },
    }),
    clock: systemClock,
    timers: systemTimers,
    logger,
  });

  if (pipeline) {
    pipeline.controller.attach(gateway);
    pipeline.controller.start();
  }
  activeSessions = () => gateway.activeSessions();
  const controller = pipeline?.controller;
  if (controller) {
    streamingSessions = () => controller.stats().streaming;
    utterancesHeld = () => controller.utterancesHeld;
  }
  metrics?.start();
  protection?.start();
  selfDrain?.start();

  await listen(gateway.server, config.port, config.host);
  let admin: AdminServer | undefined;
  if (config.admin) {
    admin = createAdminServer({
      gateway,
      logger,
      components: {
        ...(selfDrain && { selfDrain }),
        ...(protection && { taskProtection: protection }),
        ...(pipeline?.recordings && { recordings: pipeline.recordings }),
      },
    });
    if (pipeline) {
      const controller = pipeline.controller;
      admin.route('GET', '/metrics/pipeline', (_req, res) => {
        const body = JSON.stringify(controller.stats());
        res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
        res.end(body);
      });
    }
    await listen(admin.server, config.admin.port, config.admin.host);
  }

  logger.info(
    {
      port: config.port,
      host: config.host,
      paths: config.audiohookPaths,
      sink: pipeline ? 'transcription' : config.audioSink,
      transcription: config.transcription
        ? {
            conversationsTable: config.transcription.conversationsTable,
            utterancesTable: config.transcription.utterancesTable,
            region: config.transcription.region,
            dynamodbEndpoint: config.transcription.dynamodbEndpoint,
            transcribeEndpoint: config.transcription.transcribeEndpoint,
            controlPollMs: config.transcription.controlPollMs,
          }
        : 'off (protocol-only: set CONVERSATIONS_TABLE and UTTERANCES_TABLE to transcribe)',
      keySource: config.apiKeys.source,
      keyCount: keySource.store.size,
      keys: keySource.store.policies(),
      maxSessions: config.maxSessions,
      openTimeoutMs: config.openTimeoutMs,
      drainTimeoutSec: config.drainTimeoutSec,
      admin: config.admin ? `${config.admin.host}:${config.admin.port}` : 'disabled',
      metrics: config.metrics ? `${config.metrics.namespace} every ${config.metrics.intervalMs / 1000}s` : 'off',
      taskProtection: config.taskProtection ? 'on' : 'off (TASK_PROTECTION_ENABLED=true and ECS_AGENT_URI needed)',
      selfDrain: config.selfDrain
        ? `on: target group ${config.selfDrain.targetGroupArn}, every ${config.selfDrain.checkIntervalMs / 1000}s`
        : config.selfDrainMissing
          ? `off: SELF_DRAIN_ENABLED=true but ${config.selfDrainMissing.join(' and ')} unset`
          : 'off (SELF_DRAIN_ENABLED=true, TARGET_GROUP_ARN and the ECS task metadata needed)',
    },
    'audiohook gateway listening',
  );
  if (config.selfDrainMissing) {
    logger.warn(
      { missing: config.selfDrainMissing },
      'SELF_DRAIN_ENABLED=true but self-drain is off: it needs TARGET_GROUP_ARN and the ECS task metadata endpoint',
    );
  }

  let stopping = false;
  const stop = async (why: string): Promise<void> => {
    if (stopping) {
      logger.warn({ why }, 'second stop request: exiting immediately');
      process.exit(1);
    }
    stopping = true;
    logger.info({ why, sessions: gateway.activeSessions(), drainTimeoutSec: config.drainTimeoutSec }, 'draining');
    gateway.startDrain();
    const progress = setInterval(
      () => logger.info({ sessions: gateway.activeSessions() }, 'draining: sessions remaining'),
      DRAIN_PROGRESS_INTERVAL_MS,
    );
    const result = await gateway.drain(config.drainTimeoutSec * 1000);
    clearInterval(progress);
    if (result === 'deadline') {
      logger.warn({ sessions: gateway.activeSessions() }, 'drain deadline reached: disconnecting remaining sessions');
      await gateway.closeAll('service shutting down');
    }
    keySource.close();
    selfDrain?.stop();
    selfDrainAws?.destroy();
    protection?.stop();
    // Ended sessions close their segments with their summaries before the store clients go away.
    await pipeline?.close();
    await Promise.all([closeServer(gateway.server), admin?.close()]);
    // Last, so the final interval (the drained sessions' counts) is not lost.
    metrics?.stop();
    logger.info({ result }, 'audiohook gateway stopped');
    process.exit(0);
  };
  const onStop = (why: string) => {
    stop(why).catch((err: unknown) => {
      logger.fatal({ err: describeError(err) }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => onStop('SIGTERM'));
  process.on('SIGINT', () => onStop('SIGINT'));
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: describeError(reason) }, 'unhandled promise rejection');
  });
  process.on('uncaughtException', (err) => {
    // The process state is suspect, but dropping every live call at once is worse: stop taking new ones,
    // let the load balancer and ECS replace this task, and let the current calls finish.
    logger.fatal({ err: describeError(err) }, 'uncaught exception: draining this task');
    if (!stopping) onStop('uncaughtException');
  });
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** The ECS task id, from the task metadata endpoint (absent outside ECS; never fatal). */
async function discoverTaskId(metadataUri: string | undefined): Promise<string | undefined> {
  if (!metadataUri) return undefined;
  try {
    const res = await fetch(`${metadataUri}/task`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { TaskARN?: unknown };
    return typeof body.TaskARN === 'string' ? body.TaskARN.split('/').pop() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Configuration errors are reported before a logger exists: plain text on a terminal (someone running
 * `npm run gateway`), one JSON line otherwise (CloudWatch), then exit 1.
 */
function fatalBeforeLogger(message: string, code: string): never {
  if (process.stderr.isTTY) process.stderr.write(`${message}\n`);
  else
    process.stderr.write(`${JSON.stringify({ level: 'fatal', service: 'audiohook-gateway', code, msg: message })}\n`);
  process.exit(1);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ level: 'fatal', service: 'audiohook-gateway', msg: 'gateway failed to start', err: describeError(err) })}\n`,
  );
  process.exit(1);
});

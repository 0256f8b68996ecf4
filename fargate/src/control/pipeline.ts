/**
 * Builds the transcription pipeline of one gateway task from its configuration: the DynamoDB and
 * Transcribe Streaming clients (created once per process), the repositories, and the
 * {@link ConversationController} whose `hooksFactory`/`sinkFactory` the gateway uses. Called by the
 * composition root (`main.ts`) and by benchmarks; it reads no environment itself.
 */
import type { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { StartPolicy } from '../../../core/api/start-stop-rules';
import type { Clock, Logger, Timers } from '../../../core/ports';
import { ManagementApiPusher, managementClient } from '../../../store/connection-pusher';
import { ControlInbox } from '../../../store/control-inbox';
import { ConversationsRepository } from '../../../store/conversations';
import { createDocumentClient } from '../../../store/dynamo';
import { SubscriptionsRepository } from '../../../store/subscriptions';
import { UtterancesRepository } from '../../../store/utterances';
import { PartialPublisher } from '../realtime/partial-publisher';
import type { PartialsConfig } from '../realtime/partials-config';
import { subscriberLookup } from '../realtime/subscriber-lookup';
import { SegmentRecordings } from '../recordings/recordings';
import { createRecordingsS3Client, S3RecordingStore } from '../recordings/s3-recording-store';
import { createTranscribeClient } from '../transcribe/client';
import type { TranscribeCustomization } from '../transcribe/start-request';
import type { StreamerConfig } from '../transcribe/streamer-config';
import type { TranscribeMetrics } from '../transcribe/streamer-stats';
import { ConversationController } from './conversation-controller';
import { type PipelineMetricsSink, PipelineStats } from './metrics';

/** Settings of {@link createPipeline} (from `loadConfig()`). */
export interface PipelineConfig {
  /** This task's id (the ECS task id, or `TASK_ID`). */
  taskId: string;
  conversationsTable: string;
  utterancesTable: string;
  region: string;
  /** DynamoDB endpoint override (DynamoDB Local). @default - the regional endpoint */
  dynamodbEndpoint?: string;
  /** Transcribe Streaming endpoint override (the local endpoint). @default - the regional endpoint */
  transcribeEndpoint?: string;
  /** Control inbox poll period. @default 200 */
  controlPollMs?: number;
  /** Counter flush period. @default 5000 */
  counterFlushMs?: number;
  customization?: TranscribeCustomization;
  streamerConfig?: Partial<StreamerConfig>;
  /** Utterance retention (TTL after createdAt). @default 7 days */
  retentionSeconds?: number;
  /** Segment recordings (`audioRecordingAllowed`). @default - none: the flag is ignored, no audio is kept */
  recordings?: PipelineRecordingsConfig;
  /**
   * Start policy of `genesys`-controlled sessions (languages, default language, redaction availability).
   * @default DEFAULT_GENESYS_START_POLICY - the start Lambda's defaults
   */
  genesysPolicy?: StartPolicy;
  /** Live partials to WebSocket subscribers. @default - off: subscribers get finals only (the fan-out) */
  partials?: PartialsConfig;
}

/** Where segment recordings go. */
export interface PipelineRecordingsConfig {
  bucket: string;
  /**
   * S3 endpoint override (local S3). Credentials come from the SDK chain even on loopback: s3rver checks
   * signatures against its own key pair, which `npm start` passes as `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`.
   * @default - the regional endpoint
   */
  s3Endpoint?: string;
  /** @default - a private `<os tmpdir>/audiohook-recordings-XXXXXX` per process */
  spoolDir?: string;
  /** @default - the bucket's default encryption */
  kmsKeyId?: string;
}

/** Collaborators of {@link createPipeline}. */
export interface PipelineDeps {
  clock: Clock;
  timers: Timers;
  logger: Logger;
  metricsSink?: PipelineMetricsSink;
  transcribeMetrics?: TranscribeMetrics;
}

/** A built pipeline. */
export interface Pipeline {
  readonly controller: ConversationController;
  readonly taskId: string;
  /** Segment recordings, when a recordings bucket is configured. */
  readonly recordings: SegmentRecordings | undefined;
  /** Stops the controller (after the gateway drained), waits for pending recording uploads, releases the SDK clients. */
  close(): Promise<void>;
}

/** Credentials for stand-ins on loopback (DynamoDB Local, the local Transcribe endpoint): any will do. */
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** Whether an endpoint is a local stand-in (so the SDK's credential chain is not consulted for it). */
export function isLoopbackEndpoint(endpoint: string | undefined): boolean {
  if (endpoint === undefined) return false;
  try {
    const host = new URL(endpoint).hostname;
    return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
  } catch {
    return false;
  }
}

/** Builds the clients, repositories and controller; call `controller.attach(gateway)` and `controller.start()`. */
export function createPipeline(cfg: PipelineConfig, deps: PipelineDeps): Pipeline {
  const dynamo = new DynamoDBClient({
    region: cfg.region,
    ...(cfg.dynamodbEndpoint !== undefined && { endpoint: cfg.dynamodbEndpoint }),
    ...(isLoopbackEndpoint(cfg.dynamodbEndpoint) && { credentials: LOCAL_CREDENTIALS }),
  });
  const doc = createDocumentClient(dynamo);
  const transcribe = createTranscribeClient({
    region: cfg.region,
    ...(cfg.transcribeEndpoint !== undefined && { endpoint: cfg.transcribeEndpoint }),
    ...(isLoopbackEndpoint(cfg.transcribeEndpoint) && { credentials: LOCAL_CREDENTIALS }),
    logger: deps.logger,
  });
  const rec = cfg.recordings === undefined ? undefined : createRecordings(cfg.region, cfg.recordings, deps);
  const recordings = rec?.recordings;
  if (recordings === undefined) {
    deps.logger.info(
      { recordings: 'off' },
      'no recordings bucket (RECORDINGS_BUCKET): audioRecordingAllowed is ignored and no call audio is kept',
    );
  }
  const stats = new PipelineStats(deps.metricsSink);
  const partials = createPartials(cfg, doc, stats, deps);
  const retention = cfg.retentionSeconds !== undefined ? { retentionSeconds: cfg.retentionSeconds } : {};
  const controller = new ConversationController({
    taskId: cfg.taskId,
    conversations: new ConversationsRepository(doc, { tableName: cfg.conversationsTable, ...retention }),
    inbox: new ControlInbox(doc, { tableName: cfg.conversationsTable, clock: deps.clock }),
    utterances: new UtterancesRepository(doc, { tableName: cfg.utterancesTable, clock: deps.clock, ...retention }),
    transcribe,
    clock: deps.clock,
    timers: deps.timers,
    logger: deps.logger,
    stats,
    ...(cfg.controlPollMs !== undefined && { pollIntervalMs: cfg.controlPollMs }),
    ...(cfg.counterFlushMs !== undefined && { counterFlushMs: cfg.counterFlushMs }),
    ...(cfg.customization !== undefined && { customization: cfg.customization }),
    ...(cfg.streamerConfig !== undefined && { streamerConfig: cfg.streamerConfig }),
    ...(deps.transcribeMetrics !== undefined && { transcribeMetrics: deps.transcribeMetrics }),
    ...(recordings !== undefined && { recordings }),
    ...(cfg.genesysPolicy !== undefined && { genesysPolicy: cfg.genesysPolicy }),
    ...(partials !== undefined && { partials: partials.publisher }),
  });
  let closing: Promise<void> | undefined;
  return {
    controller,
    taskId: cfg.taskId,
    recordings,
    close() {
      closing ??= (async () => {
        await controller.stop();
        // Segments closed by the drain are still uploading: the S3 client must outlive them.
        await recordings?.close();
        rec?.s3.destroy();
        // Partials of the segments the drain closed may still be posting.
        await partials?.publisher.settled();
        partials?.client.destroy();
        transcribe.destroy();
        dynamo.destroy();
      })();
      return closing;
    },
  };
}

/** The live partials publisher and its management API client, when configured; logs whether partials are on. */
function createPartials(
  cfg: PipelineConfig,
  doc: DynamoDBDocumentClient,
  stats: PipelineStats,
  deps: PipelineDeps,
): { publisher: PartialPublisher; client: ApiGatewayManagementApiClient } | undefined {
  if (cfg.partials === undefined) {
    deps.logger.info(
      { livePartials: 'off' },
      'live partials off (SUBSCRIPTIONS_TABLE / WEBSOCKET_MANAGEMENT_ENDPOINT unset): subscribers get finals only',
    );
    return undefined;
  }
  const client = managementClient(cfg.partials.managementEndpoint, { region: cfg.region });
  const subscriptions = new SubscriptionsRepository(doc, { tableName: cfg.partials.subscriptionsTable });
  const publisher = new PartialPublisher({
    subscribers: subscriberLookup(subscriptions, { clock: deps.clock }),
    pusher: new ManagementApiPusher(client),
    clock: deps.clock,
    logger: deps.logger.child({ component: 'live-partials' }),
    counters: stats,
  });
  deps.logger.info(
    { livePartials: 'on', subscriptionsTable: cfg.partials.subscriptionsTable },
    'live partials on: interim results of unredacted segments are posted to WebSocket subscribers',
  );
  return { publisher, client };
}

/** The recordings S3 client and recorder; logs where recordings go. */
function createRecordings(
  region: string,
  cfg: PipelineRecordingsConfig,
  deps: PipelineDeps,
): { s3: S3Client; recordings: SegmentRecordings } {
  const s3 = createRecordingsS3Client({
    region,
    ...(cfg.s3Endpoint !== undefined && { endpoint: cfg.s3Endpoint }),
  });
  const recordings = new SegmentRecordings({
    store: new S3RecordingStore({
      client: s3,
      bucket: cfg.bucket,
      ...(cfg.kmsKeyId !== undefined && { kmsKeyId: cfg.kmsKeyId }),
    }),
    ...(cfg.spoolDir !== undefined && { spoolDir: cfg.spoolDir }),
    logger: deps.logger,
    timers: deps.timers,
  });
  deps.logger.info(
    {
      recordings: {
        bucket: cfg.bucket,
        spoolDir: recordings.spoolDir,
        s3Endpoint: cfg.s3Endpoint,
        encryption: cfg.kmsKeyId !== undefined ? 'aws:kms (configured key)' : 'bucket default',
        spoolAvailable: recordings.available,
      },
    },
    recordings.available
      ? 'segment recordings on: segments started with audioRecordingAllowed are stored as WAV'
      : 'segment recordings configured but unavailable until the spool directory is usable (RECORDINGS_SPOOL_UNAVAILABLE)',
  );
  return { s3, recordings };
}

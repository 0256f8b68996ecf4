/**
 * Builds the transcription pipeline of one gateway task from its configuration: the DynamoDB and
 * Transcribe Streaming clients (created once per process), the repositories, and the
 * {@link ConversationController} whose `hooksFactory`/`sinkFactory` the gateway uses. Called by the
 * composition root (`main.ts`) and by benchmarks; it reads no environment itself.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Clock, Logger, Timers } from '../../../core/ports';
import { ControlInbox } from '../../../store/control-inbox';
import { ConversationsRepository } from '../../../store/conversations';
import { createDocumentClient } from '../../../store/dynamo';
import { UtterancesRepository } from '../../../store/utterances';
import { createTranscribeClient } from '../transcribe/client';
import type { StreamerConfig, TranscribeCustomization, TranscribeMetrics } from '../transcribe/streamer';
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
  /** Stops the controller (after the gateway drained) and releases the SDK clients. */
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
    stats: new PipelineStats(deps.metricsSink),
    ...(cfg.controlPollMs !== undefined && { pollIntervalMs: cfg.controlPollMs }),
    ...(cfg.counterFlushMs !== undefined && { counterFlushMs: cfg.counterFlushMs }),
    ...(cfg.customization !== undefined && { customization: cfg.customization }),
    ...(cfg.streamerConfig !== undefined && { streamerConfig: cfg.streamerConfig }),
    ...(deps.transcribeMetrics !== undefined && { transcribeMetrics: deps.transcribeMetrics }),
  });
  let closing: Promise<void> | undefined;
  return {
    controller,
    taskId: cfg.taskId,
    close() {
      closing ??= (async () => {
        await controller.stop();
        transcribe.destroy();
        dynamo.destroy();
      })();
      return closing;
    },
  };
}

/**
 * The whole transcription pipeline on loopback for integration tests and benchmarks: the real gateway
 * (createGateway on 127.0.0.1 port 0, wired like fargate/src/main.ts in pipeline mode), the
 * ConversationController, the real Transcribe SDK client against the local Transcribe-compatible
 * endpoint, and the repositories on DynamoDB Local. Start/stop are driven through the store exactly the
 * way the start/stop Lambdas do it (record the desired state, then notify the tasks holding sessions).
 *
 * Also builds stereo PCMU calls from the speech fixtures (customer on `external`, agent on `internal`).
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TranscribeStreamingClient } from '@aws-sdk/client-transcribe-streaming';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { TableNames } from '../../../contract/tables';
import { encodeMulaw } from '../../../core/audio/mulaw';
import type { Role } from '../../../core/audio/roles';
import { parseWav } from '../../../core/audio/wav';
import { Authenticator } from '../../../core/auth/authenticator';
import { NonceCache } from '../../../core/auth/nonce-cache';
import type { StartParams } from '../../../core/conversation/conversation';
import type { SegmentRecord } from '../../../core/conversation/segment';
import { type Logger, silentLogger, systemClock, systemTimers } from '../../../core/ports';
import { ConversationController } from '../../../fargate/src/control/conversation-controller';
import { createGateway, type Gateway } from '../../../fargate/src/gateway';
import { StaticKeySource } from '../../../fargate/src/secrets';
import { createTranscribeClient } from '../../../fargate/src/transcribe/client';
import type { StreamerConfig } from '../../../fargate/src/transcribe/streamer-config';
import { type AudioSource, bytesSource } from '../../../local/simulator/audio-source';
import type { RecognizerFactory } from '../../../local/transcribe/recognizer';
import { type LocalTranscribe, startLocalTranscribe } from '../../../local/transcribe/server';
import { ControlInbox } from '../../../store/control-inbox';
import { ConversationsRepository } from '../../../store/conversations';
import { type StoredUtterance, UtterancesRepository } from '../../../store/utterances';

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'speech');
const SAMPLE_RATE = 8000;

/** A speech fixture: 8 kHz mono PCM, its text and where the speech lies in it. */
export interface SpeechFixture {
  name: string;
  text: string;
  pcm: Int16Array;
  durationMs: number;
  speechStartMs: number;
  speechEndMs: number;
}

/** Loads `test/fixtures/speech/<name>.wav` and its `.json`. */
export function loadFixture(name: string): SpeechFixture {
  const meta = JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as {
    text: string;
    durationMs: number;
    speechStartMs: number;
    speechEndMs: number;
  };
  const wav = parseWav(readFileSync(join(FIXTURES, `${name}.wav`)));
  if (wav.sampleRate !== SAMPLE_RATE || wav.channels !== 1 || wav.format !== 'L16') {
    throw new Error(`fixture ${name} is not 8 kHz mono 16-bit PCM`);
  }
  const pcm = new Int16Array(wav.data.byteLength / 2);
  const view = new DataView(wav.data.buffer, wav.data.byteOffset, wav.data.byteLength);
  for (let i = 0; i < pcm.length; i++) pcm[i] = view.getInt16(i * 2, true);
  return { name, ...meta, pcm };
}

/** One line of a call: a fixture spoken by a role from `atMs` on the call's timeline. */
export interface CallLine {
  role: Role;
  fixture: SpeechFixture;
  atMs: number;
}

/** Where a line's speech lies on the call timeline (the fixture's speech boundaries, shifted). */
export function speechSpan(line: CallLine): { startMs: number; endMs: number } {
  return { startMs: line.atMs + line.fixture.speechStartMs, endMs: line.atMs + line.fixture.speechEndMs };
}

/** A stereo PCMU call (channel 0 = customer/external, channel 1 = agent/internal), silence between lines. */
export function buildCall(lines: readonly CallLine[], durationMs: number): AudioSource {
  const n = Math.round((durationMs * SAMPLE_RATE) / 1000);
  const tracks: Record<Role, Int16Array> = { customer: new Int16Array(n), agent: new Int16Array(n) };
  for (const line of lines) {
    const at = Math.round((line.atMs * SAMPLE_RATE) / 1000);
    const track = tracks[line.role];
    track.set(line.fixture.pcm.subarray(0, Math.max(0, n - at)), at);
  }
  const customer = encodeMulaw(tracks.customer);
  const agent = encodeMulaw(tracks.agent);
  const data = new Uint8Array(2 * n);
  for (let i = 0; i < n; i++) {
    data[2 * i] = customer[i] as number;
    data[2 * i + 1] = agent[i] as number;
  }
  return bytesSource({ format: 'PCMU', channels: 2, data, label: 'pipeline test call' });
}

/** Start params as the start Lambda records them after defaults. */
export const START_PARAMS: StartParams = {
  language: 'en-US',
  redactionOutput: 'unredacted',
  detailedToken: false,
  audioRecordingAllowed: false,
  customerId: 'customer-ext-1',
  agentId: 'agent-ext-7',
};

/** API key the harness gateway accepts (signed upgrades). */
export const HARNESS_KEY = {
  apiKey: 'pipeline-itest-key-01',
  clientSecret: Buffer.from('pipeline-integration-test-secret').toString('base64'),
};

/** Options of {@link startPipelineHarness}. */
export interface PipelineHarnessOptions {
  /** DynamoDB (a TestDynamoDb from test/helpers/dynamodb.ts fits). */
  db: { doc: DynamoDBDocumentClient; tables: TableNames };
  /** @default pocketsphinx (the local endpoint's default) */
  recognizer?: RecognizerFactory;
  /** @default 'itest-task-1' */
  taskId?: string;
  /** @default 100 */
  pollIntervalMs?: number;
  /** @default 5000 */
  counterFlushMs?: number;
  streamerConfig?: Partial<StreamerConfig>;
  /** @default 25 */
  maxConcurrentStreams?: number;
  logger?: Logger;
  /** Reuse a running endpoint instead of starting one. */
  transcribe?: LocalTranscribe;
  /**
   * The gateway's AudioHook keys, as the keys secret holds them (key → secret, or → entry with features).
   * @default only {@link HARNESS_KEY}
   */
  keys?: Record<string, unknown>;
}

/** A running pipeline. */
export interface PipelineHarness {
  readonly url: string;
  readonly taskId: string;
  readonly gateway: Gateway;
  readonly controller: ConversationController;
  readonly local: LocalTranscribe;
  readonly client: TranscribeStreamingClient;
  readonly conversations: ConversationsRepository;
  readonly inbox: ControlInbox;
  readonly utterances: UtterancesRepository;
  /** What the start Lambda does: record the start, then notify the tasks holding open sessions. */
  startTranscription(conversationId: string, params?: Partial<StartParams>): Promise<{ segment: number }>;
  /** What the stop Lambda does: record the stop, notify, wait for the gateway's close; the segment as answered. */
  stopTranscription(conversationId: string, timeoutMs?: number): Promise<{ closed: boolean; segment: SegmentRecord }>;
  /** Stored utterances of a conversation, oldest first (strongly consistent). */
  listUtterances(conversationId: string): Promise<StoredUtterance[]>;
  close(): Promise<void>;
}

/** Starts the pipeline on loopback. */
export async function startPipelineHarness(opts: PipelineHarnessOptions): Promise<PipelineHarness> {
  const logger = opts.logger ?? silentLogger;
  const taskId = opts.taskId ?? 'itest-task-1';
  const ownTranscribe = opts.transcribe === undefined;
  const local =
    opts.transcribe ??
    (await startLocalTranscribe({
      port: 0,
      ...(opts.recognizer && { recognizer: opts.recognizer }),
      maxConcurrentStreams: opts.maxConcurrentStreams ?? 25,
    }));
  const client = createTranscribeClient({
    region: 'us-east-1',
    endpoint: local.url,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    logger,
  });
  const { doc, tables } = opts.db;
  const conversations = new ConversationsRepository(doc, { tableName: tables.conversations });
  const inbox = new ControlInbox(doc, { tableName: tables.conversations });
  const utterances = new UtterancesRepository(doc, { tableName: tables.utterances });
  const controller = new ConversationController({
    taskId,
    conversations,
    inbox,
    utterances,
    transcribe: client,
    clock: systemClock,
    timers: systemTimers,
    logger,
    pollIntervalMs: opts.pollIntervalMs ?? 100,
    ...(opts.counterFlushMs !== undefined && { counterFlushMs: opts.counterFlushMs }),
    ...(opts.streamerConfig !== undefined && { streamerConfig: opts.streamerConfig }),
  });
  const keySource = new StaticKeySource(opts.keys ?? { [HARNESS_KEY.apiKey]: HARNESS_KEY.clientSecret });
  const authenticator = new Authenticator({
    keys: keySource.store,
    clock: systemClock,
    nonceCache: new NonceCache({ clock: systemClock, windowSec: 16 }),
    maxSignatureAgeSec: 10,
    clockSkewSec: 3,
  });
  const gateway = createGateway({
    paths: ['/api/v1/audiohook/ws'],
    maxSessions: 1000,
    authenticator,
    sinkFactory: controller.sinkFactory,
    hooksFactory: controller.hooksFactory,
    sessionOptions: { supportedLanguages: ['en-US'] },
    clock: systemClock,
    timers: systemTimers,
    logger,
  });
  controller.attach(gateway);
  controller.start();
  await new Promise<void>((resolve, reject) => {
    gateway.server.once('error', reject);
    gateway.server.listen({ port: 0, host: '127.0.0.1' }, () => resolve());
  });
  const { port } = gateway.server.address() as AddressInfo;

  return {
    url: `ws://127.0.0.1:${port}/api/v1/audiohook/ws`,
    taskId,
    gateway,
    controller,
    local,
    client,
    conversations,
    inbox,
    utterances,
    async startTranscription(conversationId, params = {}) {
      const result = await conversations.requestStart(conversationId, { ...START_PARAMS, ...params }, Date.now());
      if (result.outcome === 'conflict') throw new Error('start conflicted');
      const sessions = await conversations.listSessions(conversationId, { openOnly: true });
      const tasks = sessions.map((s) => s.taskId);
      if (tasks.length > 0)
        await inbox.notifyTasks(conversationId, result.meta.desiredVersion, tasks, { desired: 'on' });
      return { segment: result.segment };
    },
    async stopTranscription(conversationId, timeoutMs = 20_000) {
      const result = await conversations.requestStop(conversationId, Date.now());
      if (result.outcome !== 'stopped') throw new Error(`stop answered ${result.outcome}`);
      let record = await conversations.getSegment(conversationId, result.segment);
      if (record?.state === 'closed') return { closed: true, segment: record };
      const tasks = new Set(
        (await conversations.listSessions(conversationId, { openOnly: true })).map((s) => s.taskId),
      );
      if (record?.taskId) tasks.add(record.taskId);
      if (tasks.size > 0)
        await inbox.notifyTasks(conversationId, result.meta.desiredVersion, tasks, { desired: 'off' });
      const waited = await conversations.waitForSegmentClosed(conversationId, result.segment, {
        timeoutMs,
        pollMs: 50,
      });
      record = waited.segment ?? record;
      if (!record) throw new Error('the stopped segment is missing');
      return { closed: waited.closed, segment: record };
    },
    async listUtterances(conversationId) {
      const page = await utterances.listByConversation(conversationId, { consistentRead: true });
      return page.items;
    },
    async close() {
      await gateway.closeAll('test over');
      await new Promise<void>((resolve) => {
        gateway.server.close(() => resolve());
        gateway.server.closeAllConnections();
      });
      await controller.stop();
      keySource.close();
      client.destroy();
      if (ownTranscribe) await local.close();
    },
  };
}

/** Polls until `condition` holds; rejects after `timeoutMs`. */
export async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

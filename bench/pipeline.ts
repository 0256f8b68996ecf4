import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeMulaw } from '../core/audio/mulaw';
import { createLocalDynamoDbClient, startDynamoDbLocal } from '../local/dynamodb';
import { type AudioSource, bytesSource } from '../local/simulator/audio-source';
import { type ManySessionsResult, runManySessions } from '../local/simulator/multi';
import type { SimulatedSessionOptions } from '../local/simulator/options';
import { createScriptedRecognizer, type RecognizerFactory } from '../local/transcribe/recognizer';
import { startLocalTranscribe } from '../local/transcribe/server';
import { ConversationsRepository } from '../store/conversations';
import { createTables } from '../store/create-tables';
import { createDocumentClient } from '../store/dynamo';
import { UtterancesRepository } from '../store/utterances';
import { type GatewayMetrics, spawnBundledGateway } from './gateway-process';
import { fmt, percentile, table } from './stats';

const ROOT = join(import.meta.dirname, '..');
const SAMPLED_CONVERSATIONS = 3;

interface Row {
  sessions: number;
  closedCleanly: number;
  cpuPctPerSession: number;
  cpuPctTotal: number;
  rssMiBPerSession: number;
  utterances: number;
  emitToPutP50Ms: number;
  emitToPutP99Ms: number;
  emitToVisibleP50Ms: number;
  emitToVisibleP99Ms: number;
  putFailures: number;
  inboxPollsPerSec: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A stereo PCMU call of alternating turns: each role speaks (a tone burst) for `turnMs`, then listens, so
 * each channel's VAD closes one utterance per turn.
 */
export function turnsCall(durationMs: number, turnMs: number): AudioSource {
  const n = Math.round(durationMs * 8);
  const customer = new Int16Array(n);
  const agent = new Int16Array(n);
  const turn = turnMs * 8;
  for (let i = 0; i < n; i++) {
    const t = Math.floor(i / turn);
    const v = Math.round(0.3 * 32767 * Math.sin((2 * Math.PI * (t % 2 === 0 ? 440 : 660) * i) / 8000));
    // A 200 ms pause at the end of each turn keeps the two channels' utterances apart.
    if (i % turn < turn - 1600) (t % 2 === 0 ? customer : agent)[i] = v;
  }
  const c = encodeMulaw(customer);
  const a = encodeMulaw(agent);
  const data = new Uint8Array(2 * n);
  for (let i = 0; i < n; i++) {
    data[2 * i] = c[i] as number;
    data[2 * i + 1] = a[i] as number;
  }
  return bytesSource({ format: 'PCMU', channels: 2, data, label: 'turns' });
}

/** The local endpoint's recognizer for the benchmarks: each final carries its emit time (`e<epoch ms>`). */
export function benchRecognizer(): RecognizerFactory {
  return createScriptedRecognizer({ words: () => [`e${Date.now()}`, 'hello', 'there'] });
}

/** DynamoDB Local, the local Transcribe endpoint (bench recognizer, room for `maxStreams`) and a client of the first. */
export async function startBenchBackends(maxStreams: number) {
  const dynamo = await startDynamoDbLocal();
  const transcribe = await startLocalTranscribe({
    port: 0,
    maxConcurrentStreams: maxStreams,
    recognizer: benchRecognizer(),
  });
  return { dynamo, transcribe, dynamoClient: createLocalDynamoDbClient(dynamo.endpoint) };
}

/** A fresh prefix for a benchmark's tables (contract/tables.ts names). */
export function newTablePrefix(): string {
  return `bench${randomUUID().slice(0, 6)}`;
}

/** The bundled gateway in transcription mode, in its own process, and its admin routes. */
export interface GatewayChild {
  url: string;
  /** The gateway process's id (for sampling it from outside). */
  pid: number | undefined;
  metrics(): Promise<GatewayMetrics>;
  pipeline(): Promise<{ counters: Record<string, number>; sessions: number; streaming: number }>;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

/** Where the transcribing gateway stores (DynamoDB Local) and transcribes (the local endpoint). */
export interface Endpoints {
  dynamo: string;
  transcribe: string;
  dynamoClient: ReturnType<typeof createLocalDynamoDbClient>;
}

/** One benchmark step's fixture: see {@link startTranscribingGateway}. */
export interface TranscribingGateway {
  gw: GatewayChild;
  /** The conversation ids, one per session, each already requested to start. */
  ids: string[];
  utterances: UtterancesRepository;
  /** Runs one real-time session of `audio` per conversation, `rampPerSec` started per second. */
  runSessions(
    audio: AudioSource,
    rampPerSec: number,
    more?: (i: number) => Partial<SimulatedSessionOptions>,
  ): Promise<ManySessionsResult>;
  /** The prefix of this gateway's fresh tables (contract/tables.ts names). */
  tablePrefix: string;
}

/**
 * Fresh tables, the bundled gateway in transcription mode on them (room for `n` + 50 sessions), and `n`
 * conversations already requested to start, so every session of {@link TranscribingGateway.runSessions}
 * streams to the endpoint and stores its finals. The caller stops `gw`.
 */
export async function startTranscribingGateway(
  n: number,
  endpoints: Endpoints,
  extraEnv: Record<string, string> = {},
  prefix = newTablePrefix(),
): Promise<TranscribingGateway> {
  const tables = await createTables(endpoints.dynamoClient, prefix);
  const doc = createDocumentClient(endpoints.dynamoClient);
  const conversations = new ConversationsRepository(doc, { tableName: tables.conversations });
  const utterances = new UtterancesRepository(doc, { tableName: tables.utterances });
  const apiKey = `bench-${randomUUID()}`;
  const spawned = await spawnBundledGateway(ROOT, {
    AUDIOHOOK_API_KEYS: JSON.stringify({ [apiKey]: '' }),
    MAX_SESSIONS: String(n + 50),
    CONVERSATIONS_TABLE: tables.conversations,
    UTTERANCES_TABLE: tables.utterances,
    DYNAMODB_ENDPOINT: endpoints.dynamo,
    TRANSCRIBE_ENDPOINT: endpoints.transcribe,
    TASK_ID: `bench-task-${prefix}`,
    ...extraEnv,
  });
  const json = async <T>(path: string): Promise<T> => (await (await fetch(`${spawned.adminUrl}${path}`)).json()) as T;
  const gw: GatewayChild = {
    url: spawned.url,
    pid: spawned.child.pid,
    metrics: () => json('/metrics'),
    pipeline: () => json('/metrics/pipeline'),
    async reset() {
      await fetch(`${spawned.adminUrl}/metrics/reset`, { method: 'POST' });
    },
    stop: spawned.stop,
  };
  const ids = Array.from({ length: n }, () => randomUUID());
  try {
    for (const id of ids) {
      await conversations.requestStart(
        id,
        {
          language: 'en-US',
          redactionOutput: 'unredacted',
          detailedToken: false,
          audioRecordingAllowed: false,
          customerId: 'c',
          agentId: 'a',
        },
        Date.now(),
      );
    }
  } catch (err) {
    await gw.stop();
    throw err;
  }
  const runSessions = (
    audio: AudioSource,
    rampPerSec: number,
    more: (i: number) => Partial<SimulatedSessionOptions> = () => ({}),
  ) =>
    runManySessions({
      sessions: n,
      rampPerSec,
      makeOptions: (i) => ({
        uri: gw.url,
        apiKey,
        conversationId: ids[i] as string,
        audio,
        speed: 1,
        record: 'none',
        openTimeoutMs: 10_000,
        ...more(i),
      }),
    });
  return { gw, ids, utterances, runSessions, tablePrefix: prefix };
}

async function measure(n: number, windowSec: number, rampPerSec: number, endpoints: Endpoints): Promise<Row> {
  const { gw, ids, utterances, runSessions } = await startTranscribingGateway(n, endpoints);
  try {
    await sleep(1000);
    const idle = await gw.metrics();
    const rampSec = n / rampPerSec;
    const warmSec = 3;
    const durationMs = Math.ceil((rampSec + warmSec + windowSec + 3) * 1000);
    const audio = turnsCall(durationMs, 1500);

    // Visibility sampler: when does each utterance of a few conversations first appear in the table?
    const seen = new Map<string, number>();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const id of ids.slice(0, SAMPLED_CONVERSATIONS)) {
          const page = await utterances.listByConversation(id, { consistentRead: true });
          const at = Date.now();
          for (const u of page.items) if (!seen.has(u.utteranceId)) seen.set(u.utteranceId, at);
        }
        await sleep(50);
      }
    })();

    const run = runSessions(audio, rampPerSec);
    await sleep((rampSec + warmSec) * 1000);
    await gw.reset();
    const before = await gw.pipeline();
    const t0 = performance.now();
    await sleep(windowSec * 1000);
    const m = await gw.metrics();
    const after = await gw.pipeline();
    const elapsedMs = performance.now() - t0;
    const { summary } = await run;
    await sleep(2_000); // last finals of the call ends
    sampling = false;
    await sampler;
    const emitToPut: number[] = [];
    const emitToVisible: number[] = [];
    let count = 0;
    for (const id of ids) {
      const page = await utterances.listByConversation(id, { consistentRead: true });
      for (const u of page.items) {
        count++;
        const emit = Number(/\be(\d{13})\b/.exec(u.text)?.[1]);
        if (!Number.isFinite(emit)) continue;
        emitToPut.push(Date.parse(u.createdAt) - emit);
        const visible = seen.get(u.utteranceId);
        if (visible !== undefined) emitToVisible.push(visible - emit);
      }
    }
    const cpuFraction = (m.cpuUserMs + m.cpuSystemMs) / elapsedMs;
    const polls = (after.counters.inboxPolls ?? 0) - (before.counters.inboxPolls ?? 0);
    return {
      sessions: n,
      closedCleanly: summary.closedCleanly,
      cpuPctTotal: cpuFraction * 100,
      cpuPctPerSession: (cpuFraction * 100) / n,
      rssMiBPerSession: (m.rssBytes - idle.rssBytes) / 2 ** 20 / n,
      utterances: count,
      emitToPutP50Ms: percentile(emitToPut, 50),
      emitToPutP99Ms: percentile(emitToPut, 99),
      emitToVisibleP50Ms: percentile(emitToVisible, 50),
      emitToVisibleP99Ms: percentile(emitToVisible, 99),
      putFailures: after.counters.utterancePutFailures ?? 0,
      inboxPollsPerSec: polls / (elapsedMs / 1000),
    };
  } finally {
    await gw.stop();
  }
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      sessions: { type: 'string', default: '10,50' },
      'window-sec': { type: 'string', default: '15' },
      ramp: { type: 'string', default: '20' },
      json: { type: 'boolean', default: false },
    },
  });
  const counts = String(values.sessions)
    .split(',')
    .map((s) => Number.parseInt(s, 10));
  const windowSec = Number(values['window-sec']);
  const ramp = Number(values.ramp);
  if (counts.some((c) => !Number.isInteger(c) || c < 1) || !(windowSec > 0) || !(ramp > 0)) {
    throw new Error('usage: npm run bench -- pipeline [--sessions 10,50] [--window-sec 15] [--ramp 20]');
  }
  process.stderr.write(
    `pipeline benchmark: ${counts.join(', ')} sessions with transcription on, real-time stereo PCMU, ` +
      `${windowSec}s window, ${cpus().length} cores shared by gateway, DynamoDB Local, endpoint and load generator\n`,
  );
  const { dynamo, transcribe, dynamoClient } = await startBenchBackends(Math.max(...counts) + 10);
  const rows: Row[] = [];
  // DynamoDB Local's process and pipes are unref'd (so a crashed run never hangs), and this process is
  // otherwise only waiting on them at times: keep the event loop alive until the report is out.
  const keepAlive = setInterval(() => {}, 60_000);
  try {
    for (const n of counts) {
      process.stderr.write(`  running ${n} sessions…\n`);
      rows.push(
        await measure(n, windowSec, ramp, { dynamo: dynamo.endpoint, transcribe: transcribe.url, dynamoClient }),
      );
    }
  } finally {
    dynamoClient.destroy();
    await transcribe.close();
    await dynamo.stop();
    clearInterval(keepAlive);
  }
  const report = table(
    [
      'sessions',
      'closed',
      'cpu %/session',
      'cpu % total',
      'RSS MiB/session',
      'utterances',
      'emit→put p50',
      'emit→put p99',
      'emit→visible p50',
      'emit→visible p99',
      'put failures',
      'inbox polls/s',
    ],
    rows.map((r) => [
      String(r.sessions),
      String(r.closedCleanly),
      fmt(r.cpuPctPerSession, 3),
      fmt(r.cpuPctTotal, 1),
      fmt(r.rssMiBPerSession, 3),
      String(r.utterances),
      fmt(r.emitToPutP50Ms, 0),
      fmt(r.emitToPutP99Ms, 0),
      fmt(r.emitToVisibleP50Ms, 0),
      fmt(r.emitToVisibleP99Ms, 0),
      String(r.putFailures),
      fmt(r.inboxPollsPerSec, 1),
    ]),
  );
  process.stdout.write(`${report}\n(latencies in ms)\n`);
  const out = join(ROOT, '.bench', `pipeline-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    out,
    `${JSON.stringify({ at: new Date().toISOString(), cores: cpus().length, windowSec, rows }, null, 2)}\n`,
  );
  if (values.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
  process.stderr.write(`results written to ${out}\n`);
  if (rows.some((r) => r.closedCleanly !== r.sessions)) {
    throw new Error('some sessions did not close cleanly: the numbers above are not trustworthy');
  }
}

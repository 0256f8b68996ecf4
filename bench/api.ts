/**
 * Control and retrieval API benchmark (`npm run bench -- api`): latency percentiles and throughput of
 * start-streaming, stop-streaming, GET messages and GET conversation status, through the local REST
 * adapter (local/api/main.ts in its own process: API Gateway's part, the real REQUEST authorizer, the real
 * route handlers) against DynamoDB Local, with a real gateway in pipeline mode holding the calls.
 *
 * The stack, all on loopback: DynamoDB Local (tables from store/create-tables.ts); the local
 * Transcribe-compatible endpoint with the scripted recognizer (an energy VAD; recognition is not the point);
 * the gateway bundled as in the image, in pipeline mode, polling its control inbox every 200 ms (its
 * default); one simulated AudioHook call (local/simulator) per worker, streaming a stereo tone in real
 * time; the API adapter with LOG_LEVEL=WARN.
 *
 * Operations, each run sequentially (1 in flight) and concurrently (`--concurrency`, default 1,8):
 * - `start (call in progress)` / `stop (call in progress)`: start/stop cycles on the simulated calls. A
 *   cycle is: start → wait (store read every 25 ms, not timed) until the gateway streams the segment →
 *   stream `--hold-ms` → stop. Stop's latency is what the caller of stop-streaming waits for: the stop
 *   transaction, the inbox notification of the gateway task, the task's next inbox poll, the pause and the
 *   recognizer flush (end of the Transcribe stream, last finals stored), `closeSegment` with the gateway's
 *   final counters, and the handler's strongly consistent segment reads every STOP_POLL_MS (100 ms). Each
 *   stop is checked: 200, the segment `closed` right after the answer (else counted `unconfirmed`), and
 *   audio counted in the summary.
 * - `start → gateway streaming`: from the start request to the segment seen `active` (not an API latency;
 *   the control path's, ±25 ms).
 * - `start (before audio)` / `stop (before audio)`: start on fresh guids with no session yet (recorded,
 *   `waiting-for-audio`), then stop of those (the store closes the never-opened segment at once).
 * - `GET messages, first page` and `GET messages, all pages` of one call with `--utterances` (1,200)
 *   stored utterances (seeded through UtterancesRepository.putFinal into the segment of a real start/stop
 *   on a simulated call): default limit 1,000, so two pages; "all pages" follows `nextToken` to the end and
 *   times the whole walk (every walk checked for the full, distinct set).
 * - `GET status` of that call (one session, one closed segment).
 *
 * Latency is measured at the client: from the request to the last byte of the body, with keep-alive
 * connections. The authorizer runs on every request with its verdict cache warm (a cold verdict costs one
 * scrypt, once per credential per 5 minutes). The credential's rate limit is set far above the offered
 * load, so the adapter's throttle never answers 429 (a 429 would count as an error). Warm-up requests of
 * every route run first and are not counted. Results: a table on stdout and `.bench/api-<time>.json`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AppError } from '../core/errors';
import { utteranceIdOf } from '../core/transcript/utterance';
import { credentialEntry } from '../lambdas/authorizer/hash-secret';
import { loadConfig } from '../lambdas/shared/config';
import { createLocalDynamoDbClient, startDynamoDbLocal } from '../local/dynamodb';
import { toneSource } from '../local/simulator/audio-source';
import { runSimulatedSession } from '../local/simulator/client';
import type { SimulatedSessionResult } from '../local/simulator/options';
import { createScriptedRecognizer } from '../local/transcribe/recognizer';
import { type LocalTranscribe, startLocalTranscribe } from '../local/transcribe/server';
import { ConversationsRepository } from '../store/conversations';
import { createTables } from '../store/create-tables';
import { createDocumentClient } from '../store/dynamo';
import { UtterancesRepository } from '../store/utterances';
import { freePort, spawnBundledGateway } from './gateway-process';
import { fmt, percentile, table } from './stats';

const ROOT = join(import.meta.dirname, '..');
const START_PATH = '/mg-autotranscribe/v1/start-streaming';
const STOP_PATH = '/mg-autotranscribe/v1/stop-streaming';
const MESSAGES_PATH = '/conversation/v1/conversation/messages';
const statusPath = (guid: string) => `/mg-autotranscribe/v1/conversations/${encodeURIComponent(guid)}/status`;
const REQUEST_TIMEOUT_MS = 30_000;
const ACTIVE_TIMEOUT_MS = 15_000;
const ACTIVE_POLL_MS = 25;
/** Long enough to outlast any run; the sessions are ended by their abort signal. */
const CALL_AUDIO_MS = 60 * 60_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The measured figures of one operation at one concurrency. */
export interface ApiBenchRow {
  operation: string;
  concurrency: number;
  /** Successful samples. */
  count: number;
  /** Failed requests (or cycles) by cause, e.g. `{"409-201": 1, "unconfirmed": 2}`. */
  errors: Record<string, number>;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Completed operations per second of the phase's wall time; null when the phase is paced by design. */
  perSec: number | null;
}

interface Phase {
  latencies: number[];
  errors: Record<string, number>;
  wallMs: number;
}

class RequestFailed extends AppError {
  override readonly name = 'RequestFailed';
  declare readonly code: 'BENCH_API_REQUEST_FAILED';
  constructor(readonly reason: string) {
    super('BENCH_API_REQUEST_FAILED', `request failed: ${reason}`);
  }
}

// --- processes -------------------------------------------------------------------------------------

interface Child {
  url: string;
  stop(): Promise<void>;
}

async function waitHealthy(url: string, child: ChildProcess, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited early with code ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error(`${what} did not become healthy within ${timeoutMs / 1000} s`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
}

function stopper(child: ChildProcess): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
}

/** The gateway in pipeline mode, bundled as in the container image, in its own process. */
async function startGateway(env: Record<string, string>): Promise<Child> {
  const gw = await spawnBundledGateway(ROOT, env, { healthTimeoutMs: 60_000 });
  return { url: gw.url, stop: gw.stop };
}

/** The local REST adapter through its own entry point (what `npm start` runs), in its own process. */
async function startApi(env: Record<string, string>): Promise<Child> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'local/api/main.ts')], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      LOCAL_API_HOST: '127.0.0.1',
      LOCAL_API_PORT: String(port),
      AWS_REGION: 'us-east-1',
      LOG_LEVEL: 'WARN',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = stopper(child);
  try {
    await waitHealthy(`${url}/health`, child, 'local API');
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, stop };
}

// --- HTTP client -----------------------------------------------------------------------------------

interface Api {
  base: string;
  headers: Record<string, string>;
}

interface Answer<T> {
  ms: number;
  body: T;
}

/** One request; resolves with the latency (request → last body byte) and the JSON body of a 200. */
async function call<T = Record<string, unknown>>(
  api: Api,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<Answer<T>> {
  const t0 = performance.now();
  let res: Response;
  let text: string;
  try {
    res = await fetch(`${api.base}${path}`, {
      method,
      headers: body === undefined ? api.headers : { ...api.headers, 'Content-Type': 'application/json' },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    text = await res.text();
  } catch (err) {
    throw new RequestFailed(err instanceof Error && err.name === 'TimeoutError' ? 'timeout' : 'network');
  }
  const ms = performance.now() - t0;
  if (res.status !== 200) {
    let code = String(res.status);
    try {
      code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? code;
    } catch {
      // not the envelope: keep the status
    }
    throw new RequestFailed(code);
  }
  return { ms, body: JSON.parse(text) as T };
}

function causeOf(err: unknown): string {
  if (err instanceof RequestFailed) return err.reason;
  return err instanceof Error ? err.message.slice(0, 60) : String(err);
}

/**
 * Runs `n` operations with `concurrency` in flight (closed loop). `op(i)` returns the latencies to record
 * (usually one) or throws; a throw counts as one error of its cause.
 */
async function closedLoop(n: number, concurrency: number, op: (i: number) => Promise<number[]>): Promise<Phase> {
  const phase: Phase = { latencies: [], errors: {}, wallMs: 0 };
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      for (let i = next++; i < n; i = next++) {
        try {
          phase.latencies.push(...(await op(i)));
        } catch (err) {
          const cause = causeOf(err);
          phase.errors[cause] = (phase.errors[cause] ?? 0) + 1;
        }
      }
    }),
  );
  phase.wallMs = performance.now() - t0;
  return phase;
}

/** Setup and warm-up phases must not fail: their errors would only resurface as noise in the figures. */
function mustSucceed(what: string, phase: Phase): void {
  const errors = Object.entries(phase.errors);
  if (errors.length > 0) throw new Error(`${what} failed: ${errors.map(([k, v]) => `${v}×${k}`).join(', ')}`);
}

function rowOf(operation: string, concurrency: number, phase: Phase, paced = false): ApiBenchRow {
  const xs = phase.latencies;
  return {
    operation,
    concurrency,
    count: xs.length,
    errors: phase.errors,
    p50Ms: percentile(xs, 50),
    p95Ms: percentile(xs, 95),
    p99Ms: percentile(xs, 99),
    maxMs: xs.length > 0 ? Math.max(...xs) : Number.NaN,
    perSec: paced || phase.wallMs <= 0 ? null : xs.length / (phase.wallMs / 1000),
  };
}

// --- simulated calls -------------------------------------------------------------------------------

interface Call {
  conversationId: string;
  /** Settles when the session ends (normally only at the end of the run, by `abort`). */
  ended: Promise<SimulatedSessionResult>;
  isEnded(): boolean;
  abort(): void;
}

function openCall(gatewayUrl: string, apiKey: string): Call {
  const conversationId = randomUUID();
  const controller = new AbortController();
  let ended = false;
  const done = runSimulatedSession({
    uri: gatewayUrl,
    apiKey,
    conversationId,
    audio: toneSource({ format: 'PCMU', channels: 2, durationMs: CALL_AUDIO_MS, hz: [440, 660], amplitude: 0.3 }),
    speed: 1,
    record: 'none',
    openTimeoutMs: 10_000,
    signal: controller.signal,
  }).finally(() => {
    ended = true;
  });
  return { conversationId, ended: done, isEnded: () => ended, abort: () => controller.abort() };
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (performance.now() > deadline) throw new Error(what);
    await sleep(ACTIVE_POLL_MS);
  }
}

// --- main ------------------------------------------------------------------------------------------

interface Options {
  concurrency: number[];
  requests: number;
  reads: number;
  cycles: number;
  beforeAudio: number;
  holdMs: number;
  utterances: number;
  json: boolean;
}

const USAGE =
  'usage: npm run bench -- api [--concurrency 1,8] [--requests 200] [--reads 40] [--cycles 24] ' +
  '[--before-audio 100] [--hold-ms 500] [--utterances 1200] [--json]';

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      concurrency: { type: 'string', default: '1,8' },
      requests: { type: 'string', default: '200' },
      reads: { type: 'string', default: '40' },
      cycles: { type: 'string', default: '24' },
      'before-audio': { type: 'string', default: '100' },
      'hold-ms': { type: 'string', default: '500' },
      utterances: { type: 'string', default: '1200' },
      json: { type: 'boolean', default: false },
    },
  });
  const whole = (s: string, min: number) => {
    const n = Number(s.replace(/_/g, ''));
    if (!Number.isInteger(n) || n < min) throw new Error(USAGE);
    return n;
  };
  return {
    concurrency: values.concurrency.split(',').map((c) => whole(c, 1)),
    requests: whole(values.requests, 1),
    reads: whole(values.reads, 1),
    cycles: whole(values.cycles, 1),
    beforeAudio: whole(values['before-audio'], 1),
    holdMs: whole(values['hold-ms'], 0),
    utterances: whole(values.utterances, 1),
    json: values.json,
  };
}

const SENTENCES = [
  'thanks for calling, how can I help you today',
  'I would like to check the status of my order from last week',
  'sure, can I have the order number please',
  'it is one two three four five six',
  'thank you, I can see it shipped yesterday and should arrive on Friday',
  'great, and can I change the delivery address',
  'yes, what is the new address',
];

/** Entry point (bench/run.ts). */
export async function main(argv: string[]): Promise<void> {
  const o = parseOptions(argv);
  const maxC = Math.max(...o.concurrency);
  const began = performance.now();
  const progress = (what: string) =>
    process.stderr.write(`  [${((performance.now() - began) / 1000).toFixed(1)} s] ${what}\n`);
  // Other work on the machine moves every figure here: the load average goes into the report.
  const loadBefore = loadavg()[0] as number;
  process.stderr.write(
    `api benchmark: concurrency ${o.concurrency.join(', ')}; ${o.cycles} start/stop cycles, ` +
      `${o.beforeAudio} start/stop before audio, ${o.reads} message reads, ${o.requests} status reads per level; ` +
      `${cpus().length} cores shared by the API, DynamoDB Local, the gateway, the endpoint and the load generator\n`,
  );

  progress('starting DynamoDB Local, the Transcribe endpoint, the gateway and the API');
  const dynamo = await startDynamoDbLocal();
  const client = createLocalDynamoDbClient(dynamo.endpoint);
  let transcribe: LocalTranscribe | undefined;
  const children: Child[] = [];
  const calls: Call[] = [];
  const rows: ApiBenchRow[] = [];
  try {
    transcribe = await startLocalTranscribe({
      port: 0,
      maxConcurrentStreams: 4 * (maxC + 1) + 10,
      recognizer: createScriptedRecognizer({ words: (i) => ['benchmark', 'utterance', String(i)] }),
    });
    const prefix = `bench${randomUUID().slice(0, 6)}`;
    const tables = await createTables(client, prefix);
    const doc = createDocumentClient(client);
    const conversations = new ConversationsRepository(doc, { tableName: tables.conversations });
    const utterances = new UtterancesRepository(doc, { tableName: tables.utterances });

    const gatewayKey = `bench-${randomUUID()}`;
    const gateway = await startGateway({
      AUDIOHOOK_API_KEYS: JSON.stringify({ [gatewayKey]: '' }),
      MAX_SESSIONS: String(maxC + 50),
      CONVERSATIONS_TABLE: tables.conversations,
      UTTERANCES_TABLE: tables.utterances,
      DYNAMODB_ENDPOINT: dynamo.endpoint,
      TRANSCRIBE_ENDPOINT: transcribe.url,
      TASK_ID: `bench-task-${prefix}`,
    });
    children.push(gateway);

    const apiId = 'bench-api';
    const apiSecret = randomBytes(24).toString('base64url');
    // Far above the offered load: the throttle runs on every request but never refuses one.
    const credentials = await credentialEntry({ apiId, secret: apiSecret, label: 'bench', rateLimitPerSec: 100_000 });
    const apiEnv = {
      CONVERSATIONS_TABLE: tables.conversations,
      UTTERANCES_TABLE: tables.utterances,
      DYNAMODB_ENDPOINT: dynamo.endpoint,
      API_CREDENTIALS_JSON: JSON.stringify(credentials),
    };
    const stopWaitMs = loadConfig(apiEnv).stopWaitMs;
    const apiChild = await startApi(apiEnv);
    children.push(apiChild);
    const api: Api = { base: apiChild.url, headers: { 'asapp-api-id': apiId, 'asapp-api-secret': apiSecret } };

    // One call per worker of the widest level, plus the call whose messages and status are read.
    for (let i = 0; i <= maxC; i++) calls.push(openCall(gateway.url, gatewayKey));
    for (const c of calls) {
      await waitFor(`the session of ${c.conversationId} did not register with the gateway`, 15_000, async () => {
        if (c.isEnded()) throw new Error(`a simulated call ended early: ${(await c.ended).failure ?? 'closed'}`);
        const open = await conversations.listSessions(c.conversationId, { openOnly: true });
        return open.length > 0 ? true : undefined;
      });
    }
    const readCall = calls[maxC] as Call;
    const workerCalls = calls.slice(0, maxC);

    const startBody = (guid: string) => ({ namespace: 'genesysaudiohook', guid, customerId: 'c-1', agentId: 'a-1' });
    const stopBody = (guid: string) => ({ namespace: 'genesysaudiohook', guid });
    const activeSegment = (guid: string) =>
      waitFor(`the gateway did not start streaming ${guid}`, ACTIVE_TIMEOUT_MS, async () => {
        const meta = await conversations.getMeta(guid, { consistent: true });
        if (meta?.currentSegment === undefined) return undefined;
        const seg = await conversations.getSegment(guid, meta.currentSegment);
        return seg?.state === 'active' ? seg.segment : undefined;
      });

    /** One start → streaming → stop cycle on a live call; throws when the stop is not what it should be. */
    const cycle = async (guid: string): Promise<{ start: number; toActive: number; stop: number }> => {
      const t0 = performance.now();
      // A failed start is reported as such in the cycle's (stop row's) errors.
      const start = await call(api, 'POST', START_PATH, startBody(guid)).catch((err: unknown) => {
        throw new RequestFailed(`start ${causeOf(err)}`);
      });
      const segment = await activeSegment(guid);
      const toActive = performance.now() - t0;
      await sleep(o.holdMs);
      if (calls.some((c) => c.isEnded())) throw new Error('a simulated call ended early');
      const stop = await call<{ autotranscribeResponse: Record<string, { summary: { audioDurationMs: number } }> }>(
        api,
        'POST',
        STOP_PATH,
        stopBody(guid),
      );
      const after = await conversations.getSegment(guid, segment);
      if (after?.state !== 'closed') throw new RequestFailed('unconfirmed');
      const audioMs = Object.values(stop.body.autotranscribeResponse).reduce(
        (a, r) => a + r.summary.audioDurationMs,
        0,
      );
      if (o.holdMs > 0 && audioMs <= 0) throw new RequestFailed('empty-summary');
      return { start: start.ms, toActive, stop: stop.ms };
    };

    // The read fixture: a real start/stop on a live call, then utterances up to the requested count.
    progress(`${calls.length} calls open; seeding the read fixture (${o.utterances} utterances)`);
    await cycle(readCall.conversationId);
    const readGuid = readCall.conversationId;
    const seg = await conversations.getSegment(readGuid, 1);
    if (!seg) throw new Error('the read fixture has no segment 1');
    let existing = 0;
    for (let token: string | undefined, first = true; first || token; first = false) {
      const page = await utterances.listByConversation(readGuid, {
        consistentRead: true,
        ...(token !== undefined && { nextToken: token }),
      });
      existing += page.items.length;
      token = page.nextToken;
    }
    const toSeed = Math.max(0, o.utterances - existing);
    const seededFrom = Date.now() - 3_600_000;
    const seeding = await closedLoop(toSeed, 16, async (i) => {
      const role = i % 2 === 0 ? 'customer' : 'agent';
      const streamId = seg.streamIds[role];
      const resultId = `bench-${i}`;
      const created = await utterances.putFinal({
        conversationId: readGuid,
        segment: 1,
        streamId,
        role,
        resultId,
        utteranceId: utteranceIdOf(readGuid, streamId, resultId),
        startMs: 10_000 + i * 2900,
        endMs: 10_000 + i * 2900 + 2400,
        text: SENTENCES[i % SENTENCES.length] as string,
        language: 'en-US',
        confidence: 0.91,
        senderExternalId: role === 'customer' ? 'c-1' : 'a-1',
        createdAt: seededFrom + i * 2900,
      });
      if (created.outcome !== 'created') throw new Error('seeding wrote a duplicate');
      return [];
    });
    mustSucceed('seeding', seeding);
    const total = existing + toSeed;

    const readAll = async (): Promise<number[]> => {
      const ids = new Set<string>();
      let ms = 0;
      let token: string | undefined;
      do {
        const query = `externalId=${encodeURIComponent(readGuid)}${token ? `&nextToken=${encodeURIComponent(token)}` : ''}`;
        const page = await call<{ items: { messageId: string }[]; nextToken?: string }>(
          api,
          'GET',
          `${MESSAGES_PATH}?${query}`,
        );
        ms += page.ms;
        for (const m of page.body.items) ids.add(m.messageId);
        token = page.body.nextToken;
      } while (token);
      if (ids.size !== total) throw new RequestFailed(`incomplete (${ids.size}/${total})`);
      return [ms];
    };
    const firstPage = async (): Promise<number[]> => {
      const page = await call<{ items: unknown[] }>(
        api,
        'GET',
        `${MESSAGES_PATH}?externalId=${encodeURIComponent(readGuid)}`,
      );
      if (page.body.items.length !== Math.min(total, 1000)) throw new RequestFailed('short-page');
      return [page.ms];
    };
    const status = async (): Promise<number[]> => [(await call(api, 'GET', statusPath(readGuid))).ms];

    // Warm-up: every route, every code path (JIT, connection pools, the authorizer's verdict cache).
    progress('warming up');
    const warmGuids = Array.from({ length: 10 }, () => randomUUID());
    for (const phase of [
      await closedLoop(10, 2, status),
      await closedLoop(4, 2, firstPage),
      await closedLoop(2, 1, readAll),
      await closedLoop(10, 2, async (i) => [
        (await call(api, 'POST', START_PATH, startBody(warmGuids[i] as string))).ms,
      ]),
      await closedLoop(10, 2, async (i) => [(await call(api, 'POST', STOP_PATH, stopBody(warmGuids[i] as string))).ms]),
    ]) {
      mustSucceed('warm-up', phase);
    }
    for (const c of workerCalls.slice(0, 2)) await cycle(c.conversationId);

    for (const concurrency of o.concurrency) {
      progress(`measuring, ${concurrency} in flight`);
      // Start/stop on live calls: each cycle borrows a call no other cycle is driving.
      const free = workerCalls.slice(0, concurrency);
      const starts: Phase = { latencies: [], errors: {}, wallMs: 0 };
      const toActive: Phase = { latencies: [], errors: {}, wallMs: 0 };
      const cycles = await closedLoop(o.cycles, concurrency, async () => {
        const c = free.pop();
        if (!c) throw new Error('no free call');
        try {
          const r = await cycle(c.conversationId);
          starts.latencies.push(r.start);
          toActive.latencies.push(r.toActive);
          return [r.stop];
        } finally {
          free.push(c);
        }
      });
      rows.push(
        rowOf('start (call in progress)', concurrency, starts, true),
        rowOf('stop (call in progress)', concurrency, cycles, true),
        rowOf('start → gateway streaming', concurrency, toActive, true),
      );

      const guids = Array.from({ length: o.beforeAudio }, () => randomUUID());
      const before = await closedLoop(o.beforeAudio, concurrency, async (i) => [
        (await call(api, 'POST', START_PATH, startBody(guids[i] as string))).ms,
      ]);
      const beforeStop = await closedLoop(o.beforeAudio, concurrency, async (i) => [
        (await call(api, 'POST', STOP_PATH, stopBody(guids[i] as string))).ms,
      ]);
      rows.push(
        rowOf('start (before audio)', concurrency, before),
        rowOf('stop (before audio)', concurrency, beforeStop),
      );

      rows.push(
        rowOf(
          `GET messages, first page (1,000 of ${total})`,
          concurrency,
          await closedLoop(o.reads, concurrency, firstPage),
        ),
      );
      rows.push(
        rowOf(`GET messages, all pages (${total})`, concurrency, await closedLoop(o.reads, concurrency, readAll)),
      );
      rows.push(rowOf('GET status', concurrency, await closedLoop(o.requests, concurrency, status)));
    }
    if (calls.some((c) => c.isEnded())) throw new Error('a simulated call ended before the end of the run');
    const loadAfter = loadavg()[0] as number;
    progress('done');

    const errorText = (e: Record<string, number>) =>
      Object.entries(e)
        .map(([k, v]) => `${v}×${k}`)
        .join(' ') || '0';
    process.stdout.write(
      [
        '',
        `Control and retrieval API through the local adapter (${cpus().length} cores shared, load average ` +
          `${fmt(loadBefore, 1)} → ${fmt(loadAfter, 1)}; latency in ms, client-side)`,
        table(
          ['operation', 'in flight', 'n', 'errors', 'p50', 'p95', 'p99', 'max', 'req/s'],
          rows.map((r) => [
            r.operation,
            String(r.concurrency),
            String(r.count),
            errorText(r.errors),
            fmt(r.p50Ms, 1),
            fmt(r.p95Ms, 1),
            fmt(r.p99Ms, 1),
            fmt(r.maxMs, 1),
            r.perSec === null ? '—' : fmt(r.perSec, 0),
          ]),
        ),
        `Stop waits for the gateway's inbox poll (200 ms ± 20 %), the recognizer flush and the close, polled every ` +
          `100 ms (STOP_WAIT_MS ${stopWaitMs}); cycles hold ${o.holdMs} ms of streaming, so their rate is not a throughput (—).`,
        '',
      ].join('\n'),
    );
    const outDir = join(ROOT, '.bench');
    mkdirSync(outDir, { recursive: true });
    const out = join(outDir, `api-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(
      out,
      `${JSON.stringify(
        {
          at: new Date().toISOString(),
          cores: cpus().length,
          loadAverage1m: { before: loadBefore, after: loadAfter },
          stopWaitMs,
          options: o,
          utterances: total,
          rows,
        },
        null,
        2,
      )}\n`,
    );
    if (o.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
    process.stderr.write(`results written to ${out}\n`);
  } finally {
    for (const c of calls) c.abort();
    await Promise.allSettled(calls.map((c) => c.ended));
    for (const child of children.reverse()) await child.stop();
    await transcribe?.close();
    client.destroy();
    await dynamo.stop();
  }
  if (rows.some((r) => Object.keys(r.errors).length > 0)) {
    throw new Error('some requests failed (see the errors column): the numbers above are not trustworthy');
  }
}

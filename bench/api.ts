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
 *
 * This file runs the phases; the command line is in `api-options.ts`, the timed requests and closed-loop
 * phases in `api-client.ts`, the processes and simulated calls in `api-stack.ts`, the read fixture's
 * seeding in `api-fixture.ts` and the results in `api-report.ts`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { credentialEntry } from '../lambdas/authorizer/hash-secret';
import { loadConfig } from '../lambdas/shared/config';
import { createLocalDynamoDbClient, startDynamoDbLocal } from '../local/dynamodb';
import { createScriptedRecognizer } from '../local/transcribe/recognizer';
import { type LocalTranscribe, startLocalTranscribe } from '../local/transcribe/server';
import { ConversationsRepository } from '../store/conversations';
import { createTables } from '../store/create-tables';
import { createDocumentClient } from '../store/dynamo';
import { UtterancesRepository } from '../store/utterances';
import {
  type Api,
  type ApiBenchRow,
  call,
  causeOf,
  closedLoop,
  mustSucceed,
  type Phase,
  RequestFailed,
  rowOf,
} from './api-client';
import { seedUtterances } from './api-fixture';
import { parseOptions } from './api-options';
import { writeReport } from './api-report';
import { type Call, type Child, openCall, startApi, startGateway, waitFor } from './api-stack';

export type { ApiBenchRow } from './api-client';

const START_PATH = '/mg-autotranscribe/v1/start-streaming';
const STOP_PATH = '/mg-autotranscribe/v1/stop-streaming';
const MESSAGES_PATH = '/conversation/v1/conversation/messages';
const statusPath = (guid: string) => `/mg-autotranscribe/v1/conversations/${encodeURIComponent(guid)}/status`;
const ACTIVE_TIMEOUT_MS = 15_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
    const total = await seedUtterances(conversations, utterances, readGuid, o.utterances);

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

    writeReport({ rows, options: o, total, stopWaitMs, loadBefore, loadAfter });
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

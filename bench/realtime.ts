/**
 * Real-time delivery benchmark (`npm run bench -- realtime`): the real fan-out handler driven by the
 * local stream poller from DynamoDB Local's stream, delivering to a local webhook receiver and, through
 * the local WebSocket front and the real management API client, to WebSocket subscribers.
 *
 * 1. Steady load: `--calls` conversations (default 50) × `--per-min` utterances per minute each
 *    (default 10, the contract's "about 10 messages per minute per live call") for `--duration-sec`.
 *    Reports stored → webhook and stored → WebSocket latency p50/p99/max, where "stored" is the moment
 *    `putFinal` returned (the write is durable) and "received" is the moment the receiver or client got it.
 * 2. Throughput ceiling: `--backlog` utterances (default 3000) over `--conversations` conversations are
 *    written with the poller stopped, then the poller drains them; reports utterances delivered per
 *    second (webhook and WebSocket both).
 *
 * Everything runs in this process on loopback, so the figures are the local stack's (DynamoDB Local is
 * slower than DynamoDB; the poller polls every `--poll-ms`, where Lambda's event source mapping polls each
 * shard about 4 times a second).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { subscriptionsTableName } from '../contract/tables';
import { utteranceIdOf } from '../core/transcript/utterance';
import { credentialEntry } from '../lambdas/authorizer/hash-secret';
import { makeHandler as makeFanout } from '../lambdas/fanout/handler';
import { CredentialStore, inlineSource } from '../lambdas/shared/credential-store';
import { noMetrics, silentApiLogger } from '../lambdas/shared/observability';
import { WebhookClient } from '../lambdas/shared/webhook-client';
import { createLocalDynamoDbClient, startDynamoDbLocal } from '../local/dynamodb';
import { StreamPoller } from '../local/stream-poller';
import { listenWebSocketApi } from '../local/websocket-front';
import { ManagementApiPusher, managementClient } from '../store/connection-pusher';
import { createTables } from '../store/create-tables';
import { createDocumentClient } from '../store/dynamo';
import { DeadLetterRepository, SubscriptionsRepository } from '../store/subscriptions';
import { UtterancesRepository } from '../store/utterances';
import { fmt, percentile, table } from './stats';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Arrivals {
  stored: Map<string, number>;
  webhook: Map<string, number>;
  websocket: Map<string, number>;
}

function latencies(a: Arrivals, channel: 'webhook' | 'websocket', ids: Iterable<string>): number[] {
  const out: number[] = [];
  for (const id of ids) {
    const s = a.stored.get(id);
    const r = a[channel].get(id);
    if (s !== undefined && r !== undefined) out.push(r - s);
  }
  return out;
}

/** Entry point: `npm run bench -- realtime [--calls 50] [--per-min 10] [--duration-sec 60] [--backlog 3000]`. */
export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      calls: { type: 'string', default: '50' },
      'per-min': { type: 'string', default: '10' },
      'duration-sec': { type: 'string', default: '60' },
      backlog: { type: 'string', default: '3000' },
      conversations: { type: 'string', default: '100' },
      'poll-ms': { type: 'string', default: '100' },
    },
  });
  const calls = Number(values.calls);
  const perMin = Number(values['per-min']);
  const durationSec = Number(values['duration-sec']);
  const backlog = Number(values.backlog);
  const backlogConversations = Number(values.conversations);
  const pollMs = Number(values['poll-ms']);

  const dynamo = await startDynamoDbLocal();
  const client = createLocalDynamoDbClient(dynamo.endpoint);
  const prefix = `bench${randomUUID().slice(0, 6)}`;
  const tables = await createTables(client, prefix);
  const doc = createDocumentClient(client);
  const utterances = new UtterancesRepository(doc, { tableName: tables.utterances });
  const subscriptions = new SubscriptionsRepository(doc, { tableName: subscriptionsTableName(prefix) });
  const arrivals: Arrivals = { stored: new Map(), webhook: new Map(), websocket: new Map() };

  // Webhook receiver: records the arrival of each idempotency key, answers 200.
  const receiver = createServer((req, res) => {
    const key = req.headers['idempotency-key'];
    req.resume();
    req.on('end', () => {
      if (typeof key === 'string' && !arrivals.webhook.has(key)) arrivals.webhook.set(key, performance.now());
      res.writeHead(200);
      res.end();
    });
  });
  await new Promise<void>((ok) => receiver.listen(0, '127.0.0.1', ok));
  const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

  // WebSocket front with the real handlers.
  const secret = 'bench-api-secret-000000000';
  const {
    front,
    url: wsUrl,
    managementEndpoint: endpoint,
  } = await listenWebSocketApi({
    subscriptions,
    credentials: new CredentialStore(inlineSource(await credentialEntry({ apiId: 'bench', secret })), {
      ttlMs: 600_000,
    }),
    supervisorApiIds: new Set(['bench']),
    logger: silentApiLogger,
    metrics: noMetrics,
  });

  const webhook = new WebhookClient({ id: 'bench', url: hookUrl, auth: { type: 'none' } }, { defaultTimeoutMs: 5000 });
  const handler = makeFanout({
    webhooks: [webhook],
    websocket: { subscriptions, pusher: new ManagementApiPusher(managementClient(endpoint)) },
    deadLetters: new DeadLetterRepository(doc, { tableName: subscriptionsTableName(prefix) }),
    retry: { maxAttemptsPerRun: 3, baseDelayMs: 50, maxDelayMs: 500, maxRetryAgeMs: 600_000, requestTimeoutMs: 5000 },
    concurrency: 16,
    timeBudgetMs: 30_000,
    logger: silentApiLogger,
    metrics: noMetrics,
  });
  // One checkpoint file: the drain phase resumes after what the steady phase processed.
  const checkpointDir = mkdtempSync(join(tmpdir(), 'aht-bench-'));
  const newPoller = () =>
    new StreamPoller({
      endpoint: dynamo.endpoint,
      tableName: tables.utterances,
      client,
      handler,
      pollIntervalMs: pollMs,
      batchSize: 100,
      startingPosition: 'TRIM_HORIZON',
      checkpointFile: join(checkpointDir, 'checkpoints.json'),
    });

  const openSockets: WebSocket[] = [];
  const subscribe = async (target: { conversationId: string } | { all: true }) => {
    const ws = new WebSocket(wsUrl, {
      headers: { 'asapp-api-id': 'bench', 'asapp-api-secret': secret },
    });
    openSockets.push(ws);
    await new Promise<void>((ok, fail) => {
      ws.once('open', () => ok());
      ws.once('error', fail);
    });
    const subscribed = new Promise<void>((ok) => {
      ws.on('message', (data) => {
        const frame = JSON.parse(data.toString()) as { type: string; utteranceId?: string };
        if (frame.type === 'subscribed') ok();
        if (frame.type === 'transcript' && frame.utteranceId && !arrivals.websocket.has(frame.utteranceId)) {
          arrivals.websocket.set(frame.utteranceId, performance.now());
        }
      });
    });
    ws.send(JSON.stringify({ action: 'subscribe', ...target }));
    await subscribed;
  };

  const store = async (conversationId: string, i: number): Promise<string> => {
    const role = i % 2 === 0 ? 'customer' : 'agent';
    const streamId = `${conversationId}-${role}`;
    const utteranceId = utteranceIdOf(conversationId, streamId, `r${i}`);
    await utterances.putFinal({
      conversationId,
      segment: 1,
      streamId,
      role,
      resultId: `r${i}`,
      utteranceId,
      startMs: i * 6000,
      endMs: i * 6000 + 2500,
      text: `benchmark utterance ${i} of ${conversationId}`,
      language: 'en-US',
      senderExternalId: role === 'customer' ? 'cust' : 'agent',
    });
    arrivals.stored.set(utteranceId, performance.now());
    return utteranceId;
  };

  try {
    // 1. Steady load.
    const conversations = Array.from({ length: calls }, () => randomUUID());
    for (const c of conversations) await subscribe({ conversationId: c });
    const poller = newPoller();
    await poller.start();
    process.stderr.write(`steady load: ${calls} calls × ${perMin}/min for ${durationSec}s…\n`);
    const intervalMs = 60_000 / perMin;
    const steadyIds: string[] = [];
    const steadyStart = performance.now();
    const warmupSec = Math.min(5, durationSec / 4);
    const end = steadyStart + durationSec * 1000;
    await Promise.all(
      conversations.map(async (c, k) => {
        await sleep((k / calls) * intervalMs); // spread the calls over one interval
        for (let i = 0; performance.now() < end; i++) {
          const next = performance.now() + intervalMs * (0.8 + 0.4 * Math.random());
          steadyIds.push(await store(c, i));
          await sleep(Math.max(0, next - performance.now()));
        }
      }),
    );
    const drainDeadline = performance.now() + 15_000;
    while (
      performance.now() < drainDeadline &&
      steadyIds.some((id) => !arrivals.webhook.has(id) || !arrivals.websocket.has(id))
    ) {
      await sleep(50);
    }
    await poller.stop();
    // The first seconds warm up the JIT, the JVM and the connection pools: they are not the steady state.
    const measured = steadyIds.filter((id) => (arrivals.stored.get(id) ?? 0) >= steadyStart + warmupSec * 1000);
    const hook = latencies(arrivals, 'webhook', measured);
    const ws = latencies(arrivals, 'websocket', measured);

    // 2. Throughput ceiling: a backlog drained by a fresh poller.
    for (const s of openSockets.splice(0)) s.close();
    await subscribe({ all: true });
    process.stderr.write(`throughput: writing a backlog of ${backlog} utterances…\n`);
    const backlogConvs = Array.from({ length: backlogConversations }, () => randomUUID());
    const backlogIds: string[] = [];
    const writers = 16;
    let n = 0;
    await Promise.all(
      Array.from({ length: writers }, async () => {
        while (n < backlog) {
          const i = n++;
          backlogIds.push(
            await store(backlogConvs[i % backlogConversations] as string, Math.floor(i / backlogConversations)),
          );
        }
      }),
    );
    const drainer = newPoller();
    const t0 = performance.now();
    await drainer.start();
    const drainEnd = performance.now() + 120_000;
    while (
      performance.now() < drainEnd &&
      backlogIds.some((id) => !arrivals.webhook.has(id) || !arrivals.websocket.has(id))
    ) {
      await sleep(50);
    }
    const last = Math.max(
      ...backlogIds.map((id) => Math.max(arrivals.webhook.get(id) ?? 0, arrivals.websocket.get(id) ?? 0)),
    );
    await drainer.stop();
    const deliveredBoth = backlogIds.filter((id) => arrivals.webhook.has(id) && arrivals.websocket.has(id)).length;
    const totalRecords = drainer.stats.records;
    const seconds = (last - t0) / 1000;

    const row = (name: string, xs: number[], expected: number) => [
      name,
      `${xs.length}/${expected}`,
      fmt(percentile(xs, 50), 0),
      fmt(percentile(xs, 99), 0),
      fmt(Math.max(...xs), 0),
    ];
    process.stdout.write(
      [
        '',
        `Real-time delivery (local stack, ${cpus().length} cores, poll ${pollMs} ms, batch 100)`,
        '',
        `Steady: ${calls} calls × ${perMin} utterances/min for ${durationSec}s (${fmt((calls * perMin) / 60, 1)}/s; first ${fmt(warmupSec, 0)}s are warm-up, not counted)`,
        table(
          ['path', 'delivered', 'p50 ms', 'p99 ms', 'max ms'],
          [row('stored → webhook', hook, measured.length), row('stored → WebSocket', ws, measured.length)],
        ),
        '',
        `Throughput ceiling: backlog of ${backlog} utterances over ${backlogConversations} conversations`,
        table(
          ['records read', 'delivered (both)', 'seconds', 'utterances/s'],
          [[String(totalRecords), `${deliveredBoth}/${backlog}`, fmt(seconds, 2), fmt(deliveredBoth / seconds, 0)]],
        ),
        '',
      ].join('\n'),
    );
  } finally {
    for (const s of openSockets) s.terminate();
    webhook.close();
    await front.close();
    await new Promise<void>((ok) => receiver.close(() => ok()));
    client.destroy();
    await dynamo.stop();
    rmSync(checkpointDir, { recursive: true, force: true });
  }
}

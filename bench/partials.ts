/**
 * Live partials benchmark (`npm run bench -- partials`): how long a partial result takes from the audio to a
 * WebSocket subscriber, and what publishing partials costs the gateway.
 *
 * Setup, all on loopback in this run: DynamoDB Local, the local Transcribe endpoint with the scripted
 * recognizer (progressive partials every `--partial-ms` of speech, like the service's interim results), the
 * local WebSocket front with the real `$connect` / `subscribe` handlers and management API, and the bundled
 * gateway in its own process; live partials are on when the gateway has `SUBSCRIPTIONS_TABLE` +
 * `WEBSOCKET_MANAGEMENT_ENDPOINT`. Every phase runs the same calls and audio.
 *
 * - audio → partial: a partial's arrival at its subscriber minus the moment its last audio was due in real
 *   time (the call's stream start + the partial's `end` offset). It includes the client's 20 ms framing, the
 *   gateway's 100 ms Transcribe chunks, the endpoint's recognizer and the publish path.
 * - cost: the gateway's CPU per session over the same window, with live partials and a subscriber on every
 *   call (each partial is posted), with live partials and no subscriber (only the cached subscriber lookups),
 *   and without live partials (three phases, one after the other); ratios against the last.
 * What else shared the cores is printed with the results (the machine's load average, and every part of the
 * setup above runs on the same cores).
 */
import { randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { subscriptionsTableName } from '../contract/tables';
import { credentialEntry } from '../lambdas/authorizer/hash-secret';
import { CredentialStore, inlineSource } from '../lambdas/shared/credential-store';
import { noMetrics, silentApiLogger } from '../lambdas/shared/observability';
import { createLocalDynamoDbClient, startDynamoDbLocal } from '../local/dynamodb';
import { createScriptedRecognizer } from '../local/transcribe/recognizer';
import { startLocalTranscribe } from '../local/transcribe/server';
import { listenWebSocketApi } from '../local/websocket-front';
import { createDocumentClient } from '../store/dynamo';
import { SubscriptionsRepository } from '../store/subscriptions';
import { newTablePrefix, startTranscribingGateway, turnsCall } from './pipeline';
import { fmt, percentile, table } from './stats';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One phase's figures. */
interface Phase {
  partials: boolean;
  /** Every call had a subscriber (else none: the gateway then only looks subscribers up). */
  watched: boolean;
  sessions: number;
  closedCleanly: number;
  cpuPctPerSession: number;
  partialFrames: number;
  latencies: number[];
}

/** Entry point: `npm run bench -- partials [--calls 20] [--window-sec 20] [--partial-ms 200]`. */
export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      calls: { type: 'string', default: '20' },
      'window-sec': { type: 'string', default: '20' },
      'partial-ms': { type: 'string', default: '200' },
    },
  });
  const calls = Number(values.calls);
  const windowSec = Number(values['window-sec']);
  const partialMs = Number(values['partial-ms']);
  if (!(calls >= 1 && windowSec >= 5 && partialMs >= 50)) {
    throw new Error('--calls must be ≥ 1, --window-sec ≥ 5 and --partial-ms ≥ 50');
  }

  const dynamo = await startDynamoDbLocal();
  const dynamoClient = createLocalDynamoDbClient(dynamo.endpoint);
  const transcribe = await startLocalTranscribe({
    port: 0,
    maxConcurrentStreams: calls + 10,
    recognizer: createScriptedRecognizer({
      words: () => ['one', 'two', 'three', 'four', 'five'],
      partialIntervalMs: partialMs,
    }),
  });
  const endpoints = { dynamo: dynamo.endpoint, transcribe: transcribe.url, dynamoClient };
  try {
    const phases: Phase[] = [];
    for (const [partials, watched] of [
      [true, true],
      [true, false],
      [false, true],
    ] as const) {
      process.stderr.write(
        `${partials ? 'with' : 'without'} live partials, ${watched ? 'a subscriber per call' : 'no subscriber'}: ${calls} calls…\n`,
      );
      phases.push(await runPhase(partials, watched, calls, windowSec, endpoints));
    }
    report(phases, partialMs);
  } finally {
    await transcribe.close();
    dynamoClient.destroy();
    await dynamo.stop();
  }
}

async function runPhase(
  partials: boolean,
  watched: boolean,
  calls: number,
  windowSec: number,
  endpoints: Parameters<typeof startTranscribingGateway>[1],
): Promise<Phase> {
  const prefix = newTablePrefix();
  const doc = createDocumentClient(endpoints.dynamoClient);
  const subscriptions = new SubscriptionsRepository(doc, { tableName: subscriptionsTableName(prefix) });
  // The WebSocket front with the real handlers; its management API is what the gateway posts to.
  const secret = `bench-${randomUUID()}`;
  const {
    front,
    url: wsUrl,
    managementEndpoint,
  } = await listenWebSocketApi({
    subscriptions,
    credentials: new CredentialStore(inlineSource(await credentialEntry({ apiId: 'bench', secret })), {
      ttlMs: 600_000,
    }),
    supervisorApiIds: new Set(),
    logger: silentApiLogger,
    metrics: noMetrics,
  });

  const env: Record<string, string> = partials
    ? { SUBSCRIPTIONS_TABLE: subscriptionsTableName(prefix), WEBSOCKET_MANAGEMENT_ENDPOINT: managementEndpoint }
    : {};
  const { gw, ids, runSessions } = await startTranscribingGateway(calls, endpoints, env, prefix);
  const sockets: WebSocket[] = [];
  const streamStart = new Map<string, number>();
  const arrivals: Array<{ conversationId: string; endMs: number; at: number }> = [];
  try {
    for (const conversationId of watched ? ids : []) {
      const ws = new WebSocket(wsUrl, {
        headers: { 'asapp-api-id': 'bench', 'asapp-api-secret': secret },
      });
      sockets.push(ws);
      await new Promise<void>((ok, fail) => {
        ws.once('open', () => ok());
        ws.once('error', fail);
      });
      const subscribed = new Promise<void>((ok) => {
        ws.on('message', (data) => {
          const at = performance.now();
          const frame = JSON.parse(data.toString()) as {
            type: string;
            autotranscribeResponse?: { end?: number };
          };
          if (frame.type === 'subscribed') ok();
          const endMs = frame.autotranscribeResponse?.end;
          if (frame.type === 'partial' && typeof endMs === 'number') arrivals.push({ conversationId, endMs, at });
        });
      });
      ws.send(JSON.stringify({ action: 'subscribe', conversationId }));
      await subscribed;
    }

    await sleep(1000);
    const rampPerSec = 20;
    const rampSec = calls / rampPerSec;
    const warmSec = 3;
    const audio = turnsCall(Math.ceil((rampSec + warmSec + windowSec + 3) * 1000), 1500);
    const run = runSessions(audio, rampPerSec, (i) => ({
      frameMs: 20,
      onStreamStart: (at) => streamStart.set(ids[i] as string, at),
    }));
    await sleep((rampSec + warmSec) * 1000);
    await gw.reset();
    const from = performance.now();
    await sleep(windowSec * 1000);
    const m = await gw.metrics();
    const elapsedMs = performance.now() - from;
    const { summary } = await run;
    const inWindow = arrivals.filter((a) => a.at >= from && a.at <= from + elapsedMs);
    const latencies: number[] = [];
    for (const a of inWindow) {
      const start = streamStart.get(a.conversationId);
      if (start !== undefined) latencies.push(a.at - (start + a.endMs));
    }
    return {
      partials,
      watched,
      sessions: calls,
      closedCleanly: summary.closedCleanly,
      cpuPctPerSession: ((m.cpuUserMs + m.cpuSystemMs) / elapsedMs / calls) * 100,
      partialFrames: inWindow.length,
      latencies,
    };
  } finally {
    for (const ws of sockets) ws.terminate();
    await gw.stop();
    await front.close();
  }
}

function report(phases: Phase[], partialMs: number): void {
  const on = phases.find((p) => p.partials && p.watched) as Phase;
  const off = phases.find((p) => !p.partials) as Phase;
  const l = on.latencies;
  process.stdout.write(
    `\nLive partials: ${on.sessions} real-time stereo calls, a partial every ${partialMs} ms of speech\n` +
      `(${cpus().length} cores shared by DynamoDB Local, the Transcribe endpoint, the WebSocket front, the gateway and the\n` +
      `${on.sessions} simulated calls and their subscribers; load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')})\n\n`,
  );
  process.stdout.write(
    table(
      ['audio → partial (ms)', 'frames', 'p50', 'p90', 'p99', 'max'],
      [
        [
          'subscriber',
          String(l.length),
          fmt(percentile(l, 50)),
          fmt(percentile(l, 90)),
          fmt(percentile(l, 99)),
          fmt(Math.max(...l)),
        ],
      ],
    ),
  );
  process.stdout.write(
    `\n${table(
      ['gateway', 'subscribers', 'closed cleanly', 'partial frames', 'CPU % per session', 'CPU ratio'],
      phases.map((p) => [
        p.partials ? 'with live partials' : 'without',
        p.watched ? 'one per call' : 'none',
        `${p.closedCleanly}/${p.sessions}`,
        String(p.partialFrames),
        fmt(p.cpuPctPerSession, 2),
        fmt(p.cpuPctPerSession / off.cpuPctPerSession, 2),
      ]),
    )}\n(CPU ratio: against the gateway without live partials)\n` +
      `target: audio → partial p99 < 500 ms: ${percentile(l, 99) < 500 ? 'met' : 'NOT met'}\n`,
  );
}

/**
 * `npm run bench -- soak`: the local stack's real processes (`npm start` with the tone recognizer, a
 * DynamoDB fault proxy, restartable gateway and fan-out) under N concurrent two-party calls with start,
 * stop, hold, pause, discard and storms, while faults are injected on a seeded schedule; then it judges
 * every played utterance against what was stored, delivered to the webhook and pushed to WebSocket
 * subscribers, and reports (tables on stdout, JSON under `.bench/`). Exit code 1 when a promise broke.
 *
 *   npm run bench -- soak [--calls 4] [--minutes 10] [--fault-rate 28] [--seed 1] [--no-sigkill]
 *
 * The harness, the stack and its recognizer share this machine's cores; calls are real time, so the
 * run takes `--minutes` plus about a minute to start and settle.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseToneWords } from '../local/transcribe/tone-code';
import { freePort, startLocalStack } from '../test/e2e/harness';
import { type CallDriver, type CallPlan, type CallStats, emptyCallStats } from './soak/call-driver';
import { SoakControl, sleep } from './soak/control';
import { startDynamoDbFaultProxy } from './soak/dynamodb-proxy';
import { FaultSchedule } from './soak/faults';
import { currentPids, deadLetters, RssSampler, readStored, SoakSubscriber } from './soak/observe';
import { between, seededRng } from './soak/random';
import {
  examples,
  failures,
  memorySummary,
  recoveryTimes,
  renderReport,
  type SoakReport,
  storeSection,
  summarize,
} from './soak/report';
import { runCalls } from './soak/run-calls';
import { type Delivery, judge, judgeDeliveries, judgeSummaries, type StoredItem, textWords } from './soak/truth';
import { startWebhookSink } from './soak/webhook-sink';

const ROOT = join(import.meta.dirname, '..');

export interface SoakOptions {
  calls: number;
  minutes: number;
  faultsPerMinute: number;
  seed: number;
  /** SIGKILL the gateway once (at 60 % of the run). */
  sigkill: boolean;
  /** Spacing of gateway SIGTERMs (ms); infinite means none. */
  sigtermEveryMs: number;
  /** Minimum spacing of fan-out kills (ms). */
  fanoutKillEveryMs: number;
  /** Call length range (s). */
  callSec: [number, number];
  /**
   * A longest-lived gateway or fan-out whose RSS grows faster than this (after its first 30 s, over at
   * least `minSlopeSpanMin`) fails the run.
   */
  maxSlopeMiBPerMin: number;
  minSlopeSpanMin: number;
  log(msg: string): void;
}

export const DEFAULT_SOAK: Omit<SoakOptions, 'log'> = {
  calls: 4,
  minutes: 10,
  faultsPerMinute: 28,
  seed: 1,
  sigkill: true,
  sigtermEveryMs: 240_000,
  fanoutKillEveryMs: 150_000,
  callSec: [45, 90],
  maxSlopeMiBPerMin: 5,
  minSlopeSpanMin: 2,
};

/** A subscriber connected this long after an utterance was stored must have had it pushed. */
const WS_GRACE_MS = 30_000;
/** Memory growth in the first 30 s of a process is start-up, not a leak. */
const RSS_WARMUP_MS = 30_000;

export interface SoakResult {
  report: SoakReport;
  failures: string[];
  file: string;
}

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const rng = seededRng(opts.seed);
  const runMs = opts.minutes * 60_000;
  const sink = await startWebhookSink();
  const dynamoPort = await freePort();
  const proxy = await startDynamoDbFaultProxy({
    target: `http://127.0.0.1:${dynamoPort}`,
    random: seededRng(opts.seed + 1),
  });
  const stack = await startLocalStack({
    name: 'soak',
    readyTimeoutMs: 120_000,
    env: {
      LOCAL_DYNAMODB_PORT: String(dynamoPort),
      LOCAL_DYNAMODB_PROXY_URL: proxy.endpoint,
      LOCAL_RECOGNIZER: 'tones',
      LOCAL_FAULT_SEED: String(opts.seed),
      LOCAL_RESTART_COMPONENTS: 'gateway,fanout',
      LOG_LEVEL: 'warn',
      WEBHOOK_URL: sink.url,
      // Quick retries, and a short give-up so long outages reach the dead-letter store (then redriven).
      WEBHOOK_BACKOFF_BASE_MS: '100',
      WEBHOOK_BACKOFF_MAX_MS: '1000',
      WEBHOOK_TIMEOUT_MS: '2000',
      WEBHOOK_MAX_RETRY_SEC: '20',
    },
  }).catch(async (err: unknown) => {
    // Nothing else is running yet: release the receiver and the proxy, then fail with the stack's words.
    await proxy.close();
    await sink.close();
    throw err;
  });
  const e = stack.endpoints;
  const auth = { apiId: e.api.apiId, apiSecret: e.api.apiSecret };
  const control = new SoakControl(e.api.url, auth);
  const rss = new RssSampler(stack.dataDir, ['gateway', 'fanout']);
  const subscribers = new Map<string, SoakSubscriber>();
  const active = new Set<CallDriver>();
  const began = Date.now();
  let nextId = 1;
  const schedule = new FaultSchedule(
    {
      transcribe: (req) => stack.transcribeFaults(req),
      clearTranscribe: () => stack.transcribeFaults('clear'),
      dynamoProxy: (mode) => proxy.setMode(mode),
      webhook: (mode) => sink.setMode(mode),
      subscribers: () => [...active].map((d) => subscribers.get(d.conversationId)).filter((s) => s !== undefined),
      drivers: () => [...active],
      pids: () => currentPids(stack.dataDir),
    },
    {
      rng,
      perMinute: opts.faultsPerMinute,
      runMs,
      sigkill: opts.sigkill,
      sigtermEveryMs: opts.sigtermEveryMs,
      fanoutKillEveryMs: opts.fanoutKillEveryMs,
      log: opts.log,
    },
  );
  // The machine's 1-minute load average, so the report can say what else shared the cores.
  const load: number[] = [loadavg()[0] as number];
  const loadTimer = setInterval(() => load.push(loadavg()[0] as number), 5000);
  try {
    rss.start(2000);
    const faultsDone = schedule.run();
    const drivers = await runCalls({
      slots: opts.calls,
      runMs,
      callSec: opts.callSec,
      rng,
      plan: (conversationId, durationMs) => planCall(conversationId, durationMs, rng),
      deps: {
        control,
        simulate: (sim) => stack.simulate(sim),
        gatewayHealthUrl: e.gateway.health,
        nextId: () => nextId++,
        rng,
        log: opts.log,
        ...(process.env.SOAK_TRACE === '1' && { trace: opts.log }),
      },
      onStart: async (driver) => {
        const sub = new SoakSubscriber(e.websocket.url, auth, driver.conversationId);
        await sub.connect().catch((err: unknown) => opts.log(`subscribe failed: ${String(err)}`));
        subscribers.set(driver.conversationId, sub);
        active.add(driver);
      },
      onEnd: (driver) => active.delete(driver),
      log: opts.log,
    });
    schedule.stop();
    await faultsDone;
    await schedule.clearAll();
    opts.log('calls done; waiting for the stack to settle');

    const conversationIds = drivers.map((d) => d.conversationId);
    const spoken = drivers.flatMap((d) => d.ledger());
    const settled = await settle(
      () => readStored(e, conversationIds),
      () => sink.deliveries().length,
    );
    const dlqEnv = {
      DYNAMODB_ENDPOINT: e.dynamodb.endpoint,
      SUBSCRIPTIONS_TABLE: `${e.dynamodb.tablePrefix}-subscriptions`,
      WEBHOOK_URL: sink.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    };
    const dead = await deadLetters('list', dlqEnv);
    if (dead.ids.size > 0) {
      opts.log(`redriving ${dead.ids.size} dead letters`);
      await deadLetters('redrive', dlqEnv);
      await sleep(2000);
    }
    rss.stop();
    for (const s of subscribers.values()) await s.close();
    const items = settled;

    const verdict = judge(spoken, items);
    // Final segment summaries, from the status route, once everything has settled.
    const finals: Array<{ streamId: string; transcripts: number }> = [];
    for (const id of conversationIds) {
      for (const seg of (await control.status(id))?.segments ?? []) {
        if (seg.state !== 'closed') continue;
        finals.push({ streamId: seg.customer.streamId, transcripts: seg.customer.summary.transcripts });
        finals.push({ streamId: seg.agent.streamId, transcripts: seg.agent.summary.transcripts });
      }
    }
    const summaries = judgeSummaries(control.stopAnswers, finals, items);
    const storedAt = new Map<number, number>();
    for (const i of items) {
      const p = parseToneWords(textWords(i.text));
      if ('id' in p && !storedAt.has(p.id)) storedAt.set(p.id, i.createdAtMs);
    }
    const createdById = new Map(items.map((i) => [i.utteranceId, i.createdAtMs]));
    const webhookDeliveries: Delivery[] = sink
      .deliveries()
      .filter((d) => d.idempotencyKey !== undefined)
      .map((d) => ({ utteranceId: d.idempotencyKey as string, atMs: d.receivedAt, redrive: d.redrive }));
    const webhook = judgeDeliveries(createdById, webhookDeliveries, dead.ids);
    const ws = websocketSection(items, [...subscribers.values()]);
    const faultCounts: Record<string, number> = {};
    for (const f of schedule.injected) faultCounts[f.kind] = (faultCounts[f.kind] ?? 0) + 1;
    const callTotals = drivers.reduce<CallStats & { calls: number }>(
      (a, d) => {
        for (const [k, v] of Object.entries(d.stats)) a[k as keyof CallStats] += v;
        a.calls++;
        return a;
      },
      { calls: 0, ...emptyCallStats() },
    );
    const report: SoakReport = {
      run: {
        seed: opts.seed,
        calls: opts.calls,
        minutes: (Date.now() - began) / 60_000,
        faultsPerMinute: opts.faultsPerMinute,
        startedAt: new Date(began).toISOString(),
        elapsedMs: Date.now() - began,
        note:
          `harness, gateway, API, fan-out, WebSocket front, DynamoDB Local and the local Transcribe endpoint share this machine's ` +
          `cores; 1-min load average ${load[0]?.toFixed(1)} at the start, max ${Math.max(...load).toFixed(1)}`,
      },
      faults: faultCounts,
      faultsTotal: schedule.injected.length,
      calls: callTotals,
      utterances: storeSection(
        verdict,
        spoken,
        drivers.reduce((a, d) => a + d.neverSent, 0),
      ),
      webhook: {
        expected: webhook.expected,
        delivered: webhook.delivered,
        duplicates: webhook.duplicates,
        deadLettered: webhook.deadLettered,
        redriven: webhook.redriven,
        lost: webhook.lost.length,
        refused: sink.refused().length,
      },
      websocket: ws.summary,
      stopSummaries: summaries,
      latencyMs: {
        sentToStored: summarize(verdict.sentToStoredMs),
        storedToWebhook: summarize(webhook.storedToDeliveredMs),
        storedToWebSocket: summarize(ws.latencies),
      },
      recoveryMs: recoveryTimes(schedule.injected, spoken, storedAt),
      memory: memorySummary(rss.series.values(), RSS_WARMUP_MS),
      control: {
        statuses: Object.fromEntries(control.statuses),
        serverErrors: control.serverErrors,
        stormServerErrors: [...control.statuses]
          .filter(([k]) => /^storm \w+ 5\d\d/.test(k))
          .reduce((a, [, n]) => a + n, 0),
      },
      examples: { ...examples(verdict), webhookLost: webhook.lost.slice(0, 10), faults: schedule.injected },
    };
    const failed = failures(report, opts.maxSlopeMiBPerMin, opts.minSlopeSpanMin);
    const dir = join(ROOT, '.bench');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `soak-${report.run.startedAt.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify({ report, failures: failed }, null, 2)}\n`);
    // The stack's own log (warn and above), for a person reading a failed run.
    writeFileSync(file.replace(/\.json$/, '.log'), stack.log());
    process.stdout.write(`${renderReport(report, failed)}\nreport: ${file}\n`);
    return { report, failures: failed, file };
  } finally {
    clearInterval(loadTimer);
    schedule.stop();
    await schedule.clearAll().catch(() => undefined);
    rss.stop();
    for (const s of subscribers.values()) await s.close().catch(() => undefined);
    await stack.stop();
    await proxy.close();
    await sink.close();
  }
}

/** A call's plan: length, and whether it pauses, discards, holds, and ends with a stop. */
function planCall(conversationId: string, durationMs: number, rng: () => number): CallPlan {
  const at = (lo: number, hi: number) => Math.round(durationMs * between(rng, lo, hi));
  return {
    conversationId,
    durationMs,
    ...(rng() < 0.4 && { pause: { atMs: at(0.2, 0.7), ms: Math.round(between(rng, 1500, 3000)) } }),
    ...(rng() < 0.3 && { discard: { atMs: at(0.2, 0.7), ms: Math.round(between(rng, 1000, 2000)) } }),
    ...(rng() < 0.4 && { holdAtMs: at(0.3, 0.7) }),
    stopAtEnd: rng() < 0.5,
  };
}

/**
 * Waits until the stored items and the webhook deliveries stop changing for 5 s (at most 120 s), and
 * returns the stored items.
 */
async function settle(read: () => Promise<StoredItem[]>, delivered: () => number): Promise<StoredItem[]> {
  const deadline = Date.now() + 120_000;
  let last = '';
  let stableSince = Date.now();
  let items: StoredItem[] = [];
  while (Date.now() < deadline) {
    items = await read().catch(() => items);
    const sig = `${items.length}/${delivered()}`;
    if (sig !== last) {
      last = sig;
      stableSince = Date.now();
    } else if (Date.now() - stableSince >= 5000) break;
    await sleep(1000);
  }
  return items;
}

/** WebSocket pushes against what was stored while each subscriber was connected. */
function websocketSection(items: readonly StoredItem[], subs: readonly SoakSubscriber[]) {
  const byConv = new Map(subs.map((s) => [s.conversationId, s]));
  const created = new Map(items.map((i) => [i.utteranceId, i]));
  const latencies: number[] = [];
  let pushes = 0;
  let missed = 0;
  const unique = new Set<string>();
  for (const s of subs) {
    const seen = new Set<string>();
    for (const p of s.pushes) {
      pushes++;
      unique.add(p.utteranceId);
      if (seen.has(p.utteranceId)) continue;
      seen.add(p.utteranceId);
      const item = created.get(p.utteranceId);
      if (item) latencies.push(Math.max(0, p.atMs - item.createdAtMs));
    }
  }
  for (const i of items) {
    const s = byConv.get(i.conversationId);
    if (!s) continue;
    // Pushes follow the webhook in the stream (a failing delivery holds the shard back), so only an
    // utterance the subscriber stayed connected for long after it was stored must have been pushed.
    const inWindow = s.windows.some(
      (w) => i.createdAtMs > w.from + 1000 && i.createdAtMs + WS_GRACE_MS < (w.to ?? Number.POSITIVE_INFINITY),
    );
    if (inWindow && !s.pushes.some((p) => p.utteranceId === i.utteranceId)) missed++;
  }
  return {
    latencies,
    summary: {
      pushes,
      uniquePushed: unique.size,
      missedWhileSubscribed: missed,
      drops: subs.reduce((a, s) => a + s.drops, 0),
    },
  };
}

export async function main(argv: string[]): Promise<void> {
  // Known and handled: production targets Node 24 with pinned SDKs; keep the soak's output readable.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { values } = parseArgs({
    args: argv,
    options: {
      calls: { type: 'string' },
      minutes: { type: 'string' },
      'fault-rate': { type: 'string' },
      seed: { type: 'string' },
      'no-sigkill': { type: 'boolean', default: false },
    },
  });
  const num = (raw: string | undefined, name: string, fallback: number, min: number) => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min)
      throw new Error(`--${name} must be a number ≥ ${min}, got ${JSON.stringify(raw)}`);
    return n;
  };
  const opts: SoakOptions = {
    ...DEFAULT_SOAK,
    calls: Math.round(num(values.calls, 'calls', DEFAULT_SOAK.calls, 1)),
    minutes: num(values.minutes, 'minutes', DEFAULT_SOAK.minutes, 1),
    faultsPerMinute: num(values['fault-rate'], 'fault-rate', DEFAULT_SOAK.faultsPerMinute, 0.1),
    seed: Math.round(num(values.seed, 'seed', DEFAULT_SOAK.seed, 0)),
    sigkill: !values['no-sigkill'],
    log: (msg) => process.stderr.write(`[soak +${process.uptime().toFixed(0)}s] ${msg}\n`),
  };
  const { failures: failed } = await runSoak(opts);
  if (failed.length > 0) process.exitCode = 1;
}

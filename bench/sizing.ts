/**
 * Sizing benchmark: how many real-time transcribed sessions one gateway process (one Node process = one
 * core's budget) carries within the sizing rule — at most 60 % of one core and an event-loop delay p99
 * under 50 ms in the steady state — and the `maxSessionsPerTask` / `targetSessionsPerTask` that follow.
 *
 * The gateway is bundled as in the container and runs in transcription mode against the local Transcribe
 * endpoint (scripted recognizer) and DynamoDB Local, exactly as `bench/pipeline.ts`. It steps N concurrent
 * real-time stereo sessions (a fresh gateway and fresh tables per step), measures a steady-state window
 * after the ramp and a warm-up, and stops stepping at the first step that breaks the rule.
 *
 * Everything runs on this machine's cores: besides the gateway's own counters (admin `/metrics`), the
 * CPU of the load generator (this process), the local Transcribe endpoint (its own child process here, so
 * it is counted apart), DynamoDB Local's JVM and the rest of the machine is sampled from /proc over the
 * same window, with the load average, so the report says what shared the cores.
 *
 * This file measures the steps and runs them; the rule and the derivation are in `sizing-rule.ts`, the
 * text report in `sizing-report.ts`, the /proc sampling and `--pin` in `proc-sampling.ts`, and the helper
 * processes (Transcribe endpoint, idle probe) in `sizing-children.ts`.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { SAMPLE_RATE } from '../core/audio/format';
import { createLocalDynamoDbClient, startDynamoDbLocal } from '../local/dynamodb';
import type { LocalTranscribeStats } from '../local/transcribe/server';
import { type Endpoints, startTranscribingGateway, turnsCall } from './pipeline';
import { type Pinning, pinBench, pinningFor, sharedCpu, snapshot } from './proc-sampling';
import {
  type LineChild,
  type LoopDelay,
  PROBE_SOURCE,
  serveTranscribe,
  spawnLineChild,
  spawnTranscribeEndpoint,
} from './sizing-children';
import { report } from './sizing-report';
import { CPU_LIMIT_PCT, derive, ELD_P99_LIMIT_MS, isStarved, type Step, TARGET_SHARE } from './sizing-rule';
import { fmt } from './stats';

const ROOT = join(import.meta.dirname, '..');

/** Idle measurement before each step's sessions start. */
const IDLE_SEC = 3;
/** Bytes per second of one session's audio at the endpoint: 16-bit PCM, two channels. */
const PCM_BYTES_PER_SEC = SAMPLE_RATE * 2 * 2;
/** Calls outlive the window by this much, so none ends inside it. */
const TAIL_SEC = 4;

// ── one step ────────────────────────────────────────────────────────────────────────────────────────

interface StepOptions {
  windowSec: number;
  warmupSec: number;
  rampPerSec: number;
}

interface Helpers {
  endpoint: LineChild;
  probe: LineChild;
  pinning: Pinning | undefined;
}

async function measureStep(n: number, opts: StepOptions, endpoints: Endpoints, helpers: Helpers): Promise<Step> {
  const { gw, runSessions } = await startTranscribingGateway(n, endpoints);
  try {
    if (helpers.pinning) pinBench(helpers.pinning, [gw.pid, helpers.probe.pid]);
    // Idle: the started gateway with no session (its control-inbox polling, timers, the admin server).
    await sleep(1000);
    await gw.reset();
    const idleT0 = performance.now();
    await sleep(IDLE_SEC * 1000);
    const idle = await gw.metrics();
    const idleCpuPct = ((idle.cpuUserMs + idle.cpuSystemMs) / (performance.now() - idleT0)) * 100;

    const rampSec = n / opts.rampPerSec;
    const audio = turnsCall(Math.ceil((rampSec + opts.warmupSec + opts.windowSec + TAIL_SEC) * 1000), 1500);
    const run = runSessions(audio, opts.rampPerSec);
    await sleep((rampSec + opts.warmupSec) * 1000);

    const before = await gw.pipeline();
    const ep0 = await helpers.endpoint.request<LocalTranscribeStats>('stats');
    await helpers.probe.request('reset');
    // The window: from the gateway's counter reset to its metrics read (the /proc samples sit just inside).
    await gw.reset();
    const s0 = snapshot();
    const loadAvg1mStart = loadavg()[0] as number;
    await sleep(opts.windowSec * 1000);
    const m = await gw.metrics();
    const s1 = snapshot();
    const loadAvg1mEnd = loadavg()[0] as number;
    const after = await gw.pipeline();
    const probe = await helpers.probe.request<LoopDelay>('read');
    const ep = await helpers.endpoint.request<LocalTranscribeStats>('stats');
    const elapsedMs = s1.atMs - s0.atMs;
    const { summary } = await run;

    const cpuPct = ((m.cpuUserMs + m.cpuSystemMs) / elapsedMs) * 100;
    const stored = (after.counters.utterancesStored ?? 0) - (before.counters.utterancesStored ?? 0);
    const step: Step = {
      sessions: n,
      closedCleanly: summary.closedCleanly,
      streamingGateway: after.streaming,
      streamsEndpoint: ep.streamsActive,
      cpuPct,
      cpuPctPerSession: cpuPct / n,
      eventLoopP50Ms: m.eventLoopDelayMs.p50,
      eventLoopP99Ms: m.eventLoopDelayMs.p99,
      eventLoopMaxMs: m.eventLoopDelayMs.max,
      probeEventLoop: probe,
      idleCpuPct,
      idleEventLoopP99Ms: idle.eventLoopDelayMs.p99,
      rssMiB: m.rssBytes / 2 ** 20,
      rssMiBIdle: idle.rssBytes / 2 ** 20,
      rssMiBPerSession: (m.rssBytes - idle.rssBytes) / 2 ** 20 / n,
      utterancesPerSessionMin: stored / n / (elapsedMs / 60_000),
      audioRealtime: (ep.audioBytes - ep0.audioBytes) / (n * (elapsedMs / 1000) * PCM_BYTES_PER_SEC),
      putFailures: (after.counters.utterancePutFailures ?? 0) - (before.counters.utterancePutFailures ?? 0),
      shared: sharedCpu(s0, s1, { gateway: gw.pid, endpoint: helpers.endpoint.pid }),
      loadAvg1mStart,
      loadAvg1mEnd,
      windowSec: elapsedMs / 1000,
      broke: [],
    };
    if (step.cpuPct > CPU_LIMIT_PCT) step.broke.push(`CPU ${fmt(step.cpuPct, 1)} % > ${CPU_LIMIT_PCT} %`);
    if (step.eventLoopP99Ms >= ELD_P99_LIMIT_MS) {
      step.broke.push(`event-loop delay p99 ${fmt(step.eventLoopP99Ms, 1)} ms ≥ ${ELD_P99_LIMIT_MS} ms`);
    }
    if (step.closedCleanly < n) step.broke.push(`${n - step.closedCleanly} of ${n} sessions did not close cleanly`);
    if (step.streamingGateway < n) step.broke.push(`only ${step.streamingGateway} of ${n} sessions were transcribing`);
    return step;
  } finally {
    await gw.stop();
  }
}

// ── main ────────────────────────────────────────────────────────────────────────────────────────────

const USAGE =
  'usage: npm run bench -- sizing [--steps 10,25,50,75,100,125,150] [--window-sec 20] [--warmup-sec 5] ' +
  '[--ramp 20] [--budget-sec 450] [--pin] [--keep-going] [--json]';

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      steps: { type: 'string', default: '10,25,50,75,100,125,150' },
      'window-sec': { type: 'string', default: '20' },
      'warmup-sec': { type: 'string', default: '5' },
      ramp: { type: 'string', default: '20' },
      'budget-sec': { type: 'string', default: '450' },
      // Measure every step even after the rule broke (the derivation still uses the first crossing).
      'keep-going': { type: 'boolean', default: false },
      pin: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'serve-transcribe': { type: 'string' },
    },
  });
  if (values['serve-transcribe'] !== undefined) {
    await serveTranscribe(Number(values['serve-transcribe']));
    return;
  }
  const counts = String(values.steps)
    .split(',')
    .map((s) => Number.parseInt(s, 10));
  const opts: StepOptions = {
    windowSec: Number(values['window-sec']),
    warmupSec: Number(values['warmup-sec']),
    rampPerSec: Number(values.ramp),
  };
  const budgetSec = Number(values['budget-sec']);
  if (
    counts.some((c, i) => !Number.isInteger(c) || c < 1 || (i > 0 && c <= (counts[i - 1] as number))) ||
    !(opts.windowSec > 0) ||
    !(opts.warmupSec >= 0) ||
    !(opts.rampPerSec > 0) ||
    !(budgetSec > 0)
  ) {
    throw new Error(`${USAGE}\n(steps: increasing session counts)`);
  }
  const cores = cpus().length;
  const loadBefore = loadavg();
  const pinning = values.pin ? pinningFor(cores) : undefined;
  if (values.pin && !pinning) throw new Error('--pin needs at least 2 cores');
  // Per step: gateway start and idle, the ramp, the warm-up, the window, the calls' tail and the drain.
  const stepSec = (n: number) =>
    1 + 1 + IDLE_SEC + n / opts.rampPerSec + opts.warmupSec + opts.windowSec + TAIL_SEC + 3;
  process.stderr.write(
    `sizing benchmark: steps ${counts.join(', ')} real-time stereo transcribed sessions, ${opts.warmupSec}s warm-up, ` +
      `${opts.windowSec}s window, stop at CPU > ${CPU_LIMIT_PCT} % or ELD p99 ≥ ${ELD_P99_LIMIT_MS} ms; ` +
      (pinning
        ? `gateway pinned to core ${pinning.gatewayCpu}, the load generator, the endpoint and DynamoDB Local to ${pinning.othersCpus}; `
        : `${cores} cores shared by the gateway, the load generator, the endpoint and DynamoDB Local; `) +
      `load average ${loadBefore.map((v) => fmt(v, 2)).join(' ')}\n`,
  );
  const started = performance.now();
  const dynamo = await startDynamoDbLocal();
  const dynamoClient = createLocalDynamoDbClient(dynamo.endpoint);
  let endpoint: (LineChild & { url: string }) | undefined;
  let probe: LineChild | undefined;
  // DynamoDB Local's process and pipes are unref'd: keep the event loop alive until the report is out.
  const keepAlive = setInterval(() => {}, 60_000);
  const steps: Step[] = [];
  // What a step took beyond its planned sleeps (gateway start and stop, tables, conversations).
  let overheadSec = 10;
  try {
    probe = spawnLineChild(['-e', PROBE_SOURCE]);
    endpoint = await spawnTranscribeEndpoint(Math.max(...counts) + 10);
    const endpoints: Endpoints = { dynamo: dynamo.endpoint, transcribe: endpoint.url, dynamoClient };
    for (const n of counts) {
      const spentSec = (performance.now() - started) / 1000;
      if (spentSec + stepSec(n) + overheadSec > budgetSec) {
        process.stderr.write(
          `  skipping ${n} and above: ~${fmt(stepSec(n) + overheadSec, 0)}s more would exceed --budget-sec ${budgetSec}\n`,
        );
        break;
      }
      process.stderr.write(`  ${n} sessions… `);
      const stepStart = performance.now();
      const step = await measureStep(n, opts, endpoints, { endpoint, probe, pinning });
      overheadSec = Math.max(0, (performance.now() - stepStart) / 1000 - stepSec(n));
      steps.push(step);
      process.stderr.write(
        `gateway ${fmt(step.cpuPct, 1)} % CPU, ELD p99 ${fmt(step.eventLoopP99Ms, 1)} ms, ` +
          `${step.closedCleanly}/${n} closed, audio ${fmt(step.audioRealtime, 2)} × real time, ` +
          `machine ${fmt(step.shared.machinePct, 0)} % of ${cores * 100}\n`,
      );
      const stop = [...step.broke, ...(isStarved(step) ? [`audio at ${fmt(step.audioRealtime, 2)} × real time`] : [])];
      if (stop.length > 0 && !values['keep-going']) {
        process.stderr.write(`  stopping: ${stop.join('; ')}\n`);
        break;
      }
    }
  } finally {
    dynamoClient.destroy();
    await endpoint?.close();
    await probe?.close();
    await dynamo.stop();
    clearInterval(keepAlive);
  }
  if (steps.length === 0) throw new Error('no step ran (raise --budget-sec)');
  const loadAfter = loadavg();
  const derived = derive(steps);
  process.stdout.write(`${report(steps, derived, { cores, pinning, loadBefore, loadAfter })}\n`);
  const at = new Date().toISOString();
  const out = join(ROOT, '.bench', `sizing-${at.replace(/[:.]/g, '-')}.json`);
  const rule = { cpuLimitPct: CPU_LIMIT_PCT, eventLoopP99LimitMs: ELD_P99_LIMIT_MS, targetShare: TARGET_SHARE };
  const doc = { at, cores, cpuModel: cpus()[0]?.model, pinning, loadBefore, loadAfter, ...opts, rule, steps, derived };
  writeFileSync(out, `${JSON.stringify(doc, null, 2)}\n`);
  if (values.json) process.stdout.write(`${JSON.stringify({ steps, derived })}\n`);
  process.stderr.write(`results written to ${out} (${fmt((performance.now() - started) / 1000, 0)}s)\n`);
}

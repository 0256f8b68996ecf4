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
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { SAMPLE_RATE } from '../core/audio/format';
import { createLocalDynamoDbClient, startDynamoDbLocal } from '../local/dynamodb';
import { type LocalTranscribeStats, startLocalTranscribe } from '../local/transcribe/server';
import { benchRecognizer, type Endpoints, startTranscribingGateway, turnsCall } from './pipeline';
import { fmt, table } from './stats';

const ROOT = join(import.meta.dirname, '..');

/** The sizing rule: one gateway process may use this much of one core… */
const CPU_LIMIT_PCT = 60;
/** …with an event-loop delay p99 below this. */
const ELD_P99_LIMIT_MS = 50;
/** `targetSessionsPerTask` = this share of `maxSessionsPerTask` (rounded down to a multiple of 5). */
const TARGET_SHARE = 0.7;
/** Task memory of the CDK default (1 vCPU / 2 GB), for the memory sanity check. */
const TASK_MEMORY_MIB = 2048;
/** Idle measurement before each step's sessions start. */
const IDLE_SEC = 3;
/** Bytes per second of one session's audio at the endpoint: 16-bit PCM, two channels. */
const PCM_BYTES_PER_SEC = SAMPLE_RATE * 2 * 2;
/** Below this share of real time the load generator or the endpoint was starved (a warning). */
const REALTIME_MIN = 0.95;
/** Calls outlive the window by this much, so none ends inside it. */
const TAIL_SEC = 4;

// ── /proc sampling ──────────────────────────────────────────────────────────────────────────────────

interface ProcSample {
  pid: number;
  ppid: number;
  comm: string;
  /** user + system CPU time, in clock ticks. */
  ticks: number;
  rssPages: number;
}

interface Snapshot {
  atMs: number;
  /** Busy and total ticks of the whole machine (all cores), from /proc/stat. */
  machine: { busy: number; total: number } | undefined;
  procs: Map<number, ProcSample>;
}

function getconf(name: string, fallback: number): number {
  try {
    const v = Number(execFileSync('getconf', [name], { encoding: 'utf8' }).trim());
    return v > 0 ? v : fallback;
  } catch {
    return fallback;
  }
}

const CLK_TCK = getconf('CLK_TCK', 100);
const PAGE_SIZE = getconf('PAGESIZE', 4096);

function readProc(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const f = stat.slice(close + 2).split(' ');
    return {
      pid,
      ppid: Number(f[1]),
      comm: stat.slice(stat.indexOf('(') + 1, close),
      ticks: Number(f[11]) + Number(f[12]),
      rssPages: Number(f[21]),
    };
  } catch {
    return undefined; // gone, or no /proc
  }
}

function readMachine(): Snapshot['machine'] {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
    return { busy, total: busy + (idle ?? 0) + (iowait ?? 0) };
  } catch {
    return undefined;
  }
}

/** This process and all its descendants (the gateway, the endpoint, DynamoDB Local's guard and JVM…). */
function snapshot(): Snapshot {
  const all = new Map<number, ProcSample>();
  let pids: number[] = [];
  try {
    pids = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number);
  } catch {
    // not Linux: only the totals the gateway reports itself
  }
  for (const pid of pids) {
    const p = readProc(pid);
    if (p) all.set(pid, p);
  }
  const children = new Map<number, number[]>();
  for (const p of all.values()) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const procs = new Map<number, ProcSample>();
  const queue = [process.pid];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    const p = all.get(pid);
    if (p) procs.set(pid, p);
    queue.push(...(children.get(pid) ?? []));
  }
  return { atMs: performance.now(), machine: readMachine(), procs };
}

/**
 * `--pin`: the gateway (and the idle probe) alone on the last core, everything else of the bench on the
 * others, so the gateway gets one core's budget as a 1 vCPU task would (other users of the machine are
 * not moved). All threads of each process; threads created later inherit it.
 */
interface Pinning {
  gatewayCpu: number;
  othersCpus: string;
}

function pinningFor(cores: number): Pinning | undefined {
  return cores >= 2 ? { gatewayCpu: cores - 1, othersCpus: cores === 2 ? '0' : `0-${cores - 2}` } : undefined;
}

function pin(pid: number | undefined, cpuList: string): void {
  if (pid === undefined) return;
  execFileSync('taskset', ['-a', '-p', '-c', cpuList, String(pid)], { stdio: 'ignore' });
}

/** Pins this process and its descendants except `gatewayPids` to the other cores. */
function pinBench(pinning: Pinning, gatewayPids: Array<number | undefined>): void {
  for (const p of snapshot().procs.values()) {
    if (!gatewayPids.includes(p.pid)) pin(p.pid, pinning.othersCpus);
  }
  for (const pid of gatewayPids) pin(pid, String(pinning.gatewayCpu));
}

/** CPU of everything that shared the cores over a window, each in % of one core. */
interface SharedCpu {
  gatewayProcPct: number;
  loadGeneratorPct: number;
  transcribeEndpointPct: number;
  dynamoDbLocalPct: number;
  /** Other descendants of this process (DynamoDB Local's shell guard, esbuild's service…). */
  otherChildrenPct: number;
  /** The whole machine, all cores (at most cores × 100). */
  machinePct: number;
  /** machine − everything above: other users of the machine, the npm/tsx wrappers, the kernel. */
  foreignPct: number;
  dynamoDbLocalRssMiB: number;
}

function sharedCpu(a: Snapshot, b: Snapshot, pids: { gateway?: number; endpoint?: number }): SharedCpu {
  const elapsedSec = (b.atMs - a.atMs) / 1000;
  const pct = (ticks: number) => (ticks / CLK_TCK / elapsedSec) * 100;
  const sums = { gateway: 0, bench: 0, endpoint: 0, jvm: 0, other: 0 };
  let jvmRssPages = 0;
  for (const p of b.procs.values()) {
    const before = a.procs.get(p.pid);
    // A process born inside the window counts from zero.
    const d = p.ticks - (before && before.comm === p.comm ? before.ticks : 0);
    if (p.pid === pids.gateway) sums.gateway += d;
    else if (p.pid === process.pid) sums.bench += d;
    else if (p.pid === pids.endpoint) sums.endpoint += d;
    else if (p.comm === 'java') {
      sums.jvm += d;
      jvmRssPages += p.rssPages;
    } else sums.other += d;
  }
  const ours = sums.gateway + sums.bench + sums.endpoint + sums.jvm + sums.other;
  const machine = a.machine && b.machine ? b.machine.busy - a.machine.busy : Number.NaN;
  return {
    gatewayProcPct: pct(sums.gateway),
    loadGeneratorPct: pct(sums.bench),
    transcribeEndpointPct: pct(sums.endpoint),
    dynamoDbLocalPct: pct(sums.jvm),
    otherChildrenPct: pct(sums.other),
    machinePct: pct(machine),
    foreignPct: Math.max(0, pct(machine - ours)),
    dynamoDbLocalRssMiB: (jvmRssPages * PAGE_SIZE) / 2 ** 20,
  };
}

// ── helper processes that answer one JSON line per request line ─────────────────────────────────────

/** A child that answers each request line on its stdin with one line on its stdout, and exits at EOF. */
interface LineChild {
  pid: number | undefined;
  /** The next stdout line (the first one is the child's greeting). */
  nextLine(what: string, timeoutMs: number): Promise<string>;
  request<T>(line: string): Promise<T>;
  close(): Promise<void>;
}

function spawnLineChild(args: string[]): LineChild {
  const child: ChildProcess = spawn(process.execPath, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const { stdin, stdout } = child;
  if (!stdin || !stdout) throw new Error('helper process has no pipes');
  const waiting: Array<(line: string) => void> = [];
  createInterface({ input: stdout }).on('line', (line) => waiting.shift()?.(line));
  const nextLine = (what: string, timeoutMs: number) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`helper process: no ${what} in time`)), timeoutMs);
      waiting.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
      void exited.then(() => reject(new Error(`helper process exited (waiting for ${what})`)));
    });
  return {
    pid: child.pid,
    nextLine,
    async request<T>(line: string) {
      const answer = nextLine(line, 5_000);
      stdin.write(`${line}\n`);
      return JSON.parse(await answer) as T;
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Child side of the local Transcribe endpoint (`bench/run.ts sizing --serve-transcribe <max>`): prints
 * `{"url"}`, answers each `stats` line with the endpoint's counters, and exits when stdin ends (so it
 * never outlives the bench).
 */
async function serveTranscribe(maxStreams: number): Promise<void> {
  const endpoint = await startLocalTranscribe({
    port: 0,
    maxConcurrentStreams: maxStreams,
    recognizer: benchRecognizer(),
  });
  process.stdout.write(`${JSON.stringify({ url: endpoint.url })}\n`);
  const lines = createInterface({ input: process.stdin });
  lines.on('line', () => process.stdout.write(`${JSON.stringify(endpoint.stats())}\n`));
  lines.once('close', () => {
    void endpoint.close().finally(() => process.exit(0));
  });
}

/** The local Transcribe endpoint in its own process, so its CPU is counted apart from the load generator. */
async function spawnTranscribeEndpoint(maxStreams: number): Promise<LineChild & { url: string }> {
  const child = spawnLineChild([
    ...process.execArgv,
    join(ROOT, 'bench/run.ts'),
    'sizing',
    '--serve-transcribe',
    String(maxStreams),
  ]);
  try {
    const { url } = JSON.parse(await child.nextLine('url', 30_000)) as { url: string };
    return { ...child, url };
  } catch (err) {
    await child.close();
    throw err;
  }
}

/**
 * An otherwise idle Node process measuring its own event-loop delay like the gateway's admin server
 * (10 ms resolution, delay part only): what the machine's scheduler alone adds to a p99. `reset` clears
 * it, any other line reads it.
 */
const PROBE_SOURCE = `
const h = require('node:perf_hooks').monitorEventLoopDelay({ resolution: 10 });
h.enable();
const ms = (ns) => Math.max(0, Math.round((ns / 1e6 - 10) * 100) / 100);
const rl = require('node:readline').createInterface({ input: process.stdin });
rl.on('line', (l) => {
  if (l === 'reset') h.reset();
  const r = h.count > 0 ? { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) } : { p50: 0, p99: 0, max: 0 };
  process.stdout.write(JSON.stringify(r) + '\\n');
});
rl.on('close', () => process.exit(0));
`;

interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
}

// ── one step ────────────────────────────────────────────────────────────────────────────────────────

interface Step {
  sessions: number;
  closedCleanly: number;
  /** Sessions streaming to Transcribe at the end of the window (gateway gauge / endpoint gauge). */
  streamingGateway: number;
  streamsEndpoint: number;
  /** The gateway's own CPU (admin /metrics, process.cpuUsage), % of one core. */
  cpuPct: number;
  cpuPctPerSession: number;
  eventLoopP50Ms: number;
  eventLoopP99Ms: number;
  eventLoopMaxMs: number;
  /** The idle probe process's event-loop delay in the same window: the machine's share of the gateway's. */
  probeEventLoop: LoopDelay;
  idleCpuPct: number;
  idleEventLoopP99Ms: number;
  rssMiB: number;
  rssMiBIdle: number;
  rssMiBPerSession: number;
  utterancesPerSessionMin: number;
  /** Audio the endpoint received in the window ÷ N sessions × the window in real time (1 = real time). */
  audioRealtime: number;
  putFailures: number;
  shared: SharedCpu;
  loadAvg1mStart: number;
  loadAvg1mEnd: number;
  windowSec: number;
  /** Which part of the rule this step broke, if any. */
  broke: string[];
}

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

// ── derivation ──────────────────────────────────────────────────────────────────────────────────────

interface Limit {
  /** Largest N within this part of the rule (fractional). */
  n: number;
  how: string;
  /** True when no step crossed the limit and `n` is an extrapolation (or just the largest step). */
  extrapolated: boolean;
}

interface Derived {
  cpuPctPerSession: number;
  cpuInterceptPct: number;
  byCpu: Limit;
  byEventLoop: Limit;
  byCleanSessions: Limit;
  largestN: number;
  maxSessionsPerTask: number;
  targetSessionsPerTask: number;
  targetRule: string;
  rssMiBAtMax: number;
}

/** Least-squares line y = a + b·x. */
function fitLine(points: Array<[number, number]>): { a: number; b: number } {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const b = sxx > 0 ? sxy / sxx : my / mx;
  return { a: my - b * mx, b };
}

/**
 * N where `value` reaches `limit`, linearly interpolated between the last step under it and the first
 * step at or over it (the idle gateway is the N = 0 point).
 */
function crossing(
  steps: Step[],
  value: (s: Step) => number,
  idleValue: number,
  over: (v: number) => boolean,
  limit: number,
  unit: string,
): Limit | undefined {
  let prev: [number, number] = [0, idleValue];
  for (const s of steps) {
    const v = value(s);
    if (over(v)) {
      const [n0, v0] = prev;
      const n = v > v0 ? n0 + ((limit - v0) / (v - v0)) * (s.sessions - n0) : n0;
      return {
        n: Math.max(n0, Math.min(s.sessions, n)),
        how: `interpolated between ${n0} (${fmt(v0, 1)} ${unit}) and ${s.sessions} (${fmt(v, 1)} ${unit})`,
        extrapolated: false,
      };
    }
    prev = [s.sessions, v];
  }
  return undefined;
}

/** A step whose audio did not arrive in real time under-reports the gateway's CPU. */
function isStarved(s: Step): boolean {
  return s.audioRealtime < REALTIME_MIN;
}

/** The derivation from the steps that were not starved; undefined when none. */
function derive(all: Step[]): Derived | undefined {
  const steps = all.filter((s) => !isStarved(s));
  if (steps.length === 0) return undefined;
  const last = steps[steps.length - 1] as Step;
  const mean = (f: (s: Step) => number) => steps.reduce((sum, s) => sum + f(s), 0) / steps.length;
  // Each step's idle gateway (no session) is an N = 0 point.
  const idleCpuPct = mean((s) => s.idleCpuPct);
  const fit = fitLine([[0, idleCpuPct], ...steps.map((s): [number, number] => [s.sessions, s.cpuPct])]);
  const byCpu: Limit = crossing(
    steps,
    (s) => s.cpuPct,
    idleCpuPct,
    (v) => v > CPU_LIMIT_PCT,
    CPU_LIMIT_PCT,
    '%',
  ) ?? {
    n: Math.max(last.sessions, (CPU_LIMIT_PCT - fit.a) / fit.b),
    how: `not reached up to ${last.sessions}: extrapolated from the fit (${CPU_LIMIT_PCT} − ${fmt(fit.a, 2)}) / ${fmt(fit.b, 3)}`,
    extrapolated: true,
  };
  const byEventLoop: Limit = crossing(
    steps,
    (s) => s.eventLoopP99Ms,
    mean((s) => s.idleEventLoopP99Ms),
    (v) => v >= ELD_P99_LIMIT_MS,
    ELD_P99_LIMIT_MS,
    'ms',
  ) ?? {
    n: Number.POSITIVE_INFINITY,
    how: `not reached up to ${last.sessions} (p99 at most ${fmt(Math.max(...steps.map((s) => s.eventLoopP99Ms)), 1)} ms)`,
    extrapolated: true,
  };
  const unclean = steps.findIndex((s) => s.closedCleanly < s.sessions || s.streamingGateway < s.sessions);
  const byCleanSessions: Limit =
    unclean >= 0
      ? {
          n: unclean > 0 ? (steps[unclean - 1] as Step).sessions : 0,
          how: `sessions lost or not transcribing at ${(steps[unclean] as Step).sessions}: the last clean step`,
          extrapolated: false,
        }
      : { n: Number.POSITIVE_INFINITY, how: `every session closed cleanly and transcribed`, extrapolated: true };
  const largestN = Math.min(byCpu.n, byEventLoop.n, byCleanSessions.n);
  const maxSessionsPerTask = Math.floor(largestN / 5) * 5;
  const targetSessionsPerTask = Math.floor((maxSessionsPerTask * TARGET_SHARE) / 5) * 5;
  const rssFit = fitLine([
    [0, mean((s) => s.rssMiBIdle)],
    ...steps.map((s): [number, number] => [s.sessions, s.rssMiB]),
  ]);
  return {
    cpuPctPerSession: fit.b,
    cpuInterceptPct: fit.a,
    byCpu,
    byEventLoop,
    byCleanSessions,
    largestN,
    maxSessionsPerTask,
    targetSessionsPerTask,
    targetRule: `${Math.round(TARGET_SHARE * 100)} % of maxSessionsPerTask, rounded down to a multiple of 5`,
    rssMiBAtMax: rssFit.a + rssFit.b * maxSessionsPerTask,
  };
}

// ── report ──────────────────────────────────────────────────────────────────────────────────────────

interface Machine {
  cores: number;
  pinning: Pinning | undefined;
  loadBefore: number[];
  loadAfter: number[];
}

function report(steps: Step[], d: Derived | undefined, { cores, pinning, loadBefore, loadAfter }: Machine): string {
  const gateway = table(
    [
      'sessions',
      'closed',
      'transcribing',
      'gw CPU %',
      'CPU %/session',
      'ELD p50 ms',
      'ELD p99 ms',
      'ELD max ms',
      'probe ELD p99/max',
      'RSS MiB',
      'RSS MiB/session',
      'utt/session/min',
      'audio × real time',
      'put fail',
      'rule',
    ],
    steps.map((s) => [
      String(s.sessions),
      String(s.closedCleanly),
      `${s.streamingGateway}/${s.streamsEndpoint}`,
      fmt(s.cpuPct, 1),
      fmt(s.cpuPctPerSession, 3),
      fmt(s.eventLoopP50Ms, 1),
      fmt(s.eventLoopP99Ms, 1),
      fmt(s.eventLoopMaxMs, 1),
      `${fmt(s.probeEventLoop.p99, 1)} / ${fmt(s.probeEventLoop.max, 1)}`,
      fmt(s.rssMiB, 0),
      fmt(s.rssMiBPerSession, 2),
      fmt(s.utterancesPerSessionMin, 1),
      fmt(s.audioRealtime, 2),
      String(s.putFailures),
      [...(s.broke.length ? ['BROKEN'] : []), ...(isStarved(s) ? ['STARVED'] : [])].join(', ') || 'ok',
    ]),
  );
  const shared = table(
    [
      'sessions',
      'gateway',
      'load gen (bench)',
      'Transcribe endpoint',
      'DynamoDB Local JVM',
      'other children',
      'rest of machine',
      `machine (of ${cores * 100})`,
      'load avg 1m start→end',
    ],
    steps.map((s) => [
      String(s.sessions),
      fmt(s.shared.gatewayProcPct, 1),
      fmt(s.shared.loadGeneratorPct, 1),
      fmt(s.shared.transcribeEndpointPct, 1),
      fmt(s.shared.dynamoDbLocalPct, 1),
      fmt(s.shared.otherChildrenPct, 1),
      fmt(s.shared.foreignPct, 1),
      fmt(s.shared.machinePct, 1),
      `${fmt(s.loadAvg1mStart, 2)} → ${fmt(s.loadAvg1mEnd, 2)}`,
    ]),
  );
  const broken = steps.filter((s) => s.broke.length > 0).map((s) => `  ${s.sessions} sessions: ${s.broke.join('; ')}`);
  const mean = (f: (s: Step) => number) => steps.reduce((sum, s) => sum + f(s), 0) / steps.length;
  const idle =
    `idle gateway (transcription mode, no session; mean over steps): ${fmt(
      mean((s) => s.idleCpuPct),
      2,
    )} % CPU, ` +
    `ELD p99 ${fmt(
      mean((s) => s.idleEventLoopP99Ms),
      1,
    )} ms, RSS ${fmt(
      mean((s) => s.rssMiBIdle),
      0,
    )} MiB`;
  const starved = steps.filter(isStarved).map((s) => s.sessions);
  const warnings: string[] = [];
  if (starved.length > 0) {
    warnings.push(
      `  WARNING: audio reached the endpoint slower than real time (< ${REALTIME_MIN}) at ${starved.join(', ')} sessions: ` +
        'the load generator or the endpoint was CPU-starved, so the gateway had less work than N real calls; ' +
        'those steps are left out of the derivation.',
    );
  }
  if (steps.some((s) => s.probeEventLoop.p99 >= ELD_P99_LIMIT_MS / 2)) {
    warnings.push(
      '  WARNING: an idle probe process saw an event-loop delay p99 of at least half the limit: the machine, not the ' +
        'gateway, dominates the p99 (re-run on a quiet machine).',
    );
  }
  if (d && d.maxSessionsPerTask < (steps[0] as Step).sessions) {
    warnings.push('  WARNING: the rule fails at the smallest step: these numbers are not usable for sizing.');
  }
  return [
    'Gateway (admin /metrics, steady-state window; CPU in % of one core; "transcribing" = gateway / endpoint streams;',
    'ELD = event-loop delay, 10 ms resolution; probe = an idle Node process measured the same way in the same window;',
    '"audio × real time" = audio the endpoint received ÷ N real-time calls, above 1 while a backlog drains):',
    gateway,
    '',
    `What shared the ${cores} cores in the same windows (% of one core, from /proc; ` +
      (pinning
        ? `gateway and probe pinned to core ${pinning.gatewayCpu}, the bench's other processes to ${pinning.othersCpus}):`
        : 'nothing pinned):'),
    shared,
    `load average (1m, 5m, 15m) before the run: ${loadBefore.map((v) => fmt(v, 2)).join(', ')}; ` +
      `after: ${loadAfter.map((v) => fmt(v, 2)).join(', ')}`,
    idle,
    ...(broken.length ? ['rule broken at:', ...broken] : ['rule not broken at any step']),
    '',
    `Sizing rule: one Node process = one core's budget, CPU ≤ ${CPU_LIMIT_PCT} % of one core and event-loop delay p99 < ${ELD_P99_LIMIT_MS} ms`,
    ...(d ? derivation(d) : ['  no step with real-time audio: nothing to derive']),
    '  CDK defaults today: targetSessionsPerTask 150, maxSessionsPerTask 300 (bin/config.ts)',
    ...warnings,
  ].join('\n');
}

function derivation(d: Derived): string[] {
  const limitLine = (name: string, l: Limit) =>
    `  ${name.padEnd(34)} ${Number.isFinite(l.n) ? `N = ${fmt(l.n, 1)}` : 'no bound'} (${l.how})`;
  const extrapolated = d.byCpu.extrapolated && d.largestN === d.byCpu.n;
  return [
    `  CPU per session (least-squares slope): ${fmt(d.cpuPctPerSession, 3)} % of a core ` +
      `(intercept ${fmt(d.cpuInterceptPct, 2)} %) → ${fmt((CPU_LIMIT_PCT - d.cpuInterceptPct) / d.cpuPctPerSession, 0)} ` +
      `sessions at ${CPU_LIMIT_PCT} % by the slope`,
    limitLine(`CPU ≤ ${CPU_LIMIT_PCT} %:`, d.byCpu),
    limitLine(`event-loop delay p99 < ${ELD_P99_LIMIT_MS} ms:`, d.byEventLoop),
    limitLine('sessions closed and transcribing:', d.byCleanSessions),
    `  largest N meeting the rule: ${fmt(d.largestN, 1)}${extrapolated ? ' (EXTRAPOLATED: add larger steps to confirm)' : ''}`,
    `  suggested per 1 vCPU task: maxSessionsPerTask = ${d.maxSessionsPerTask} (N rounded down to a multiple of 5), ` +
      `targetSessionsPerTask = ${d.targetSessionsPerTask} (${d.targetRule})`,
    `  gateway RSS at ${d.maxSessionsPerTask} sessions (fit): ${fmt(d.rssMiBAtMax, 0)} MiB of a ${TASK_MEMORY_MIB} MiB task`,
  ];
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

/**
 * Floor benchmark: how far is the gateway from the least any implementation could spend?
 *
 * In one run, against the same local Transcribe endpoint (scripted recognizer) and the same audio:
 * (a) the floor: N bare `@aws-sdk/client-transcribe-streaming` streams in one process, each sending the
 *     call's stereo L16 in 100 ms chunks in real time (what the gateway sends, with none of its work);
 * (b) the bundled gateway in transcription mode with N simulator sessions of the same call;
 * (c) the protocol path at `--protocol-sessions`: the gateway with a null sink vs a bare `ws` server that
 *     accepts the same upgrade and frames and answers open/ping/close minimally — the in-repo stand-in
 *     for Genesys' reference server.
 *
 * Every measured process (floor, gateway, echo) carries the same in-process probe (`--import`), so CPU and
 * memory (RSS, heap, external/array buffers) are read the same way in each, over the same window.
 * Processes run one after the other; the load generator (this process), DynamoDB Local and the endpoint
 * share the cores with whichever process is measured, which the report says.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { toneSource } from '../local/simulator/audio-source';
import { type ManySessionsResult, type ManySessionsSummary, runManySessions } from '../local/simulator/multi';
import { echoChild, sdkChild } from './floor-children';
import { freePort, spawnBundledGateway, stopChild } from './gateway-process';
import { startBenchBackends, startTranscribingGateway, turnsCall } from './pipeline';
import { fmt, table } from './stats';

const ROOT = join(import.meta.dirname, '..');
const OUT = join(ROOT, '.bench');
const WARM_SEC = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ── the probe every measured process loads ───────────────────────────────────────────────────────────

/** Process counters read by the probe over one window. */
interface ProbeSample {
  cpuMs: number;
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** HTTP/1 requests started in the window, by `host method`. */
  requests: Record<string, number>;
}

/**
 * Loaded with `--import` into a measured process: a loopback HTTP server on `FLOOR_PROBE_PORT` answering
 * `/reset` (restart the CPU window) and `/sample` (CPU since reset, memory now). Plain JS, no deps, so it
 * measures the bundled gateway exactly as it runs in the image.
 */
const PROBE_SOURCE = `
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Session } from 'node:inspector';
import { subscribe } from 'node:diagnostics_channel';
// HTTP/1 client requests per destination over the window (DynamoDB, the control poll, the endpoint): what
// the process does besides the audio path, counted the same way in every measured process.
let requests = {};
subscribe('http.client.request.start', ({ request }) => {
  const key = String(request.getHeader('host') ?? request.host) + ' ' + request.method;
  requests[key] = (requests[key] ?? 0) + 1;
});
const profPath = process.env.FLOOR_CPU_PROF;
let session;
if (profPath) {
  session = new Session();
  session.connect();
  session.post('Profiler.enable');
}
let base = process.cpuUsage();
const srv = createServer((req, res) => {
  if (req.url === '/reset') {
    base = process.cpuUsage();
    requests = {};
    session?.post('Profiler.start');
  }
  const c = process.cpuUsage(base);
  const m = process.memoryUsage();
  const body = JSON.stringify({ cpuMs: (c.user + c.system) / 1000, rss: m.rss, heapUsed: m.heapUsed,
    external: m.external, arrayBuffers: m.arrayBuffers, requests });
  const reply = () => { res.setHeader('content-type', 'application/json'); res.end(body); };
  if (req.url === '/sample' && session) {
    session.post('Profiler.stop', (err, r) => {
      if (!err) writeFileSync(profPath, JSON.stringify(r.profile));
      reply();
    });
  } else reply();
});
srv.listen(Number(process.env.FLOOR_PROBE_PORT), '127.0.0.1');
srv.unref();
`;

function writeProbe(): string {
  mkdirSync(OUT, { recursive: true });
  const path = join(OUT, 'floor-probe.mjs');
  writeFileSync(path, PROBE_SOURCE);
  return path;
}

interface Probe {
  env: Record<string, string>;
  reset(): Promise<void>;
  sample(): Promise<ProbeSample>;
}

async function probeFor(probePath: string): Promise<Probe> {
  const port = await freePort();
  const get = async (path: string) => (await (await fetch(`http://127.0.0.1:${port}${path}`)).json()) as ProbeSample;
  return {
    env: { NODE_OPTIONS: `--import=${probePath}`, FLOOR_PROBE_PORT: String(port) },
    async reset() {
      await get('/reset');
    },
    sample: () => get('/sample'),
  };
}

/** Waits for a child's `ready` line (its setup done, before any session) on stdout. */
async function waitForReady(child: ChildProcess): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('measured process did not become ready')), 30_000);
    child.stdout?.on('data', (d: Buffer) => {
      buf += String(d);
      if (buf.includes('ready\n')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`measured process exited early (${code})`)));
  });
}

// ── measured children: the bare SDK streams and the bare ws server ─────────────────────────────────────

/** Spawns this benchmark again as `--child <role>` (same loader as this process) with the probe. */
function spawnChild(role: 'sdk' | 'echo', args: string[], probe: Probe): ChildProcess {
  return spawn(process.execPath, [...process.execArgv, join(ROOT, 'bench/run.ts'), 'floor', '--child', role, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...probe.env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

// ── the measurements ─────────────────────────────────────────────────────────────────────────────────

/** One measured process over one window. */
interface Measured {
  what: string;
  sessions: number;
  closed: number | undefined;
  cpuPctPerSession: number;
  cpuPctTotal: number;
  /** HTTP/1 requests per second over the window (DynamoDB and the control poll; Transcribe is HTTP/2). */
  httpRequestsPerSec: number;
  rssKiBPerSession: number;
  heapKiBPerSession: number;
  externalKiBPerSession: number;
  arrayBuffersKiBPerSession: number;
}

async function window(
  what: string,
  n: number,
  probe: Probe,
  idle: ProbeSample,
  windowSec: number,
): Promise<Omit<Measured, 'closed'>> {
  await probe.reset();
  const t0 = performance.now();
  await sleep(windowSec * 1000);
  const s = await probe.sample();
  const elapsed = performance.now() - t0;
  const per = (bytes: number) => bytes / 1024 / n;
  const cpuPct = (s.cpuMs / elapsed) * 100;
  return {
    what,
    sessions: n,
    cpuPctTotal: cpuPct,
    httpRequestsPerSec: (Object.values(s.requests ?? {}).reduce((a, b) => a + b, 0) * 1000) / elapsed,
    cpuPctPerSession: cpuPct / n,
    rssKiBPerSession: per(s.rss - idle.rss),
    heapKiBPerSession: per(s.heapUsed - idle.heapUsed),
    externalKiBPerSession: per(s.external - idle.external),
    arrayBuffersKiBPerSession: per(s.arrayBuffers - idle.arrayBuffers),
  };
}

interface Opts {
  windowSec: number;
  ramp: number;
  probePath: string;
  /** Write a V8 CPU profile of each gateway process's measuring window into this directory. */
  cpuProfDir: string | undefined;
}

/** The probe's environment, plus `--cpu-prof` for a gateway when asked. */
function gatewayEnv(probe: Probe, o: Opts): Record<string, string> {
  if (o.cpuProfDir === undefined) return probe.env;
  mkdirSync(o.cpuProfDir, { recursive: true });
  return { ...probe.env, FLOOR_CPU_PROF: join(o.cpuProfDir, `gateway-${Date.now()}.cpuprofile`) };
}

async function measureFloor(n: number, transcribeUrl: string, o: Opts): Promise<Measured> {
  const probe = await probeFor(o.probePath);
  const durationMs = Math.ceil((n / o.ramp + WARM_SEC + o.windowSec + 5) * 1000);
  const child = spawnChild(
    'sdk',
    [
      '--sessions',
      String(n),
      '--ramp',
      String(o.ramp),
      '--duration-ms',
      String(durationMs),
      '--endpoint',
      transcribeUrl,
    ],
    probe,
  );
  try {
    await waitForReady(child);
    const idle = await probe.sample();
    await sleep((n / o.ramp + WARM_SEC) * 1000);
    return { ...(await window('bare SDK (floor)', n, probe, idle, o.windowSec)), closed: undefined };
  } finally {
    await stopChild(child, 5_000);
  }
}

async function measureGatewayTranscribing(
  n: number,
  endpoints: Parameters<typeof startTranscribingGateway>[1],
  o: Opts,
): Promise<Measured> {
  const probe = await probeFor(o.probePath);
  const { gw, runSessions } = await startTranscribingGateway(n, endpoints, gatewayEnv(probe, o));
  try {
    await sleep(1000);
    const idle = await probe.sample();
    const durationMs = Math.ceil((n / o.ramp + WARM_SEC + o.windowSec + 3) * 1000);
    const run = runSessions(turnsCall(durationMs, 1500), o.ramp);
    await sleep((n / o.ramp + WARM_SEC) * 1000);
    const m = await window('gateway, transcribing', n, probe, idle, o.windowSec);
    const { summary, results } = await run;
    reportUnclean(summary, results);
    return { ...m, closed: summary.closedCleanly };
  } finally {
    await gw.stop();
  }
}

async function measureProtocol(which: 'gateway' | 'echo', n: number, o: Opts & { ramp: number }): Promise<Measured> {
  const probe = await probeFor(o.probePath);
  let url: string;
  let stop: () => Promise<void>;
  const apiKey = `floor-${randomUUID()}`;
  if (which === 'gateway') {
    const gw = await spawnBundledGateway(ROOT, {
      AUDIOHOOK_API_KEYS: JSON.stringify({ [apiKey]: '' }),
      AUDIO_SINK: 'null',
      MAX_SESSIONS: String(n + 50),
      ...gatewayEnv(probe, o),
    });
    url = gw.url;
    stop = gw.stop;
  } else {
    const port = await freePort();
    const child = spawnChild('echo', ['--port', String(port)], probe);
    url = `ws://127.0.0.1:${port}/api/v1/audiohook/ws`;
    stop = () => stopChild(child, 5_000);
    await waitForReady(child);
  }
  try {
    await sleep(1000);
    const idle = await probe.sample();
    const durationMs = Math.ceil((n / o.ramp + WARM_SEC + o.windowSec + 3) * 1000);
    const run = runManySessions({
      sessions: n,
      rampPerSec: o.ramp,
      makeOptions: (i) => ({
        uri: url,
        apiKey,
        audio: toneSource({ format: 'PCMU', channels: 2, durationMs, hz: [400 + (i % 7) * 50, 1000] }),
        speed: 1,
        record: 'none',
        openTimeoutMs: 10_000,
      }),
    });
    await sleep((n / o.ramp + WARM_SEC) * 1000);
    const m = await window(which === 'gateway' ? 'gateway, null sink' : 'bare ws server', n, probe, idle, o.windowSec);
    const { summary, results } = await run;
    reportUnclean(summary, results);
    return { ...m, closed: summary.closedCleanly };
  } finally {
    await stop();
  }
}

/** Says how sessions that did not close cleanly ended (outcomes, and the first few causes). */
function reportUnclean(summary: ManySessionsSummary, results: ManySessionsResult['results']): void {
  if (summary.closedCleanly === summary.sessions) return;
  const causes = new Set(results.flatMap((r) => (r && r.outcome !== 'closed' ? [`${r.outcome}: ${r.failure}`] : [])));
  process.stderr.write(
    `    not closed cleanly: ${JSON.stringify(summary.byOutcome)}; e.g. ${[...causes].slice(0, 3).join(' | ')}\n`,
  );
}

// ── entry ────────────────────────────────────────────────────────────────────────────────────────────

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      child: { type: 'string' },
      sessions: { type: 'string', default: '20,50' },
      'protocol-sessions': { type: 'string', default: '500' },
      'window-sec': { type: 'string', default: '15' },
      ramp: { type: 'string', default: '20' },
      'protocol-ramp': { type: 'string', default: '200' },
      'duration-ms': { type: 'string' },
      endpoint: { type: 'string' },
      port: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  if (values.child === 'sdk') {
    return sdkChild(
      Number(values.sessions),
      Number(values.ramp),
      Number(values['duration-ms']),
      String(values.endpoint),
    );
  }
  if (values.child === 'echo') return echoChild(Number(values.port));

  const counts = String(values.sessions)
    .split(',')
    .map((s) => Number.parseInt(s, 10));
  const protocolSessions = Number.parseInt(String(values['protocol-sessions']), 10);
  const windowSec = Number(values['window-sec']);
  const ramp = Number(values.ramp);
  const protocolRamp = Number(values['protocol-ramp']);
  if (
    counts.some((c) => !Number.isInteger(c) || c < 1) ||
    !(protocolSessions >= 0) ||
    !(windowSec > 0) ||
    !(ramp > 0) ||
    !(protocolRamp > 0)
  ) {
    throw new Error(
      'usage: npm run bench -- floor [--sessions 20,50] [--protocol-sessions 500] [--window-sec 15] [--ramp 20] [--protocol-ramp 200] [--cpu-prof]',
    );
  }
  process.stderr.write(
    `floor benchmark: transcription at ${counts.join(', ')} sessions (bare SDK vs gateway), protocol at ` +
      `${protocolSessions} (bare ws vs gateway, null sink), ${windowSec}s windows; ${cpus().length} cores shared by ` +
      'the measured process, the load generator (this process), DynamoDB Local and the local Transcribe endpoint\n',
  );
  const probePath = writeProbe();
  const cpuProfDir = values['cpu-prof'] ? join(OUT, 'prof') : undefined;
  const o: Opts = { windowSec, ramp, probePath, cpuProfDir };
  const rows: Measured[] = [];
  const { dynamo, transcribe, dynamoClient } = await startBenchBackends(Math.max(...counts) + 10);
  const keepAlive = setInterval(() => {}, 60_000);
  try {
    for (const n of counts) {
      process.stderr.write(`  ${n} bare SDK streams…\n`);
      rows.push(await measureFloor(n, transcribe.url, o));
      process.stderr.write(`  ${n} transcribed gateway sessions…\n`);
      rows.push(
        await measureGatewayTranscribing(n, { dynamo: dynamo.endpoint, transcribe: transcribe.url, dynamoClient }, o),
      );
    }
  } finally {
    dynamoClient.destroy();
    await transcribe.close();
    await dynamo.stop();
  }
  try {
    if (protocolSessions > 0) {
      const p = { ...o, ramp: protocolRamp };
      process.stderr.write(`  ${protocolSessions} sessions, bare ws server…\n`);
      rows.push(await measureProtocol('echo', protocolSessions, p));
      process.stderr.write(`  ${protocolSessions} sessions, gateway with a null sink…\n`);
      rows.push(await measureProtocol('gateway', protocolSessions, p));
    }
  } finally {
    clearInterval(keepAlive);
  }

  // Each gateway row's ratio is against the bare row just before it (same N, same audio, same endpoint).
  const ratio = (i: number) => {
    const r = rows[i] as Measured;
    const base = rows[i - 1];
    return i % 2 === 1 && base ? r.cpuPctPerSession / base.cpuPctPerSession : Number.NaN;
  };
  const report = table(
    [
      'process',
      'sessions',
      'closed',
      'cpu %/session',
      'cpu % total',
      'ratio',
      'HTTP req/s',
      'RSS KiB/session',
      'heap KiB/s.',
      'external KiB/s.',
      'arrayBuffers KiB/s.',
    ],
    rows.map((r, i) => [
      r.what,
      String(r.sessions),
      r.closed === undefined ? '-' : String(r.closed),
      fmt(r.cpuPctPerSession, 3),
      fmt(r.cpuPctTotal, 1),
      i % 2 === 1 ? `${fmt(ratio(i), 2)}×` : '',
      fmt(r.httpRequestsPerSec, 1),
      fmt(r.rssKiBPerSession, 0),
      fmt(r.heapKiBPerSession, 0),
      fmt(r.externalKiBPerSession, 0),
      fmt(r.arrayBuffersKiBPerSession, 0),
    ]),
  );
  process.stdout.write(
    `${report}\n(ratio: gateway CPU per session ÷ the bare row above it; memory: growth over the idle process, ` +
      'per session; external includes arrayBuffers; HTTP req/s: HTTP/1 requests the process made, i.e. ' +
      'DynamoDB and the control poll — the Transcribe streams are HTTP/2)\n',
  );
  const out = join(OUT, `floor-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    out,
    `${JSON.stringify({ at: new Date().toISOString(), cores: cpus().length, windowSec, rows }, null, 2)}\n`,
  );
  if (values.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
  process.stderr.write(`results written to ${out}\n`);
  if (rows.some((r) => r.closed !== undefined && r.closed !== r.sessions)) {
    throw new Error('some sessions did not close cleanly: the numbers above are not trustworthy');
  }
}

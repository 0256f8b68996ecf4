/**
 * Gateway benchmark: N concurrent real-time stereo PCMU sessions (simulator → gateway on loopback,
 * null sink). Reports, per N: CPU per session (% of one core), RSS per session, event-loop delay
 * p50/p99 in the gateway, and open → opened latency p99 (client-measured and gateway-measured).
 *
 * The gateway runs as its own process (bundled like the container image) so its CPU and memory are
 * measured apart from the load generator; both share this machine's cores, which the report says.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { toneSource } from '../local/simulator/audio-source';
import { runManySessions } from '../local/simulator/multi';
import { startGatewayProcess } from './gateway-process';
import { fmt, table } from './stats';

const ROOT = join(import.meta.dirname, '..');

interface Row {
  sessions: number;
  closedCleanly: number;
  cpuPctPerSession: number;
  cpuPctTotal: number;
  rssMiBPerSession: number;
  rssMiBIdle: number;
  eventLoopP50Ms: number;
  eventLoopP99Ms: number;
  openP99ClientMs: number;
  openP99GatewayMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measure(n: number, windowSec: number, rampPerSec: number, frameMs: number): Promise<Row> {
  const gw = await startGatewayProcess(ROOT, { maxSessions: n + 50 });
  try {
    await sleep(1000);
    const idle = await gw.metrics();
    const rampSec = n / rampPerSec;
    const warmSec = 3;
    // Every session outlives the ramp, the warm-up and the measuring window.
    const durationMs = Math.ceil((rampSec + warmSec + windowSec + 3) * 1000);
    const run = runManySessions({
      sessions: n,
      rampPerSec,
      makeOptions: (i) => ({
        uri: gw.url,
        apiKey: gw.apiKey,
        clientSecret: gw.clientSecret,
        audio: toneSource({ format: 'PCMU', channels: 2, durationMs, hz: [400 + (i % 7) * 50, 1000] }),
        speed: 1,
        frameMs,
        record: 'none',
        openTimeoutMs: 10_000,
      }),
    });
    await sleep((rampSec + warmSec) * 1000);
    await gw.resetMetrics();
    const t0 = performance.now();
    await sleep(windowSec * 1000);
    const m = await gw.metrics();
    const elapsedMs = performance.now() - t0;
    const { summary } = await run;
    const cpuFraction = (m.cpuUserMs + m.cpuSystemMs) / elapsedMs;
    return {
      sessions: n,
      closedCleanly: summary.closedCleanly,
      cpuPctTotal: cpuFraction * 100,
      cpuPctPerSession: (cpuFraction * 100) / n,
      rssMiBIdle: idle.rssBytes / 2 ** 20,
      rssMiBPerSession: (m.rssBytes - idle.rssBytes) / 2 ** 20 / n,
      eventLoopP50Ms: m.eventLoopDelayMs.p50,
      eventLoopP99Ms: m.eventLoopDelayMs.p99,
      openP99ClientMs: summary.openLatencyMs.p99,
      openP99GatewayMs: m.openLatencyMs.p99,
    };
  } finally {
    await gw.stop();
  }
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      sessions: { type: 'string', default: '100,500,1000' },
      'window-sec': { type: 'string', default: '15' },
      ramp: { type: 'string', default: '200' },
      'frame-ms': { type: 'string', default: '200' },
      json: { type: 'boolean', default: false },
    },
  });
  const counts = String(values.sessions)
    .split(',')
    .map((s) => Number.parseInt(s, 10));
  const windowSec = Number(values['window-sec']);
  const ramp = Number(values.ramp);
  const frameMs = Number(values['frame-ms']);
  if (counts.some((c) => !Number.isInteger(c) || c < 1) || !(windowSec > 0) || !(ramp > 0) || !(frameMs > 0)) {
    throw new Error(
      'usage: npm run bench -- gateway [--sessions 100,500,1000] [--window-sec 15] [--ramp 200] [--frame-ms 200]',
    );
  }
  process.stderr.write(
    `gateway benchmark: ${counts.join(', ')} sessions, real-time stereo PCMU ${frameMs} ms frames, ` +
      `${windowSec}s window, ${cpus().length} cores shared by gateway and load generator\n`,
  );
  const rows: Row[] = [];
  for (const n of counts) {
    process.stderr.write(`  running ${n} sessions…\n`);
    rows.push(await measure(n, windowSec, ramp, frameMs));
  }
  const report = table(
    [
      'sessions',
      'closed',
      'cpu %/session',
      'cpu % total',
      'RSS MiB/session',
      'ELD p50 ms',
      'ELD p99 ms',
      'open p99 ms (client)',
      'open p99 ms (gateway)',
    ],
    rows.map((r) => [
      String(r.sessions),
      String(r.closedCleanly),
      fmt(r.cpuPctPerSession, 3),
      fmt(r.cpuPctTotal, 1),
      fmt(r.rssMiBPerSession, 3),
      fmt(r.eventLoopP50Ms, 1),
      fmt(r.eventLoopP99Ms, 1),
      fmt(r.openP99ClientMs, 1),
      fmt(r.openP99GatewayMs, 1),
    ]),
  );
  process.stdout.write(`${report}\n`);
  const out = join(ROOT, '.bench', `gateway-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    out,
    `${JSON.stringify({ at: new Date().toISOString(), cores: cpus().length, frameMs, windowSec, rows }, null, 2)}\n`,
  );
  if (values.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
  process.stderr.write(`results written to ${out}\n`);
  if (rows.some((r) => r.closedCleanly !== r.sessions)) {
    throw new Error('some sessions did not close cleanly: the numbers above are not trustworthy');
  }
}

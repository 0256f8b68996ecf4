/**
 * Runs the real gateway as a separate process for benchmarks, so its CPU and memory are measured
 * apart from the load generator. The gateway is bundled with esbuild (as in the container image).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { build } from 'esbuild';

export interface GatewayProcess {
  url: string;
  adminUrl: string;
  apiKey: string;
  clientSecret: string;
  metrics(): Promise<GatewayMetrics>;
  resetMetrics(): Promise<void>;
  stop(): Promise<void>;
}

export interface GatewayMetrics {
  sessions: number;
  sessionsTotal: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  rssBytes: number;
  heapUsedBytes: number;
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  openLatencyMs: { p50: number; p99: number; count: number };
}

/** A free TCP port on loopback (bound then released). */
/** SIGTERM, then SIGKILL if `child` has not exited after `killAfterMs`; resolves once it has exited. */
export async function stopChild(child: ChildProcess, killAfterMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  await exited;
  clearTimeout(timer);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

let bundled: string | undefined;

/** Bundles fargate/src/main.ts once per benchmark run. */
export async function bundleGateway(root: string): Promise<string> {
  if (bundled) return bundled;
  const outdir = join(root, '.bench');
  mkdirSync(outdir, { recursive: true });
  const outfile = join(outdir, 'gateway.mjs');
  await build({
    entryPoints: [join(root, 'fargate/src/main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: false,
    logLevel: 'warning',
  });
  bundled = outfile;
  return outfile;
}

/** A bundled gateway running in its own process. */
export interface SpawnedGateway {
  /** The AudioHook WebSocket URL. */
  url: string;
  /** The admin server (`/metrics`, `/metrics/reset`, `/metrics/pipeline`). */
  adminUrl: string;
  child: ChildProcess;
  /** SIGTERM (the gateway drains), SIGKILL after `killAfterMs`. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts the bundled gateway (fargate/src/main.ts, as in the image) on free loopback ports with `env`
 * added to a minimal environment, and waits for `/health`.
 */
export async function spawnBundledGateway(
  root: string,
  env: Record<string, string>,
  opts: { healthTimeoutMs?: number; killAfterMs?: number } = {},
): Promise<SpawnedGateway> {
  const entry = await bundleGateway(root);
  const [port, adminPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [entry], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      ADMIN_HOST: '127.0.0.1',
      ADMIN_PORT: String(adminPort),
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const stop = () => stopChild(child, opts.killAfterMs ?? 15_000);
  const healthUrl = `http://127.0.0.1:${port}/health`;
  const deadline = Date.now() + (opts.healthTimeoutMs ?? 20_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited early with code ${child.exitCode}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error('gateway did not become healthy in time');
    }
    try {
      if ((await fetch(healthUrl)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: `ws://127.0.0.1:${port}/api/v1/audiohook/ws`, adminUrl: `http://127.0.0.1:${adminPort}`, child, stop };
}

/** Starts a gateway process with a fresh API key and a null sink. */
export async function startGatewayProcess(root: string, opts: { maxSessions: number }): Promise<GatewayProcess> {
  const apiKey = randomBytes(18).toString('base64url');
  const clientSecret = randomBytes(32).toString('base64');
  const gw = await spawnBundledGateway(
    root,
    {
      AUDIOHOOK_API_KEYS: JSON.stringify({ [apiKey]: clientSecret }),
      AUDIO_SINK: 'null',
      MAX_SESSIONS: String(opts.maxSessions),
    },
    { killAfterMs: 10_000 },
  );
  const adminUrl = gw.adminUrl;
  return {
    url: gw.url,
    adminUrl,
    apiKey,
    clientSecret,
    async metrics() {
      const res = await fetch(`${adminUrl}/metrics`);
      if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
      return (await res.json()) as GatewayMetrics;
    },
    async resetMetrics() {
      const res = await fetch(`${adminUrl}/metrics/reset`, { method: 'POST' });
      if (!res.ok) throw new Error(`POST /metrics/reset answered ${res.status}`);
    },
    stop: gw.stop,
  };
}

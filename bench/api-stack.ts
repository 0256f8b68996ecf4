/**
 * The API benchmark's processes and calls: the bundled gateway and the local REST adapter, each in its own
 * process and stopped the same way, and the simulated AudioHook calls the start/stop cycles drive; plus
 * `waitFor`, the poll the benchmark uses to wait for the store to show a state.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { toneSource } from '../local/simulator/audio-source';
import { runSimulatedSession } from '../local/simulator/client';
import type { SimulatedSessionResult } from '../local/simulator/options';
import { freePort, spawnBundledGateway, stopChild } from './gateway-process';

const ROOT = join(import.meta.dirname, '..');
const ACTIVE_POLL_MS = 25;
/** Long enough to outlast any run; the sessions are ended by their abort signal. */
const CALL_AUDIO_MS = 60 * 60_000;

export interface Child {
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
  return () => stopChild(child, 15_000);
}

/** The gateway in pipeline mode, bundled as in the container image, in its own process. */
export async function startGateway(env: Record<string, string>): Promise<Child> {
  const gw = await spawnBundledGateway(ROOT, env, { healthTimeoutMs: 60_000 });
  return { url: gw.url, stop: gw.stop };
}

/** The local REST adapter through its own entry point (what `npm start` runs), in its own process. */
export async function startApi(env: Record<string, string>): Promise<Child> {
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

export interface Call {
  conversationId: string;
  /** Settles when the session ends (normally only at the end of the run, by `abort`). */
  ended: Promise<SimulatedSessionResult>;
  isEnded(): boolean;
  abort(): void;
}

export function openCall(gatewayUrl: string, apiKey: string): Call {
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

export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (performance.now() > deadline) throw new Error(what);
    await sleep(ACTIVE_POLL_MS);
  }
}

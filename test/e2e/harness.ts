/**
 * The end-to-end harness: runs `npm start`'s entry point (`tsx local/start.ts --fresh`) as a real child
 * process on free loopback ports and a temporary data directory, waits for `endpoints.json`, and hands
 * the tests the stack's endpoints plus small clients (REST with the asapp headers, the AudioHook
 * simulator, a WebSocket subscriber). `stop()` sends SIGTERM, as Ctrl-C would, and fails when any process
 * the stack started outlives it.
 *
 * The process tree is read from /proc (Linux, like CI): every descendant seen while the stack ran is
 * remembered with its start time, so a pid reused by an unrelated process is never mistaken for an orphan.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { AppError } from '../../core/errors';
import { runSimulatedSession } from '../../local/simulator/client';
import type { SimulatedSessionOptions, SimulatedSessionResult } from '../../local/simulator/options';
import {
  FAULT_CONTROL_PATH,
  type FaultControlRequest,
  type LocalTranscribeStats,
  STATS_PATH,
} from '../../local/transcribe/server';
import { descendants, type ProcInfo, stillAlive } from '../helpers/proc-tree';

const ROOT = join(import.meta.dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
/** Enough of the stack's log to see why it failed, without drowning the test report. */
const LOG_TAIL_CHARS = 6000;
const POLL_MS = 100;

/** What `local/start.ts` writes to `<dataDir>/endpoints.json` (fields added later are optional). */
export interface LocalEndpoints {
  /** `connectorApiKey`: the `genesys`-controlled Transcription Connector key (docs/genesys.md "Two control policies"). */
  gateway: {
    url: string;
    apiKey: string;
    clientSecret: string;
    connectorApiKey?: string;
    connectorClientSecret?: string;
    health: string;
    metrics: string;
  };
  /** `apiId` holds every scope; `controlApiId` only `control` (docs/security.md §3). */
  api: { url: string; apiId: string; apiSecret: string; controlApiId?: string; controlApiSecret?: string };
  dynamodb: { endpoint: string; tablePrefix: string };
  transcribe: { endpoint: string };
  /** `managementEndpoint`: the local management API, with its per-stack secret as the path prefix. */
  websocket: { url: string; managementEndpoint?: string };
  s3?: { endpoint: string; bucket: string };
  ui?: { url: string };
  /** Pids of the stack's child processes by component name. */
  processes?: Record<string, number>;
}

/** Options of {@link startLocalStack}. */
export interface StartLocalStackOptions {
  /** Extra environment for the stack (e.g. `WEBHOOK_URL`); the LOCAL_* ports and data dir are set here. */
  env?: Record<string, string>;
  /** A label for error messages and the temp directory. @default 'stack' */
  name?: string;
  /**
   * The stack's data directory; the caller owns it (it is kept on stop), e.g. to restart on the same
   * state. @default - a new temp directory, deleted by `stop()`
   */
  dataDir?: string;
  /** Start with `--fresh` (wipe the data directory). `false` restarts on the state kept there. @default true */
  fresh?: boolean;
  /** @default 90000 */
  readyTimeoutMs?: number;
}

/** Simulator options the harness fills in (gateway URI and credentials). */
export type SimulateOptions = Omit<SimulatedSessionOptions, 'uri' | 'apiKey' | 'clientSecret'>;

/** A message pushed to a WebSocket subscriber (`subscribed`, `transcript`, errors…). */
export interface PushedMessage {
  type: string;
  [key: string]: unknown;
}

/** A live WebSocket API connection subscribed to one conversation. */
export interface Subscriber {
  /** Everything pushed so far, in arrival order. */
  readonly messages: PushedMessage[];
  /** The pushed `transcript` messages so far. */
  transcripts(): PushedMessage[];
  close(): Promise<void>;
}

/** A running local stack. */
export interface LocalStack {
  endpoints: LocalEndpoints;
  dataDir: string;
  /** Pid of the `tsx local/start.ts` process. */
  pid: number;
  /** Everything the stack printed so far (stdout and stderr interleaved). */
  log(): string;
  /** A request to the REST API with the asapp credentials; a `json` body is sent as JSON with POST. */
  api(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
  /** Plays one AudioHook session against the stack's gateway. */
  simulate(opts: SimulateOptions): Promise<SimulatedSessionResult>;
  /** Connects to the WebSocket API with the REST credentials and subscribes to a conversation. */
  subscribe(conversationId: string): Promise<Subscriber>;
  /** Arms one-shot faults of the stack's local Transcribe endpoint (`'clear'` disarms them). */
  transcribeFaults(faults: FaultControlRequest | 'clear'): Promise<void>;
  /** The local Transcribe endpoint's counters. */
  transcribeStats(): Promise<LocalTranscribeStats>;
  /** Resolves with the stack's exit code once it has exited (on its own or by `stop()`). */
  readonly exited: Promise<number | null>;
  /** SIGTERM, await exit, then fail if any process the stack started is still alive. Idempotent. */
  stop(): Promise<void>;
}

/** The stack did not become ready, or left processes behind. */
export class LocalStackError extends AppError {
  override readonly name = 'LocalStackError';
  declare readonly code: 'E2E_STACK_NOT_READY' | 'E2E_STACK_ORPHANS';
  constructor(code: 'E2E_STACK_NOT_READY' | 'E2E_STACK_ORPHANS', message: string) {
    super(code, message);
  }
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

/** One request to the local Transcribe endpoint's control routes (cleartext HTTP/2, like the SDK). */
async function h2Json(base: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const session = http2.connect(base);
  try {
    return await new Promise((resolve, reject) => {
      session.once('error', reject);
      const req = session.request({ ':method': method, ':path': path, 'content-type': 'application/json' });
      let status = 0;
      let text = '';
      req.on('response', (h) => {
        status = Number(h[':status']);
      });
      req.setEncoding('utf8');
      req.on('data', (d: string) => {
        text += d;
      });
      req.on('end', () => {
        if (status !== 200) reject(new Error(`${method} ${path}: HTTP ${status} ${text}`));
        else resolve(JSON.parse(text));
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  } finally {
    session.close();
  }
}

/** Polls `condition` until it holds; throws naming `what` after `timeoutMs`. */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Prints the last 80 non-empty lines of the stack's log (those `keep` accepts): what to read when a test fails. */
export function printLogTail(stack: LocalStack, keep: (line: string) => boolean = () => true): void {
  const lines = stack
    .log()
    .split('\n')
    .filter((l) => l.trim() !== '' && keep(l));
  console.error(`local stack log (last 80 lines):\n${lines.slice(-80).join('\n')}`);
}

/** A free loopback port for each listener of the local stack, as its `LOCAL_*_PORT` variables. */
export async function freeStackPorts(): Promise<Record<string, string>> {
  const names = [
    'LOCAL_GATEWAY_PORT',
    'LOCAL_GATEWAY_ADMIN_PORT',
    'LOCAL_API_PORT',
    'LOCAL_DYNAMODB_PORT',
    'LOCAL_TRANSCRIBE_PORT',
    'LOCAL_WS_PORT',
    'LOCAL_S3_PORT',
    'LOCAL_UI_PORT',
  ];
  const ports: Record<string, string> = {};
  for (const name of names) ports[name] = String(await freePort());
  return ports;
}

/**
 * Starts the local stack and resolves once it is ready (`endpoints.json` written).
 * @throws {@link LocalStackError} `E2E_STACK_NOT_READY` with the tail of the stack's log
 */
export async function startLocalStack(opts: StartLocalStackOptions = {}): Promise<LocalStack> {
  const name = opts.name ?? 'stack';
  const fresh = opts.fresh ?? true;
  const ownsDataDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), `ahx-e2e-${name.replace(/[^a-z0-9-]/gi, '-')}-`));
  const endpointsFile = join(dataDir, 'endpoints.json');
  // A restart must not read the previous run's file as its own readiness.
  rmSync(endpointsFile, { force: true });
  const ports = await freeStackPorts();
  const child: ChildProcess = spawn(TSX, ['local/start.ts', ...(fresh ? ['--fresh'] : [])], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...ports,
      LOCAL_DATA_DIR: dataDir,
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid as number;
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const seen = new Map<number, ProcInfo>();
  const observe = () => {
    for (const [p, info] of descendants(pid)) if (!seen.has(p)) seen.set(p, info);
  };
  // Children come and go (recognizer processes per stream): sample the tree while the stack runs.
  const sampler = setInterval(observe, 500);
  const tail = () => output.slice(-LOG_TAIL_CHARS);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      observe();
      clearInterval(sampler);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const hard = setTimeout(() => child.kill('SIGKILL'), 30_000);
        await exited;
        clearTimeout(hard);
      }
      // The stack waits for its children before exiting; give stragglers (JVM guard) a moment.
      let alive = stillAlive(seen);
      const deadline = Date.now() + 5000;
      while (alive.length > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, POLL_MS));
        alive = stillAlive(seen);
      }
      if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
      if (alive.length > 0) {
        for (const p of alive) {
          try {
            process.kill(p.pid, 'SIGKILL');
          } catch {
            // gone in the meantime
          }
        }
        throw new LocalStackError(
          'E2E_STACK_ORPHANS',
          `${name}: processes outlived the stack: ${alive.map((p) => `${p.pid} (${p.comm})`).join(', ')}`,
        );
      }
    })();
    return stopping;
  };

  const timeoutMs = opts.readyTimeoutMs ?? 90_000;
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(endpointsFile)) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      const why =
        child.exitCode !== null || child.signalCode !== null
          ? `exited (${child.exitCode ?? child.signalCode})`
          : `not ready within ${timeoutMs / 1000} s`;
      await stop().catch(() => undefined);
      throw new LocalStackError('E2E_STACK_NOT_READY', `${name}: local stack ${why}; log tail:\n${tail()}`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  observe();
  const endpoints = JSON.parse(readFileSync(endpointsFile, 'utf8')) as LocalEndpoints;
  const auth = { 'asapp-api-id': endpoints.api.apiId, 'asapp-api-secret': endpoints.api.apiSecret };

  return {
    endpoints,
    dataDir,
    pid,
    log: () => output,
    exited,
    stop,
    api(path, init = {}) {
      const { json, ...rest } = init;
      const headers = new Headers(rest.headers);
      for (const [k, v] of Object.entries(auth)) headers.set(k, v);
      if (json !== undefined) headers.set('content-type', 'application/json');
      return fetch(`${endpoints.api.url}${path}`, {
        ...rest,
        ...(json !== undefined && { method: rest.method ?? 'POST', body: JSON.stringify(json) }),
        headers,
      });
    },
    async transcribeFaults(faults) {
      const base = endpoints.transcribe.endpoint;
      if (faults === 'clear') await h2Json(base, 'DELETE', FAULT_CONTROL_PATH);
      else await h2Json(base, 'POST', FAULT_CONTROL_PATH, faults);
    },
    async transcribeStats() {
      return (await h2Json(endpoints.transcribe.endpoint, 'GET', STATS_PATH)) as LocalTranscribeStats;
    },
    simulate(sim) {
      return runSimulatedSession({
        ...sim,
        uri: endpoints.gateway.url,
        apiKey: endpoints.gateway.apiKey,
        clientSecret: endpoints.gateway.clientSecret,
      });
    },
    async subscribe(conversationId) {
      const messages: PushedMessage[] = [];
      const ws = new WebSocket(endpoints.websocket.url, { headers: auth });
      ws.on('message', (data) => messages.push(JSON.parse(String(data)) as PushedMessage));
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      ws.send(JSON.stringify({ action: 'subscribe', conversationId, id: conversationId }));
      await eventually(() => messages.some((m) => m.type === 'subscribed'), 10_000, `subscribed to ${conversationId}`);
      return {
        messages,
        transcripts: () => messages.filter((m) => m.type === 'transcript'),
        close: () =>
          new Promise<void>((resolve) => {
            if (ws.readyState === WebSocket.CLOSED) return resolve();
            ws.once('close', () => resolve());
            ws.close();
          }),
      };
    },
  };
}

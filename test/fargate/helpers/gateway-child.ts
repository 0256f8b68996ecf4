/**
 * The real gateway (fargate/src/main.ts) in a child process, as the container runs it: either from source
 * through tsx (`npm run gateway`), or from an esbuild bundle (the image's form) optionally as another user.
 * Its stdout (pino JSON logs and EMF metric lines) is parsed line by line for assertions.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '../../../bench/gateway-process';

/** The repository root. */
export const ROOT = join(import.meta.dirname, '..', '..', '..');

/** Options of {@link startGatewayChild}. */
export interface GatewayChildOptions {
  /** Variables added to a minimal environment (PORT, HOST and the admin port are set here). */
  env: Record<string, string>;
  /** Run this bundle instead of the sources through tsx. */
  bundle?: string;
  /** Run as this user (needs root). */
  uid?: number;
  gid?: number;
  /** @default 30000 */
  healthTimeoutMs?: number;
}

/** A running gateway process. */
export interface GatewayChild {
  readonly child: ChildProcess;
  readonly port: number;
  /** `ws://127.0.0.1:<port>/api/v1/audiohook/ws` */
  readonly url: string;
  /** `http://127.0.0.1:<port>` */
  readonly httpUrl: string;
  /** `http://127.0.0.1:<admin port>` */
  readonly adminUrl: string;
  /** Parsed JSON lines of stdout so far (logs and EMF documents). */
  readonly lines: Array<Record<string, unknown>>;
  /** stderr so far. */
  stderr(): string;
  /** `GET /metrics` of the admin port. */
  metrics(): Promise<Record<string, unknown>>;
  /** SIGTERM (the gateway drains) and waits for the exit; SIGKILL after `killAfterMs`. */
  stop(killAfterMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the gateway and waits until `/health` answers 200. */
export async function startGatewayChild(opts: GatewayChildOptions): Promise<GatewayChild> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const args = opts.bundle ? [opts.bundle] : ['--import', 'tsx', join(ROOT, 'fargate/src/main.ts')];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      ADMIN_HOST: '127.0.0.1',
      ADMIN_PORT: String(adminPort),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.uid !== undefined && { uid: opts.uid }),
    ...(opts.gid !== undefined && { gid: opts.gid }),
  });
  const lines: Array<Record<string, unknown>> = [];
  let partial = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    partial += chunk;
    let nl = partial.indexOf('\n');
    while (nl >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ raw: line });
      }
      nl = partial.indexOf('\n');
    }
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );

  const httpUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.healthTimeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `gateway exited early (${child.exitCode ?? child.signalCode}):\n${stderr}\n${lines.map((l) => JSON.stringify(l)).join('\n')}`,
      );
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`gateway did not become healthy in time:\n${stderr}`);
    }
    try {
      if ((await fetch(`${httpUrl}/health`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const adminUrl = `http://127.0.0.1:${adminPort}`;
  return {
    child,
    port,
    url: `ws://127.0.0.1:${port}/api/v1/audiohook/ws`,
    httpUrl,
    adminUrl,
    lines,
    stderr: () => stderr,
    async metrics() {
      const res = await fetch(`${adminUrl}/metrics`);
      if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
      return (await res.json()) as Record<string, unknown>;
    },
    async stop(killAfterMs = 15_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        const result = await exited;
        clearTimeout(timer);
        return result;
      }
      return exited;
    },
  };
}

/** Polls `condition` until it holds; rejects after `timeoutMs` naming `what`. */
export async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The sizing benchmark's helper processes, each answering one JSON line per request line on its stdin and
 * exiting at EOF: the local Transcribe endpoint (so its CPU is counted apart from the load generator) and
 * an idle event-loop-delay probe (what the machine alone adds to a p99).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startLocalTranscribe } from '../local/transcribe/server';
import { benchRecognizer } from './pipeline';

const ROOT = join(import.meta.dirname, '..');

/** A child that answers each request line on its stdin with one line on its stdout, and exits at EOF. */
export interface LineChild {
  pid: number | undefined;
  /** The next stdout line (the first one is the child's greeting). */
  nextLine(what: string, timeoutMs: number): Promise<string>;
  request<T>(line: string): Promise<T>;
  close(): Promise<void>;
}

export function spawnLineChild(args: string[]): LineChild {
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
export async function serveTranscribe(maxStreams: number): Promise<void> {
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
export async function spawnTranscribeEndpoint(maxStreams: number): Promise<LineChild & { url: string }> {
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
export const PROBE_SOURCE = `
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

export interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
}

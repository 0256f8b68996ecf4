/**
 * The local stack's child processes (local/start.ts): each component runs its real entry point under
 * `tsx` with its own environment, its output prefixed into one log stream. A component either stops the
 * stack when it exits on its own, or, when listed in `LOCAL_RESTART_COMPONENTS`, is started again the way
 * ECS replaces a stopped task and Lambda retries an event source (the soak harness kills and signals
 * them to prove nothing is lost meanwhile).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { formatLogLine } from './log-format';

const ROOT = join(import.meta.dirname, '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
/** Pause before a restart, so a component that dies at once does not spin. */
const RESTART_DELAY_MS = 500;
/** More restarts than this within {@link RESTART_WINDOW_MS} is a crash loop: the stack stops. */
const MAX_RESTARTS_PER_WINDOW = 10;
const RESTART_WINDOW_MS = 60_000;

/** One running component; `child` changes when it is restarted. */
export interface Component {
  readonly name: string;
  child: ChildProcess;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

function pipeLogs(name: string, child: ChildProcess): void {
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => process.stdout.write(`${formatLogLine(name, line)}\n`));
  }
}

function spawnComponent(name: string, args: readonly string[], env: Readonly<Record<string, string>>): ChildProcess {
  const child = spawn(TSX, [...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      // Known and handled: production targets Node 24 (Lambda runtime, container image) with pinned SDKs.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  pipeLogs(name, child);
  return child;
}

/** Starts one component through its entry point (`args`, relative to the repository root). */
export function startComponent(name: string, args: readonly string[], env: Record<string, string>): Component {
  return { name, args, env, child: spawnComponent(name, args, env) };
}

/** What {@link watchComponent} does when a component exits while the stack is not stopping. */
export interface WatchOptions {
  /** Restart it (true) or stop the stack (false). */
  restart: boolean;
  /** Whether the stack is shutting down (an exit then is expected). */
  stopping(): boolean;
  /** Stops the stack with this exit code. */
  shutdown(code: number): void;
  /** Told after each restart (e.g. to rewrite the pids in endpoints.json). */
  onRestart?: (comp: Component) => void;
}

/** Watches a component for the rest of the stack's life: restart it or stop the stack when it exits. */
export function watchComponent(comp: Component, opts: WatchOptions): void {
  const restarts: number[] = [];
  const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
    if (opts.stopping()) return;
    const how = signal ?? `code ${code}`;
    const now = Date.now();
    while (restarts.length > 0 && (restarts[0] as number) < now - RESTART_WINDOW_MS) restarts.shift();
    if (!opts.restart || restarts.length >= MAX_RESTARTS_PER_WINDOW) {
      const why = opts.restart ? `; ${restarts.length} restarts within a minute` : '';
      process.stderr.write(`${comp.name} exited unexpectedly (${how})${why}; stopping\n`);
      opts.shutdown(1);
      return;
    }
    restarts.push(now);
    process.stderr.write(`${formatLogLine(comp.name, `exited (${how}); restarting it`)}\n`);
    setTimeout(() => {
      if (opts.stopping()) return;
      comp.child = spawnComponent(comp.name, comp.args, comp.env);
      comp.child.once('exit', onExit);
      opts.onRestart?.(comp);
    }, RESTART_DELAY_MS);
  };
  comp.child.once('exit', onExit);
}

/** SIGTERM to every component, SIGKILL after 8 s; resolves once all have exited. */
export async function stopAll(components: readonly Component[]): Promise<void> {
  await Promise.all(
    components.map(
      (comp) =>
        new Promise<void>((resolve) => {
          const { child } = comp;
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const kill = setTimeout(() => child.kill('SIGKILL'), 8000);
          child.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}

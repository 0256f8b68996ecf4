/**
 * Parent watch for `npm start`: the local stack stops itself when the process that started it is gone.
 *
 * A parent that dies without signalling (a crashed e2e harness, `kill -9`) leaves local/start.ts
 * re-parented to init with every component still running; a once-a-second check notices and lets
 * start.ts run its ordinary shutdown. `tsx` runs start.ts in a child of its own CLI process, and that CLI
 * outlives its parent too, so when the direct parent is the tsx CLI its parent is watched as well.
 */
import { readFileSync } from 'node:fs';

/** How often the parent is checked by default. */
export const PARENT_CHECK_INTERVAL_MS = 1000;

/** A repeating timer; {@link watchParent} takes one so tests can drive the checks by hand. */
export interface RepeatingTimer {
  /** Calls `tick` every `ms` without keeping the process alive; returns the function that cancels it. */
  every(ms: number, tick: () => void): () => void;
}

/** The default timer: `setInterval`, unref'd so the watch alone never keeps the process running. */
export const intervalTimer: RepeatingTimer = {
  every(ms, tick) {
    const handle = setInterval(tick, ms);
    handle.unref();
    return () => clearInterval(handle);
  },
};

/** Answers whether the starting process is gone: a short reason when it is, undefined while it lives. */
export type ParentCheck = () => string | undefined;

export interface ParentWatchOptions {
  /** Told once, with the check's reason, when the parent is gone; no check runs after that. */
  onGone(reason: string): void;
  /** @default {@link processParentCheck} for this process */
  check?: ParentCheck;
  /** @default {@link intervalTimer} */
  timer?: RepeatingTimer;
  /** @default {@link PARENT_CHECK_INTERVAL_MS} */
  intervalMs?: number;
}

/** A running watch. */
export interface ParentWatch {
  /** Ends the checks (e.g. when the stack stops for another reason); idempotent. */
  stop(): void;
}

/**
 * Checks the parent every `intervalMs` and calls `onGone` once when it is gone.
 * @throws {RangeError} when `intervalMs` is not a positive finite number
 */
export function watchParent(opts: ParentWatchOptions): ParentWatch {
  const intervalMs = opts.intervalMs ?? PARENT_CHECK_INTERVAL_MS;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
    throw new RangeError(`parent watch interval must be a positive number of milliseconds, got ${intervalMs}`);
  }
  const check = opts.check ?? processParentCheck();
  let done = false;
  let cancel: (() => void) | undefined;
  const stop = () => {
    done = true;
    cancel?.();
    cancel = undefined;
  };
  cancel = (opts.timer ?? intervalTimer).every(intervalMs, () => {
    if (done) return;
    const reason = check();
    if (reason === undefined) return;
    stop();
    opts.onGone(reason);
  });
  return { stop };
}

/** What {@link processParentCheck} reads; injectable for tests. */
export interface ProcessView {
  /** This process's current parent pid. */
  ppid(): number;
  /** Whether a process with this pid exists. */
  alive(pid: number): boolean;
  /** The parent pid of another process, or undefined when unknown (gone, or no /proc). */
  parentOf(pid: number): number | undefined;
  /** The command line of another process, or undefined when unknown. */
  commandLine(pid: number): readonly string[] | undefined;
}

/** The real process table: `process.ppid`, signal 0, and Linux's /proc (absent elsewhere: degrades). */
export const liveProcessView: ProcessView = {
  ppid: () => process.ppid,
  alive(pid) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      // EPERM: it exists but belongs to someone else.
      return (err as NodeJS.ErrnoException).code !== 'ESRCH';
    }
  },
  parentOf(pid) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // The command name is parenthesized and may hold spaces: the fields after it start past the last `)`.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      return Number.isInteger(ppid) ? ppid : undefined;
    } catch {
      return undefined;
    }
  },
  commandLine(pid) {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      return undefined;
    }
  },
};

/** Whether a command line is the tsx CLI (`node …/node_modules/.bin/tsx` or `node …/tsx/dist/cli.mjs`). */
export function isTsxCommandLine(argv: readonly string[]): boolean {
  return argv.slice(0, 2).some((arg) => /(^|\/)tsx$/.test(arg) || /(^|\/)tsx\/dist\/cli\.m?js$/.test(arg));
}

/**
 * The default check, taken now: the parent is gone when this process was re-parented, when the parent no
 * longer exists, or, when the parent is the tsx CLI, when that CLI was re-parented or its parent is gone.
 */
export function processParentCheck(view: ProcessView = liveProcessView): ParentCheck {
  const parent = view.ppid();
  const cli = view.commandLine(parent);
  const launcher = cli && isTsxCommandLine(cli) ? view.parentOf(parent) : undefined;
  return () => {
    if (view.ppid() !== parent || !view.alive(parent)) return `parent process ${parent} exited`;
    if (launcher === undefined) return undefined;
    if (view.parentOf(parent) !== launcher || !view.alive(launcher)) {
      return `process ${launcher}, which started tsx (${parent}), exited`;
    }
    return undefined;
  };
}

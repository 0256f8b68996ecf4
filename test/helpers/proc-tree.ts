/**
 * Processes as Linux's /proc shows them, for tests that must know what a process tree left behind: a
 * process is identified by its pid and start time, so a pid reused by an unrelated process is never
 * mistaken for one the test started.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcInfo {
  ppid: number;
  /** Start time in clock ticks since boot: with the pid, a process identity that survives pid reuse. */
  start: string;
  comm: string;
}

/** One process's identity and parent, `undefined` when it is gone (or a zombie). */
export function readProc(pid: number): ProcInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // `comm` is in parentheses and may itself contain spaces or parentheses: split after the last `)`.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    // After comm: state(0) ppid(1) … starttime is field 22 of the whole line, index 19 here.
    if (fields[0] === 'Z') return undefined; // a zombie has exited; only its parent's wait is missing
    return { ppid: Number(fields[1]), start: fields[19] ?? '', comm };
  } catch {
    return undefined;
  }
}

/** Every live descendant of `root`, as `pid → identity`. */
export function descendants(root: number): Map<number, ProcInfo> {
  const byParent = new Map<number, number[]>();
  const info = new Map<number, ProcInfo>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const p = readProc(pid);
    if (!p) continue;
    info.set(pid, p);
    const siblings = byParent.get(p.ppid) ?? [];
    siblings.push(pid);
    byParent.set(p.ppid, siblings);
  }
  const out = new Map<number, ProcInfo>();
  const queue = [...(byParent.get(root) ?? [])];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    const p = info.get(pid);
    if (!p || out.has(pid)) continue;
    out.set(pid, p);
    queue.push(...(byParent.get(pid) ?? []));
  }
  return out;
}

/** Which of `seen` still run (same pid and start time). */
export function stillAlive(seen: Map<number, ProcInfo>): Array<{ pid: number; comm: string }> {
  const alive: Array<{ pid: number; comm: string }> = [];
  for (const [pid, p] of seen) {
    const now = readProc(pid);
    if (now && now.start === p.start) alive.push({ pid, comm: p.comm });
  }
  return alive;
}

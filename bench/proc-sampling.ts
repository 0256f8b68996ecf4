/**
 * /proc sampling for the benchmarks: CPU ticks and RSS of this process and all its descendants and the
 * machine's busy time, snapshot to snapshot, split by who used them (gateway, load generator, endpoint,
 * DynamoDB Local's JVM, the rest); and `--pin`, which gives the gateway a core of its own. Linux only;
 * elsewhere the snapshots are empty.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

interface ProcSample {
  pid: number;
  ppid: number;
  comm: string;
  /** user + system CPU time, in clock ticks. */
  ticks: number;
  rssPages: number;
}

export interface Snapshot {
  atMs: number;
  /** Busy and total ticks of the whole machine (all cores), from /proc/stat. */
  machine: { busy: number; total: number } | undefined;
  procs: Map<number, ProcSample>;
}

function getconf(name: string, fallback: number): number {
  try {
    const v = Number(execFileSync('getconf', [name], { encoding: 'utf8' }).trim());
    return v > 0 ? v : fallback;
  } catch {
    return fallback;
  }
}

const CLK_TCK = getconf('CLK_TCK', 100);
const PAGE_SIZE = getconf('PAGESIZE', 4096);

function readProc(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const f = stat.slice(close + 2).split(' ');
    return {
      pid,
      ppid: Number(f[1]),
      comm: stat.slice(stat.indexOf('(') + 1, close),
      ticks: Number(f[11]) + Number(f[12]),
      rssPages: Number(f[21]),
    };
  } catch {
    return undefined; // gone, or no /proc
  }
}

function readMachine(): Snapshot['machine'] {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
    return { busy, total: busy + (idle ?? 0) + (iowait ?? 0) };
  } catch {
    return undefined;
  }
}

/** This process and all its descendants (the gateway, the endpoint, DynamoDB Local's guard and JVM…). */
export function snapshot(): Snapshot {
  const all = new Map<number, ProcSample>();
  let pids: number[] = [];
  try {
    pids = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number);
  } catch {
    // not Linux: only the totals the gateway reports itself
  }
  for (const pid of pids) {
    const p = readProc(pid);
    if (p) all.set(pid, p);
  }
  const children = new Map<number, number[]>();
  for (const p of all.values()) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const procs = new Map<number, ProcSample>();
  const queue = [process.pid];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    const p = all.get(pid);
    if (p) procs.set(pid, p);
    queue.push(...(children.get(pid) ?? []));
  }
  return { atMs: performance.now(), machine: readMachine(), procs };
}

/**
 * `--pin`: the gateway (and the idle probe) alone on the last core, everything else of the bench on the
 * others, so the gateway gets one core's budget as a 1 vCPU task would (other users of the machine are
 * not moved). All threads of each process; threads created later inherit it.
 */
export interface Pinning {
  gatewayCpu: number;
  othersCpus: string;
}

export function pinningFor(cores: number): Pinning | undefined {
  return cores >= 2 ? { gatewayCpu: cores - 1, othersCpus: cores === 2 ? '0' : `0-${cores - 2}` } : undefined;
}

function pin(pid: number | undefined, cpuList: string): void {
  if (pid === undefined) return;
  execFileSync('taskset', ['-a', '-p', '-c', cpuList, String(pid)], { stdio: 'ignore' });
}

/** Pins this process and its descendants except `gatewayPids` to the other cores. */
export function pinBench(pinning: Pinning, gatewayPids: Array<number | undefined>): void {
  for (const p of snapshot().procs.values()) {
    if (!gatewayPids.includes(p.pid)) pin(p.pid, pinning.othersCpus);
  }
  for (const pid of gatewayPids) pin(pid, String(pinning.gatewayCpu));
}

/** CPU of everything that shared the cores over a window, each in % of one core. */
export interface SharedCpu {
  gatewayProcPct: number;
  loadGeneratorPct: number;
  transcribeEndpointPct: number;
  dynamoDbLocalPct: number;
  /** Other descendants of this process (DynamoDB Local's shell guard, esbuild's service…). */
  otherChildrenPct: number;
  /** The whole machine, all cores (at most cores × 100). */
  machinePct: number;
  /** machine − everything above: other users of the machine, the npm/tsx wrappers, the kernel. */
  foreignPct: number;
  dynamoDbLocalRssMiB: number;
}

export function sharedCpu(a: Snapshot, b: Snapshot, pids: { gateway?: number; endpoint?: number }): SharedCpu {
  const elapsedSec = (b.atMs - a.atMs) / 1000;
  const pct = (ticks: number) => (ticks / CLK_TCK / elapsedSec) * 100;
  const sums = { gateway: 0, bench: 0, endpoint: 0, jvm: 0, other: 0 };
  let jvmRssPages = 0;
  for (const p of b.procs.values()) {
    const before = a.procs.get(p.pid);
    // A process born inside the window counts from zero.
    const d = p.ticks - (before && before.comm === p.comm ? before.ticks : 0);
    if (p.pid === pids.gateway) sums.gateway += d;
    else if (p.pid === process.pid) sums.bench += d;
    else if (p.pid === pids.endpoint) sums.endpoint += d;
    else if (p.comm === 'java') {
      sums.jvm += d;
      jvmRssPages += p.rssPages;
    } else sums.other += d;
  }
  const ours = sums.gateway + sums.bench + sums.endpoint + sums.jvm + sums.other;
  const machine = a.machine && b.machine ? b.machine.busy - a.machine.busy : Number.NaN;
  return {
    gatewayProcPct: pct(sums.gateway),
    loadGeneratorPct: pct(sums.bench),
    transcribeEndpointPct: pct(sums.endpoint),
    dynamoDbLocalPct: pct(sums.jvm),
    otherChildrenPct: pct(sums.other),
    machinePct: pct(machine),
    foreignPct: Math.max(0, pct(machine - ours)),
    dynamoDbLocalRssMiB: (jvmRssPages * PAGE_SIZE) / 2 ** 20,
  };
}

/**
 * The sizing benchmark's text report: the gateway's figures per step, what shared the cores in the same
 * windows, the load average, warnings, and the derivation of the sessions-per-task settings.
 */
import type { Pinning } from './proc-sampling';
import {
  CPU_LIMIT_PCT,
  type Derived,
  ELD_P99_LIMIT_MS,
  isStarved,
  type Limit,
  REALTIME_MIN,
  type Step,
} from './sizing-rule';
import { fmt, table } from './stats';

/** Task memory of the CDK default (1 vCPU / 2 GB), for the memory sanity check. */
const TASK_MEMORY_MIB = 2048;

export interface Machine {
  cores: number;
  pinning: Pinning | undefined;
  loadBefore: number[];
  loadAfter: number[];
}

export function report(
  steps: Step[],
  d: Derived | undefined,
  { cores, pinning, loadBefore, loadAfter }: Machine,
): string {
  const gateway = table(
    [
      'sessions',
      'closed',
      'transcribing',
      'gw CPU %',
      'CPU %/session',
      'ELD p50 ms',
      'ELD p99 ms',
      'ELD max ms',
      'probe ELD p99/max',
      'RSS MiB',
      'RSS MiB/session',
      'utt/session/min',
      'audio × real time',
      'put fail',
      'rule',
    ],
    steps.map((s) => [
      String(s.sessions),
      String(s.closedCleanly),
      `${s.streamingGateway}/${s.streamsEndpoint}`,
      fmt(s.cpuPct, 1),
      fmt(s.cpuPctPerSession, 3),
      fmt(s.eventLoopP50Ms, 1),
      fmt(s.eventLoopP99Ms, 1),
      fmt(s.eventLoopMaxMs, 1),
      `${fmt(s.probeEventLoop.p99, 1)} / ${fmt(s.probeEventLoop.max, 1)}`,
      fmt(s.rssMiB, 0),
      fmt(s.rssMiBPerSession, 2),
      fmt(s.utterancesPerSessionMin, 1),
      fmt(s.audioRealtime, 2),
      String(s.putFailures),
      [...(s.broke.length ? ['BROKEN'] : []), ...(isStarved(s) ? ['STARVED'] : [])].join(', ') || 'ok',
    ]),
  );
  const shared = table(
    [
      'sessions',
      'gateway',
      'load gen (bench)',
      'Transcribe endpoint',
      'DynamoDB Local JVM',
      'other children',
      'rest of machine',
      `machine (of ${cores * 100})`,
      'load avg 1m start→end',
    ],
    steps.map((s) => [
      String(s.sessions),
      fmt(s.shared.gatewayProcPct, 1),
      fmt(s.shared.loadGeneratorPct, 1),
      fmt(s.shared.transcribeEndpointPct, 1),
      fmt(s.shared.dynamoDbLocalPct, 1),
      fmt(s.shared.otherChildrenPct, 1),
      fmt(s.shared.foreignPct, 1),
      fmt(s.shared.machinePct, 1),
      `${fmt(s.loadAvg1mStart, 2)} → ${fmt(s.loadAvg1mEnd, 2)}`,
    ]),
  );
  const broken = steps.filter((s) => s.broke.length > 0).map((s) => `  ${s.sessions} sessions: ${s.broke.join('; ')}`);
  const mean = (f: (s: Step) => number) => steps.reduce((sum, s) => sum + f(s), 0) / steps.length;
  const idle =
    `idle gateway (transcription mode, no session; mean over steps): ${fmt(
      mean((s) => s.idleCpuPct),
      2,
    )} % CPU, ` +
    `ELD p99 ${fmt(
      mean((s) => s.idleEventLoopP99Ms),
      1,
    )} ms, RSS ${fmt(
      mean((s) => s.rssMiBIdle),
      0,
    )} MiB`;
  const starved = steps.filter(isStarved).map((s) => s.sessions);
  const warnings: string[] = [];
  if (starved.length > 0) {
    warnings.push(
      `  WARNING: audio reached the endpoint slower than real time (< ${REALTIME_MIN}) at ${starved.join(', ')} sessions: ` +
        'the load generator or the endpoint was CPU-starved, so the gateway had less work than N real calls; ' +
        'those steps are left out of the derivation.',
    );
  }
  if (steps.some((s) => s.probeEventLoop.p99 >= ELD_P99_LIMIT_MS / 2)) {
    warnings.push(
      '  WARNING: an idle probe process saw an event-loop delay p99 of at least half the limit: the machine, not the ' +
        'gateway, dominates the p99 (re-run on a quiet machine).',
    );
  }
  if (d && d.maxSessionsPerTask < (steps[0] as Step).sessions) {
    warnings.push('  WARNING: the rule fails at the smallest step: these numbers are not usable for sizing.');
  }
  return [
    'Gateway (admin /metrics, steady-state window; CPU in % of one core; "transcribing" = gateway / endpoint streams;',
    'ELD = event-loop delay, 10 ms resolution; probe = an idle Node process measured the same way in the same window;',
    '"audio × real time" = audio the endpoint received ÷ N real-time calls, above 1 while a backlog drains):',
    gateway,
    '',
    `What shared the ${cores} cores in the same windows (% of one core, from /proc; ` +
      (pinning
        ? `gateway and probe pinned to core ${pinning.gatewayCpu}, the bench's other processes to ${pinning.othersCpus}):`
        : 'nothing pinned):'),
    shared,
    `load average (1m, 5m, 15m) before the run: ${loadBefore.map((v) => fmt(v, 2)).join(', ')}; ` +
      `after: ${loadAfter.map((v) => fmt(v, 2)).join(', ')}`,
    idle,
    ...(broken.length ? ['rule broken at:', ...broken] : ['rule not broken at any step']),
    '',
    `Sizing rule: one Node process = one core's budget, CPU ≤ ${CPU_LIMIT_PCT} % of one core and event-loop delay p99 < ${ELD_P99_LIMIT_MS} ms`,
    ...(d ? derivation(d) : ['  no step with real-time audio: nothing to derive']),
    '  CDK defaults today: targetSessionsPerTask 150, maxSessionsPerTask 300 (bin/config.ts)',
    ...warnings,
  ].join('\n');
}

function derivation(d: Derived): string[] {
  const limitLine = (name: string, l: Limit) =>
    `  ${name.padEnd(34)} ${Number.isFinite(l.n) ? `N = ${fmt(l.n, 1)}` : 'no bound'} (${l.how})`;
  const extrapolated = d.byCpu.extrapolated && d.largestN === d.byCpu.n;
  return [
    `  CPU per session (least-squares slope): ${fmt(d.cpuPctPerSession, 3)} % of a core ` +
      `(intercept ${fmt(d.cpuInterceptPct, 2)} %) → ${fmt((CPU_LIMIT_PCT - d.cpuInterceptPct) / d.cpuPctPerSession, 0)} ` +
      `sessions at ${CPU_LIMIT_PCT} % by the slope`,
    limitLine(`CPU ≤ ${CPU_LIMIT_PCT} %:`, d.byCpu),
    limitLine(`event-loop delay p99 < ${ELD_P99_LIMIT_MS} ms:`, d.byEventLoop),
    limitLine('sessions closed and transcribing:', d.byCleanSessions),
    `  largest N meeting the rule: ${fmt(d.largestN, 1)}${extrapolated ? ' (EXTRAPOLATED: add larger steps to confirm)' : ''}`,
    `  suggested per 1 vCPU task: maxSessionsPerTask = ${d.maxSessionsPerTask} (N rounded down to a multiple of 5), ` +
      `targetSessionsPerTask = ${d.targetSessionsPerTask} (${d.targetRule})`,
    `  gateway RSS at ${d.maxSessionsPerTask} sessions (fit): ${fmt(d.rssMiBAtMax, 0)} MiB of a ${TASK_MEMORY_MIB} MiB task`,
  ];
}

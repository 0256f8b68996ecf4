/**
 * The soak report: the verdicts of bench/soak/truth.ts, the faults injected, latencies under faults, the
 * time each fault took to recover from, and memory slopes, as one JSON document (`.bench/soak-*.json`)
 * and tables on stdout. {@link failures} names every broken promise, so a run can fail on them.
 */
import { fmt, percentile, table } from '../stats';
import { type CallStats, KILL_WINDOW_MS } from './call-driver';
import { FAULT_KINDS, type FaultKind, type InjectedFault } from './faults';
import { type RssSeries, rssSlopeMiBPerMin } from './observe';
import type { DeliveryVerdict, Spoken, StoredItem, StoreVerdict, SummaryVerdict } from './truth';

export interface LatencySummary {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export function summarize(values: readonly number[]): LatencySummary {
  return {
    n: values.length,
    p50: percentile(values, 50),
    p99: percentile(values, 99),
    max: values.length === 0 ? 0 : Math.max(...values),
  };
}

export interface SoakReport {
  run: {
    seed: number;
    calls: number;
    minutes: number;
    faultsPerMinute: number;
    startedAt: string;
    elapsedMs: number;
    note: string;
  };
  faults: Record<string, number>;
  faultsTotal: number;
  calls: CallStats & { calls: number };
  utterances: {
    played: number;
    expected: number;
    stored: number;
    lost: number;
    duplicated: number;
    storedWhileOff: number;
    misattributed: number;
    fragments: number;
    cutFragments: number;
    misplaced: number;
    uncertainPartial: number;
    uncertainCut: number;
    /** Placed where the simulator never read (skipped time): never played, not judged. */
    neverSent: number;
    uncertainKilled: number;
    uncertainStoredAnyway: number;
    notStoredOnHold: number;
  };
  webhook: Omit<DeliveryVerdict, 'lost' | 'storedToDeliveredMs'> & { lost: number; refused: number };
  websocket: { pushes: number; uniquePushed: number; missedWhileSubscribed: number; drops: number };
  /** stop-streaming answers and final segment summaries against the stored count per stream. */
  stopSummaries: SummaryVerdict;
  latencyMs: { sentToStored: LatencySummary; storedToWebhook: LatencySummary; storedToWebSocket: LatencySummary };
  recoveryMs: Record<string, { n: number; p50: number; max: number }>;
  memory: Array<{
    component: string;
    pid: number;
    spanMin: number;
    slopeMiBPerMin: number | undefined;
    lastMiB: number;
  }>;
  control: { statuses: Record<string, number>; serverErrors: number; stormServerErrors: number };
  /** Examples of what failed, for a person to look at (ids and offsets, no more than 10 each). */
  examples: Record<string, unknown[]>;
}

/**
 * Per fault kind, how long after the fault ended the utterances played during it were all stored
 * (0 when they were stored before it ended). Only faults with played-and-stored utterances count.
 */
export function recoveryTimes(
  faults: readonly InjectedFault[],
  spoken: readonly Spoken[],
  storedAt: ReadonlyMap<number, number>,
): Record<string, { n: number; p50: number; max: number }> {
  const byKind = new Map<FaultKind, number[]>();
  for (const f of faults) {
    let latest: number | undefined;
    for (const s of spoken) {
      if (s.sentAtMs === undefined || s.sentAtMs < f.startMs || s.sentAtMs > f.endMs + 1000) continue;
      const at = storedAt.get(s.id);
      if (at !== undefined) latest = Math.max(latest ?? at, at);
    }
    if (latest === undefined) continue;
    const list = byKind.get(f.kind) ?? [];
    list.push(Math.max(0, latest - f.endMs));
    byKind.set(f.kind, list);
  }
  const out: Record<string, { n: number; p50: number; max: number }> = {};
  for (const [k, v] of byKind) out[k] = { n: v.length, p50: percentile(v, 50), max: Math.max(...v) };
  return out;
}

export function memorySummary(series: Iterable<RssSeries>, warmupMs: number): SoakReport['memory'] {
  const out: SoakReport['memory'] = [];
  for (const s of series) {
    const first = s.samples[0];
    const last = s.samples.at(-1);
    if (!first || !last) continue;
    out.push({
      component: s.component,
      pid: s.pid,
      spanMin: (last.atMs - first.atMs) / 60_000,
      slopeMiBPerMin: rssSlopeMiBPerMin(s, warmupMs),
      lastMiB: last.kib / 1024,
    });
  }
  return out;
}

/** The longest-lived incarnation of each component: the one whose slope means something. */
export function longestSeries(memory: SoakReport['memory']): SoakReport['memory'] {
  const best = new Map<string, SoakReport['memory'][number]>();
  for (const m of memory) {
    const b = best.get(m.component);
    if (!b || m.spanMin > b.spanMin) best.set(m.component, m);
  }
  return [...best.values()];
}

/** The promises a run breaks, in words; empty when it kept them all. */
export function failures(r: SoakReport, maxSlopeMiBPerMin: number, minSpanMin: number): string[] {
  const out: string[] = [];
  const u = r.utterances;
  if (u.lost > 0) out.push(`${u.lost} expected utterances were never stored`);
  if (u.duplicated > 0) out.push(`${u.duplicated} utterances were stored more than once`);
  if (u.storedWhileOff > 0) out.push(`${u.storedWhileOff} utterances played on hold were stored`);
  if (u.misattributed > 0) out.push(`${u.misattributed} stored items name another call's utterance`);
  if (u.fragments > 0) out.push(`${u.fragments} stored items are fragments not explained by a cut`);
  if (u.misplaced > 0) out.push(`${u.misplaced} utterances were stored at the wrong offset`);
  if (r.webhook.lost > 0) out.push(`${r.webhook.lost} stored utterances were neither delivered nor dead-lettered`);
  if (u.expected === 0) out.push('no utterance was expected: the run tested nothing');
  for (const m of longestSeries(r.memory)) {
    if (m.spanMin >= minSpanMin && m.slopeMiBPerMin !== undefined && m.slopeMiBPerMin > maxSlopeMiBPerMin) {
      out.push(`${m.component} RSS grew ${fmt(m.slopeMiBPerMin)} MiB/min (bound ${maxSlopeMiBPerMin})`);
    }
  }
  return out;
}

export function storeSection(v: StoreVerdict, spoken: readonly Spoken[], neverSent: number): SoakReport['utterances'] {
  return {
    played: spoken.length,
    expected: v.expected,
    stored: v.stored,
    lost: v.lost.length,
    duplicated: v.duplicated.length,
    storedWhileOff: v.storedWhileOff.length,
    misattributed: v.misattributed.length,
    fragments: v.fragments.length,
    cutFragments: v.cutFragments,
    misplaced: v.misplaced.length,
    uncertainPartial: v.uncertain.partial,
    uncertainCut: v.uncertain.cut,
    neverSent,
    uncertainKilled: v.uncertain.killed,
    uncertainStoredAnyway: v.uncertain.storedAnyway,
    notStoredOnHold: spoken.filter((s) => s.expect === 'not-stored' && !s.uncertain).length - v.storedWhileOff.length,
  };
}

export function examples(v: StoreVerdict): Record<string, unknown[]> {
  const brief = (s: Spoken) => ({
    id: s.id,
    call: s.conversationId.slice(0, 8),
    session: s.session,
    role: s.role,
    atMs: Math.round((s.startSample * 1000) / 8000),
    sentAtMs: s.sentAtMs,
  });
  const item = (i: StoredItem) => ({
    call: i.conversationId.slice(0, 8),
    role: i.role,
    startMs: i.startMs,
    endMs: i.endMs,
    words: i.text.split(/\s+/).length,
  });
  return {
    lost: v.lost.slice(0, 10).map(brief),
    duplicated: v.duplicated.slice(0, 10).map(brief),
    storedWhileOff: v.storedWhileOff.slice(0, 10).map(brief),
    misattributed: v.misattributed.slice(0, 10).map(item),
    fragments: v.fragments.slice(0, 10).map(item),
    misplaced: v.misplaced.slice(0, 10).map((m) => ({ ...brief(m.spoken), storedStartMs: m.item.startMs })),
  };
}

/** The tables printed on stdout. */
export function renderReport(r: SoakReport, failed: readonly string[]): string {
  const u = r.utterances;
  const w = r.webhook;
  const lat = (name: string, l: LatencySummary) => [name, String(l.n), fmt(l.p50, 0), fmt(l.p99, 0), fmt(l.max, 0)];
  const faultRows = FAULT_KINDS.map((k) => [
    k,
    String(r.faults[k] ?? 0),
    r.recoveryMs[k] ? fmt(r.recoveryMs[k].p50, 0) : '–',
    r.recoveryMs[k] ? fmt(r.recoveryMs[k].max, 0) : '–',
  ]);
  return [
    `soak: seed ${r.run.seed}, ${r.run.calls} concurrent calls, ${fmt(r.run.minutes, 1)} min, ${r.run.faultsPerMinute} faults/min (${r.run.note})`,
    '',
    table(
      ['fault', 'injected', 'recovery p50 ms', 'recovery max ms'],
      [...faultRows, ['total', String(r.faultsTotal), '', '']],
    ),
    '',
    table(
      ['stored utterances', 'expected', 'stored', 'lost', 'duplicated', 'stored on hold', 'fragments', 'misplaced'],
      [
        [
          '',
          String(u.expected),
          String(u.stored),
          String(u.lost),
          String(u.duplicated),
          String(u.storedWhileOff),
          String(u.fragments + u.misattributed),
          String(u.misplaced),
        ],
      ],
    ),
    `  played ${u.played} (${u.notStoredOnHold} on hold, not stored as required; ${u.neverSent} more were placed while the ` +
      `client was paused — by the gateway on hold, or a pause or discard — and never sent); ` +
      `uncertain, not counted above: ${u.uncertainPartial} partly sent, ${u.uncertainCut} cut with their session, ${u.uncertainKilled} in the ${KILL_WINDOW_MS / 1000} s before the gateway SIGKILL ` +
      `(${u.uncertainStoredAnyway} of them stored anyway, ${u.cutFragments} stored as fragments)`,
    '',
    table(
      ['webhook', 'expected', 'delivered', 'duplicates', 'dead-lettered', 'redriven', 'lost', 'refused POSTs'],
      [
        [
          '',
          String(w.expected),
          String(w.delivered),
          String(w.duplicates),
          String(w.deadLettered),
          String(w.redriven),
          String(w.lost),
          String(w.refused),
        ],
      ],
    ),
    `  WebSocket (live, best effort): ${r.websocket.uniquePushed} utterances pushed (${r.websocket.pushes} pushes), ` +
      `${r.websocket.missedWhileSubscribed} not pushed though the subscriber stayed 30 s after they were stored, ${r.websocket.drops} drops`,
    `  stop summaries: ${r.stopSummaries.answersMatching} of ${r.stopSummaries.answers} role counts in stop answers equal ` +
      `what was stored for their stream (${r.stopSummaries.answersUnder} lower, missing ${r.stopSummaries.answersMissing}; ` +
      `${r.stopSummaries.answersOver} higher); final segment summaries: ${r.stopSummaries.finalMatching} of ${r.stopSummaries.finalSummaries} equal`,
    '',
    table(
      ['latency (ms)', 'n', 'p50', 'p99', 'max'],
      [
        lat('last sample sent → stored', r.latencyMs.sentToStored),
        lat('stored → webhook', r.latencyMs.storedToWebhook),
        lat('stored → WebSocket', r.latencyMs.storedToWebSocket),
      ],
    ),
    '',
    table(
      ['process (longest-lived)', 'minutes', 'RSS now MiB', 'slope MiB/min'],
      longestSeries(r.memory).map((m) => [
        m.component,
        fmt(m.spanMin, 1),
        fmt(m.lastMiB, 0),
        m.slopeMiBPerMin === undefined ? '–' : fmt(m.slopeMiBPerMin),
      ]),
    ),
    '',
    `control: ${r.control.serverErrors} 5xx answers (all retried), calls: ${r.calls.calls} (${r.calls.sessions} sessions, ` +
      `${r.calls.holds} of ${r.calls.holdsPlanned} planned holds, ${r.calls.pauses} pauses, ${r.calls.discards} discards, ${r.calls.storms} storms of ${r.calls.stormRequests} requests)`,
    failed.length === 0 ? 'verdict: PASS' : `verdict: FAIL\n${failed.map((f) => `  - ${f}`).join('\n')}`,
  ].join('\n');
}

/**
 * Counters and latency samples of the transcription pipeline's control layer (segments, control inbox,
 * utterance writes), kept in process for the admin `/metrics` document and benchmarks. The composition
 * root may also forward every count to CloudWatch through {@link PipelineMetricsSink}.
 */

/** Counter names of the control layer. */
export type PipelineCounterName =
  /** A gateway session began streaming a segment (openSegment won, or a renewal). */
  | 'segmentsOpened'
  /** A segment this task streamed was closed with its summary. */
  | 'segmentsClosed'
  /** A session found META on with its segment closed and opened the next one (reconnect, second session). */
  | 'segmentsRenewed'
  /** openSegment answered `taken`: another session streams the conversation, this one stays paused. */
  | 'segmentsTakenElsewhere'
  | 'sessionsRegistered'
  /** registerSession failed (store error) or conflicted; the session opened paused. */
  | 'registrationFailures'
  | 'inboxPolls'
  | 'inboxPollErrors'
  | 'inboxItemsApplied'
  /** Applying an inbox item failed (store error); the item stays for the next poll. */
  | 'inboxApplyErrors'
  | 'utterancesStored'
  /** putFinal answered `duplicate` (a replay or retry): nothing written, not an error. */
  | 'utterancesDuplicate'
  | 'utterancePutRetries'
  /** An utterance could not be stored after every retry (logged at error with its id). */
  | 'utterancePutFailures'
  | 'counterFlushes'
  | 'counterFlushErrors'
  /** closeSegment / closeSession failed after retries (the stop Lambda then answers unconfirmed). */
  | 'closeFailures'
  /** A `genesys`-controlled session recorded the start of its conversation at open. */
  | 'genesysStarts'
  /** The last `genesys`-controlled session of a conversation ended and recorded its stop. */
  | 'genesysStops'
  /** Recording that stop failed after retries (the conversation stays on until its next session or a stop). */
  | 'genesysStopFailures'
  | PartialCounterName;

/** Counter names of the live partials publisher (fargate/src/realtime/partial-publisher.ts). */
export type PartialCounterName =
  /** A `partial` frame posted to one WebSocket subscriber. */
  | 'partialsSent'
  /** A partial replaced by a newer one of the same conversation and role before it could be sent. */
  | 'partialsCoalesced'
  /**
   * A `partial` frame that did not reach a subscriber: a failed post (one per connection), or a partial
   * dropped because the subscribers could not be read (one per partial).
   */
  | 'partialsFailed';

/** Latency series of the control layer, in milliseconds. */
export type PipelineLatencyName =
  /** Inbox item written (its createdAt) → applied on this task (architecture §4: p99 ≤ 1 s). */
  | 'inboxLagMs'
  /** Session `open` hook start → decision (registration + META read + segment claim). */
  | 'openDecisionMs'
  /**
   * End of speech → utterance stored: from when the utterance's last audio sample reached the gateway to
   * when its DynamoDB write succeeded (Transcribe's finalisation, the mapping and the write).
   */
  | 'utteranceLatencyMs';

/** Where counts and latencies go besides the in-process stats (e.g. CloudWatch EMF). Optional. */
export interface PipelineMetricsSink {
  count(name: PipelineCounterName, value: number): void;
  observe(name: PipelineLatencyName, ms: number): void;
}

/** A percentile summary of one latency series (over the last {@link LATENCY_WINDOW} samples). */
export interface LatencySummary {
  count: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
}

/** Snapshot of {@link PipelineStats}. */
export interface PipelineStatsSnapshot {
  counters: Record<PipelineCounterName, number>;
  /** Utterances waiting to be stored at the time of the snapshot (their puts are being retried). */
  utterancesHeld: number;
  latencyMs: Record<PipelineLatencyName, LatencySummary>;
}

/** Samples kept per latency series. */
export const LATENCY_WINDOW = 4096;

const COUNTERS: readonly PipelineCounterName[] = [
  'segmentsOpened',
  'segmentsClosed',
  'segmentsRenewed',
  'segmentsTakenElsewhere',
  'sessionsRegistered',
  'registrationFailures',
  'inboxPolls',
  'inboxPollErrors',
  'inboxItemsApplied',
  'inboxApplyErrors',
  'utterancesStored',
  'utterancesDuplicate',
  'utterancePutRetries',
  'utterancePutFailures',
  'counterFlushes',
  'counterFlushErrors',
  'closeFailures',
  'genesysStarts',
  'genesysStops',
  'genesysStopFailures',
  'partialsSent',
  'partialsCoalesced',
  'partialsFailed',
];

/** In-process counters and bounded latency windows; forwards to an optional sink. */
export class PipelineStats {
  readonly #counters = Object.fromEntries(COUNTERS.map((c) => [c, 0])) as Record<PipelineCounterName, number>;
  readonly #latency: Record<PipelineLatencyName, { samples: number[]; next: number; count: number }> = {
    inboxLagMs: { samples: [], next: 0, count: 0 },
    openDecisionMs: { samples: [], next: 0, count: 0 },
    utteranceLatencyMs: { samples: [], next: 0, count: 0 },
  };

  /** Utterances of this task waiting to be stored (a put being retried), now. */
  utterancesHeld = 0;

  constructor(private readonly sink?: PipelineMetricsSink) {}

  count(name: PipelineCounterName, value = 1): void {
    this.#counters[name] += value;
    this.sink?.count(name, value);
  }

  observe(name: PipelineLatencyName, ms: number): void {
    const series = this.#latency[name];
    if (series.samples.length < LATENCY_WINDOW) series.samples.push(ms);
    else series.samples[series.next] = ms;
    series.next = (series.next + 1) % LATENCY_WINDOW;
    series.count++;
    this.sink?.observe(name, ms);
  }

  snapshot(): PipelineStatsSnapshot {
    const latencyMs = {} as Record<PipelineLatencyName, LatencySummary>;
    for (const [name, series] of Object.entries(this.#latency) as [
      PipelineLatencyName,
      { samples: number[]; count: number },
    ][]) {
      const sorted = [...series.samples].sort((a, b) => a - b);
      latencyMs[name] = {
        count: series.count,
        p50: percentile(sorted, 0.5),
        p99: percentile(sorted, 0.99),
        max: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : null,
      };
    }
    return { counters: { ...this.#counters }, latencyMs, utterancesHeld: this.utterancesHeld };
  }
}

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank] ?? null;
}

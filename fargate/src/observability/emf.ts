/**
 * The gateway's CloudWatch metrics as embedded-metric-format (EMF) log lines: one JSON object per line on
 * stdout, which the awslogs driver ships to CloudWatch Logs, where the metrics are extracted. No
 * PutMetricData call and no permission are needed, and a slow CloudWatch never slows a call.
 *
 * Every interval (60 s by default) the publisher writes the gauges (`ActiveSessions`, the scaling metric,
 * `StreamingSessions`, and when wired `OutOfRotation`, `RecordingsUnavailable`, `RecordingsKept` and
 * `UtterancesHeld`), the counts of the interval (zeros included, so alarms and scaling see continuous data)
 * and the latency samples of the interval (raw values: CloudWatch computes percentiles).
 * Namespace from `METRICS_NAMESPACE`, one dimension `service` (`audiohook-gateway`); the names are
 * contract/metrics.ts, read by `lib/observability.ts` and the scaling policy in `lib/gateway-service.ts`.
 *
 * Written here rather than with Powertools Metrics: its writer is bound to `process.stdout` and its
 * switches to environment variables, while the gateway needs an injectable writer and clock; the format
 * is small and documented (CloudWatch "Specification: Embedded metric format").
 */
import { GATEWAY_METRIC_NAMES, GATEWAY_METRICS_SERVICE } from '../../../contract/metrics';
import type { AudioFrame, AudioSink } from '../../../core/audiohook/ports';
import type { Clock, Logger, TimerHandle, Timers } from '../../../core/ports';
import type { PipelineCounterName, PipelineLatencyName, PipelineMetricsSink } from '../control/metrics';
import type { TranscribeMetricName, TranscribeMetrics } from '../transcribe/streamer-stats';

/** Default publishing interval. */
export const DEFAULT_METRICS_INTERVAL_MS = 60_000;
/** EMF allows at most 100 values per metric in one line; longer series continue on further lines. */
export const EMF_MAX_VALUES = 100;
/** AudioHook audio runs on an 8 kHz timeline (protocol §2.4). */
const SAMPLES_PER_SECOND = 8000;

/** CloudWatch units we publish. */
export type EmfUnit = 'Count' | 'Seconds' | 'Milliseconds';

/** Metric names of the gateway (contract/metrics.ts: the infrastructure's dashboards, alarms and scaling read these). */
export { GATEWAY_METRIC_NAMES, GATEWAY_METRICS_SERVICE };

const N = GATEWAY_METRIC_NAMES;

/** Counts published every interval, zero or not, with their units. */
const COUNTERS: ReadonlyArray<readonly [string, EmfUnit]> = [
  [N.audioSeconds, 'Seconds'],
  [N.transcribeThrottled, 'Count'],
  [N.transcribeErrors, 'Count'],
  [N.segmentFailures, 'Count'],
  [N.utterances, 'Count'],
  [N.utterancePutFailures, 'Count'],
  [N.transcribeStreamsOpened, 'Count'],
  [N.audioDroppedMs, 'Milliseconds'],
  [N.registrationFailures, 'Count'],
  [N.inboxPollErrors, 'Count'],
  [N.inboxApplyErrors, 'Count'],
  [N.closeFailures, 'Count'],
  [N.partialsSent, 'Count'],
  [N.partialsFailed, 'Count'],
  [N.refusedUpgrades, 'Count'],
  [N.rateLimitedUpgrades, 'Count'],
];

/** Streamer counters → metric names (the others stay in the logs and `/metrics`). */
const TRANSCRIBE_COUNTERS: Partial<Record<TranscribeMetricName, string>> = {
  throttled: N.transcribeThrottled,
  transientErrors: N.transcribeErrors,
  segmentFailures: N.segmentFailures,
  utterances: N.utterances,
  // The streamer counts a put that failed after every retry; the control layer's count of the same event is
  // not forwarded, so it is counted once.
  utterancePutFailures: N.utterancePutFailures,
  streamsOpened: N.transcribeStreamsOpened,
  overflowDroppedMs: N.audioDroppedMs,
};

const PIPELINE_COUNTERS: Partial<Record<PipelineCounterName, string>> = {
  registrationFailures: N.registrationFailures,
  inboxPollErrors: N.inboxPollErrors,
  inboxApplyErrors: N.inboxApplyErrors,
  closeFailures: N.closeFailures,
  partialsSent: N.partialsSent,
  partialsFailed: N.partialsFailed,
};

const PIPELINE_LATENCIES: Record<PipelineLatencyName, string> = {
  inboxLagMs: N.inboxLagMs,
  openDecisionMs: N.openDecisionMs,
  utteranceLatencyMs: N.utteranceLatencyMs,
};

/** Live values read at each publication. */
export interface GatewayGauges {
  /** Sessions this task holds now (the scaling metric). */
  activeSessions(): number;
  /** Sessions streaming to Transcribe now. @default - not published */
  streamingSessions?(): number;
  /** 1 while this task has left the load balancer's rotation (self-drain), else 0. @default - not published */
  outOfRotation?(): number;
  /** 1 while segment recordings are off because the spool directory is unusable. @default - not published */
  recordingsUnavailable?(): number;
  /** Recordings kept on disk after failed uploads, waiting for a background retry. @default - not published */
  recordingsKept?(): number;
  /** Utterances held for a store that is unavailable, being retried, now. @default - not published */
  utterancesHeld?(): number;
}

/** Options of {@link GatewayMetrics}. */
export interface GatewayMetricsOptions {
  namespace: string;
  /** @default {@link GATEWAY_METRICS_SERVICE} */
  service?: string;
  /** @default {@link DEFAULT_METRICS_INTERVAL_MS} */
  intervalMs?: number;
  gauges: GatewayGauges;
  clock: Pick<Clock, 'now'>;
  timers: Timers;
  logger: Pick<Logger, 'warn'>;
  /** Receives each EMF line, newline included. @default process.stdout.write */
  write?: (line: string) => void;
}

/** One metric directive's target members, ready to serialize. */
interface Entry {
  unit: EmfUnit;
  value: number | number[];
}

/**
 * Collects the gateway's counts and latencies and publishes them, with the gauges, as EMF lines. The
 * pipeline feeds it through {@link GatewayMetrics.transcribe} and {@link GatewayMetrics.pipeline}.
 */
export class GatewayMetrics {
  readonly #o: GatewayMetricsOptions;
  readonly #service: string;
  readonly #intervalMs: number;
  readonly #write: (line: string) => void;
  #counts = new Map<string, number>();
  #samples = new Map<string, number[]>();
  #timer: TimerHandle | undefined;
  #running = false;

  constructor(options: GatewayMetricsOptions) {
    this.#o = options;
    this.#service = options.service ?? GATEWAY_METRICS_SERVICE;
    this.#intervalMs = options.intervalMs ?? DEFAULT_METRICS_INTERVAL_MS;
    this.#write = options.write ?? ((line) => process.stdout.write(line));
  }

  /** Port of the Transcribe streamer (fargate/src/transcribe/streamer.ts). */
  readonly transcribe: TranscribeMetrics = {
    count: (name, value = 1) => {
      const metric = TRANSCRIBE_COUNTERS[name];
      if (metric !== undefined) this.add(metric, value);
    },
  };

  /**
   * Port of the control layer (fargate/src/control/metrics.ts). Its `utterancePutFailures` is the same event
   * the streamer reports, so only the streamer's is published.
   */
  readonly pipeline: PipelineMetricsSink = {
    count: (name, value) => {
      const metric = PIPELINE_COUNTERS[name];
      if (metric !== undefined) this.add(metric, value);
    },
    observe: (name, ms) => {
      const metric = PIPELINE_LATENCIES[name];
      if (metric === undefined || !Number.isFinite(ms)) return;
      const series = this.#samples.get(metric);
      if (series) series.push(ms);
      else this.#samples.set(metric, [ms]);
    },
  };

  /** Audio received from Genesys (per channel), in 8 kHz samples. */
  addAudioSamples(samples: number): void {
    if (samples > 0) this.add(N.audioSeconds, samples / SAMPLES_PER_SECOND);
  }

  /** An upgrade refused because the task is at `MAX_SESSIONS` (`RefusedUpgrades`, alarmed on). */
  refusedUpgrade(): void {
    this.add(N.refusedUpgrades, 1);
  }

  /** An upgrade answered 429 by the per-source limit (`RateLimitedUpgrades`). */
  rateLimitedUpgrade(): void {
    this.add(N.rateLimitedUpgrades, 1);
  }

  /** Adds to a count of this interval. */
  add(metric: string, value: number): void {
    this.#counts.set(metric, (this.#counts.get(metric) ?? 0) + value);
  }

  /** Publishes every interval until {@link stop}. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#arm();
  }

  /** Stops the timer and publishes what the last interval collected. */
  stop(): void {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.publish();
  }

  /** Writes the interval's lines now and starts a new interval. Returns the lines written. */
  publish(): string[] {
    const entries = new Map<string, Entry>();
    let gaugeFailed = false;
    const gauge = (name: string, read: (() => number) | undefined) => {
      if (!read) return;
      try {
        entries.set(name, { unit: 'Count', value: read() });
      } catch {
        gaugeFailed = true;
      }
    };
    gauge(N.activeSessions, () => this.#o.gauges.activeSessions());
    gauge(N.streamingSessions, this.#o.gauges.streamingSessions?.bind(this.#o.gauges));
    gauge(N.outOfRotation, this.#o.gauges.outOfRotation?.bind(this.#o.gauges));
    gauge(N.recordingsUnavailable, this.#o.gauges.recordingsUnavailable?.bind(this.#o.gauges));
    gauge(N.recordingsKept, this.#o.gauges.recordingsKept?.bind(this.#o.gauges));
    gauge(N.utterancesHeld, this.#o.gauges.utterancesHeld?.bind(this.#o.gauges));
    if (gaugeFailed) this.#o.logger.warn({ code: 'METRICS_GAUGE_FAILED' }, 'a gauge could not be read');
    for (const [name, unit] of COUNTERS) entries.set(name, { unit, value: round(this.#counts.get(name) ?? 0) });
    this.#counts = new Map();
    const samples = this.#samples;
    this.#samples = new Map();

    const lines: string[] = [];
    const timestamp = this.#o.clock.now();
    // The first line carries gauges, counts and the first 100 samples of each series; more samples follow.
    let chunk = 0;
    for (;;) {
      const line = chunk === 0 ? new Map(entries) : new Map<string, Entry>();
      for (const [name, values] of samples) {
        const part = values.slice(chunk * EMF_MAX_VALUES, (chunk + 1) * EMF_MAX_VALUES);
        if (part.length > 0) line.set(name, { unit: 'Milliseconds', value: part });
      }
      if (line.size === 0) break;
      lines.push(emfLine(this.#o.namespace, this.#service, timestamp, line));
      chunk++;
    }
    for (const l of lines) {
      try {
        this.#write(`${l}\n`);
      } catch (err) {
        this.#o.logger.warn(
          { code: 'METRICS_WRITE_FAILED', err: err instanceof Error ? err.message : String(err) },
          'metrics line could not be written',
        );
      }
    }
    return lines;
  }

  #arm(): void {
    this.#timer = this.#o.timers.setTimeout(() => {
      if (!this.#running) return;
      this.publish();
      this.#arm();
    }, this.#intervalMs);
  }
}

/** One EMF document: one directive, dimension set `[service]`, the values as root members. */
export function emfLine(
  namespace: string,
  service: string,
  timestampMs: number,
  entries: ReadonlyMap<string, { unit: EmfUnit; value: number | number[] }>,
): string {
  const doc: Record<string, unknown> = {
    _aws: {
      Timestamp: timestampMs,
      CloudWatchMetrics: [
        {
          Namespace: namespace,
          Dimensions: [['service']],
          Metrics: [...entries].map(([name, e]) => ({ Name: name, Unit: e.unit })),
        },
      ],
    },
    service,
  };
  for (const [name, e] of entries) doc[name] = e.value;
  return JSON.stringify(doc);
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/**
 * Wraps a sink factory so every accepted audio frame is counted as `AudioSeconds` (audio Genesys sent for
 * a session; paused spans carry no frames). `onCreate` runs for each new session (task protection uses it
 * to protect the task at once rather than at its next poll). The wrapped sink sees every call unchanged.
 */
export function countingSinkFactory<C>(
  factory: (ctx: C) => AudioSink,
  metrics: Pick<GatewayMetrics, 'addAudioSamples'>,
  onCreate?: () => void,
): (ctx: C) => AudioSink {
  return (ctx) => {
    const sink = factory(ctx);
    onCreate?.();
    const counted: AudioSink = {
      start: (info) => sink.start(info),
      write: (frame: AudioFrame) => {
        metrics.addAudioSamples(frame.samples);
        sink.write(frame);
      },
      gap: (gap) => sink.gap(gap),
      end: (reason) => sink.end(reason),
    };
    if (sink.languageChanged) counted.languageChanged = (language) => sink.languageChanged?.(language);
    return counted;
  };
}

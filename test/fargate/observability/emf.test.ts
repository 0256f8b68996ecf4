import { describe, expect, it } from 'vitest';
import type { AudioFrame, AudioSink } from '../../../core/audiohook/ports';
import {
  countingSinkFactory,
  EMF_MAX_VALUES,
  GATEWAY_METRIC_NAMES,
  GatewayMetrics,
  type GatewayMetricsOptions,
} from '../../../fargate/src/observability/emf';
import { ACTIVE_SESSIONS_METRIC, GATEWAY_METRICS_SERVICE } from '../../../lib/gateway-service';
import { frameOf } from '../../helpers/audio-frames';
import { FakeTime } from '../helpers/fake-time';

interface EmfDoc {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: Array<{
      Namespace: string;
      Dimensions: string[][];
      Metrics: Array<{ Name: string; Unit: string }>;
    }>;
  };
  [member: string]: unknown;
}

function setup(overrides: Partial<GatewayMetricsOptions> = {}) {
  const time = new FakeTime(Date.UTC(2025, 5, 1, 12, 0, 0));
  const lines: string[] = [];
  const warnings: Array<Record<string, unknown>> = [];
  let sessions = 3;
  let streaming = 2;
  const metrics = new GatewayMetrics({
    namespace: 'AudiohookTranscribe',
    gauges: { activeSessions: () => sessions, streamingSessions: () => streaming },
    clock: time,
    timers: time,
    logger: { warn: (obj) => warnings.push(obj) },
    write: (line) => lines.push(line),
    ...overrides,
  });
  const docs = () => lines.map((l) => JSON.parse(l) as EmfDoc);
  return {
    time,
    metrics,
    lines,
    docs,
    warnings,
    setSessions: (n: number) => {
      sessions = n;
    },
    setStreaming: (n: number) => {
      streaming = n;
    },
  };
}

/** Checks a document is well-formed EMF: every declared metric has a root member of the right shape. */
function expectValidEmf(doc: EmfDoc): void {
  const [directive, ...others] = doc._aws.CloudWatchMetrics;
  expect(others).toEqual([]);
  expect(directive).toBeDefined();
  for (const dimensionSet of directive?.Dimensions ?? []) {
    for (const dimension of dimensionSet) expect(typeof doc[dimension]).toBe('string');
  }
  for (const m of directive?.Metrics ?? []) {
    const value = doc[m.Name];
    if (Array.isArray(value)) {
      expect(value.length).toBeLessThanOrEqual(EMF_MAX_VALUES);
      for (const v of value) expect(typeof v).toBe('number');
    } else expect(typeof value).toBe('number');
  }
}

describe('GatewayMetrics (CloudWatch embedded metric format)', () => {
  it('writes one JSON line per interval with the namespace, the service dimension and a timestamp', () => {
    const t = setup();
    t.metrics.start();
    t.time.advance(60_000);
    expect(t.lines).toHaveLength(1);
    expect(t.lines[0]?.endsWith('\n')).toBe(true);
    const [doc] = t.docs();
    if (!doc) throw new Error('no line');
    expectValidEmf(doc);
    expect(doc._aws.Timestamp).toBe(Date.UTC(2025, 5, 1, 12, 1, 0));
    expect(doc._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'AudiohookTranscribe',
      Dimensions: [['service']],
    });
    expect(doc.service).toBe('audiohook-gateway');
  });

  it('publishes ActiveSessions as the gauge the scaling policy tracks (same name and dimension as lib/)', () => {
    const t = setup();
    t.metrics.publish();
    t.setSessions(7);
    t.metrics.publish();
    const [first, second] = t.docs();
    expect(first?.[ACTIVE_SESSIONS_METRIC]).toBe(3);
    expect(second?.[ACTIVE_SESSIONS_METRIC]).toBe(7);
    expect(first?.service).toBe(GATEWAY_METRICS_SERVICE);
    expect(first?._aws.CloudWatchMetrics[0]?.Metrics).toContainEqual({ Name: 'ActiveSessions', Unit: 'Count' });
    expect(first?.StreamingSessions).toBe(2);
  });

  it('counts per interval and starts each interval from zero (zeros are published too)', () => {
    const t = setup();
    t.metrics.start();
    t.metrics.transcribe.count('throttled');
    t.metrics.transcribe.count('throttled', 2);
    t.metrics.transcribe.count('transientErrors');
    t.metrics.transcribe.count('utterances', 5);
    t.metrics.transcribe.count('segmentFailures');
    t.time.advance(60_000);
    t.time.advance(60_000);
    const [busy, quiet] = t.docs();
    expect(busy).toMatchObject({
      TranscribeThrottled: 3,
      TranscribeErrors: 1,
      Utterances: 5,
      SegmentFailures: 1,
      UtterancePutFailures: 0,
    });
    expect(quiet).toMatchObject({ TranscribeThrottled: 0, TranscribeErrors: 0, Utterances: 0, SegmentFailures: 0 });
  });

  it('ignores counters that are not part of the metric contract', () => {
    const t = setup();
    t.metrics.transcribe.count('duplicatesDropped', 4);
    t.metrics.pipeline.count('inboxPolls', 9);
    t.metrics.publish();
    const [doc] = t.docs();
    const names = doc?._aws.CloudWatchMetrics[0]?.Metrics.map((m) => m.Name) ?? [];
    expect(names).not.toContain('duplicatesDropped');
    expect(names).not.toContain('inboxPolls');
    for (const name of names) expect(Object.values(GATEWAY_METRIC_NAMES)).toContain(name);
  });

  it('counts an utterance that could not be stored once, from the streamer (the control layer repeats it)', () => {
    const t = setup();
    // One failed put is reported by both layers (utterance-writer gives up, the streamer catches it).
    t.metrics.transcribe.count('utterancePutFailures');
    t.metrics.pipeline.count('utterancePutFailures', 1);
    t.metrics.publish();
    expect(t.docs()[0]?.UtterancePutFailures).toBe(1);
  });

  it('publishes the control layer failures under their own names', () => {
    const t = setup();
    t.metrics.pipeline.count('registrationFailures', 1);
    t.metrics.pipeline.count('inboxPollErrors', 2);
    t.metrics.pipeline.count('closeFailures', 1);
    t.metrics.publish();
    expect(t.docs()[0]).toMatchObject({ RegistrationFailures: 1, InboxPollErrors: 2, CloseFailures: 1 });
  });

  it('counts upgrades refused at MAX_SESSIONS as RefusedUpgrades (zero when none)', () => {
    const t = setup();
    t.metrics.publish();
    t.metrics.refusedUpgrade();
    t.metrics.refusedUpgrade();
    t.metrics.publish();
    const [quiet, busy] = t.docs();
    expect(quiet?.RefusedUpgrades).toBe(0);
    expect(busy?.RefusedUpgrades).toBe(2);
    expect(busy?._aws.CloudWatchMetrics[0]?.Metrics).toContainEqual({ Name: 'RefusedUpgrades', Unit: 'Count' });
  });

  it('publishes the OutOfRotation, RecordingsUnavailable, RecordingsKept and UtterancesHeld gauges only when wired, under the same service', () => {
    const plain = setup({ service: 'stack-gateway' });
    plain.metrics.publish();
    expect(plain.docs()[0]).not.toHaveProperty('OutOfRotation');
    expect(plain.docs()[0]).not.toHaveProperty('RecordingsUnavailable');
    expect(plain.docs()[0]).not.toHaveProperty('RecordingsKept');
    expect(plain.docs()[0]).not.toHaveProperty('UtterancesHeld');
    let out = 0;
    const wired = setup({
      service: 'stack-gateway',
      gauges: {
        activeSessions: () => 1,
        outOfRotation: () => out,
        recordingsUnavailable: () => 1,
        recordingsKept: () => 3,
        utterancesHeld: () => 7,
      },
    });
    wired.metrics.publish();
    out = 1;
    wired.metrics.publish();
    const [first, second] = wired.docs();
    if (!first || !second) throw new Error('no lines');
    expectValidEmf(second);
    expect(first).toMatchObject({
      service: 'stack-gateway',
      OutOfRotation: 0,
      RecordingsUnavailable: 1,
      RecordingsKept: 3,
      UtterancesHeld: 7,
    });
    expect(first._aws.CloudWatchMetrics[0]?.Metrics).toContainEqual({ Name: 'RecordingsKept', Unit: 'Count' });
    expect(second).toMatchObject({ service: 'stack-gateway', OutOfRotation: 1 });
    expect(second._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service']]);
  });

  it('turns audio samples into AudioSeconds on the 8 kHz timeline', () => {
    const t = setup();
    t.metrics.addAudioSamples(8000 * 90);
    t.metrics.addAudioSamples(4000);
    t.metrics.publish();
    const [doc] = t.docs();
    expect(doc?.AudioSeconds).toBe(90.5);
    expect(doc?._aws.CloudWatchMetrics[0]?.Metrics).toContainEqual({ Name: 'AudioSeconds', Unit: 'Seconds' });
  });

  it('publishes latency samples as raw values, at most 100 per metric and line', () => {
    const t = setup();
    for (let i = 0; i < 250; i++) t.metrics.pipeline.observe('inboxLagMs', i);
    t.metrics.pipeline.observe('openDecisionMs', 42);
    t.metrics.pipeline.observe('utteranceLatencyMs', 870);
    t.metrics.publish();
    const docs = t.docs();
    expect(docs).toHaveLength(3);
    for (const doc of docs) expectValidEmf(doc);
    const lag = docs.flatMap((d) => (d.InboxLagMs as number[] | undefined) ?? []);
    expect(lag).toEqual(Array.from({ length: 250 }, (_, i) => i));
    expect(docs[0]?.OpenDecisionMs).toEqual([42]);
    expect(docs[0]?.UtteranceLatencyMs).toEqual([870]);
    // Gauges and counts go out once per interval, on the first line only.
    expect(docs.filter((d) => 'ActiveSessions' in d)).toHaveLength(1);
    expect(docs[1]?._aws.CloudWatchMetrics[0]?.Metrics).toEqual([{ Name: 'InboxLagMs', Unit: 'Milliseconds' }]);
  });

  it('uses the configured namespace, service and interval', () => {
    const t = setup({ namespace: 'Custom/NS', service: 'gw-blue', intervalMs: 10_000 });
    t.metrics.start();
    t.time.advance(30_000);
    expect(t.lines).toHaveLength(3);
    expect(t.docs()[0]).toMatchObject({
      service: 'gw-blue',
      _aws: { CloudWatchMetrics: [{ Namespace: 'Custom/NS' }] },
    });
  });

  it('flushes the last interval on stop, and publishes nothing after', () => {
    const t = setup();
    t.metrics.start();
    t.metrics.transcribe.count('utterances', 2);
    t.metrics.stop();
    t.time.advance(300_000);
    expect(t.docs()).toHaveLength(1);
    expect(t.docs()[0]?.Utterances).toBe(2);
    expect(t.time.pendingCount).toBe(0);
  });

  it('never throws when the writer or a gauge fails: it logs a stable code', () => {
    const t = setup({
      write: () => {
        throw new Error('EPIPE');
      },
      gauges: {
        activeSessions: () => {
          throw new Error('gone');
        },
      },
    });
    expect(() => t.metrics.publish()).not.toThrow();
    expect(t.warnings.map((w) => w.code).sort()).toEqual(['METRICS_GAUGE_FAILED', 'METRICS_WRITE_FAILED']);
  });
});

describe('countingSinkFactory', () => {
  const frame = (samples: number): AudioFrame => frameOf(0, samples, {});

  it('counts every frame written and forwards every call to the wrapped sink unchanged', async () => {
    const calls: string[] = [];
    const sink: AudioSink = {
      start: () => calls.push('start'),
      write: (f) => calls.push(`write:${f.samples}`),
      gap: () => calls.push('gap'),
      languageChanged: (l) => calls.push(`language:${l}`),
      end: async (r) => {
        calls.push(`end:${r}`);
      },
    };
    let counted = 0;
    let created = 0;
    const factory = countingSinkFactory(
      (_ctx: { sessionId: string }) => sink,
      { addAudioSamples: (n) => (counted += n) },
      () => created++,
    );
    const wrapped = factory({ sessionId: 's1' });
    wrapped.start({} as never);
    wrapped.write(frame(160));
    wrapped.write(frame(320));
    wrapped.gap({ kind: 'paused', start: 480, length: 8000 });
    wrapped.languageChanged?.('es-US');
    await wrapped.end('close');
    expect(counted).toBe(480);
    expect(created).toBe(1);
    expect(calls).toEqual(['start', 'write:160', 'write:320', 'gap', 'language:es-US', 'end:close']);
  });

  it('offers languageChanged only when the wrapped sink has it', () => {
    const sink: AudioSink = { start() {}, write() {}, gap() {}, end: async () => {} };
    const wrapped = countingSinkFactory(() => sink, { addAudioSamples() {} })({});
    expect(wrapped.languageChanged).toBeUndefined();
  });
});

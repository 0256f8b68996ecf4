/**
 * The transcription pipeline end to end, every part real and on loopback: the AudioHook simulator plays a
 * stereo PCMU call built from the flite speech fixtures (customer on `external`, agent on `internal`)
 * into the real gateway; the ConversationController registers the session in DynamoDB Local, follows
 * start/stop recorded through the store the way the start/stop Lambdas do it (state, then notify the
 * holding tasks, then wait for the gateway's close), and streams through the real Transcribe SDK client
 * to the local Transcribe-compatible endpoint, recognized by pocketsphinx; utterances land in the
 * Utterances table.
 *
 * The simulator runs at 2× real time. Recognition itself is speed-independent (measured: identical words
 * and boundaries at 1×, 2× and 4×), but pocketsphinx decodes stereo at only about real time on a busy
 * 2-core machine, so it lags the audio: the streamer's end budget is raised to 30 s (a stop waits for the
 * recognizer's backlog; Amazon Transcribe finalizes within a second or two) and the call layouts leave a
 * few seconds between a control change and the next line. The model is warmed up once before the tests.
 * The gateway's control inbox is polled every 100 ms (200 ms of call audio).
 *
 * Thresholds:
 * - Boundaries within 300 ms of the fixtures' known speech start/end on the conversation timeline
 *   (measured ≤ 80 ms: pocketsphinx's word times, the 8→16 kHz resampler and the 100 ms chunks).
 * - WER ≤ 0.25 per line: pocketsphinx 0.8 with Debian's en-us model reads these flite voices with no
 *   error here; 0.25 tolerates two word substitutions per sentence across model builds, while a lost
 *   utterance (all deletions) or a duplicated one (all insertions) scores ≥ 1.0 for its line.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../core/audio/roles';
import type { AudioHookSession } from '../../core/audiohook/ports';
import { runSimulatedSession } from '../../local/simulator/client';
import type { SimulatedSessionResult } from '../../local/simulator/options';
import { pocketsphinxAvailable } from '../../local/transcribe/pocketsphinx';
import { audioEvents, pcmBytes, transcribe } from '../../local/transcribe/test-support';
import { wordErrorRate } from '../../local/transcribe/wer';
import type { StoredUtterance } from '../../store/utterances';
import {
  buildCall,
  type CallLine,
  eventually,
  HARNESS_KEY,
  loadFixture,
  type PipelineHarness,
  START_PARAMS,
  speechSpan,
  startPipelineHarness,
} from '../fargate/control/pipeline-harness';
import { setupDynamoDb, type TestDynamoDb } from '../helpers/dynamodb';

const SPEED = 2;
const BOUNDARY_TOLERANCE_MS = 300;
const MAX_WER = 0.25;
const FRAME_SAMPLES = 1600; // the simulator's 200 ms frames

const greeting = loadFixture('greeting');
const orderStatus = loadFixture('order-status');
const pin = loadFixture('pin');

let db: TestDynamoDb;
let h: PipelineHarness;

beforeAll(async () => {
  // The pipeline test is about real recognition: without pocketsphinx the endpoint would fall back to
  // placeholder words and every text assertion below would fail for the wrong reason.
  expect(pocketsphinxAvailable(), 'pocketsphinx_continuous is required (npm run bootstrap installs it)').toBe(true);
  db = await setupDynamoDb();
  h = await startPipelineHarness({ db, pollIntervalMs: 100, streamerConfig: { endTimeoutMs: 30_000 } });
  // First use of the acoustic model reads it from disk; do that before any timing matters.
  const warm = await transcribe(
    h.client,
    { LanguageCode: 'en-US', MediaEncoding: 'pcm', MediaSampleRateHertz: 8000 },
    audioEvents(pcmBytes(greeting.pcm)),
  );
  expect(warm.results.length).toBeGreaterThan(0);
});

afterAll(async () => {
  await h?.close();
  await db?.stop();
});

afterEach(() => {
  h.local.faults.clear();
});

/** The live gateway session of a simulated call, and its position estimated from wall time since `opened`. */
async function liveSession(sessionId: string) {
  let session: AudioHookSession | undefined;
  await eventually(
    () => {
      session = h.gateway.sessions().get(sessionId);
      return session !== undefined && (session.state === 'active' || session.state === 'paused');
    },
    10_000,
    'the session to open',
  );
  const openedAt = performance.now();
  const live = session as AudioHookSession;
  return {
    session: live,
    /** Waits until the call's timeline (which runs through pauses) reaches `ms`. */
    async at(ms: number) {
      await eventually(() => (performance.now() - openedAt) * SPEED >= ms, 60_000, `call position ${ms} ms`);
    },
  };
}

function play(conversationId: string, sessionId: string, lines: CallLine[], durationMs: number) {
  return runSimulatedSession({
    uri: h.url,
    apiKey: HARNESS_KEY.apiKey,
    clientSecret: HARNESS_KEY.clientSecret,
    conversationId,
    sessionId,
    audio: buildCall(lines, durationMs),
    speed: SPEED,
    record: 'text',
  });
}

/** What a line produced: its role's utterances around its speech, how far off the boundaries are, WER. */
function lineReport(utterances: readonly StoredUtterance[], line: CallLine) {
  const span = speechSpan(line);
  const mine = utterances.filter(
    (u) => u.role === line.role && u.endMs > span.startMs - 1000 && u.startMs < span.endMs + 1000,
  );
  const text = mine.map((u) => u.text).join(' ');
  return {
    role: line.role,
    fixture: line.fixture.name,
    utterances: mine.length,
    startErrMs: mine.length > 0 ? Math.min(...mine.map((u) => u.startMs)) - span.startMs : Number.NaN,
    endErrMs: mine.length > 0 ? Math.max(...mine.map((u) => u.endMs)) - span.endMs : Number.NaN,
    wer: wordErrorRate(line.fixture.text, text).wer,
    text,
  };
}

function expectLineTranscribed(utterances: readonly StoredUtterance[], line: CallLine) {
  const r = lineReport(utterances, line);
  console.info(
    `WER ${r.wer.toFixed(3)} start ${r.startErrMs} ms end ${r.endErrMs} ms  ${r.role} "${line.fixture.text}" → "${r.text}"`,
  );
  expect(r.utterances, `${r.role} ${r.fixture}`).toBeGreaterThan(0);
  expect(Math.abs(r.startErrMs), `${r.fixture} start`).toBeLessThanOrEqual(BOUNDARY_TOLERANCE_MS);
  expect(Math.abs(r.endErrMs), `${r.fixture} end`).toBeLessThanOrEqual(BOUNDARY_TOLERANCE_MS);
  expect(r.wer, `${r.fixture} WER`).toBeLessThanOrEqual(MAX_WER);
}

/** Ordered by start; per role no overlap and no repeated id (a duplicate would overlap its original). */
function expectWellFormed(utterances: readonly StoredUtterance[]) {
  const starts = utterances.map((u) => u.startMs);
  expect(starts).toEqual([...starts].sort((a, b) => a - b));
  expect(new Set(utterances.map((u) => u.utteranceId)).size).toBe(utterances.length);
  for (const role of ['customer', 'agent'] as Role[]) {
    const mine = utterances.filter((u) => u.role === role);
    for (let i = 1; i < mine.length; i++) {
      expect((mine[i] as StoredUtterance).startMs).toBeGreaterThanOrEqual((mine[i - 1] as StoredUtterance).endMs);
    }
  }
}

function serverMessages(result: SimulatedSessionResult, type: string): Record<string, unknown>[] {
  return result.exchange
    .filter((e) => e.dir === 'in' && (e.message as { type?: string } | undefined)?.type === type)
    .map((e) => (e.message as { parameters: Record<string, unknown> }).parameters);
}

function clientMessages(result: SimulatedSessionResult, type: string): Record<string, unknown>[] {
  return result.exchange
    .filter((e) => e.dir === 'out' && (e.message as { type?: string } | undefined)?.type === type)
    .map((e) => (e.message as { parameters: Record<string, unknown> }).parameters);
}

/** `PT1.25S` → 1250. */
function durationMs(value: unknown): number {
  const m = /^PT(\d+(?:\.\d+)?)S$/.exec(String(value));
  if (!m) throw new Error(`not a duration: ${String(value)}`);
  return Math.round(Number(m[1]) * 1000);
}

describe('transcription pipeline (gateway → Transcribe → DynamoDB, on loopback)', () => {
  it('transcribes a two-party call started before the session opened, and the stop summary counts what was sent', async () => {
    const conversationId = randomUUID();
    const sessionId = randomUUID();
    const lines: CallLine[] = [
      { role: 'agent', fixture: greeting, atMs: 1000 },
      { role: 'customer', fixture: orderStatus, atMs: 5000 },
    ];
    const audioBefore = h.local.stats().audioBytes;
    const started = await h.startTranscription(conversationId);

    const call = play(conversationId, sessionId, lines, 12_000);
    const live = await liveSession(sessionId);
    await live.at(9_500);
    const stop = await h.stopTranscription(conversationId);
    const result = await call;
    const sessionStats = live.session.stats();

    expect(result.outcome).toBe('closed');
    // The start recorded before the session existed is honoured at open: no pause round trip at all.
    expect(result.opened?.startPaused).toBe(false);
    expect(stop.closed).toBe(true);
    expect(stop.segment).toMatchObject({ segment: started.segment, state: 'closed', taskId: h.taskId, sessionId });

    const utterances = await h.listUtterances(conversationId);
    expectWellFormed(utterances);
    expect(utterances.map((u) => u.role)).toEqual(['agent', 'customer']);
    // End of speech → stored (UtteranceLatencyMs) is measured for what was stored: positive and bounded by
    // the time the call took.
    const latency = h.controller.stats().latencyMs.utteranceLatencyMs;
    expect(latency.count).toBeGreaterThanOrEqual(utterances.length);
    expect(latency.p50).toBeGreaterThan(0);
    expect(latency.max).toBeLessThan(30_000);
    for (const line of lines) expectLineTranscribed(utterances, line);
    for (const u of utterances) {
      expect(u.segment).toBe(started.segment);
      expect(u.streamId).toBe(stop.segment.streamIds[u.role]);
      expect(u.senderExternalId).toBe(u.role === 'customer' ? START_PARAMS.customerId : START_PARAMS.agentId);
    }

    // The stop came in the trailing silence: the gateway paused the client, so everything it forwarded
    // before is the segment; the few frames in flight when `pause` crossed were dropped, never forwarded.
    const sentSamples = (result.audioMsSent * 8000) / 1000;
    expect(sessionStats.samplesAccepted + sessionStats.samplesDropped).toBe(sentSamples);
    expect(sessionStats.samplesDropped).toBeLessThanOrEqual(2 * FRAME_SAMPLES);
    for (const role of ['customer', 'agent'] as Role[]) {
      const s = stop.segment.summary[role];
      expect(s.totalAudioBytes, role).toBe(sessionStats.samplesAccepted * 2);
      expect(s.audioDurationMs, role).toBe(sessionStats.samplesAccepted / 8);
      expect(s.transcripts, role).toBe(utterances.filter((u) => u.role === role).length);
      expect(s.streamingSeconds, role).toBeGreaterThanOrEqual(1);
    }
    // Transcribe received exactly the segment's audio (2 roles × 2 bytes per sample), nothing else.
    expect(h.local.stats().audioBytes - audioBefore).toBe(
      stop.segment.summary.customer.totalAudioBytes + stop.segment.summary.agent.totalAudioBytes,
    );
    // META shows the stop; the session item is closed once the call ended.
    expect(await h.conversations.getMeta(conversationId)).toMatchObject({ desired: 'off', status: 'stopped' });
    await eventually(
      async () => (await h.conversations.listSessions(conversationId)).every((s) => s.state === 'closed'),
      10_000,
      'the session item to close',
    );
  }, 90_000);

  it('never transcribes the audio of a hold (stop … start) and opens a fresh segment for the second start', async () => {
    const conversationId = randomUUID();
    const sessionId = randomUUID();
    const transcribed: CallLine[] = [
      { role: 'agent', fixture: greeting, atMs: 1_500 },
      { role: 'customer', fixture: orderStatus, atMs: 16_000 },
    ];
    const onHold: CallLine = { role: 'customer', fixture: pin, atMs: 7_500 };
    const audioBefore = h.local.stats().audioBytes;

    const call = play(conversationId, sessionId, [...transcribed, onHold], 21_000);
    const live = await liveSession(sessionId);
    await live.at(500);
    const first = await h.startTranscription(conversationId);
    await live.at(6_000);
    // The start does not wait for the stop's answer (which waits for the recognizer's last finals): the
    // gateway must apply it at once, while segment 1 is still being flushed.
    const holding = h.stopTranscription(conversationId);
    await live.at(11_000);
    const second = await h.startTranscription(conversationId);
    const hold = await holding;
    const result = await call;
    // The call ended while transcription was on: the gateway closed segment 2 with its summary already.
    const end = await h.stopTranscription(conversationId);

    expect(result.outcome).toBe('closed');
    expect(result.opened?.startPaused).toBe(true);
    expect(hold.closed).toBe(true);
    expect(end.closed).toBe(true);
    expect(second.segment).toBe(first.segment + 1);
    expect(end.segment.segment).toBe(second.segment);
    expect(end.segment.streamIds.customer).not.toBe(hold.segment.streamIds.customer);

    // The hold as the client saw it: paused by the gateway, resumed with the span it did not send.
    expect(serverMessages(result, 'pause').length).toBeGreaterThanOrEqual(1);
    const resumed = clientMessages(result, 'resumed');
    expect(resumed.length).toBe(2); // after startPaused, and after the hold
    const holdStart = durationMs(resumed[1]?.start);
    const holdEnd = holdStart + durationMs(resumed[1]?.discarded);
    const pinSpan = speechSpan(onHold);
    expect(holdStart).toBeLessThan(pinSpan.startMs);
    expect(holdEnd).toBeGreaterThan(pinSpan.endMs);

    const utterances = await h.listUtterances(conversationId);
    expectWellFormed(utterances);
    for (const line of transcribed) expectLineTranscribed(utterances, line);
    for (const u of utterances) {
      expect(u.endMs <= holdStart || u.startMs >= holdEnd, `"${u.text}" ${u.startMs}-${u.endMs} in the hold`).toBe(
        true,
      );
    }
    expect(utterances.map((u) => u.segment)).toEqual([first.segment, second.segment]);
    expect(utterances.some((u) => /four|five|six|seven|pin/.test(u.text))).toBe(false);
    // Nothing but the two segments' audio ever reached Transcribe.
    const segmentBytes = [hold.segment, end.segment].reduce(
      (n, s) => n + s.summary.customer.totalAudioBytes + s.summary.agent.totalAudioBytes,
      0,
    );
    expect(h.local.stats().audioBytes - audioBefore).toBe(segmentBytes);
    expect(end.segment.summary.customer.transcripts).toBe(1);
    expect(hold.segment.summary.agent.transcripts).toBe(1);
  }, 90_000);

  it.each([
    {
      fault: 'errorMidStream (InternalFailureException in the agent line)',
      arm: () => h.local.faults.errorMidStream({ afterAudioMs: 2_000, type: 'InternalFailureException' }),
      fired: () => (h.local.stats().exceptions.InternalFailureException ?? 0) > 0,
    },
    {
      fault: 'dropConnection (connection cut in the customer line)',
      // ~2.7 s of wall time at 2× is ~5.4 s into the call, inside the customer's speech.
      arm: () => h.local.faults.dropConnection({ afterMs: 2_700 }),
      // The endpoint does not count cuts; the second stream asserted below is the evidence.
      fired: () => true,
    },
  ])(
    'loses no utterance and stores none twice after a Transcribe fault: $fault',
    async ({ arm, fired }) => {
      const conversationId = randomUUID();
      const sessionId = randomUUID();
      const lines: CallLine[] = [
        { role: 'agent', fixture: greeting, atMs: 500 },
        { role: 'customer', fixture: orderStatus, atMs: 4_000 },
      ];
      const streamsBefore = h.local.stats().streamsStarted;
      await h.startTranscription(conversationId);
      arm();
      const result = await play(conversationId, sessionId, lines, 9_000);
      const end = await h.stopTranscription(conversationId);

      expect(result.outcome).toBe('closed');
      expect(fired()).toBe(true);
      // The lost stream was replaced (and its unfinished audio re-sent on the new one).
      expect(h.local.stats().streamsStarted - streamsBefore).toBeGreaterThanOrEqual(2);
      const utterances = await h.listUtterances(conversationId);
      expectWellFormed(utterances);
      for (const line of lines) expectLineTranscribed(utterances, line);
      // The call ended while on: the summary is everything the simulator sent (re-sent audio not counted twice).
      for (const role of ['customer', 'agent'] as Role[]) {
        expect(end.segment.summary[role].audioDurationMs).toBe(result.audioMsSent);
        expect(end.segment.summary[role].transcripts).toBe(utterances.filter((u) => u.role === role).length);
      }
    },
    90_000,
  );
});

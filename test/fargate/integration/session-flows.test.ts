/**
 * The simulator (playing Genesys) against a real gateway on 127.0.0.1: normal calls, channel layouts,
 * client pause/resume, discard, update, the connection probe, and a server-side pause — each asserted on
 * the exact protocol exchange and on what the session's sink received (docs/audiohook-protocol.md §3, §4,
 * §6.2, §9.4).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDurationSamples } from '../../../core/audiohook/duration';
import { type MediaParameter, NIL_UUID } from '../../../core/audiohook/messages';
import { toneSource } from '../../../local/simulator/audio-source';
import { runSimulatedSession } from '../../../local/simulator/client';
import type { SimulatedSessionResult } from '../../../local/simulator/options';
import {
  audioSent,
  messageOf,
  pcmMismatches,
  sequencingViolations,
  startTestGateway,
  TEST_KEYS,
  TEST_LANGUAGES,
  type TestGateway,
  timelineProblems,
  transcript,
  typesOf,
  waitFor,
  zeroCrossings,
} from '../../helpers/gateway';

/** Four times real time: 2.4 s of call audio takes 0.6 s, pings included (they scale too). */
const SPEED = 4;
/** 2.4 s: the first ping (1 s) and the one right after its pong come well before the end (§4.3.2). */
const CALL_MS = 2400;
const CALL_SAMPLES = 19_200;
const FRAME = 1600;

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});

afterAll(async () => {
  await gw?.close();
});

/** Index in the exchange of the first entry matching, or -1. */
function indexIn(result: SimulatedSessionResult, dir: 'in' | 'out', type: string): number {
  return result.exchange.findIndex(
    (e) => e.dir === dir && e.kind === 'text' && (e.message as { type?: string } | undefined)?.type === type,
  );
}

/** Exchange indices of the client's binary frames. */
function binaryIndices(result: SimulatedSessionResult): number[] {
  return result.exchange.flatMap((e, i) => (e.dir === 'out' && e.kind === 'binary' ? [i] : []));
}

/** Frame spans `[start, end)` of 1600 samples covering `[from, to)`. */
function frameSpans(from: number, to: number): Array<{ kind: 'frame'; start: number; end: number }> {
  const spans: Array<{ kind: 'frame'; start: number; end: number }> = [];
  for (let at = from; at < to; at += FRAME) spans.push({ kind: 'frame', start: at, end: Math.min(at + FRAME, to) });
  return spans;
}

async function forgotten(sessionId: string): Promise<void> {
  await waitFor(() => !gw.gateway.sessions().has(sessionId), 5000, `session ${sessionId} to be forgotten`);
}

describe('gateway ⇄ simulator: session flows', () => {
  it('stereo PCMU call: open → opened (the stereo offer verbatim) → audio, ping/pong → close → closed; the sink got exactly the audio sent', async () => {
    const sessionId = randomUUID();
    // External (customer) 1 kHz, internal (agent) 400 Hz.
    const audio = toneSource({ format: 'PCMU', channels: 2, durationMs: CALL_MS, hz: [1000, 400] });
    const result = await runSimulatedSession({
      uri: gw.url,
      ...TEST_KEYS.signed,
      sessionId,
      audio,
      speed: SPEED,
      language: 'en-US',
    });

    expect(result.outcome, result.failure).toBe('closed');
    expect(result.protocolErrors).toEqual([]);
    expect(sequencingViolations(result)).toEqual([]);
    expect(transcript(result)).toEqual([
      'out open seq=1 serverseq=0',
      'in opened seq=1 clientseq=1',
      'out ping seq=2 serverseq=1',
      'in pong seq=2 clientseq=2',
      // The second ping follows the first pong at once and reports the measured rtt (§4.3.2).
      'out ping seq=3 serverseq=2',
      'in pong seq=3 clientseq=3',
      'out close seq=4 serverseq=3',
      'in closed seq=4 clientseq=4',
    ]);

    const open = messageOf(result, 'out', 'open');
    const offer = open.parameters.media as MediaParameter[];
    const stereo: MediaParameter = { type: 'audio', format: 'PCMU', channels: ['external', 'internal'], rate: 8000 };
    expect(offer).toEqual([stereo, { ...stereo, channels: ['external'] }, { ...stereo, channels: ['internal'] }]);
    expect(open.position).toBe('PT0S');
    expect(messageOf(result, 'in', 'opened').parameters).toEqual({ startPaused: false, media: [stereo] });
    expect(messageOf(result, 'out', 'ping', 0).parameters).toEqual({});
    expect(messageOf(result, 'out', 'ping', 1).parameters).toEqual({ rtt: expect.stringMatching(/^PT[\d.]+S$/) });
    expect(messageOf(result, 'in', 'pong', 0).parameters).toEqual({});
    expect(messageOf(result, 'out', 'close').parameters).toEqual({ reason: 'end' });
    expect(messageOf(result, 'out', 'close').position).toBe('PT2.4S');
    expect(messageOf(result, 'in', 'closed').parameters).toEqual({});

    // Audio: twelve 200 ms stereo frames, all between `opened` and `close` (§9.5: 3200 bytes each).
    expect(audioSent(result)).toEqual(Array(12).fill(3200));
    const binaries = binaryIndices(result);
    expect(Math.min(...binaries)).toBeGreaterThan(indexIn(result, 'in', 'opened'));
    expect(Math.max(...binaries)).toBeLessThan(indexIn(result, 'out', 'close'));

    const sink = gw.sink(sessionId);
    expect(sink.info).toEqual({
      sessionId,
      conversationId: open.parameters.conversationId,
      media: stereo,
      roles: ['customer', 'agent'],
      channels: ['external', 'internal'],
      language: 'en-US',
    });
    expect(sink.counts()).toMatchObject({
      samples: { customer: CALL_SAMPLES, agent: CALL_SAMPLES },
      frames: 12,
      gaps: 0,
      endPosition: CALL_SAMPLES,
      ended: 'close',
    });
    expect(sink.timeline()).toEqual(frameSpans(0, CALL_SAMPLES));
    expect(pcmMismatches(sink, audio, ['external', 'internal'])).toEqual([]);
    // Independent of the decoder: the customer hears 1 kHz (≈ 2 crossings per period), the agent 400 Hz.
    expect(zeroCrossings(sink.pcm('customer'))).toBeCloseTo(2 * 1000 * 2.4, -1);
    expect(zeroCrossings(sink.pcm('agent'))).toBeCloseTo(2 * 400 * 2.4, -1);

    await forgotten(sessionId);
    expect(gw.ends.get(sessionId)).toMatchObject({
      reason: 'closed',
      closeReason: 'end',
      stats: { framesReceived: 12, samplesAccepted: CALL_SAMPLES, samplesDropped: 0, position: CALL_SAMPLES },
    });
  });

  it.each([
    { channel: 'external', role: 'customer', other: 'agent' },
    { channel: 'internal', role: 'agent', other: 'customer' },
  ] as const)(
    'mono $channel-only offer: opened echoes it; only the $role receives audio',
    async ({ channel, role, other }) => {
      const sessionId = randomUUID();
      const audio = toneSource({ format: 'PCMU', channels: 1, durationMs: 1200, hz: 700 });
      const mono: MediaParameter = { type: 'audio', format: 'PCMU', channels: [channel], rate: 8000 };
      const result = await runSimulatedSession({
        uri: gw.url,
        ...TEST_KEYS.signed,
        sessionId,
        audio,
        channelOrder: [channel],
        offer: [mono],
        speed: SPEED,
      });

      expect(result.outcome, result.failure).toBe('closed');
      expect(sequencingViolations(result)).toEqual([]);
      expect(typesOf(result, 'out', false)).toEqual(['open', 'close']);
      expect(typesOf(result, 'in', false)).toEqual(['opened', 'closed']);
      expect(messageOf(result, 'out', 'open').parameters.media).toEqual([mono]);
      expect(messageOf(result, 'in', 'opened').parameters).toEqual({ startPaused: false, media: [mono] });
      // Mono PCMU: 200 ms = 1600 bytes.
      expect(audioSent(result)).toEqual(Array(6).fill(1600));

      const sink = gw.sink(sessionId);
      expect(sink.info).toMatchObject({ media: mono, roles: [role], channels: [channel] });
      expect(sink.counts().samples).toEqual({ [role]: 9600, [other]: 0 });
      expect(sink.frames().every((f) => Object.keys(f.pcm).join() === role)).toBe(true);
      expect(timelineProblems(sink, 9600)).toEqual([]);
      expect(pcmMismatches(sink, audio, [channel])).toEqual([]);
    },
  );

  it('stereo L16 offer: opened selects it verbatim and the sink gets the exact 16-bit samples', async () => {
    const sessionId = randomUUID();
    const audio = toneSource({ format: 'L16', channels: 2, durationMs: 1200, hz: [1000, 400], amplitude: 0.5 });
    const result = await runSimulatedSession({ uri: gw.url, ...TEST_KEYS.signed, sessionId, audio, speed: SPEED });

    expect(result.outcome, result.failure).toBe('closed');
    expect(sequencingViolations(result)).toEqual([]);
    const l16: MediaParameter = { type: 'audio', format: 'L16', channels: ['external', 'internal'], rate: 8000 };
    expect(messageOf(result, 'in', 'opened').parameters).toEqual({ startPaused: false, media: [l16] });
    // Stereo L16: 200 ms = 1600 samples × 2 channels × 2 bytes.
    expect(audioSent(result)).toEqual(Array(6).fill(6400));
    const sink = gw.sink(sessionId);
    expect(sink.counts().samples).toEqual({ customer: 9600, agent: 9600 });
    expect(timelineProblems(sink, 9600)).toEqual([]);
    expect(pcmMismatches(sink, audio, ['external', 'internal'])).toEqual([]);
  });

  it('inverted channel order ["internal","external"]: opened echoes it verbatim and the customer is still the external channel', async () => {
    const sessionId = randomUUID();
    // Interleaved as internal (agent) 400 Hz first, external (customer) 1 kHz second.
    const audio = toneSource({ format: 'PCMU', channels: 2, durationMs: CALL_MS, hz: [400, 1000] });
    const result = await runSimulatedSession({
      uri: gw.url,
      ...TEST_KEYS.signed,
      sessionId,
      audio,
      channelOrder: ['internal', 'external'],
      speed: SPEED,
    });

    expect(result.outcome, result.failure).toBe('closed');
    expect(sequencingViolations(result)).toEqual([]);
    const inverted: MediaParameter = { type: 'audio', format: 'PCMU', channels: ['internal', 'external'], rate: 8000 };
    expect((messageOf(result, 'out', 'open').parameters.media as MediaParameter[])[0]).toEqual(inverted);
    expect(messageOf(result, 'in', 'opened').parameters).toEqual({ startPaused: false, media: [inverted] });

    const sink = gw.sink(sessionId);
    expect(sink.info).toMatchObject({ roles: ['agent', 'customer'], channels: ['internal', 'external'] });
    expect(sink.counts().samples).toEqual({ customer: CALL_SAMPLES, agent: CALL_SAMPLES });
    expect(pcmMismatches(sink, audio, ['internal', 'external'])).toEqual([]);
    expect(zeroCrossings(sink.pcm('customer'))).toBeCloseTo(2 * 1000 * 2.4, -1);
    expect(zeroCrossings(sink.pcm('agent'))).toBeCloseTo(2 * 400 * 2.4, -1);
  });

  it('client pause/resume: paused … resumed{start,discarded}; the sink gets a paused gap of that length and no audio inside it', async () => {
    const sessionId = randomUUID();
    const audio = toneSource({ format: 'PCMU', channels: 2, durationMs: CALL_MS, hz: [1000, 400] });
    const result = await runSimulatedSession({
      uri: gw.url,
      ...TEST_KEYS.signed,
      sessionId,
      audio,
      speed: SPEED,
      actions: [
        { atMs: 800, action: 'pause' },
        { atMs: 1600, action: 'resume' },
      ],
    });

    expect(result.outcome, result.failure).toBe('closed');
    expect(result.protocolErrors).toEqual([]);
    expect(sequencingViolations(result)).toEqual([]);
    expect(typesOf(result, 'out', false)).toEqual(['open', 'paused', 'resumed', 'close']);
    expect(typesOf(result, 'in', false)).toEqual(['opened', 'closed']);
    const paused = messageOf(result, 'out', 'paused');
    const resumed = messageOf(result, 'out', 'resumed');
    expect(paused.parameters).toEqual({});
    expect(paused.position).toBe('PT0.8S');
    expect(resumed.parameters).toEqual({ start: 'PT0.8S', discarded: 'PT0.8S' });
    // The position clock ran on through the pause (§2.4).
    expect(resumed.position).toBe('PT1.6S');
    expect(messageOf(result, 'out', 'close').position).toBe('PT2.4S');
    // No audio on the wire while paused.
    const binaries = binaryIndices(result);
    const pausedAt = indexIn(result, 'out', 'paused');
    const resumedAt = indexIn(result, 'out', 'resumed');
    expect(binaries.filter((i) => i > pausedAt && i < resumedAt)).toEqual([]);
    expect(binaries).toHaveLength(8);

    const sink = gw.sink(sessionId);
    expect(sink.timeline()).toEqual([
      ...frameSpans(0, 6400),
      { kind: 'paused', start: 6400, end: 12_800 },
      ...frameSpans(12_800, CALL_SAMPLES),
    ]);
    expect(sink.gaps()).toEqual([{ kind: 'paused', start: 6400, length: 6400 }]);
    expect(sink.counts().samples).toEqual({ customer: 12_800, agent: 12_800 });
    expect(pcmMismatches(sink, audio, ['external', 'internal'])).toEqual([]);
    await forgotten(sessionId);
    expect(gw.clientPauses.get(sessionId)).toEqual([true, false]);
    expect(gw.ends.get(sessionId)?.stats).toMatchObject({
      pausedSamples: 6400,
      samplesAccepted: 12_800,
      samplesDropped: 0,
      position: CALL_SAMPLES,
    });
  });

  it('discarded{start,discarded}: the sink gets a discarded gap and the audio resumes after it', async () => {
    const sessionId = randomUUID();
    const audio = toneSource({ format: 'PCMU', channels: 2, durationMs: CALL_MS, hz: [1000, 400] });
    const result = await runSimulatedSession({
      uri: gw.url,
      ...TEST_KEYS.signed,
      sessionId,
      audio,
      speed: SPEED,
      actions: [{ atMs: 800, action: 'discard', ms: 400 }],
    });

    expect(result.outcome, result.failure).toBe('closed');
    expect(sequencingViolations(result)).toEqual([]);
    expect(typesOf(result, 'out', false)).toEqual(['open', 'discarded', 'close']);
    expect(typesOf(result, 'in', false)).toEqual(['opened', 'closed']);
    const discarded = messageOf(result, 'out', 'discarded');
    expect(discarded.parameters).toEqual({ start: 'PT0.8S', discarded: 'PT0.4S' });
    expect(discarded.position).toBe('PT1.2S');
    expect(audioSent(result)).toHaveLength(10);

    const sink = gw.sink(sessionId);
    expect(sink.timeline()).toEqual([
      ...frameSpans(0, 6400),
      { kind: 'discarded', start: 6400, end: 9600 },
      ...frameSpans(9600, CALL_SAMPLES),
    ]);
    expect(sink.counts().samples).toEqual({ customer: 16_000, agent: 16_000 });
    expect(pcmMismatches(sink, audio, ['external', 'internal'])).toEqual([]);
    await forgotten(sessionId);
    expect(gw.ends.get(sessionId)?.stats).toMatchObject({ discardedSamples: 3200, samplesAccepted: 16_000 });
  });

  it('update{language}: no updated by default (reference behaviour); the sink learns the language and the call goes on', async () => {
    const sessionId = randomUUID();
    const audio = toneSource({ format: 'PCMU', channels: 2, durationMs: CALL_MS, hz: [1000, 400] });
    const result = await runSimulatedSession({
      uri: gw.url,
      ...TEST_KEYS.signed,
      sessionId,
      audio,
      speed: SPEED,
      language: 'en-US',
      actions: [{ atMs: 800, action: 'update', language: 'es-US' }],
    });

    expect(result.outcome, result.failure).toBe('closed');
    expect(result.protocolErrors).toEqual([]);
    expect(sequencingViolations(result)).toEqual([]);
    expect(typesOf(result, 'out', false)).toEqual(['open', 'update', 'close']);
    expect(typesOf(result, 'in', false)).toEqual(['opened', 'closed']);
    expect(typesOf(result, 'in')).not.toContain('updated');
    expect(messageOf(result, 'out', 'update').parameters).toEqual({ language: 'es-US' });

    const sink = gw.sink(sessionId);
    expect(sink.info?.language).toBe('en-US');
    expect(sink.counts()).toMatchObject({ language: 'es-US', ended: 'close' });
    // The change lands between the audio before it and the audio after it.
    const languageAt = sink.events.findIndex((e) => e.kind === 'language');
    const before = sink.events.slice(0, languageAt).filter((e) => e.kind === 'frame');
    const after = sink.events.slice(languageAt + 1).filter((e) => e.kind === 'frame');
    expect(sink.events[languageAt]).toEqual({ kind: 'language', language: 'es-US' });
    expect(before).toHaveLength(4);
    expect(after).toHaveLength(8);
    expect(timelineProblems(sink, CALL_SAMPLES)).toEqual([]);
    expect(pcmMismatches(sink, audio, ['external', 'internal'])).toEqual([]);
  });

  it('connection probe (nil ids): opened + closed quickly, with supportedLanguages when asked, and no sink activity or hooks', async () => {
    const sessionId = randomUUID();
    const audio = toneSource({ format: 'PCMU', channels: 2, durationMs: CALL_MS });
    const result = await runSimulatedSession({
      uri: gw.url,
      ...TEST_KEYS.signed,
      sessionId,
      audio,
      probe: true,
      supportedLanguages: true,
    });

    expect(result.outcome, result.failure).toBe('closed');
    expect(result.protocolErrors).toEqual([]);
    expect(transcript(result)).toEqual([
      'out open seq=1 serverseq=0',
      'in opened seq=1 clientseq=1',
      'out close seq=2 serverseq=1',
      'in closed seq=2 clientseq=2',
    ]);
    expect(sequencingViolations(result)).toEqual([]);
    const open = messageOf(result, 'out', 'open');
    expect(open.parameters).toMatchObject({
      conversationId: NIL_UUID,
      participant: { id: NIL_UUID, ani: '', aniName: '', dnis: '' },
      supportedLanguages: true,
    });
    const offer = open.parameters.media as MediaParameter[];
    expect(messageOf(result, 'in', 'opened').parameters).toEqual({
      startPaused: false,
      media: [offer[0]],
      supportedLanguages: [...TEST_LANGUAGES],
    });
    expect(messageOf(result, 'out', 'close').parameters).toEqual({ reason: 'end' });
    expect(audioSent(result)).toEqual([]);
    expect(result.openLatencyMs).toBeLessThan(1000);
    expect(result.durationMs).toBeLessThan(2000);

    await forgotten(sessionId);
    // The sink object exists from the upgrade on (the probe is only known at `open`), but it was never
    // started, written or ended: nothing is recorded for a probe (§6.2 item 1). No hooks either.
    expect(gw.sinks.get(sessionId)?.events ?? []).toEqual([]);
    expect(gw.ends.has(sessionId)).toBe(false);
    expect(gw.clientPauses.has(sessionId)).toBe(false);
  });

  it('server pause()/resume() through the session control: the client answers paused/resumed; audio in flight after pause never reaches the sink as audio', async () => {
    const sessionId = randomUUID();
    // As fast as the socket goes (speed 0) so frames are in flight when `pause` is sent; 60 s of audio
    // so the pause lands mid-call.
    const audio = toneSource({ format: 'PCMU', channels: 2, durationMs: 60_000, hz: [1000, 400] });
    const run = runSimulatedSession({ uri: gw.url, ...TEST_KEYS.signed, sessionId, audio, speed: 0 });

    await waitFor(() => (gw.sinks.get(sessionId)?.counts().frames ?? 0) >= 5, 5000, 'audio to flow');
    const session = gw.gateway.sessions().get(sessionId);
    if (!session) throw new Error('session not registered');
    const positionAtPause = session.stats().position;
    session.pause();
    await waitFor(() => session.state === 'paused', 5000, 'the client to answer paused');
    // Paused time runs in real time at speed 0: let at least two 200 ms frame ticks pass.
    await new Promise((resolve) => setTimeout(resolve, 450));
    session.resume();
    const result = await run;

    expect(result.outcome, result.failure).toBe('closed');
    expect(result.protocolErrors).toEqual([]);
    expect(sequencingViolations(result)).toEqual([]);
    expect(typesOf(result, 'in', false)).toEqual(['opened', 'pause', 'resume', 'closed']);
    expect(typesOf(result, 'out', false)).toEqual(['open', 'paused', 'resumed', 'close']);
    const pause = messageOf(result, 'in', 'pause');
    const resume = messageOf(result, 'in', 'resume');
    const paused = messageOf(result, 'out', 'paused');
    const resumed = messageOf(result, 'out', 'resumed');
    expect(pause.parameters).toEqual({});
    expect(resume.parameters).toEqual({});
    // Each answer acknowledges the request it answers.
    expect(paused.ack).toBe(pause.seq);
    expect(resumed.ack).toBe(resume.seq);
    const pauseStart = parseDurationSamples(String(resumed.parameters.start)) as number;
    const pauseLength = parseDurationSamples(String(resumed.parameters.discarded)) as number;
    expect(resumed.parameters.start).toBe(paused.position);
    expect(pauseLength).toBeGreaterThanOrEqual(2 * FRAME);
    expect(parseDurationSamples(resumed.position ?? '')).toBe(pauseStart + pauseLength);

    const sink = gw.sink(sessionId);
    const total = 480_000;
    expect(timelineProblems(sink, total)).toEqual([]);
    // No audio frame overlaps [position when pause() was called, end of the reported pause).
    const resumeAt = pauseStart + pauseLength;
    const inside = sink.frames().filter((f) => f.position + f.samples > positionAtPause && f.position < resumeAt);
    expect(inside).toEqual([]);
    // What arrived between our `pause` and the client's `paused` was dropped and became one gap that
    // ends where the client's pause begins; then the client's pause itself.
    const gaps = sink.gaps();
    expect(gaps.at(-1)).toEqual({ kind: 'paused', start: pauseStart, length: pauseLength });
    expect(gaps).toHaveLength(2);
    const inFlight = gaps[0];
    expect(inFlight).toEqual({ kind: 'server-paused', start: positionAtPause, length: pauseStart - positionAtPause });
    expect(inFlight?.length).toBeGreaterThan(0);

    await forgotten(sessionId);
    const stats = gw.ends.get(sessionId)?.stats;
    expect(stats?.samplesDropped).toBe(inFlight?.length);
    expect(stats?.samplesAccepted).toBe(sink.counts().samples.customer);
    expect((stats?.samplesAccepted ?? 0) + (stats?.samplesDropped ?? 0)).toBe(result.audioBytesSent / 2);
    expect(pcmMismatches(sink, audio, ['external', 'internal'])).toEqual([]);
  });
});

/**
 * SegmentStreamer with the real `@aws-sdk/client-transcribe-streaming` client against the local
 * Transcribe-compatible endpoint (HTTP/2, event-stream) and its deterministic scripted recognizer, which
 * reports each burst of energy on a channel as the scripted words with the burst's exact times.
 * Faults (throttled start, in-stream error, dropped connection, no-audio timeout) are injected there.
 */
import type { TranscribeStreamingClient } from '@aws-sdk/client-transcribe-streaming';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../../core/audio/roles';
import { silentLogger } from '../../../core/ports';
import type { TranscriptionParams } from '../../../core/transcript/utterance';
import { createTranscribeClient } from '../../../fargate/src/transcribe/client';
import type { SegmentContext } from '../../../fargate/src/transcribe/start-request';
import { SegmentStreamer } from '../../../fargate/src/transcribe/streamer';
import type { StreamerConfig } from '../../../fargate/src/transcribe/streamer-config';
import { createScriptedRecognizer } from '../../../local/transcribe/recognizer';
import { type LocalTranscribe, startLocalTranscribe } from '../../../local/transcribe/server';
import { frameOf } from '../../helpers/audio-frames';
import { ManualTime, RecordingLogger, RecordingSink, until } from './helpers';

const SEC = 8000;
const FRAME = 160; // 20 ms
/** VAD frames are 10 ms and the resampler adds a little delay: allow 30 ms on boundaries. */
const TOLERANCE_MS = 30;

/**
 * Scripted words per recognizer channel (not per role: which role a channel carries is what the streamer
 * must get right): burst n of channel c. Channel 0 reads out a PIN on its second burst.
 */
function words(index: number, channel: number): string[] {
  if (channel === 0)
    return index === 1 ? ['my', 'pin', 'is', 'one', 'two', 'three', 'four'] : [`customer${index}`, 'speaking'];
  return [`agent${index}`, 'talking'];
}

let local: LocalTranscribe;
let client: TranscribeStreamingClient;

beforeAll(async () => {
  local = await startLocalTranscribe({ port: 0, recognizer: createScriptedRecognizer({ words }) });
  // Built the way the composition root builds it: the real SDK client, pointed at the local endpoint.
  client = createTranscribeClient({
    region: 'us-east-1',
    endpoint: local.url,
    credentials: { accessKeyId: 'AKIDLOCALTEST', secretAccessKey: 'local-test-secret' },
    logger: silentLogger,
  });
});

afterAll(async () => {
  client.destroy();
  await local.close();
});

const streamers: SegmentStreamer[] = [];
afterEach(async () => {
  local.faults.clear();
  await Promise.all(streamers.splice(0).map((s) => s.end()));
});

interface Speech {
  role: Role;
  from: number;
  to: number;
}

function setup(
  over: {
    roles?: Role[];
    params?: Partial<TranscriptionParams>;
    config?: Partial<StreamerConfig>;
    random?: () => number;
  } = {},
) {
  const time = new ManualTime();
  const sink = new RecordingSink();
  const logger = new RecordingLogger();
  const roles = over.roles ?? ['customer', 'agent'];
  const segment: SegmentContext = {
    conversationId: 'conv-local',
    segment: 1,
    roles,
    streamIds: { customer: 'sid-c', agent: 'sid-a' },
    params: { language: 'en-US', redactionOutput: 'unredacted', detailedToken: false, ...over.params },
  };
  const streamer = new SegmentStreamer({
    client,
    segment,
    utterances: sink,
    logger,
    clock: time,
    timers: time,
    // No jitter unless a test wants a real backoff: the transient retries then happen at once.
    random: over.random ?? (() => 0),
    config: { idleEndMs: 0, ...over.config },
  });
  streamers.push(streamer);
  /** Writes the timeline span [fromSec, toSec): a tone where someone speaks, silence elsewhere. */
  const feed = (fromSec: number, toSec: number, speech: Speech[]) => {
    for (let p = Math.round(fromSec * SEC); p < Math.round(toSec * SEC); p += FRAME) {
      const pcm: Partial<Record<Role, Int16Array>> = {};
      for (const role of roles) {
        const hz = role === 'customer' ? 440 : 660;
        const a = new Int16Array(FRAME);
        for (let i = 0; i < FRAME; i++) {
          const t = (p + i) / SEC;
          if (speech.some((s) => s.role === role && t >= s.from && t < s.to)) {
            a[i] = Math.round(8000 * Math.sin(2 * Math.PI * hz * t));
          }
        }
        pcm[role] = a;
      }
      streamer.write(frameOf(p, FRAME, pcm, roles));
    }
  };
  return { time, sink, logger, streamer, feed };
}

function summary(sink: RecordingSink) {
  return sink.utterances.map((u) => ({ role: u.role, text: u.text, startMs: u.startMs, endMs: u.endMs }));
}

function expectNear(actual: number | undefined, expected: number) {
  expect(Math.abs((actual ?? Number.NaN) - expected)).toBeLessThanOrEqual(TOLERANCE_MS);
}

describe('SegmentStreamer with the SDK against the local Transcribe endpoint', () => {
  it('delivers utterances with the right roles and timeline times (agent negotiated first, with a pause)', async () => {
    const { sink, feed, streamer } = setup({ roles: ['agent', 'customer'] });
    feed(0, 2, [{ role: 'customer', from: 0.5, to: 1.2 }]);
    feed(12, 14, [{ role: 'agent', from: 12.4, to: 13.0 }]); // 10 s pause: never sent
    await streamer.end();
    const u = summary(sink);
    // The customer is on ch_1 here (internal = agent was negotiated first), the agent on ch_0.
    expect(u.map((x) => [x.role, x.text])).toEqual([
      ['customer', 'agent0 talking.'],
      ['agent', 'customer0 speaking.'],
    ]);
    expectNear(u[0]?.startMs, 500);
    expectNear(u[0]?.endMs, 1200);
    expectNear(u[1]?.startMs, 12_400);
    expectNear(u[1]?.endMs, 13_000);
    expect(sink.utterances.map((x) => x.streamId)).toEqual(['sid-c', 'sid-a']);
  });

  it('redacts identified PII locally, keeping the plain text for redacted_and_unredacted', async () => {
    const { sink, feed, streamer } = setup({ params: { redactionOutput: 'redacted_and_unredacted' } });
    feed(0, 4, [
      { role: 'customer', from: 0.3, to: 0.9 },
      { role: 'customer', from: 1.5, to: 3.0 },
    ]);
    await streamer.end();
    expect(sink.utterances.map((u) => [u.text, u.unredactedText])).toEqual([
      ['customer0 speaking.', 'customer0 speaking.'],
      [`my pin is ${'#'.repeat('one two three four'.length)}.`, 'my pin is one two three four.'],
    ]);
  });

  it('retries a throttled first start after a backoff and counts it', async () => {
    const { sink, feed, streamer, time, logger } = setup({ random: () => 0.5 });
    local.faults.failNextStart({ type: 'LimitExceededException' });
    feed(0, 0.1, []);
    await until(() => streamer.stats().throttled === 1, 5_000, 'the throttled start');
    expect(logger.messages('warn').some((m) => m.startsWith('Transcribe concurrent stream quota reached'))).toBe(true);
    feed(0.1, 2, [{ role: 'agent', from: 0.5, to: 1.0 }]);
    await time.advance(500); // 1 s ceiling × 0.5 jitter
    await until(() => sink.utterances.length === 1, 5_000, 'the utterance');
    expect(summary(sink)[0]?.role).toBe('agent');
    expectNear(summary(sink)[0]?.startMs, 500);
    expect(streamer.stats().streamsOpened).toBe(2);
  });

  it('loses no utterance and duplicates none when the service fails mid-stream', async () => {
    const { sink, feed, streamer } = setup();
    local.faults.errorMidStream({ type: 'InternalFailureException', afterAudioMs: 3000 });
    feed(0, 6, [
      { role: 'customer', from: 0.5, to: 1.5 },
      { role: 'agent', from: 2.0, to: 4.0 }, // in progress when the stream fails
      { role: 'customer', from: 4.5, to: 5.5 },
    ]);
    await until(() => streamer.stats().transientErrors === 1, 5_000, 'the in-stream error');
    await streamer.end();
    const u = summary(sink);
    expect(u.map((x) => [x.role, x.text])).toEqual([
      ['customer', 'customer0 speaking.'],
      ['agent', 'agent0 talking.'],
      ['customer', 'customer0 speaking.'],
    ]);
    expectNear(u[1]?.startMs, 2000);
    expectNear(u[1]?.endMs, 4000);
    expectNear(u[2]?.startMs, 4500);
    expect(new Set(sink.utterances.map((x) => x.utteranceId)).size).toBe(3);
    expect(streamer.stats().streamsOpened).toBe(2);
  });

  it('loses no utterance and duplicates none when the connection drops mid-utterance', async () => {
    const { sink, feed, streamer } = setup();
    local.faults.dropConnection({ afterMs: 50 });
    feed(0, 1, [
      { role: 'customer', from: 0.1, to: 0.4 },
      { role: 'agent', from: 0.6, to: 1.0 }, // still speaking when the connection is cut
    ]);
    await until(() => streamer.stats().transientErrors === 1, 5_000, 'the dropped connection');
    feed(1, 3, [{ role: 'agent', from: 1.0, to: 1.4 }]);
    await streamer.end();
    const u = summary(sink);
    expect(u.map((x) => x.role)).toEqual(['customer', 'agent']);
    expectNear(u[0]?.startMs, 100);
    expectNear(u[0]?.endMs, 400);
    expectNear(u[1]?.startMs, 600); // the whole utterance, across both streams' audio
    expectNear(u[1]?.endMs, 1400);
    expect(streamer.stats().streamsOpened).toBe(2);
  });

  it('rotates to a new stream and keeps results on the timeline', async () => {
    const { sink, feed, streamer, time } = setup({ config: { rotateAfterMs: 60_000 } });
    feed(0, 2, [{ role: 'customer', from: 0.5, to: 1.0 }]);
    await until(() => sink.utterances.length === 1, 5_000, 'the first utterance');
    await time.advance(61_000);
    feed(2, 4, [{ role: 'agent', from: 2.5, to: 3.0 }]);
    await streamer.end();
    const u = summary(sink);
    expect(u.map((x) => x.role)).toEqual(['customer', 'agent']);
    expectNear(u[1]?.startMs, 2500);
    expectNear(u[1]?.endMs, 3000);
    expect(streamer.stats()).toMatchObject({ rotations: 1, streamsOpened: 2 });
  });

  it('reopens on the next audio after the no-audio timeout while paused', async () => {
    const { sink, feed, streamer } = setup();
    local.faults.silenceTimeout(150);
    feed(0, 2, [{ role: 'customer', from: 0.5, to: 1.0 }]);
    await until(() => streamer.stats().noAudioTimeouts === 1, 5_000, 'the no-audio timeout');
    expect(streamer.stats().streamsOpened).toBe(1);
    feed(30, 32, [{ role: 'agent', from: 30.5, to: 31.5 }]); // resumed after a 28 s pause
    await streamer.end();
    const u = summary(sink);
    expect(u.map((x) => x.role)).toEqual(['customer', 'agent']);
    expectNear(u[0]?.startMs, 500);
    expectNear(u[1]?.startMs, 30_500);
    expectNear(u[1]?.endMs, 31_500);
    expect(streamer.stats().streamsOpened).toBe(2);
  });

  it('keeps the buffer bounded while no stream can take audio', async () => {
    const { feed, streamer, time } = setup({ config: { bufferSec: 1 }, random: () => 0.5 });
    local.faults.failNextStart({ type: 'LimitExceededException' });
    const before = local.stats().audioBytes;
    feed(0, 0.1, []);
    await until(() => streamer.state === 'backoff', 5_000, 'the backoff');
    feed(0.1, 5, [{ role: 'customer', from: 4.2, to: 4.8 }]);
    expect(streamer.stats().droppedAudioMs).toBe(4000);
    await time.advance(500);
    await streamer.end();
    expect(local.stats().audioBytes - before).toBe(SEC * 2 * 2); // exactly the newest second
    expect(streamer.stats().roles.customer?.transcripts).toBe(1);
  });

  it('end() flushes the speech still in progress as a final', async () => {
    const { sink, feed, streamer } = setup({ roles: ['customer'] });
    feed(0, 1.5, [{ role: 'customer', from: 0.7, to: 1.5 }]); // speaking until the very end
    await streamer.end();
    expect(summary(sink).map((x) => x.text)).toEqual(['customer0 speaking.']);
    expectNear(summary(sink)[0]?.endMs, 1500);
    expect(streamer.state).toBe('ended');
  });
});

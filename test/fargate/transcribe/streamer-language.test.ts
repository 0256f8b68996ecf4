/**
 * SegmentStreamer.switchLanguage against the scriptable Transcribe double: a followed AudioHook language
 * update ends the stream exactly at the switch position and continues in a new stream in the new
 * language; re-sent audio keeps the language of its own position.
 */
import { describe, expect, it } from 'vitest';
import type { Role } from '../../../core/audio/roles';
import type { SegmentContext } from '../../../fargate/src/transcribe/start-request';
import { SegmentStreamer } from '../../../fargate/src/transcribe/streamer';
import {
  constFrame,
  FakeTranscribe,
  ManualTime,
  RecordingLogger,
  RecordingSink,
  result,
  serviceError,
  settle,
  until,
} from './helpers';

const SEC = 8000;
/** Bytes per timeline sample of a stereo chunk (2 channels × 16 bits). */
const BYTES_PER_SAMPLE = 4;
const BEFORE = { customer: 1000, agent: 2000 };
const AFTER = { customer: 3000, agent: 4000 };

function setup() {
  const time = new ManualTime();
  const client = new FakeTranscribe();
  const sink = new RecordingSink();
  const logger = new RecordingLogger();
  let n = 0;
  const segment: SegmentContext = {
    conversationId: 'conv-1',
    segment: 3,
    roles: ['customer', 'agent'],
    streamIds: { customer: 'sid-customer', agent: 'sid-agent' },
    params: { language: 'en-US', redactionOutput: 'unredacted', detailedToken: false },
  };
  const streamer = new SegmentStreamer({
    client,
    segment,
    utterances: sink,
    logger,
    clock: time,
    timers: time,
    random: () => 0,
    newSessionId: () => `session-${++n}`,
    config: { idleEndMs: 0 },
  });
  /** Writes timeline samples [from, to) in 20 ms frames with constant values per role. */
  const feed = (from: number, to: number, values: Record<Role, number>) => {
    for (let p = from; p < to; p += 160) streamer.write(constFrame(p, Math.min(160, to - p), values));
  };
  return { client, sink, logger, streamer, feed };
}

/** The distinct sample values each channel of a stream received. */
function valuesOf(samples: number[][]): Set<number>[] {
  return samples.map((ch) => new Set(ch));
}

// Not a multiple of the 100 ms chunk: the switch cuts a chunk short.
const P = Math.round(0.95 * SEC);
/** What the stream has before the switch cuts the pending chunk: the full 100 ms chunks. */
const FULL_CHUNKS_BEFORE_P = Math.floor(P / 800) * 800;
/** Ten full chunks after the switch. */
const END = P + 10 * 800;

describe('SegmentStreamer language switch', () => {
  it('ends the stream exactly at the switch position and continues in a new stream in the new language', async () => {
    const { client, sink, logger, streamer, feed } = setup();
    // Like the service, the first stream finalizes the speech in progress when its input ends.
    client.onInputEnd = (s) => (s === client.streams[0] ? [result('a', 'ch_0', 0.1, 0.5, 'hello')] : []);
    feed(0, P, BEFORE);
    await until(() => client.streams[0]?.bytes === FULL_CHUNKS_BEFORE_P * BYTES_PER_SAMPLE, 5_000, 'audio so far');
    streamer.switchLanguage('es-US');
    feed(P, END, AFTER);
    await until(() => client.streams[1]?.bytes === (END - P) * BYTES_PER_SAMPLE, 5_000, 'audio after the switch');

    const [first, second] = [client.stream(0), client.stream(1)];
    expect(first.input.LanguageCode).toBe('en-US');
    expect(first.inputEnded).toBe(true);
    // The first stream's input is [0, P): nothing after the switch, and nothing of it reaches the second.
    expect(first.bytes).toBe(P * BYTES_PER_SAMPLE);
    expect(valuesOf(first.samples(2))).toEqual([new Set([BEFORE.customer]), new Set([BEFORE.agent])]);
    expect(second.input.LanguageCode).toBe('es-US');
    expect(valuesOf(second.samples(2))).toEqual([new Set([AFTER.customer]), new Set([AFTER.agent])]);
    // The switch cut the pending chunk: the first stream's last chunk is short and ends at P.
    expect(first.chunks.at(-1)?.byteLength).toBe((P % 800) * BYTES_PER_SAMPLE);

    // Results of each stream carry its language and sit on the conversation timeline.
    second.emit(result('b', 'ch_1', 0.1, 0.5, 'hola'));
    await until(() => sink.utterances.length === 2, 5_000, 'utterances of both streams');
    expect(sink.utterances.map((u) => [u.role, u.startMs, u.language, u.text])).toEqual([
      ['customer', 100, 'en-US', 'hello'],
      ['agent', 950 + 100, 'es-US', 'hola'],
    ]);

    expect(streamer.stats().languageSwitches).toBe(1);
    const switched = logger.find(/AudioHook language update/);
    expect(switched).toHaveLength(1);
    expect(switched[0]?.level).toBe('info');
    expect(switched[0]?.obj).toMatchObject({ segment: 3, from: 'en-US', to: 'es-US', atMs: 950 });
  });

  it('re-sends in the new language when the stream after the switch is lost', async () => {
    const { client, streamer, feed } = setup();
    feed(0, P, BEFORE);
    await until(() => client.streams[0]?.bytes === FULL_CHUNKS_BEFORE_P * BYTES_PER_SAMPLE);
    streamer.switchLanguage('es-US');
    feed(P, END, AFTER);
    await until(() => client.streams[1]?.bytes === (END - P) * BYTES_PER_SAMPLE);
    client.stream(1).fail(serviceError('InternalFailureException', 'internal', 500));
    await until(() => client.streams[2]?.bytes === (END - P) * BYTES_PER_SAMPLE, 5_000, 'the re-sent audio');
    const resent = client.stream(2);
    expect(resent.input.LanguageCode).toBe('es-US');
    expect(valuesOf(resent.samples(2))).toEqual([new Set([AFTER.customer]), new Set([AFTER.agent])]);
    expect(streamer.stats()).toMatchObject({ transientErrors: 1, languageSwitches: 1 });
  });

  it('re-sends audio from before the switch in the old language, then switches again at the same position', async () => {
    const { client, streamer, feed } = setup();
    feed(0, P, BEFORE);
    await until(() => client.streams[0]?.bytes === FULL_CHUNKS_BEFORE_P * BYTES_PER_SAMPLE);
    // The first stream's input ends at the switch, but it is lost before it completes: nothing transcribed.
    client.stream(0).completeOnInputEnd = false;
    streamer.switchLanguage('es-US');
    await until(() => client.stream(0).inputEnded, 5_000, 'the first stream ending at the switch');
    feed(P, END, AFTER);
    client.stream(0).fail(serviceError('InternalFailureException', 'internal', 500));
    await until(() => client.streams[2]?.bytes === (END - P) * BYTES_PER_SAMPLE, 5_000, 'the stream after');

    const [resent, after] = [client.stream(1), client.stream(2)];
    expect(resent.input.LanguageCode).toBe('en-US');
    expect(resent.bytes).toBe(P * BYTES_PER_SAMPLE);
    expect(valuesOf(resent.samples(2))).toEqual([new Set([BEFORE.customer]), new Set([BEFORE.agent])]);
    expect(after.input.LanguageCode).toBe('es-US');
    expect(valuesOf(after.samples(2))).toEqual([new Set([AFTER.customer]), new Set([AFTER.agent])]);
  });

  it('splits at an update to the language already in force too, as the reference server does', async () => {
    const { client, logger, streamer, feed } = setup();
    feed(0, SEC, BEFORE);
    await until(() => client.streams[0]?.bytes === SEC * BYTES_PER_SAMPLE);
    streamer.switchLanguage('en-US');
    feed(SEC, 2 * SEC, AFTER);
    await until(() => client.streams[1]?.bytes === SEC * BYTES_PER_SAMPLE, 5_000, 'the stream after the update');
    await streamer.end();
    expect(client.streams).toHaveLength(2);
    expect(client.streams.map((st) => st.input.LanguageCode)).toEqual(['en-US', 'en-US']);
    // The first stream ended exactly at the update, the second took only what followed.
    expect(valuesOf(client.stream(0).samples(2))).toEqual([new Set([BEFORE.customer]), new Set([BEFORE.agent])]);
    expect(valuesOf(client.stream(1).samples(2))).toEqual([new Set([AFTER.customer]), new Set([AFTER.agent])]);
    expect(streamer.stats().languageSwitches).toBe(1);
    expect(logger.find(/AudioHook language update/)).toHaveLength(1);
  });

  it('opens no empty stream for updates made before any audio since the last one', async () => {
    const { client, streamer, feed } = setup();
    feed(0, SEC, BEFORE);
    await until(() => client.streams[0]?.bytes === SEC * BYTES_PER_SAMPLE);
    streamer.switchLanguage('es-US');
    streamer.switchLanguage('fr-CA');
    feed(SEC, 2 * SEC, AFTER);
    await until(() => client.streams[1]?.bytes === SEC * BYTES_PER_SAMPLE, 5_000, 'the stream after the updates');
    await streamer.end();
    expect(client.streams.map((st) => st.input.LanguageCode)).toEqual(['en-US', 'fr-CA']);
  });

  it('applies a switch made while idle to the next stream', async () => {
    const { client, streamer, feed } = setup();
    streamer.switchLanguage('es-US');
    feed(0, SEC, AFTER);
    await until(() => client.streams[0]?.bytes === SEC * BYTES_PER_SAMPLE);
    expect(client.stream(0).input.LanguageCode).toBe('es-US');
    await streamer.end();
    expect(client.streams).toHaveLength(1);
  });

  it('ignores a switch once the segment has ended', async () => {
    const { client, streamer, feed } = setup();
    feed(0, SEC, BEFORE);
    await streamer.end();
    streamer.switchLanguage('es-US');
    await settle();
    expect(client.streams).toHaveLength(1);
    expect(streamer.stats().languageSwitches).toBe(0);
  });
});

/**
 * SegmentStreamer against a scriptable in-process Transcribe double and manual time: request shape,
 * timeline placement, and every resilience path step by step. The same behaviours run against the local
 * Transcribe-compatible endpoint with the real SDK in streamer-local.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { Role } from '../../../core/audio/roles';
import type { TranscriptionParams } from '../../../core/transcript/utterance';
import {
  buildStartRequest,
  canonicalLanguage,
  type SegmentContext,
} from '../../../fargate/src/transcribe/start-request';
import { SegmentStreamer } from '../../../fargate/src/transcribe/streamer';
import type { StreamerConfig } from '../../../fargate/src/transcribe/streamer-config';
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
const BYTES_PER_SEC_STEREO = SEC * 2 * 2;
const CUSTOMER = 1000;
const AGENT = 2000;

interface Setup {
  roles?: Role[];
  params?: Partial<TranscriptionParams>;
  config?: Partial<StreamerConfig>;
  partials?: boolean;
  random?: () => number;
}

function setup(over: Setup = {}) {
  const time = new ManualTime();
  const client = new FakeTranscribe();
  const sink = new RecordingSink();
  const logger = new RecordingLogger();
  let n = 0;
  const segment: SegmentContext = {
    conversationId: 'conv-1',
    segment: 1,
    roles: over.roles ?? ['customer', 'agent'],
    streamIds: { customer: 'sid-customer', agent: 'sid-agent' },
    params: { language: 'en-US', redactionOutput: 'unredacted', detailedToken: false, ...over.params },
  };
  const streamer = new SegmentStreamer({
    client,
    segment,
    utterances: sink,
    ...(over.partials ? { partials: sink } : {}),
    logger,
    clock: time,
    timers: time,
    random: over.random ?? (() => 0),
    newSessionId: () => `session-${++n}`,
    config: { idleEndMs: 0, ...over.config },
  });
  /** Writes [fromSec, toSec) of the timeline in 20 ms frames. */
  const feed = (
    fromSec: number,
    toSec: number,
    values: Partial<Record<Role, number>> = { customer: CUSTOMER, agent: AGENT },
  ) => {
    const roles = segment.roles;
    const v = Object.fromEntries(roles.map((r) => [r, values[r] ?? 0]));
    for (let p = Math.round(fromSec * SEC); p < Math.round(toSec * SEC); p += 160)
      streamer.write(constFrame(p, 160, v));
  };
  return { time, client, sink, logger, streamer, feed, segment };
}

describe('SegmentStreamer', () => {
  describe('opening', () => {
    it('opens nothing until the first audio, then one stream', async () => {
      const { client, feed } = setup();
      await settle();
      expect(client.sends).toBe(0);
      feed(0, 0.1);
      await until(() => client.streams.length === 1);
      expect(client.sends).toBe(1);
    });

    it('asks for 8 kHz PCM, two identified channels, PII identification and a fresh session id', async () => {
      const { client, feed } = setup({ params: { redactionOutput: 'redacted', language: 'es-us' } });
      feed(0, 0.1);
      await until(() => client.streams.length === 1);
      expect(client.stream(0).input).toMatchObject({
        LanguageCode: 'es-US',
        MediaSampleRateHertz: 8000,
        MediaEncoding: 'pcm',
        EnableChannelIdentification: true,
        NumberOfChannels: 2,
        ContentIdentificationType: 'PII',
        SessionId: 'session-1',
      });
      expect(client.stream(0).input.ContentRedactionType).toBeUndefined();
      expect(client.stream(0).input.EnablePartialResultsStabilization).toBeUndefined();
    });

    it('streams a mono session as one channel without channel identification', async () => {
      const { client, feed } = setup({ roles: ['customer'] });
      feed(0, 1, { customer: CUSTOMER });
      await until(() => client.streams[0]?.bytes === SEC * 2);
      expect(client.stream(0).input.EnableChannelIdentification).toBeUndefined();
      expect(client.stream(0).input.NumberOfChannels).toBeUndefined();
    });

    it('sends uniform 100 ms chunks interleaved in the negotiated channel order', async () => {
      const { client, feed } = setup({ roles: ['agent', 'customer'] });
      feed(0, 1);
      await until(() => client.streams[0]?.bytes === BYTES_PER_SEC_STEREO);
      expect(client.stream(0).chunks.every((c) => c.byteLength === 3200)).toBe(true);
      const [ch0, ch1] = client.stream(0).samples(2);
      expect(new Set(ch0)).toEqual(new Set([AGENT]));
      expect(new Set(ch1)).toEqual(new Set([CUSTOMER]));
    });
  });

  describe('buildStartRequest', () => {
    const segment: SegmentContext = {
      conversationId: 'c',
      segment: 1,
      roles: ['customer', 'agent'],
      streamIds: {},
      params: { language: 'en-US', redactionOutput: 'unredacted', detailedToken: true },
    };
    const audio = (async function* () {})();

    it('asks for stable partials only when partials are wanted', () => {
      const input = buildStartRequest(segment, { sessionId: 's', partials: true }, audio);
      expect(input).toMatchObject({ EnablePartialResultsStabilization: true, PartialResultsStability: 'high' });
      expect(input.ContentIdentificationType).toBeUndefined();
    });

    it('passes the deployment customization through', () => {
      const input = buildStartRequest(
        { ...segment, params: { ...segment.params, redactionOutput: 'redacted_and_unredacted' } },
        {
          sessionId: 's',
          partials: false,
          customization: {
            piiEntityTypes: 'PIN,SSN',
            vocabularyName: 'v',
            vocabularyFilterName: 'f',
            vocabularyFilterMethod: 'tag',
            languageModelName: 'lm',
          },
        },
        audio,
      );
      expect(input).toMatchObject({
        ContentIdentificationType: 'PII',
        PiiEntityTypes: 'PIN,SSN',
        VocabularyName: 'v',
        VocabularyFilterName: 'f',
        VocabularyFilterMethod: 'tag',
        LanguageModelName: 'lm',
      });
    });

    it('canonicalizes language tags', () => {
      expect(canonicalLanguage('en-us')).toBe('en-US');
      expect(canonicalLanguage('ES-us')).toBe('es-US');
      expect(canonicalLanguage('de')).toBe('de');
    });
  });

  describe('results', () => {
    it('emits utterances with roles from the channel order and times on the timeline across a pause', async () => {
      const { client, sink, feed } = setup({ roles: ['agent', 'customer'] });
      feed(0, 2);
      feed(10, 12); // 8 s paused in between: never sent
      await until(() => client.streams[0]?.bytes === 4 * BYTES_PER_SEC_STEREO);
      client.stream(0).emit(result('a', 'ch_0', 0.5, 1.5, 'hello there'));
      client.stream(0).emit(result('b', 'ch_1', 2.5, 3.5, 'hi'));
      await until(() => sink.utterances.length === 2);
      expect(sink.utterances.map((u) => [u.role, u.streamId, u.startMs, u.endMs, u.text])).toEqual([
        ['agent', 'sid-agent', 500, 1500, 'hello there'],
        ['customer', 'sid-customer', 10_500, 11_500, 'hi'],
      ]);
    });

    it('forwards partials only without redaction', async () => {
      const plain = setup({ partials: true });
      plain.feed(0, 1);
      await until(() => plain.client.streams.length === 1);
      expect(plain.client.stream(0).input.EnablePartialResultsStabilization).toBe(true);
      plain.client.stream(0).emit(result('p', 'ch_0', 0.1, 0.4, 'hel', true));
      await until(() => plain.sink.partials.length === 1);

      const redacted = setup({ partials: true, params: { redactionOutput: 'redacted' } });
      redacted.feed(0, 1);
      await until(() => redacted.client.streams.length === 1);
      redacted.client.stream(0).emit(result('p', 'ch_0', 0.1, 0.4, 'hel', true));
      redacted.client.stream(0).emit(result('p', 'ch_0', 0.1, 0.5, 'hello'));
      await until(() => redacted.sink.utterances.length === 1);
      expect(redacted.sink.partials).toEqual([]);
      expect(redacted.client.stream(0).input.EnablePartialResultsStabilization).toBeUndefined();
    });

    it('counts audio and transcripts per role', async () => {
      const { client, sink, feed, streamer, time } = setup();
      feed(0, 2);
      await until(() => client.streams[0]?.bytes === 2 * BYTES_PER_SEC_STEREO);
      client.stream(0).emit(result('a', 'ch_1', 0.5, 1.5, 'hello'));
      await until(() => sink.utterances.length === 1);
      await time.advance(3_000);
      const s = streamer.stats();
      expect(s.roles.customer).toEqual({
        totalAudioBytes: 32_000,
        audioDurationMs: 2000,
        streamingSeconds: 3,
        transcripts: 0,
      });
      expect(s.roles.agent).toEqual({
        totalAudioBytes: 32_000,
        audioDurationMs: 2000,
        streamingSeconds: 3,
        transcripts: 1,
      });
    });
  });

  describe('when the concurrent-stream quota is reached', () => {
    it('retries the start after a backoff, counts it, warns clearly and loses no audio', async () => {
      const { client, sink, feed, streamer, logger, time } = setup({ random: () => 0.5 });
      client.startErrors.push(
        serviceError('LimitExceededException', 'You have reached your limit of concurrent streams', 429),
      );
      feed(0, 1);
      await until(() => client.sends === 1);
      await settle();
      expect(streamer.stats().throttled).toBe(1);
      expect(logger.messages('warn').some((m) => m.includes('Transcribe concurrent stream quota reached'))).toBe(true);
      expect(client.streams).toHaveLength(0);
      await time.advance(499);
      expect(client.sends).toBe(1); // 1 s ceiling × 0.5 jitter
      await time.advance(1);
      await until(() => client.streams[0]?.bytes === BYTES_PER_SEC_STEREO);
      client.stream(0).emit(result('a', 'ch_0', 0.0, 0.5, 'first'));
      await until(() => sink.utterances.length === 1);
      expect(sink.utterances[0]?.startMs).toBe(0);
    });
  });

  describe('when a stream is lost mid-speech', () => {
    it('re-sends unfinished audio, blanks finished speech, and neither loses nor duplicates an utterance', async () => {
      const { client, sink, feed, streamer } = setup();
      feed(0, 3);
      await until(() => client.streams[0]?.bytes === 3 * BYTES_PER_SEC_STEREO);
      const s0 = client.stream(0);
      s0.emit(result('c1', 'ch_0', 0.2, 1.0, 'customer done'), result('a1', 'ch_1', 1.5, 2.0, 'agent still', true));
      await until(() => sink.utterances.length === 1);
      s0.fail(serviceError('InternalFailureException', 'internal', 500));
      await until(() => client.streams.length === 2);
      const s1 = client.stream(1);
      // From the customer's last final end (1.0 s) to the end: 2 s re-sent.
      await until(() => s1.bytes === 2 * BYTES_PER_SEC_STEREO);
      const [customer, agent] = s1.samples(2);
      expect(new Set(customer)).toEqual(new Set([CUSTOMER]));
      // The agent's audio before its unfinished utterance (1.0–1.5 s) is blanked.
      expect(agent?.slice(0, 0.5 * SEC).every((v) => v === 0)).toBe(true);
      expect(agent?.slice(0.5 * SEC).every((v) => v === AGENT)).toBe(true);
      // The new stream finishes the agent's utterance and repeats a bit of the customer's.
      s1.emit(
        result('c1-again', 'ch_0', 0.0, 0.0, 'done'),
        result('a1-final', 'ch_1', 0.5, 1.2, 'agent still talking'),
      );
      await until(() => sink.utterances.length === 2);
      expect(sink.utterances.map((u) => [u.role, u.startMs, u.endMs, u.text])).toEqual([
        ['customer', 200, 1000, 'customer done'],
        ['agent', 1500, 2200, 'agent still talking'],
      ]);
      const stats = streamer.stats();
      expect(stats).toMatchObject({ transientErrors: 1, duplicatesDropped: 1, resentAudioMs: 2000 });
      expect(client.stream(1).input.SessionId).not.toBe(client.stream(0).input.SessionId);
    });

    it('treats a result stream that ends by itself as a lost stream', async () => {
      const { client, feed, streamer } = setup();
      feed(0, 1);
      await until(() => client.streams[0]?.bytes === BYTES_PER_SEC_STEREO);
      client.stream(0).complete();
      await until(() => client.streams.length === 2);
      expect(streamer.stats().transientErrors).toBe(1);
      await until(() => client.streams[1]?.bytes === BYTES_PER_SEC_STEREO); // nothing was transcribed: all re-sent
    });

    it('gives the segment up after too many consecutive failures', async () => {
      const { client, feed, streamer, logger } = setup({ config: { maxConsecutiveFailures: 3 } });
      for (let i = 0; i < 5; i++) client.startErrors.push(serviceError('ServiceUnavailableException', 'busy', 503));
      feed(0, 1);
      await until(() => streamer.state === 'failed');
      expect(client.sends).toBe(3);
      expect(streamer.stats().failures).toBe(1);
      expect(logger.messages('error')).toHaveLength(1);
    });
  });

  describe('when the request is rejected', () => {
    it('gives up the segment at once, logs an error and drops later audio', async () => {
      const { client, feed, streamer, logger, time } = setup();
      client.startErrors.push(serviceError('BadRequestException', 'Unsupported language code', 400));
      feed(0, 1);
      await until(() => streamer.state === 'failed');
      feed(1, 3);
      await time.advance(60_000);
      expect(client.sends).toBe(1);
      expect(streamer.stats()).toMatchObject({ failures: 1, state: 'failed' });
      expect(logger.messages('error')[0]).toContain('giving up');
      await streamer.end();
      expect(streamer.state).toBe('failed');
    });
  });

  describe('when no audio arrives (pause or hold)', () => {
    it('after Transcribe’s no-audio timeout, reopens only on the next audio', async () => {
      const { client, feed, streamer, time } = setup();
      feed(0, 1);
      await until(() => client.streams[0]?.bytes === BYTES_PER_SEC_STEREO);
      client
        .stream(0)
        .fail(
          serviceError(
            'BadRequestException',
            'Your request timed out because no new audio was received for 15 seconds.',
            400,
          ),
        );
      await until(() => streamer.stats().noAudioTimeouts === 1);
      await time.advance(60_000);
      expect(client.streams).toHaveLength(1);
      feed(40, 41);
      await until(() => client.streams.length === 2);
      // Nothing had been transcribed: the second before the pause is re-sent, then the new audio.
      await until(() => client.streams[1]?.bytes === 2 * BYTES_PER_SEC_STEREO);
      client.stream(1).emit(result('x', 'ch_0', 1.2, 1.8, 'after the pause'));
      await until(() => streamer.stats().roles.customer?.transcripts === 1);
    });

    it('closes an idle stream gracefully and opens a new one on the next audio', async () => {
      const { client, feed, streamer, time, sink } = setup({ config: { idleEndMs: 10_000 } });
      client.onInputEnd = (s) => (s === client.streams[0] ? [result('last', 'ch_0', 0.1, 0.9, 'bye for now')] : []);
      feed(0, 1);
      await until(() => client.streams[0]?.bytes === BYTES_PER_SEC_STEREO);
      await time.advance(9_999);
      expect(client.stream(0).inputEnded).toBe(false);
      await time.advance(1);
      await until(() => client.stream(0).inputEnded);
      await until(() => sink.utterances.length === 1);
      expect(streamer.stats().idleCloses).toBe(1);
      feed(30, 31);
      await until(() => client.streams[1]?.bytes === BYTES_PER_SEC_STEREO); // nothing re-sent
      expect(client.stream(1).input.SessionId).toBe('session-2');
    });
  });

  describe('buffer overflow', () => {
    it('keeps at most bufferSec of audio while no stream takes it, dropping the oldest with a warning', async () => {
      const { client, feed, streamer, logger, time } = setup({ config: { bufferSec: 1 }, random: () => 0.5 });
      client.startErrors.push(serviceError('LimitExceededException', 'limit', 429));
      feed(0, 0.1);
      await until(() => streamer.state === 'backoff');
      feed(0.1, 5);
      expect(streamer.stats().droppedAudioMs).toBe(4000);
      expect(logger.messages('warn').filter((m) => m.includes('dropping the oldest audio'))).toHaveLength(1);
      await time.advance(500);
      await until(() => client.streams[0]?.bytes === BYTES_PER_SEC_STEREO);
      client.stream(0).emit(result('late', 'ch_0', 0.0, 0.5, 'still placed right'));
      await until(() => streamer.stats().roles.customer?.transcripts === 1);
    });
  });

  describe('rotation before the 4-hour limit', () => {
    it('rotates at an utterance boundary and keeps results on the timeline', async () => {
      const { client, feed, streamer, time, sink } = setup({ config: { rotateAfterMs: 60_000 } });
      feed(0, 1);
      await until(() => client.streams[0]?.bytes === BYTES_PER_SEC_STEREO);
      client.stream(0).emit(result('p', 'ch_0', 0.5, 0.9, 'in progress', true));
      await settle();
      await time.advance(61_000);
      feed(1, 1.1);
      await until(() => client.streams[0]?.bytes === 1.1 * BYTES_PER_SEC_STEREO);
      expect(client.stream(0).inputEnded).toBe(false); // an utterance is open: not yet
      client.stream(0).emit(result('p', 'ch_0', 0.5, 1.05, 'in progress done'));
      await until(() => sink.utterances.length === 1);
      feed(1.1, 1.2);
      await until(() => client.stream(0).inputEnded);
      await until(() => streamer.stats().rotations === 1);
      feed(1.2, 2.2);
      await until(() => client.streams[1]?.bytes === BYTES_PER_SEC_STEREO);
      client.stream(1).emit(result('n', 'ch_1', 0.3, 0.8, 'new stream'));
      await until(() => sink.utterances.length === 2);
      expect(sink.utterances[1]).toMatchObject({ role: 'agent', startMs: 1500, endMs: 2000 });
      expect(client.stream(1).input.SessionId).toBe('session-2');
    });

    it('rotates mid-utterance once the grace period is over', async () => {
      const { client, feed, streamer, time } = setup({ config: { rotateAfterMs: 60_000, rotateGraceMs: 10_000 } });
      feed(0, 1);
      await until(() => client.streams[0]?.bytes === BYTES_PER_SEC_STEREO);
      client.stream(0).emit(result('p', 'ch_0', 0.5, 0.9, 'never ends', true));
      await settle();
      await time.advance(70_000);
      feed(1, 1.1);
      await until(() => streamer.stats().rotations === 1);
    });
  });

  describe('end()', () => {
    it('sends the buffered audio, ends the stream and awaits its final results', async () => {
      const { client, feed, streamer, sink } = setup();
      client.onInputEnd = () => [result('f', 'ch_1', 0.2, 0.95, 'final words')];
      feed(0, 0.96); // the last 160 ms sit in a partial chunk until end() flushes them
      await streamer.end();
      expect(client.stream(0).bytes).toBe(0.96 * BYTES_PER_SEC_STEREO);
      expect(client.stream(0).inputEnded).toBe(true);
      expect(sink.utterances.map((u) => u.text)).toEqual(['final words']);
      expect(streamer.state).toBe('ended');
      expect(streamer.stats().roles.agent?.transcripts).toBe(1);
    });

    it('resolves at once when no audio was ever sent', async () => {
      const { client, streamer } = setup();
      await streamer.end();
      expect(client.sends).toBe(0);
    });

    it('is bounded: a stream that never finishes is abandoned after endTimeoutMs', async () => {
      const { client, feed, streamer, time, logger } = setup({ config: { endTimeoutMs: 5_000 } });
      client.completeOnInputEnd = false;
      feed(0, 1);
      await until(() => client.streams[0]?.bytes === BYTES_PER_SEC_STEREO);
      let done = false;
      const ending = streamer.end().then(() => {
        done = true;
      });
      await time.advance(4_999);
      expect(done).toBe(false);
      await time.advance(1);
      await ending;
      expect(logger.messages('warn').some((m) => m.includes('did not finish in time'))).toBe(true);
    });

    it('drops audio written after end', async () => {
      const { client, feed, streamer } = setup();
      feed(0, 1);
      await streamer.end();
      feed(1, 2);
      await settle();
      expect(client.stream(0).bytes).toBe(BYTES_PER_SEC_STEREO);
      expect(streamer.stats().roles.customer?.audioDurationMs).toBe(1000);
    });
  });
});

import http2 from 'node:http2';
import {
  BadRequestException,
  ConflictException,
  InternalFailureException,
  LimitExceededException,
  type Result,
  ServiceUnavailableException,
  type TranscribeStreamingClient,
} from '@aws-sdk/client-transcribe-streaming';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createScriptedRecognizer, type RecognizerFactory } from '../../../local/transcribe/recognizer';
import { type LocalTranscribe, NO_AUDIO_TIMEOUT_MESSAGE, startLocalTranscribe } from '../../../local/transcribe/server';
import {
  audioEvents,
  interleave,
  localTranscribeClient,
  pcmBytes,
  toneTrack,
  transcribe,
} from '../../../local/transcribe/test-support';

const MONO = { LanguageCode: 'en-US', MediaEncoding: 'pcm', MediaSampleRateHertz: 8000 } as const;
/** Two bursts: 0.5–1.2 s and 2.0–2.5 s of a 3 s track. */
const TWO_BURSTS = pcmBytes(
  toneTrack(
    [
      [0.5, 1.2],
      [2.0, 2.5],
    ],
    3,
    8000,
  ),
);

/** A burst at 0.5–1.2 s and one still sounding when the audio stops at 3 s (its segment never closes). */
const OPEN_END = pcmBytes(
  toneTrack(
    [
      [0.5, 1.2],
      [2.0, 3.0],
    ],
    3,
    8000,
  ),
);

/** Polls until `check` holds (streams start asynchronously). */
async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const finals = (results: Result[]) => results.filter((r) => r.IsPartial === false);
const transcriptOf = (r: Result | undefined) => r?.Alternatives?.[0]?.Transcript;

describe('local transcribe endpoint (real SDK client, scripted recognizer)', () => {
  let endpoint: LocalTranscribe;
  let client: TranscribeStreamingClient;
  const script = (i: number) => (i === 0 ? ['my', 'pin', 'is', 'one', 'two', 'three', 'four'] : ['thanks']);

  beforeAll(async () => {
    endpoint = await startLocalTranscribe({ recognizer: createScriptedRecognizer({ words: script }) });
    client = localTranscribeClient(endpoint.url);
  });
  afterEach(() => endpoint.faults.clear());
  afterAll(async () => {
    client.destroy();
    await endpoint.close();
  });

  describe('a mono stream', () => {
    it('returns one final per speech segment with times from the start of the stream', async () => {
      const { results, error, output } = await transcribe(client, MONO, audioEvents(TWO_BURSTS));
      expect(error).toBeUndefined();
      const f = finals(results);
      expect(f.map((r) => [r.StartTime, r.EndTime])).toEqual([
        [0.5, 1.2],
        [2, 2.5],
      ]);
      expect(f.map(transcriptOf)).toEqual(['my pin is one two three four.', 'thanks.']);
      expect(f[0]?.ChannelId).toBeUndefined();
      const items = f[0]?.Alternatives?.[0]?.Items ?? [];
      expect(items[0]).toMatchObject({
        Type: 'pronunciation',
        Content: 'my',
        StartTime: 0.5,
        VocabularyFilterMatch: false,
      });
      expect(items.at(-1)).toMatchObject({ Type: 'punctuation', Content: '.' });
      expect(output?.SessionId).toMatch(/^[0-9a-f-]{36}$/);
      expect(output?.RequestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(output).toMatchObject({ LanguageCode: 'en-US', MediaSampleRateHertz: 8000, MediaEncoding: 'pcm' });
    });

    it('sends progressive partials while an utterance lasts, under the ResultId of its final', async () => {
      const { results } = await transcribe(client, MONO, audioEvents(TWO_BURSTS));
      const first = results.filter((r) => r.ResultId === results[0]?.ResultId);
      expect(first.map((r) => r.IsPartial)).toEqual([true, true, true, false]);
      expect(first.map(transcriptOf)).toEqual(['my', 'my pin', 'my pin is', 'my pin is one two three four.']);
      // The first word once speech lasted 200 ms, one more every 200 ms, each reaching to the audio heard so far.
      expect(first.map((r) => r.EndTime)).toEqual([0.7, 0.9, 1.1, 1.2]);
      expect(new Set(results.map((r) => r.ResultId)).size).toBe(2);
      expect(results.map((r) => r.LanguageCode)).toEqual(results.map(() => 'en-US'));
    });

    it('marks items Stable when partial-results stabilization is on', async () => {
      const { results, output } = await transcribe(
        client,
        { ...MONO, EnablePartialResultsStabilization: true, PartialResultsStability: 'high' },
        audioEvents(TWO_BURSTS),
      );
      expect(output).toMatchObject({ EnablePartialResultsStabilization: true, PartialResultsStability: 'high' });
      const partial = results.find((r) => r.IsPartial && r.Alternatives?.[0]?.Items?.length === 3);
      expect(partial?.Alternatives?.[0]?.Items?.map((i) => i.Stable)).toEqual([true, true, false]);
      expect(finals(results)[0]?.Alternatives?.[0]?.Items?.every((i) => i.Stable === true)).toBe(true);
    });

    it('echoes the session id it was given', async () => {
      const SessionId = '0f8fad5b-d9cb-469f-a165-70867728950e';
      const { output } = await transcribe(client, { ...MONO, SessionId }, audioEvents(TWO_BURSTS));
      expect(output?.SessionId).toBe(SessionId);
    });

    it('reassembles samples split across audio events at odd byte offsets', async () => {
      const { results } = await transcribe(client, MONO, audioEvents(TWO_BURSTS, { chunkBytes: 333 }));
      expect(finals(results).map((r) => [r.StartTime, r.EndTime])).toEqual([
        [0.5, 1.2],
        [2, 2.5],
      ]);
    });

    it('accepts other sample rates (16 kHz, 44.1 kHz) on the same time base', async () => {
      for (const rate of [16000, 44100]) {
        const pcm = pcmBytes(toneTrack([[0.5, 1.2]], 2, rate));
        const { results } = await transcribe(client, { ...MONO, MediaSampleRateHertz: rate }, audioEvents(pcm));
        expect(finals(results).map((r) => [r.StartTime, r.EndTime])).toEqual([[0.5, 1.2]]);
      }
    });

    it('flushes on an explicit empty AudioEvent while the request is still open', async () => {
      const started = Date.now();
      const { results, error } = await transcribe(
        client,
        MONO,
        audioEvents(TWO_BURSTS, { emptyEventAtEnd: true, holdOpenMs: 3000 }),
      );
      expect(error).toBeUndefined();
      expect(finals(results)).toHaveLength(2);
      // The response ended on the empty event, not when the request body ended 3 s later.
      expect(Date.now() - started).toBeLessThan(2500);
    });
  });

  describe('channel identification', () => {
    it('de-interleaves two channels and labels results ch_0 and ch_1', async () => {
      const ch0 = toneTrack([[0.3, 1.0]], 3, 8000);
      const ch1 = toneTrack([[1.5, 2.2]], 3, 8000, 600);
      const { results, output } = await transcribe(
        client,
        { ...MONO, EnableChannelIdentification: true, NumberOfChannels: 2 },
        audioEvents(pcmBytes(interleave(ch0, ch1)), { chunkBytes: 1602 }),
      );
      expect(output).toMatchObject({ EnableChannelIdentification: true, NumberOfChannels: 2 });
      expect(finals(results).map((r) => [r.ChannelId, r.StartTime, r.EndTime])).toEqual([
        ['ch_0', 0.3, 1],
        ['ch_1', 1.5, 2.2],
      ]);
    });
  });

  describe('PII', () => {
    it('identifies a spoken PIN as an entity on the final result only', async () => {
      const { results, output } = await transcribe(
        client,
        { ...MONO, ContentIdentificationType: 'PII' },
        audioEvents(TWO_BURSTS),
      );
      expect(output?.ContentIdentificationType).toBe('PII');
      const final = finals(results)[0];
      expect(transcriptOf(final)).toBe('my pin is one two three four.');
      expect(final?.Alternatives?.[0]?.Entities).toEqual([
        {
          Category: 'PII',
          Type: 'PIN',
          Content: 'one two three four',
          StartTime: 0.8,
          EndTime: 1.2,
          Confidence: 0.9,
        },
      ]);
      expect(results.filter((r) => r.IsPartial).every((r) => r.Alternatives?.[0]?.Entities === undefined)).toBe(true);
    });

    it('redacts the PIN in the transcript and items', async () => {
      const { results } = await transcribe(client, { ...MONO, ContentRedactionType: 'PII' }, audioEvents(TWO_BURSTS));
      const final = finals(results)[0];
      expect(transcriptOf(final)).toBe('my pin is [PII].');
      expect(final?.Alternatives?.[0]?.Items?.map((i) => i.Content)).toEqual(['my', 'pin', 'is', '[PII]', '.']);
      expect(final?.Alternatives?.[0]?.Entities?.[0]).toMatchObject({ Type: 'PIN', Content: '[PII]' });
    });

    it('leaves entity types that were not asked for', async () => {
      const { results } = await transcribe(
        client,
        { ...MONO, ContentRedactionType: 'PII', PiiEntityTypes: 'PHONE,CREDIT_DEBIT_NUMBER' },
        audioEvents(TWO_BURSTS),
      );
      expect(transcriptOf(finals(results)[0])).toBe('my pin is one two three four.');
    });
  });

  describe('parameter validation', () => {
    it.each([
      ['a sample rate outside 8000–48000', { MediaSampleRateHertz: 4000 }, /between 8000 and 48000/],
      ['an unsupported media encoding', { MediaEncoding: 'ogg-opus' as const }, /only decodes pcm/],
      ['channel identification without 2 channels', { EnableChannelIdentification: true }, /NumberOfChannels as 2/],
      [
        'content identification together with redaction',
        { ContentIdentificationType: 'PII' as const, ContentRedactionType: 'PII' as const },
        /ContentRedactionType and ContentIdentificationType/,
      ],
    ])('rejects %s with a typed BadRequestException (HTTP 400)', async (_what, override, message) => {
      const { error, output } = await transcribe(client, { ...MONO, ...override }, audioEvents(TWO_BURSTS));
      expect(output).toBeUndefined();
      expect(error).toBeInstanceOf(BadRequestException);
      expect((error as BadRequestException).$metadata.httpStatusCode).toBe(400);
      expect((error as Error).message).toMatch(message);
    });
  });

  describe('faults', () => {
    it.each([
      ['LimitExceededException', LimitExceededException, 429],
      ['ServiceUnavailableException', ServiceUnavailableException, 503],
      ['BadRequestException', BadRequestException, 400],
    ] as const)('failNextStart(%s) fails the next start once, with the typed error', async (type, ctor, status) => {
      endpoint.faults.failNextStart({ type });
      const failed = await transcribe(client, MONO, audioEvents(TWO_BURSTS));
      expect(failed.error).toBeInstanceOf(ctor);
      expect((failed.error as InstanceType<typeof ctor>).$metadata.httpStatusCode).toBe(status);
      const next = await transcribe(client, MONO, audioEvents(TWO_BURSTS));
      expect(next.error).toBeUndefined();
    });

    it('the SDK does not retry a failed stream start even with retries enabled', async () => {
      const retrying = localTranscribeClient(endpoint.url, { maxAttempts: 3 });
      endpoint.faults.failNextStart({ type: 'LimitExceededException' });
      const before = endpoint.stats().streamsStarted;
      const { error } = await transcribe(retrying, MONO, audioEvents(TWO_BURSTS));
      retrying.destroy();
      expect(error).toBeInstanceOf(LimitExceededException);
      expect(endpoint.stats().streamsStarted).toBe(before);
    });

    it('errorMidStream after some audio delivers earlier results, then the typed exception', async () => {
      endpoint.faults.errorMidStream({ afterAudioMs: 1500, type: 'InternalFailureException' });
      const { results, error } = await transcribe(client, MONO, audioEvents(TWO_BURSTS, { delayMs: 5 }));
      expect(error).toBeInstanceOf(InternalFailureException);
      expect(finals(results).map((r) => r.StartTime)).toEqual([0.5]);
    });

    it('errorMidStream after some time sends the chosen exception type', async () => {
      endpoint.faults.errorMidStream({ afterMs: 50, type: 'ConflictException', message: 'same session' });
      const { error } = await transcribe(client, MONO, audioEvents(TWO_BURSTS, { delayMs: 50 }));
      expect(error).toBeInstanceOf(ConflictException);
      expect((error as Error).message).toBe('same session');
    });

    it.each(['session', 'stream'] as const)(
      'dropConnection (%s) ends the result stream early and without an error, as the SDK reports a reset',
      async (scope) => {
        endpoint.faults.dropConnection({ afterMs: 100, scope });
        const { results, error } = await transcribe(client, MONO, audioEvents(TWO_BURSTS, { delayMs: 60 }));
        // Observed with Node 20 + SDK 3.1141: the HTTP/2 stream emits 'end' before 'aborted', so the
        // SDK's iterator completes normally. Clients must treat an end before their end of audio as a failure.
        expect(error).toBeUndefined();
        expect(finals(results)).toHaveLength(0);
      },
    );

    it('silenceTimeout ends the next stream with the service’s no-audio BadRequestException', async () => {
      endpoint.faults.silenceTimeout(200);
      const { results, error } = await transcribe(client, MONO, audioEvents(OPEN_END, { holdOpenMs: 3000 }));
      expect(error).toBeInstanceOf(BadRequestException);
      expect((error as Error).message).toBe(NO_AUDIO_TIMEOUT_MESSAGE);
      // Audio that arrived before the silence was transcribed; the utterance still open was dropped.
      expect(finals(results).map((r) => r.StartTime)).toEqual([0.5]);
    });

    it('counts what it did', () => {
      const s = endpoint.stats();
      expect(s.streamsActive).toBe(0);
      expect(s.exceptions).toMatchObject({ InternalFailureException: 1, ConflictException: 1, BadRequestException: 1 });
      expect(s.finalResults).toBeGreaterThan(10);
    });
  });
});

describe('local transcribe endpoint with a recognizer that reports whole utterances only (as pocketsphinx)', () => {
  it('synthesizes partials over growing prefixes before each final, under its ResultId', async () => {
    const wholeOnly = createScriptedRecognizer({ words: () => ['my', 'pin', 'is', 'one'], partialIntervalMs: 0 });
    const endpoint = await startLocalTranscribe({ recognizer: wholeOnly });
    const client = localTranscribeClient(endpoint.url);
    const { results } = await transcribe(client, { ...MONO, LanguageCode: 'es-US' }, audioEvents(TWO_BURSTS));
    client.destroy();
    await endpoint.close();
    const first = results.filter((r) => r.ResultId === results[0]?.ResultId);
    expect(first.map((r) => r.IsPartial)).toEqual([true, true, false]);
    expect(first.map(transcriptOf)).toEqual(['my pin', 'my pin is one', 'my pin is one.']);
    expect(results.map((r) => r.LanguageCode)).toEqual(results.map(() => 'es-US'));
    expect(endpoint.stats()).toMatchObject({ partialResults: 4, finalResults: 2 });
  });
});

describe('local transcribe endpoint lifecycle', () => {
  it('times out a stream that sends no audio (noAudioTimeoutMs)', async () => {
    const endpoint = await startLocalTranscribe({ recognizer: createScriptedRecognizer(), noAudioTimeoutMs: 150 });
    const client = localTranscribeClient(endpoint.url);
    const { error } = await transcribe(client, MONO, audioEvents(new Uint8Array(0), { holdOpenMs: 2000 }));
    client.destroy();
    await endpoint.close();
    expect(error).toBeInstanceOf(BadRequestException);
    expect((error as Error).message).toMatch(/no new audio was received/);
  });

  it('turns a recognizer failure into an InternalFailureException', async () => {
    const failing: RecognizerFactory = ({ listener }) => ({
      write: () => listener.onError(new Error('boom')),
      end: async () => {},
      close: async () => {},
    });
    const endpoint = await startLocalTranscribe({ recognizer: failing });
    const client = localTranscribeClient(endpoint.url);
    const { error } = await transcribe(client, MONO, audioEvents(TWO_BURSTS));
    client.destroy();
    await endpoint.close();
    expect(error).toBeInstanceOf(InternalFailureException);
  });

  it('refuses streams beyond its concurrency limit with LimitExceededException', async () => {
    const endpoint = await startLocalTranscribe({ recognizer: createScriptedRecognizer(), maxConcurrentStreams: 1 });
    const client = localTranscribeClient(endpoint.url);
    const abort = new AbortController();
    const first = transcribe(client, MONO, audioEvents(TWO_BURSTS, { holdOpenMs: 5000, signal: abort.signal }));
    await until(() => endpoint.stats().streamsActive === 1);
    const second = await transcribe(client, MONO, audioEvents(TWO_BURSTS));
    abort.abort();
    await first;
    client.destroy();
    await endpoint.close();
    expect(second.error).toBeInstanceOf(LimitExceededException);
  });

  it('answers unknown paths with 404 and closes with streams still open', async () => {
    const endpoint = await startLocalTranscribe({ recognizer: createScriptedRecognizer() });
    const session = http2.connect(endpoint.url);
    const status = await new Promise<number | undefined>((resolve) => {
      const req = session.request({ ':method': 'GET', ':path': '/nope' });
      req.on('response', (h) => resolve(h[':status']));
      req.resume();
      req.end();
    });
    session.destroy();
    expect(status).toBe(404);

    const client = localTranscribeClient(endpoint.url);
    const pending = transcribe(client, MONO, audioEvents(OPEN_END, { holdOpenMs: 10_000 }));
    // The first burst is transcribed; the second is still sounding when the endpoint closes.
    await until(() => endpoint.stats().finalResults === 1);
    expect(endpoint.stats().streamsActive).toBe(1);
    await endpoint.close();
    const { results } = await pending;
    client.destroy();
    expect(endpoint.stats().streamsActive).toBe(0);
    expect(finals(results)).toHaveLength(1);
  });
});

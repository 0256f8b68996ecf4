/**
 * Open-stream faults of the local Transcribe endpoint (`POST /_local/faults` with `openStream`): each kind
 * hits a stream that is open now, seen through the real SDK client; targets are picked as asked; bad bodies
 * are refused with a specific message. Audio is pushed by the test, so a stream stays open until it says so.
 */
import http2 from 'node:http2';
import {
  BadRequestException,
  ConflictException,
  InternalFailureException,
  type Result,
  StartStreamTranscriptionCommand,
  type TranscribeStreamingClient,
} from '@aws-sdk/client-transcribe-streaming';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  FaultControlError,
  type OpenStreamFault,
  type OpenStreamTargeting,
  pickOpenStreams,
  seededRandom,
} from '../../../local/transcribe/faults';
import { createScriptedRecognizer, type RecognizerFactory } from '../../../local/transcribe/recognizer';
import {
  FAULT_CONTROL_PATH,
  type LocalTranscribe,
  NO_AUDIO_TIMEOUT_MESSAGE,
  startLocalTranscribe,
} from '../../../local/transcribe/server';
import { AudioFeed, localTranscribeClient, pcmBytes, toneTrack } from '../../../local/transcribe/test-support';

const MONO = { LanguageCode: 'en-US', MediaEncoding: 'pcm', MediaSampleRateHertz: 8000 } as const;
/** Two utterances (0.5–1.2 s and 2.0–2.5 s), both closed by the silence after them. */
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
/** One utterance closed by silence. */
const ONE_BURST = pcmBytes(toneTrack([[0.2, 0.8]], 1.5, 8000));

type Received = { result: Result; at: number };

/** A stream that is open once `start` resolves (the endpoint answered), with what it receives, timestamped. */
interface OpenStream {
  feed: AudioFeed;
  received: Received[];
  /** Resolves when the result stream ends, with the error that ended it, if any. */
  ended: Promise<{ error?: unknown; at: number }>;
  /** Resolves once `n` final results have arrived. */
  finalsArrived(n: number): Promise<void>;
}

const feeds: AudioFeed[] = [];

async function open(client: TranscribeStreamingClient, sessionId: string): Promise<OpenStream> {
  const feed = new AudioFeed();
  feeds.push(feed);
  const received: Received[] = [];
  const waiters: { done: () => boolean; resolve: () => void }[] = [];
  const output = await client.send(
    new StartStreamTranscriptionCommand({ ...MONO, SessionId: sessionId, AudioStream: feed }),
  );
  const ended = (async () => {
    try {
      for await (const event of output.TranscriptResultStream ?? []) {
        for (const result of event.TranscriptEvent?.Transcript?.Results ?? []) {
          received.push({ result, at: Date.now() });
          for (const w of waiters) if (w.done()) w.resolve();
        }
      }
      return { at: Date.now() };
    } catch (error) {
      return { error, at: Date.now() };
    }
  })();
  const arrived = (done: () => boolean) =>
    done() ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ done, resolve }));
  return {
    feed,
    received,
    ended,
    finalsArrived: (n) => arrived(() => finalCount(received) >= n),
  };
}

/** Posts a fault control body; answers the status and the JSON body. */
async function control(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const session = http2.connect(url);
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': FAULT_CONTROL_PATH });
      const chunks: Buffer[] = [];
      const status = new Promise<number>((got) => req.once('response', (h) => got(Number(h[':status']))));
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => resolve({ status: await status, json: JSON.parse(Buffer.concat(chunks).toString()) }));
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  } finally {
    session.close();
  }
}

const hit = (url: string, openStream: OpenStreamFault) => control(url, { openStream });
const transcripts = (received: Received[]) => received.map((r) => r.result.Alternatives?.[0]?.Transcript);
const finalCount = (received: Received[]) => received.filter((r) => r.result.IsPartial === false).length;

/** Polls a counter of the endpoint (the recognizer runs inside it, with no event a test can await). */
async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('open-stream faults (real SDK client, scripted recognizer)', () => {
  let endpoint: LocalTranscribe;
  let client: TranscribeStreamingClient;
  /** What `pick: 'random'` draws (injected). */
  let draw = 0;
  /**
   * When the recognizer reported each partial and each final, in order. Every utterance here lasts long enough
   * for progressive partials, so each report is exactly one result: `produced[i]` made the stream's i-th result.
   */
  const produced: { at: number; final: boolean }[] = [];
  const script = (i: number) => (i % 2 === 0 ? ['my', 'pin', 'is', 'one', 'two'] : ['thanks']);
  const scripted = createScriptedRecognizer({ words: script });
  const recording: RecognizerFactory = (ctx) =>
    scripted({
      ...ctx,
      listener: {
        onPartial: (u) => {
          produced.push({ at: Date.now(), final: false });
          ctx.listener.onPartial?.(u);
        },
        onUtterance: (u) => {
          produced.push({ at: Date.now(), final: true });
          ctx.listener.onUtterance(u);
        },
        onError: (err) => ctx.listener.onError(err),
      },
    });
  let seq = 0;
  const sessionId = () => `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`;

  beforeAll(async () => {
    endpoint = await startLocalTranscribe({ recognizer: recording, faultControl: true, random: () => draw });
    client = localTranscribeClient(endpoint.url);
  });
  afterEach(async () => {
    for (const f of feeds.splice(0)) f.end();
    await until(() => endpoint.stats().streamsActive === 0);
    produced.length = 0;
  });
  afterAll(async () => {
    client.destroy();
    await endpoint.close();
  });

  describe('drop', () => {
    it.each(['stream', 'session'] as const)('(%s) cuts an open stream now, keeping what was sent', async (scope) => {
      const id = sessionId();
      const s = await open(client, id);
      s.feed.push(TWO_BURSTS);
      await s.finalsArrived(2);
      const before = endpoint.stats().openStreamFaults.drop ?? 0;
      const answer = await hit(endpoint.url, { fault: 'drop', scope });
      expect(answer).toEqual({ status: 200, json: { armed: [], applied: 1, sessionIds: [id] } });
      const end = await s.ended;
      // The result stream stopped while the client still had its request open: a reset, not a finish. As with
      // dropConnection (server.test.ts), the SDK's iterator completes without an error on a reset.
      expect(s.feed.ended).toBe(false);
      expect(end.error).toBeUndefined();
      expect(finalCount(s.received)).toBe(2);
      expect(endpoint.stats().openStreamFaults.drop).toBe(before + 1);
    });

    it.each([
      ['stream', http2.constants.NGHTTP2_INTERNAL_ERROR],
      ['session', http2.constants.NGHTTP2_CANCEL],
    ] as const)('(%s) is a reset on the wire, never a finished response', async (scope, rstCode) => {
      const id = sessionId();
      const session = http2.connect(endpoint.url);
      const req = session.request({
        ':method': 'POST',
        ':path': '/stream-transcription',
        'x-amzn-transcribe-language-code': 'en-US',
        'x-amzn-transcribe-sample-rate': '8000',
        'x-amzn-transcribe-media-encoding': 'pcm',
        'x-amzn-transcribe-session-id': id,
      });
      const errors: unknown[] = [];
      req.on('error', (err) => errors.push(err));
      req.resume();
      await new Promise((resolve) => req.once('response', resolve));
      const closed = new Promise((resolve) => req.once('close', resolve));
      expect((await hit(endpoint.url, { fault: 'drop', scope })).json.sessionIds).toEqual([id]);
      await closed;
      session.destroy();
      expect(req.rstCode).toBe(rstCode);
    });
  });

  describe('error', () => {
    it('ends an open stream with the typed in-stream exception and its message', async () => {
      const s = await open(client, sessionId());
      s.feed.push(ONE_BURST);
      await s.finalsArrived(1);
      await hit(endpoint.url, { fault: 'error', type: 'ConflictException', message: 'taken over' });
      const { error } = await s.ended;
      expect(error).toBeInstanceOf(ConflictException);
      expect((error as Error).message).toBe('taken over');
      expect(finalCount(s.received)).toBe(1);
    });
  });

  describe('delayResults', () => {
    it('sends every result at least ms late, in order, before a stream that ends meanwhile ends', async () => {
      const baseline = await open(client, sessionId());
      baseline.feed.push(TWO_BURSTS);
      baseline.feed.end();
      expect((await baseline.ended).error).toBeUndefined();
      produced.length = 0;

      const s = await open(client, sessionId());
      await hit(endpoint.url, { fault: 'delayResults', ms: 400, forMs: 10_000 });
      s.feed.push(TWO_BURSTS);
      s.feed.end();
      const end = await s.ended;
      expect(end.error).toBeUndefined();
      const results = s.received.filter((r) => (r.result.Alternatives?.length ?? 0) > 0);
      expect(transcripts(results)).toEqual(transcripts(baseline.received.filter((r) => r.result.Alternatives?.length)));
      expect(new Set(results.map((r) => r.result.ResultId)).size).toBe(2);
      // Partials included: each result kept its place and waited its delay from when it was produced.
      expect(results.map((r) => r.result.IsPartial === false)).toEqual(produced.map((p) => p.final));
      results.forEach((r, i) => {
        expect(r.at - (produced[i]?.at as number)).toBeGreaterThanOrEqual(400);
      });
      expect(end.at - (produced.at(-1)?.at as number)).toBeGreaterThanOrEqual(400);
    });

    it('holds only results produced within forMs', async () => {
      const s = await open(client, sessionId());
      await hit(endpoint.url, { fault: 'delayResults', ms: 1000, forMs: 150 });
      s.feed.push(ONE_BURST);
      await s.finalsArrived(1);
      const first = s.received.length;
      expect((s.received[0]?.at as number) - (produced[0]?.at as number)).toBeGreaterThanOrEqual(1000);
      // The window closed long before the first held result went out: the next utterance is not held.
      s.feed.push(ONE_BURST);
      await s.finalsArrived(2);
      expect(s.received.length).toBe(produced.length);
      expect((s.received[first]?.at as number) - (produced[first]?.at as number)).toBeLessThan(1000);
      s.feed.end();
      expect((await s.ended).error).toBeUndefined();
    });

    it('drops held results when the stream is aborted, as the service does', async () => {
      const s = await open(client, sessionId());
      await hit(endpoint.url, { fault: 'delayResults', ms: 5000, forMs: 10_000 });
      const finalsBefore = endpoint.stats().finalResults;
      s.feed.push(TWO_BURSTS);
      await until(() => produced.filter((p) => p.final).length === 2);
      await hit(endpoint.url, { fault: 'error', type: 'InternalFailureException' });
      const { error } = await s.ended;
      expect(error).toBeInstanceOf(InternalFailureException);
      expect(s.received.filter((r) => r.result.Alternatives?.length)).toEqual([]);
      expect(endpoint.stats().finalResults).toBe(finalsBefore);
    });
  });

  describe('silenceTimeout', () => {
    it('ends a stream that stopped sending audio ms after the fault, with the no-audio exception', async () => {
      const s = await open(client, sessionId());
      s.feed.push(ONE_BURST);
      await s.finalsArrived(1);
      const at = Date.now();
      await hit(endpoint.url, { fault: 'silenceTimeout', ms: 300 });
      const end = await s.ended;
      expect(end.error).toBeInstanceOf(BadRequestException);
      expect((end.error as Error).message).toBe(NO_AUDIO_TIMEOUT_MESSAGE);
      // The endpoint's own timeout is 15 s: only the fault explains an end this soon.
      expect(end.at - at).toBeGreaterThanOrEqual(300);
      expect(end.at - at).toBeLessThan(5000);
      expect(finalCount(s.received)).toBe(1);
      expect(endpoint.stats().openStreamFaults.silenceTimeout).toBeGreaterThanOrEqual(1);
    });
  });

  describe('targets, with two streams open', () => {
    it.each([
      ['oldest', { pick: 'oldest' }, 0, [0]],
      ['newest', { pick: 'newest' }, 0, [1]],
      ['random drawing 0', {}, 0, [0]],
      ['random drawing 0.99', { pick: 'random' }, 0.99, [1]],
      ['count beyond the open streams (oldest first)', { pick: 'oldest', count: 5 }, 0, [0, 1]],
      ['count 2, newest first', { pick: 'newest', count: 2 }, 0, [1, 0]],
    ] as [string, OpenStreamTargeting, number, number[]][])('%s', async (_name, targeting, random, expected) => {
      draw = random;
      const ids = [sessionId(), sessionId()];
      const a = await open(client, ids[0] as string);
      const b = await open(client, ids[1] as string);
      const before = endpoint.stats().openStreamFaults.error ?? 0;
      const answer = await hit(endpoint.url, { fault: 'error', type: 'ConflictException', ...targeting });
      expect(answer.json).toEqual({ armed: [], applied: expected.length, sessionIds: expected.map((i) => ids[i]) });
      expect(endpoint.stats().openStreamFaults.error).toBe(before + expected.length);
      for (const [i, s] of [a, b].entries()) {
        if (!expected.includes(i)) s.feed.end();
        const { error } = await s.ended;
        if (expected.includes(i)) expect(error).toBeInstanceOf(ConflictException);
        else expect(error).toBeUndefined();
      }
    });

    it('applies to none when no stream is open', async () => {
      const before = endpoint.stats().openStreamFaults;
      const answer = await hit(endpoint.url, { fault: 'drop', count: 3 });
      expect(answer).toEqual({ status: 200, json: { armed: [], applied: 0, sessionIds: [] } });
      expect(endpoint.stats().openStreamFaults).toEqual(before);
    });
  });

  describe('bad bodies', () => {
    it.each([
      ['not an object', 'drop', /^openStream must be an object$/],
      ['an unknown fault', { fault: 'explode' }, /openStream.fault must be one of drop, error, delayResults/],
      ['a bad drop scope', { fault: 'drop', scope: 'all' }, /openStream.scope must be 'stream' or 'session'/],
      ['an unknown exception', { fault: 'error', type: 'Oops' }, /openStream.type must be one of .*ConflictException/],
      ['a non-string message', { fault: 'error', type: 'ConflictException', message: 5 }, /openStream.message/],
      ['a missing forMs', { fault: 'delayResults', ms: 100 }, /openStream.forMs must be a number of milliseconds/],
      ['a negative delay', { fault: 'delayResults', ms: -1, forMs: 10 }, /openStream.ms must be a number/],
      ['a timeout over an hour', { fault: 'silenceTimeout', ms: 1e9 }, /openStream.ms .* from 0 to 3600000/],
      ['an unknown pick', { fault: 'drop', pick: 'middle' }, /openStream.pick must be 'random', 'oldest' or 'newest'/],
      ['a zero count', { fault: 'drop', count: 0 }, /openStream.count must be a whole number of at least 1/],
      ['a fractional count', { fault: 'drop', count: 1.5 }, /openStream.count must be a whole number/],
      ['a field of another fault', { fault: 'drop', ms: 5 }, /fault 'drop' does not take: ms/],
    ])('refuses %s with 400 and says why', async (_what, openStream, message) => {
      const before = endpoint.stats().openStreamFaults;
      const { status, json } = await control(endpoint.url, { openStream });
      expect(status).toBe(400);
      expect(json.message).toMatch(message);
      expect(endpoint.stats().openStreamFaults).toEqual(before);
    });

    it('throws a FaultControlError when called in-process with a bad fault', () => {
      const bad = { fault: 'silenceTimeout', ms: -5 } as OpenStreamFault;
      expect(() => endpoint.faults.hitOpenStreams(bad)).toThrow(FaultControlError);
      expect(() => endpoint.faults.hitOpenStreams(bad)).toThrow(/openStream.ms/);
    });
  });
});

describe('pickOpenStreams', () => {
  const open = ['a', 'b', 'c', 'd'];

  it('takes the oldest first or the newest first, capped at the number open', () => {
    expect(pickOpenStreams(open, 'oldest', 2, Math.random)).toEqual(['a', 'b']);
    expect(pickOpenStreams(open, 'newest', 3, Math.random)).toEqual(['d', 'c', 'b']);
    expect(pickOpenStreams(open, 'newest', 9, Math.random)).toEqual(['d', 'c', 'b', 'a']);
    expect(pickOpenStreams([], 'random', 1, Math.random)).toEqual([]);
  });

  it('draws distinct random targets with the given source', () => {
    const draws = [0.6, 0.0, 0.99];
    expect(pickOpenStreams(open, 'random', 3, () => draws.shift() as number)).toEqual(['c', 'a', 'd']);
  });
});

describe('seededRandom', () => {
  it('repeats its sequence for a seed, differs between seeds, and stays in [0, 1)', () => {
    const take = (seed: number) => Array.from({ length: 200 }, seededRandom(seed));
    expect(take(42)).toEqual(take(42));
    expect(take(42)).not.toEqual(take(43));
    const values = take(0);
    expect(values.every((v) => v >= 0 && v < 1)).toBe(true);
    expect(new Set(values).size).toBe(200);
  });
});

/**
 * Progressive partial results of the local Transcribe endpoint: the schedule (SpeechTracker), what the scripted
 * and tone recognizers report while a segment is open, how a channel's results share a ResultId
 * (ChannelResults), and, through the real HTTP/2 server and SDK client, partials that arrive while the
 * utterance's audio is still being sent, in the stream's requested language.
 */
import { type Result, StartStreamTranscriptionCommand } from '@aws-sdk/client-transcribe-streaming';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../core/ports';
import type { SpeechSegment } from '../../../local/transcribe/energy-vad';
import type { StreamParams } from '../../../local/transcribe/params';
import {
  createScriptedRecognizer,
  type RecognizedUtterance,
  type RecognizerFactory,
  SpeechTracker,
} from '../../../local/transcribe/recognizer';
import { ChannelResults } from '../../../local/transcribe/results';
import { startLocalTranscribe } from '../../../local/transcribe/server';
import { AudioFeed, localTranscribeClient, pcmBytes, toneTrack } from '../../../local/transcribe/test-support';
import { synthesizeToneUtterance, toneWords } from '../../../local/transcribe/tone-code';
import { createToneRecognizer } from '../../../local/transcribe/tone-recognizer';

const RATE = 16_000;

/** What a tracker reported, in order. */
type Report = { kind: 'progress'; seg: SpeechSegment; intervals: number } | { kind: 'closed'; seg: SpeechSegment };

function track(pcm: Int16Array, writeSize: number, partialIntervalMs?: number): Report[] {
  const reports: Report[] = [];
  const tracker = new SpeechTracker({ partialIntervalMs });
  const events = {
    progress: (seg: SpeechSegment, intervals: number) => reports.push({ kind: 'progress', seg, intervals }),
    closed: (seg: SpeechSegment) => reports.push({ kind: 'closed', seg }),
  };
  for (let at = 0; at < pcm.length; at += writeSize) tracker.push(pcm.subarray(at, at + writeSize), events);
  tracker.flush(events);
  return reports;
}

/** Feeds 16 kHz audio in 100 ms writes to one recognizer; returns partials and finals in the order reported. */
async function recognize(factory: RecognizerFactory, pcm: Int16Array) {
  const heard: { partial: boolean; u: RecognizedUtterance }[] = [];
  const recognizer = factory({
    channel: 0,
    logger: silentLogger,
    listener: {
      onPartial: (u) => heard.push({ partial: true, u }),
      onUtterance: (u) => heard.push({ partial: false, u }),
      onError: (err) => {
        throw err;
      },
    },
  });
  for (let at = 0; at < pcm.length; at += 1600) recognizer.write(pcm.subarray(at, at + 1600));
  await recognizer.end();
  return heard;
}

const wordsOf = (u: RecognizedUtterance) => u.words.map((w) => w.word);

/** Two tone-coded utterances back to back (one VAD segment of 1.96 s) after 0.3 s of silence, then 0.8 s more. */
const IDS = [123_456, 907_050] as const;
function twoUtterances(rate: number): { pcm: Int16Array; speechEndSample: number } {
  const a = synthesizeToneUtterance(IDS[0], rate);
  const b = synthesizeToneUtterance(IDS[1], rate);
  const at = Math.round(0.3 * rate);
  const pcm = new Int16Array(at + a.length + b.length + Math.round(0.8 * rate));
  pcm.set(a, at);
  pcm.set(b, at + a.length);
  return { pcm, speechEndSample: at + a.length + b.length };
}

describe('SpeechTracker', () => {
  const pcm = toneTrack(
    [
      [0.5, 1.2],
      [2.0, 2.1],
    ],
    3,
    RATE,
  );

  it('reports the open segment at each whole interval of its voiced length, then its close', () => {
    expect(track(pcm, 1600)).toEqual([
      { kind: 'progress', seg: { start: 8000, end: 11_200 }, intervals: 1 },
      { kind: 'progress', seg: { start: 8000, end: 14_400 }, intervals: 2 },
      { kind: 'progress', seg: { start: 8000, end: 17_600 }, intervals: 3 },
      { kind: 'closed', seg: { start: 8000, end: 19_200 } },
      { kind: 'closed', seg: { start: 32_000, end: 33_600 } },
    ]);
  });

  it('reports the same however the writes are split', () => {
    const reference = track(pcm, 1600);
    for (const size of [1, 333, 5000, pcm.length]) expect(track(pcm, size)).toEqual(reference);
  });

  it('follows the interval asked for, and reports closes only with 0', () => {
    expect(track(pcm, 1600, 300).filter((r) => r.kind === 'progress')).toHaveLength(2);
    expect(track(pcm, 1600, 0).map((r) => r.kind)).toEqual(['closed', 'closed']);
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('refuses a partial interval of %s', (ms) => {
    expect(() => new SpeechTracker({ partialIntervalMs: ms })).toThrow(/partialIntervalMs must be a number/);
    expect(() => createScriptedRecognizer({ partialIntervalMs: ms })).toThrow(RangeError);
    expect(() => createToneRecognizer({ partialIntervalMs: ms })).toThrow(RangeError);
  });
});

describe('scripted recognizer partials', () => {
  it('reports one more scripted word per interval, timed to the audio so far, never beyond the script', async () => {
    const script = (i: number) => (i === 0 ? ['a', 'b'] : i === 1 ? [] : ['c']);
    const pcm = toneTrack(
      [
        [0.2, 1.0],
        [1.5, 2.0],
        [2.5, 2.8],
      ],
      3.5,
      RATE,
    );
    const heard = await recognize(createScriptedRecognizer({ words: script }), pcm);
    expect(heard.map((h) => [h.partial, wordsOf(h.u).join(' '), h.u.words.at(-1)?.endSec])).toEqual([
      [true, 'a', 0.4],
      [true, 'a b', 0.6],
      [true, 'a b', 0.8],
      [true, 'a b', 1.0],
      [false, 'a b', 1.0],
      // Segment 1 has no words: nothing at all. Segment 2 is its own utterance, read from script index 2.
      [true, 'c', 2.7],
      [false, 'c', 2.8],
    ]);
  });
});

describe('tone recognizer partials', () => {
  it('reports the symbols heard so far as a growing prefix of the final words', async () => {
    const { pcm } = twoUtterances(RATE);
    const heard = await recognize(createToneRecognizer(), pcm);
    const final = heard.at(-1);
    expect(heard.filter((h) => !h.partial)).toEqual([final]);
    const finalWords = wordsOf(final?.u as RecognizedUtterance);
    expect(finalWords).toEqual([...toneWords(IDS[0]), ...toneWords(IDS[1])]);
    const partials = heard.filter((h) => h.partial).map((h) => wordsOf(h.u));
    expect(partials.length).toBeGreaterThanOrEqual(8);
    for (const words of partials) expect(finalWords.slice(0, words.length)).toEqual(words);
    // No symbol is reported before it has been heard whole: 200 ms of speech hold one 140 ms symbol.
    expect(partials[0]).toEqual(finalWords.slice(0, 1));
    expect(partials.map((p) => p.length)).toEqual([...partials.map((p) => p.length)].sort((x, y) => x - y));
  });
});

describe('ChannelResults', () => {
  const params: StreamParams = {
    languageCode: 'es-US',
    sampleRateHz: 8000,
    mediaEncoding: 'pcm',
    channels: 2,
    channelIdentification: true,
    partialResultsStabilization: true,
    contentIdentification: false,
    contentRedaction: true,
    echo: {},
  };
  const w = (word: string, startSec: number) => ({ word, startSec, endSec: startSec + 0.1, confidence: 0.9 });

  it('gives an utterance’s partials and final one ResultId, and the next utterance another', () => {
    let n = 0;
    const results = new ChannelResults(params, 1, () => `id-${++n}`);
    const partials = [...results.partial([w('my', 0)]), ...results.partial([w('my', 0), w('pin', 0.1)])];
    const pin = ['one', 'two', 'three', 'four'].map((d, i) => w(d, 0.3 + i / 10));
    const final = results.final([w('my', 0), w('pin', 0.1), w('is', 0.2), ...pin]);
    expect(partials.map((r) => [r.ResultId, r.IsPartial, r.Alternatives[0]?.Transcript])).toEqual([
      ['id-1', true, 'my'],
      ['id-1', true, 'my pin'],
    ]);
    expect(partials[1]?.Alternatives[0]?.Items.map((i) => i.Stable)).toEqual([true, false]);
    expect(final).toHaveLength(1);
    expect(final[0]).toMatchObject({ ResultId: 'id-1', IsPartial: false, ChannelId: 'ch_1', LanguageCode: 'es-US' });
    expect(final[0]?.Alternatives[0]?.Transcript).toBe('my pin is [PII].');
    expect(partials.every((r) => r.LanguageCode === 'es-US' && r.ChannelId === 'ch_1')).toBe(true);
    const next = results.final([w('thanks', 1)]);
    expect(next.map((r) => [r.ResultId, r.IsPartial])).toEqual([
      ['id-2', true],
      ['id-2', false],
    ]);
  });

  it('makes no result for no words, and a wordless final still closes the open utterance', () => {
    let n = 0;
    const results = new ChannelResults(params, 0, () => `id-${++n}`);
    expect(results.partial([])).toEqual([]);
    results.partial([w('um', 0)]);
    expect(results.final([])).toEqual([]);
    expect(results.partial([w('hi', 1)])[0]?.ResultId).toBe('id-2');
  });
});

describe('progressive partials through the endpoint (real SDK client, tone recognizer)', () => {
  it('arrive while the utterance is still being sent, with its final’s ResultId and the requested language', async () => {
    const endpoint = await startLocalTranscribe({ recognizer: createToneRecognizer() });
    const client = localTranscribeClient(endpoint.url);
    const { pcm, speechEndSample } = twoUtterances(8000);
    const bytes = pcmBytes(pcm);
    // Send the first second of audio only: the utterance (0.3 s to 2.26 s) is not half sent.
    const firstPart = 2 * 8000;
    const received: { result: Result; bytesSent: number }[] = [];
    let bytesSent = 0;
    let partialSeen: () => void = () => undefined;
    const firstPartial = new Promise<void>((resolve) => (partialSeen = resolve));
    try {
      const feed = new AudioFeed();
      const output = await client.send(
        new StartStreamTranscriptionCommand({
          LanguageCode: 'es-US',
          MediaEncoding: 'pcm',
          MediaSampleRateHertz: 8000,
          AudioStream: feed,
        }),
      );
      const reading = (async () => {
        for await (const event of output.TranscriptResultStream ?? []) {
          for (const result of event.TranscriptEvent?.Transcript?.Results ?? []) {
            received.push({ result, bytesSent });
            if (result.IsPartial) partialSeen();
          }
        }
      })();
      feed.push(bytes.subarray(0, firstPart));
      bytesSent = firstPart;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        firstPartial,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('no partial before the rest of the utterance was sent')), 5000);
        }),
      ]);
      clearTimeout(timer);
      feed.push(bytes.subarray(firstPart));
      bytesSent = bytes.byteLength;
      feed.end();
      await reading;
    } finally {
      client.destroy();
      await endpoint.close();
    }

    expect(firstPart).toBeLessThan(speechEndSample * 2);
    const results = received.map((r) => r.result);
    expect(results.map((r) => r.LanguageCode)).toEqual(results.map(() => 'es-US'));
    const final = results.find((r) => r.IsPartial === false);
    expect(results.filter((r) => r.IsPartial === false)).toEqual([final]);
    // Nothing with another ResultId, and nothing after the final.
    expect(results.map((r) => r.ResultId)).toEqual(results.map(() => final?.ResultId));
    expect(results.at(-1)).toEqual(final);
    const partials = results.filter((r) => r.IsPartial === true);
    expect(partials.length).toBeGreaterThanOrEqual(3);
    const ends = partials.map((r) => r.EndTime as number);
    for (let i = 1; i < ends.length; i++) expect(ends[i]).toBeGreaterThan(ends[i - 1] as number);
    expect(received[0]?.bytesSent).toBe(firstPart);
    expect(final?.Alternatives?.[0]?.Transcript).toBe(`${[...toneWords(IDS[0]), ...toneWords(IDS[1])].join(' ')}.`);
    expect(endpoint.stats()).toMatchObject({ partialResults: partials.length, finalResults: 1 });
  });
});

/**
 * The tone recognizer on its own (segments → words, noise, cuts) and behind the real local Transcribe
 * endpoint with the real SDK client, as the soak harness uses it: a stereo stream of tone-coded utterances
 * comes back as the exact words of each ID, per channel, at the times the tones were placed.
 */
import type { Result, TranscribeStreamingClient } from '@aws-sdk/client-transcribe-streaming';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMulaw, encodeMulaw } from '../../../core/audio/mulaw';
import { silentLogger } from '../../../core/ports';
import type { RecognizedUtterance } from '../../../local/transcribe/recognizer';
import { type LocalTranscribe, startLocalTranscribe } from '../../../local/transcribe/server';
import {
  audioEvents,
  interleave,
  localTranscribeClient,
  pcmBytes,
  transcribe,
} from '../../../local/transcribe/test-support';
import {
  parseToneWords,
  SYMBOL_MS,
  synthesizeToneUtterance,
  toneUtteranceMs,
  toneWords,
} from '../../../local/transcribe/tone-code';
import { createToneRecognizer, NOISE_WORD } from '../../../local/transcribe/tone-recognizer';

/** Utterances placed in a silent track: `[id, offsetSec]`. */
function track(placed: readonly (readonly [number, number])[], totalSec: number, rate: number): Int16Array {
  const out = new Int16Array(Math.round(totalSec * rate));
  for (const [id, at] of placed) out.set(synthesizeToneUtterance(id, rate), Math.round(at * rate));
  return out;
}

/** Feeds 16 kHz audio to one recognizer in 100 ms writes and returns what it reported. */
async function recognize(pcm16k: Int16Array): Promise<RecognizedUtterance[]> {
  const heard: RecognizedUtterance[] = [];
  const errors: Error[] = [];
  const recognizer = createToneRecognizer()({
    channel: 0,
    logger: silentLogger,
    listener: { onUtterance: (u) => heard.push(u), onError: (e) => errors.push(e) },
  });
  for (let at = 0; at < pcm16k.length; at += 1600) recognizer.write(pcm16k.subarray(at, at + 1600));
  await recognizer.end();
  expect(errors).toEqual([]);
  return heard;
}

const wordsOf = (u: RecognizedUtterance | undefined) => u?.words.map((w) => w.word);

describe('tone recognizer', () => {
  describe('on its own (16 kHz)', () => {
    it('reports each segment as its words, spread evenly over the segment', async () => {
      const heard = await recognize(track([[123_456, 0.5]], 2.5, 16000));
      expect(heard).toHaveLength(1);
      expect(wordsOf(heard[0])).toEqual(toneWords(123_456));
      const words = heard[0]?.words ?? [];
      expect(words[0]?.startSec).toBe(0.5);
      expect(words.at(-1)?.endSec).toBeCloseTo(0.5 + toneUtteranceMs() / 1000, 2);
      const lengths = words.map((w) => w.endSec - w.startSec);
      for (const l of lengths) expect(l).toBeCloseTo(toneUtteranceMs() / 1000 / 7, 2);
      expect(words.every((w) => w.confidence === 0.9)).toBe(true);
    });

    it('reports a cut utterance as a fragment and a burst without tones as "noise"', async () => {
      const pcm = track([[654_321, 0.3]], 3, 16000);
      // Cut the utterance in the middle of its 4th symbol, then a burst of broadband noise at 2 s.
      pcm.fill(0, Math.round((0.3 + (3.5 * SYMBOL_MS) / 1000) * 16000), Math.round(1.5 * 16000));
      let x = 7;
      for (let i = 2 * 16000; i < 2.3 * 16000; i++) {
        x = (x * 1_103_515_245 + 12_345) % 2 ** 31;
        pcm[i] = (x % 16_000) - 8000;
      }
      const heard = await recognize(pcm);
      expect(heard.map(wordsOf)).toEqual([toneWords(654_321).slice(0, 3), [NOISE_WORD]]);
      expect(parseToneWords(wordsOf(heard[0]) ?? [])).toHaveProperty('fragment');
    });

    it('keeps the audio of a segment however the writes are split, and reports nothing after close', async () => {
      const pcm = track(
        [
          [10, 0.2],
          [20, 2.5],
        ],
        4,
        16000,
      );
      const heard: RecognizedUtterance[] = [];
      const recognizer = createToneRecognizer({ confidence: 0.5 })({
        channel: 1,
        logger: silentLogger,
        listener: { onUtterance: (u) => heard.push(u), onError: () => undefined },
      });
      for (let at = 0; at < 3 * 16000; at += 333) recognizer.write(pcm.subarray(at, Math.min(at + 333, 3 * 16000)));
      await recognizer.close();
      recognizer.write(pcm.subarray(3 * 16000));
      await recognizer.end();
      expect(heard.map(wordsOf)).toEqual([toneWords(10)]);
      expect(heard[0]?.words[0]?.confidence).toBe(0.5);
    });

    it('rejects a confidence outside [0, 1]', () => {
      expect(() => createToneRecognizer({ confidence: 1.5 })).toThrow(RangeError);
    });
  });

  describe('behind the local endpoint (real SDK client, stereo PCM at 8 kHz via µ-law)', () => {
    let endpoint: LocalTranscribe;
    let client: TranscribeStreamingClient;

    beforeAll(async () => {
      endpoint = await startLocalTranscribe({ recognizer: createToneRecognizer() });
      client = localTranscribeClient(endpoint.url);
    });
    afterAll(async () => {
      client.destroy();
      await endpoint.close();
    });

    it('returns the words of each id per channel, starting within 50 ms of where the tones were placed', async () => {
      const gap = toneUtteranceMs() / 1000 + 1; // one utterance, then 1 s of silence
      const placed: Record<'ch_0' | 'ch_1', [number, number][]> = {
        ch_0: [
          [123_456, 0.3],
          [111_111, 0.3 + gap],
        ],
        ch_1: [
          [100_100, 0.555],
          [987_650, 0.555 + gap],
        ],
      };
      const total = 0.555 + 2 * gap + 0.6;
      // The gateway decodes PCMU to L16: send what that decode yields.
      const viaMulaw = (pcm: Int16Array) => decodeMulaw(encodeMulaw(pcm));
      const stereo = interleave(viaMulaw(track(placed.ch_0, total, 8000)), viaMulaw(track(placed.ch_1, total, 8000)));
      const { results, error } = await transcribe(
        client,
        {
          LanguageCode: 'en-US',
          MediaEncoding: 'pcm',
          MediaSampleRateHertz: 8000,
          EnableChannelIdentification: true,
          NumberOfChannels: 2,
        },
        audioEvents(pcmBytes(stereo), { chunkBytes: 3200 }),
      );
      expect(error).toBeUndefined();
      const finals = results.filter((r) => r.IsPartial === false);
      const heard = (channel: string) =>
        finals
          .filter((r) => r.ChannelId === channel)
          .sort((a, b) => (a.StartTime ?? 0) - (b.StartTime ?? 0))
          .map((r: Result) => ({
            start: r.StartTime ?? Number.NaN,
            words: (r.Alternatives?.[0]?.Items ?? []).filter((i) => i.Type === 'pronunciation').map((i) => i.Content),
          }));
      for (const channel of ['ch_0', 'ch_1'] as const) {
        const got = heard(channel);
        expect(got.map((g) => g.words)).toEqual(placed[channel].map(([id]) => toneWords(id)));
        got.forEach((g, i) => {
          const at = placed[channel][i]?.[1] as number;
          expect(Math.abs(g.start - at)).toBeLessThanOrEqual(0.05);
          expect(parseToneWords(g.words as string[])).toEqual({ id: placed[channel][i]?.[0] });
        });
      }
    });
  });
});

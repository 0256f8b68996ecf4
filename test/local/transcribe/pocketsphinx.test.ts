import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Result } from '@aws-sdk/client-transcribe-streaming';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWav } from '../../../core/audio/wav';
import { createPocketsphinxRecognizer, runningRecognizerPids } from '../../../local/transcribe/pocketsphinx';
import { type LocalTranscribe, startLocalTranscribe } from '../../../local/transcribe/server';
import {
  audioEvents,
  type Collected,
  interleave,
  localTranscribeClient,
  pcmBytes,
  place,
  transcribe,
} from '../../../local/transcribe/test-support';
import { wordErrorRate } from '../../../local/transcribe/wer';

interface Fixture {
  samples: Int16Array;
  text: string;
  speechStartMs: number;
  speechEndMs: number;
}

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'speech');

function fixture(name: string): Fixture {
  const info = parseWav(readFileSync(join(FIXTURES, `${name}.wav`)));
  const view = new DataView(info.data.buffer, info.data.byteOffset, info.data.byteLength);
  const samples = Int16Array.from({ length: info.durationSamples }, (_, i) => view.getInt16(i * 2, true));
  const meta = JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as Omit<Fixture, 'samples'>;
  return { samples, ...meta };
}

const RATE = 8000;
const BASE = { LanguageCode: 'en-US', MediaEncoding: 'pcm', MediaSampleRateHertz: RATE } as const;
/**
 * WER ceiling per utterance. Measured 0.00 for each fixture through this path (flite voice, sox to 8 kHz,
 * our 8→16 kHz filter, -50 dBFS high-band noise, pocketsphinx en-us); across the voices and noise levels tried
 * while choosing them, one or two wrong words in eight was common (0.12–0.25) and anything worse was garbage
 * (>0.5). 0.25 tolerates one wrong word per utterance (e.g. a model update) and still fails on a broken path.
 */
const MAX_WER = 0.25;
/** Allowed distance between a result's start/end and the fixture's energy-measured speech boundary. */
const TOLERANCE_SEC = 0.3;

const finals = (results: Result[], channel?: string) =>
  results.filter((r) => r.IsPartial === false && (channel === undefined || r.ChannelId === channel));
const transcriptOf = (results: Result[]) => results.map((r) => r.Alternatives?.[0]?.Transcript ?? '').join(' ');

describe('local transcribe endpoint with pocketsphinx (real SDK client, synthesized speech)', () => {
  const greeting = fixture('greeting');
  const order = fixture('order-status');
  const pin = fixture('pin');
  const GREETING_AT = 0.5;
  const ORDER_AT = 2.5;
  let endpoint: LocalTranscribe;
  let stereo: Collected;
  let redacted: Collected;
  let peakChildren = 0;

  beforeAll(async () => {
    endpoint = await startLocalTranscribe({ recognizer: createPocketsphinxRecognizer() });
    const client = localTranscribeClient(endpoint.url);
    const total = 6;
    const stereoPcm = interleave(
      place(greeting.samples, GREETING_AT, total, RATE),
      place(order.samples, ORDER_AT, total, RATE),
    );
    const watch = setInterval(() => {
      peakChildren = Math.max(peakChildren, runningRecognizerPids().length);
    }, 20);
    // Both streams at once, as fast as the connection takes the audio.
    [stereo, redacted] = await Promise.all([
      transcribe(
        client,
        { ...BASE, EnableChannelIdentification: true, NumberOfChannels: 2 },
        audioEvents(pcmBytes(stereoPcm), { chunkBytes: 6400 }),
      ),
      transcribe(
        client,
        { ...BASE, ContentRedactionType: 'PII' },
        audioEvents(pcmBytes(place(pin.samples, 0.5, 4, RATE))),
      ),
    ]);
    clearInterval(watch);
    client.destroy();
  }, 120_000);

  afterAll(async () => {
    await endpoint?.close();
  });

  it('transcribes each channel of a stereo stream with a low word error rate', () => {
    expect(stereo.error).toBeUndefined();
    const ch0 = wordErrorRate(greeting.text, transcriptOf(finals(stereo.results, 'ch_0')));
    const ch1 = wordErrorRate(order.text, transcriptOf(finals(stereo.results, 'ch_1')));
    console.info(
      `pocketsphinx WER: ch_0 ${ch0.wer.toFixed(2)} ("${transcriptOf(finals(stereo.results, 'ch_0'))}"), ` +
        `ch_1 ${ch1.wer.toFixed(2)} ("${transcriptOf(finals(stereo.results, 'ch_1'))}")`,
    );
    expect(ch0.wer).toBeLessThanOrEqual(MAX_WER);
    expect(ch1.wer).toBeLessThanOrEqual(MAX_WER);
  });

  it('times each channel’s result to the speech in that channel, on the stream’s time base', () => {
    for (const [channel, fx, at] of [
      ['ch_0', greeting, GREETING_AT],
      ['ch_1', order, ORDER_AT],
    ] as const) {
      const f = finals(stereo.results, channel);
      expect(f.length).toBeGreaterThan(0);
      const start = Math.min(...f.map((r) => r.StartTime ?? Number.NaN));
      const end = Math.max(...f.map((r) => r.EndTime ?? Number.NaN));
      expect(Math.abs(start - (at + fx.speechStartMs / 1000))).toBeLessThanOrEqual(TOLERANCE_SEC);
      expect(Math.abs(end - (at + fx.speechEndMs / 1000))).toBeLessThanOrEqual(TOLERANCE_SEC);
    }
  });

  it('sends partial results before each final', () => {
    for (const final of finals(stereo.results)) {
      const partials = stereo.results.filter((r) => r.ResultId === final.ResultId && r.IsPartial);
      expect(partials.length).toBeGreaterThan(0);
      expect(stereo.results.indexOf(partials[0] as Result)).toBeLessThan(stereo.results.indexOf(final));
    }
  });

  it('redacts a spoken PIN', () => {
    expect(redacted.error).toBeUndefined();
    const f = finals(redacted.results);
    const text = transcriptOf(f);
    console.info(`pocketsphinx redacted: "${text}" (spoken: "${pin.text}")`);
    expect(text).toContain('[PII]');
    expect(text).not.toMatch(/\b(four|five|six|seven)\b/);
    const entities = f.flatMap((r) => r.Alternatives?.[0]?.Entities ?? []);
    expect(entities).toMatchObject([{ Category: 'PII', Type: 'PIN', Content: '[PII]' }]);
  });

  it('ran one recognizer process per channel and none is left once the streams ended', () => {
    expect(peakChildren).toBe(3);
    expect(runningRecognizerPids()).toEqual([]);
  });
});

describe('pocketsphinx processes', () => {
  it('are killed when the endpoint closes with a stream still open', async () => {
    const endpoint = await startLocalTranscribe({ recognizer: createPocketsphinxRecognizer() });
    const client = localTranscribeClient(endpoint.url);
    const abort = new AbortController();
    const pending = transcribe(
      client,
      { ...BASE, EnableChannelIdentification: true, NumberOfChannels: 2 },
      audioEvents(new Uint8Array(3200), { holdOpenMs: 30_000, signal: abort.signal }),
    );
    let pids: number[] = [];
    for (let i = 0; i < 200 && pids.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 25));
      pids = runningRecognizerPids();
    }
    expect(pids).toHaveLength(2);
    expect(pids.every((pid) => existsSync(`/proc/${pid}`))).toBe(true);
    await endpoint.close();
    abort.abort();
    await pending;
    client.destroy();
    expect(runningRecognizerPids()).toEqual([]);
    // Reaped, not zombies: the kernel has forgotten them.
    expect(pids.filter((pid) => existsSync(`/proc/${pid}`))).toEqual([]);
  }, 30_000);
});

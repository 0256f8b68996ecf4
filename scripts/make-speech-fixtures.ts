/**
 * Synthesizes the speech fixtures of the local Transcribe tests: each utterance is spoken by flite, converted
 * to 8 kHz 16-bit mono (telephone audio) by sox, and written to test/fixtures/speech/<name>.wav with
 * <name>.json `{ text, voice, durationMs, speechStartMs, speechEndMs }`. The speech boundaries are measured
 * from the 8 kHz audio by the same energy VAD the tests trust. Run: `npx tsx scripts/make-speech-fixtures.ts`.
 *
 * Voices were chosen per utterance by how well pocketsphinx recognizes them after the endpoint's 8→16 kHz
 * path (see the report of test/local/transcribe/pocketsphinx.test.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseWav } from '../core/audio/wav';
import { detectSpeech } from '../local/transcribe/energy-vad';

/** One fixture: what is said, and by which flite voice. */
export interface SpeechFixtureSpec {
  name: string;
  text: string;
  voice: 'kal' | 'awb' | 'rms' | 'slt';
}

/** The committed set (keep it under ~300 KB). */
export const SPEECH_FIXTURES: readonly SpeechFixtureSpec[] = [
  { name: 'greeting', text: 'thank you for calling how can i help you today', voice: 'kal' },
  { name: 'order-status', text: 'i would like to check my order status', voice: 'rms' },
  { name: 'pin', text: 'my pin number is four five six seven', voice: 'rms' },
];

/** The metadata written next to each WAV. */
export interface SpeechFixtureMeta {
  text: string;
  voice: string;
  durationMs: number;
  speechStartMs: number;
  speechEndMs: number;
}

const SAMPLE_RATE = 8000;

function samplesOf(wav: Uint8Array): Int16Array {
  const info = parseWav(wav);
  if (info.format !== 'L16' || info.channels !== 1 || info.sampleRate !== SAMPLE_RATE) {
    throw new Error(`sox produced ${info.format}/${info.channels}ch/${info.sampleRate} Hz, expected L16 mono 8 kHz`);
  }
  const view = new DataView(info.data.buffer, info.data.byteOffset, info.data.byteLength);
  const out = new Int16Array(info.durationSamples);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt16(i * 2, true);
  return out;
}

/** Synthesizes one fixture into `outDir`; returns its metadata. */
export function makeFixture(spec: SpeechFixtureSpec, outDir: string): SpeechFixtureMeta {
  const work = mkdtempSync(join(tmpdir(), 'speech-fixture-'));
  try {
    const raw = join(work, 'flite.wav');
    const wavPath = join(outDir, `${spec.name}.wav`);
    execFileSync('flite', ['-voice', spec.voice, '-t', spec.text, '-o', raw], { stdio: 'pipe' });
    // sox's own resampler (high quality by default). `-D`: no dither, whose randomness would make every
    // regeneration differ (and the recognizer's output with it).
    execFileSync(
      'sox',
      ['-D', raw, '-r', String(SAMPLE_RATE), '-b', '16', '-c', '1', '-e', 'signed-integer', wavPath],
      {
        stdio: 'pipe',
      },
    );
    const samples = samplesOf(readFileSync(wavPath));
    const segments = detectSpeech(samples, { sampleRate: SAMPLE_RATE });
    const first = segments[0];
    const last = segments[segments.length - 1];
    if (!first || !last) throw new Error(`no speech detected in ${spec.name}`);
    const ms = (n: number) => Math.round((n * 1000) / SAMPLE_RATE);
    const meta: SpeechFixtureMeta = {
      text: spec.text,
      voice: spec.voice,
      durationMs: ms(samples.length),
      speechStartMs: ms(first.start),
      speechEndMs: ms(last.end),
    };
    writeFileSync(join(outDir, `${spec.name}.json`), `${JSON.stringify(meta, null, 2)}\n`);
    return meta;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function main(): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const outDir = join(root, 'test', 'fixtures', 'speech');
  mkdirSync(outDir, { recursive: true });
  for (const spec of SPEECH_FIXTURES) {
    const meta = makeFixture(spec, outDir);
    process.stdout.write(`${spec.name}: ${meta.durationMs} ms, speech ${meta.speechStartMs}–${meta.speechEndMs} ms\n`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();

/**
 * The demo's call (`npm run demo`, local/demo.ts): the script and voices, flite/sox speech synthesis,
 * the two-channel layout, the stereo µ-law WAV Genesys would send, and its cache under `.local/demo/`.
 */

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeMulaw } from '../core/audio/mulaw';
import type { Role } from '../core/audio/roles';
import { encodeWav, parseWav } from '../core/audio/wav';
import { DemoError } from './demo-error';

const SAMPLE_RATE = 8000;

/** flite's built-in voices. */
export type FliteVoice = 'kal' | 'awb' | 'rms' | 'slt';

/** One line of the call. */
export interface DemoLine {
  role: Role;
  text: string;
}

/** The call: the agent answers, the customer asks, turn by turn. Plain words recognise best offline. */
export const DEMO_SCRIPT: readonly DemoLine[] = [
  { role: 'agent', text: 'thank you for calling how can i help you today' },
  { role: 'customer', text: 'i would like to check my order status' },
  { role: 'agent', text: 'what is your order number please' },
  { role: 'customer', text: 'yes my order number is four five six seven' },
  { role: 'agent', text: 'thank you your order will arrive tomorrow' },
  { role: 'customer', text: 'thank you very much goodbye' },
];

/** One flite voice per party (the pair pocketsphinx recognises best in the speech fixtures). */
export const DEMO_VOICES: Readonly<Record<Role, FliteVoice>> = { customer: 'rms', agent: 'kal' };

/** Silence around and between the lines. */
export interface CallLayout {
  /** @default 500 */
  leadMs?: number;
  /** Pause between one party's line and the other's reply. @default 700 */
  gapMs?: number;
  /** @default 1500 (lets the recognizer close the last utterance before the call ends) */
  tailMs?: number;
}

/** Where a line sits in the call. */
export interface CallSegment {
  role: Role;
  text: string;
  startMs: number;
  endMs: number;
}

/** The two channels of a call, 16-bit PCM at 8 kHz, of equal length. */
export interface CallAudio {
  customer: Int16Array;
  agent: Int16Array;
  segments: CallSegment[];
}

/** A synthesised call on disk. */
export interface DemoCall {
  path: string;
  durationMs: number;
  segments: CallSegment[];
  /** True when it came from the cache. */
  cached: boolean;
}

const msToSamples = (ms: number) => Math.round((ms * SAMPLE_RATE) / 1000);
const samplesToMs = (n: number) => Math.round((n * 1000) / SAMPLE_RATE);

/**
 * Lays the lines out one after another, each on its speaker's channel; the other channel is silent
 * meanwhile (digital silence: each party is recorded on its own leg).
 */
export function layoutCall(
  lines: ReadonlyArray<DemoLine & { samples: Int16Array }>,
  layout: CallLayout = {},
): CallAudio {
  const lead = msToSamples(layout.leadMs ?? 500);
  const gap = msToSamples(layout.gapMs ?? 700);
  const tail = msToSamples(layout.tailMs ?? 1500);
  const total = lead + lines.reduce((n, l) => n + l.samples.length, 0) + gap * Math.max(0, lines.length - 1) + tail;
  const customer = new Int16Array(total);
  const agent = new Int16Array(total);
  const segments: CallSegment[] = [];
  let at = lead;
  for (const [i, line] of lines.entries()) {
    if (i > 0) at += gap;
    (line.role === 'customer' ? customer : agent).set(line.samples, at);
    segments.push({
      role: line.role,
      text: line.text,
      startMs: samplesToMs(at),
      endMs: samplesToMs(at + line.samples.length),
    });
    at += line.samples.length;
  }
  return { customer, agent, segments };
}

/** A stereo µ-law WAV: channel 1 = `external` (customer), channel 2 = `internal` (agent), as Genesys sends. */
export function encodeCallWav(call: Pick<CallAudio, 'customer' | 'agent'>): Uint8Array {
  const n = Math.min(call.customer.length, call.agent.length);
  const interleaved = new Int16Array(n * 2);
  for (let i = 0; i < n; i++) {
    interleaved[2 * i] = call.customer[i] as number;
    interleaved[2 * i + 1] = call.agent[i] as number;
  }
  return encodeWav({ format: 'PCMU', channels: 2, sampleRate: SAMPLE_RATE, data: encodeMulaw(interleaved) });
}

function run(tool: string, args: string[]): void {
  try {
    execFileSync(tool, args, { stdio: 'pipe' });
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new DemoError(
      'DEMO_SYNTHESIS_FAILED',
      missing
        ? `${tool} is not installed: run \`npm run bootstrap\` as root, or \`sudo apt-get install -y flite sox\``
        : `${tool} failed: ${(err as { stderr?: Buffer }).stderr?.toString().trim() || String(err)}`,
      { cause: err },
    );
  }
}

/** Speaks `text` with flite and converts it to 8 kHz 16-bit mono with sox. */
export function synthesizeSpeech(text: string, voice: FliteVoice): Int16Array {
  const work = mkdtempSync(join(tmpdir(), 'demo-line-'));
  try {
    const raw = join(work, 'flite.wav');
    const out = join(work, 'line.wav');
    run('flite', ['-voice', voice, '-t', text, '-o', raw]);
    // `-D`: no dither, so a cached call is bit-identical to a fresh one.
    run('sox', ['-D', raw, '-r', String(SAMPLE_RATE), '-b', '16', '-c', '1', '-e', 'signed-integer', out]);
    const wav = parseWav(readFileSync(out));
    const view = new DataView(wav.data.buffer, wav.data.byteOffset, wav.data.byteLength);
    const samples = new Int16Array(wav.durationSamples);
    for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(i * 2, true);
    return samples;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Options of {@link prepareDemoCall}. */
export interface PrepareDemoCallOptions {
  cacheDir: string;
  /** @default DEMO_SCRIPT */
  script?: readonly DemoLine[];
  /** @default DEMO_VOICES */
  voices?: Readonly<Record<Role, FliteVoice>>;
  layout?: CallLayout;
}

/** The call's WAV, synthesised once per script/voices/layout and then taken from `cacheDir`. */
export function prepareDemoCall(opts: PrepareDemoCallOptions): DemoCall {
  const script = opts.script ?? DEMO_SCRIPT;
  const voices = opts.voices ?? DEMO_VOICES;
  const layout = opts.layout ?? {};
  const key = createHash('sha256')
    .update(JSON.stringify({ v: 1, script, voices, layout }))
    .digest('hex')
    .slice(0, 12);
  const path = join(opts.cacheDir, `call-${key}.wav`);
  const metaPath = join(opts.cacheDir, `call-${key}.json`);
  if (existsSync(path) && existsSync(metaPath)) {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as { durationMs: number; segments: CallSegment[] };
    return { path, durationMs: meta.durationMs, segments: meta.segments, cached: true };
  }
  const lines = script.map((l) => ({ ...l, samples: synthesizeSpeech(l.text, voices[l.role]) }));
  const call = layoutCall(lines, layout);
  mkdirSync(opts.cacheDir, { recursive: true });
  const durationMs = samplesToMs(call.customer.length);
  writeFileSync(path, encodeCallWav(call));
  writeFileSync(metaPath, `${JSON.stringify({ durationMs, segments: call.segments }, null, 2)}\n`);
  return { path, durationMs, segments: call.segments, cached: false };
}

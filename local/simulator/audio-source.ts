/**
 * Audio the simulator streams: a WAV file (PCMU or L16, mono or stereo, 8 kHz) or a generated tone or
 * silence. A source is random access on the stream timeline (sample `n` is the audio at position `n`),
 * because the simulated client, like the reference client's tone source, keeps its position clock running
 * through pauses and discards (docs/audiohook-protocol.md §2.4) and then reads from wherever the clock is.
 */

import { readFile } from 'node:fs/promises';
import { type MediaFormat, SAMPLE_RATE } from '../../core/audio/format';
import { decodeFrame } from '../../core/audio/pcm';
import type { ChannelName } from '../../core/audio/roles';
import { encodeFrame, REFERENCE_TONE, silenceFrame, ToneSource } from '../../core/audio/tone';
import { parseWav } from '../../core/audio/wav';
import type { MediaParameter } from '../../core/audiohook/messages';
import { AppError } from '../../core/errors';

/** Stable codes of {@link AudioSourceError} (listed in docs/errors.md). */
export type AudioSourceErrorCode = 'SIM_AUDIO_UNSUPPORTED_RATE' | 'SIM_AUDIO_INVALID_OPTIONS' | 'SIM_AUDIO_EMPTY';

/** Audio the simulator cannot stream, or invalid generator options. */
export class AudioSourceError extends AppError {
  override readonly name = 'AudioSourceError';
  declare readonly code: AudioSourceErrorCode;
  constructor(code: AudioSourceErrorCode, message: string) {
    super(code, message);
  }
}

/** Audio on the stream timeline, in its own format and channel layout. */
export interface AudioSource {
  readonly format: MediaFormat;
  readonly channels: 1 | 2;
  /** Samples per channel (the call length). */
  readonly durationSamples: number;
  /** Human description for logs (`call.wav`, `tone 1000 Hz`). */
  readonly label: string;
  /**
   * Interleaved wire bytes of samples `[start, start + count)`, clipped to the end of the source.
   * May be a view into shared memory: callers must not modify it.
   */
  read(start: number, count: number): Uint8Array;
}

function bytesPerSample(format: MediaFormat): 1 | 2 {
  return format === 'PCMU' ? 1 : 2;
}

function checkDuration(durationMs: number): number {
  const samples = (durationMs * SAMPLE_RATE) / 1000;
  if (!Number.isFinite(samples) || samples <= 0) {
    throw new AudioSourceError('SIM_AUDIO_INVALID_OPTIONS', `durationMs must be positive, got ${durationMs}`);
  }
  return Math.round(samples);
}

function checkLayout(format: MediaFormat, channels: number): void {
  if (format !== 'PCMU' && format !== 'L16') {
    throw new AudioSourceError('SIM_AUDIO_INVALID_OPTIONS', `format must be PCMU or L16, got ${String(format)}`);
  }
  if (channels !== 1 && channels !== 2) {
    throw new AudioSourceError('SIM_AUDIO_INVALID_OPTIONS', `channels must be 1 or 2, got ${channels}`);
  }
}

function clip(start: number, count: number, duration: number): [number, number] {
  const s = Math.max(0, Math.min(Math.floor(start), duration));
  const e = Math.max(s, Math.min(s + Math.max(0, Math.floor(count)), duration));
  return [s, e];
}

/**
 * A source backed by one interleaved payload.
 * @throws {@link AudioSourceError} `SIM_AUDIO_EMPTY` for a payload without a whole sample-frame
 */
export function bytesSource(opts: {
  format: MediaFormat;
  channels: 1 | 2;
  data: Uint8Array;
  label?: string;
}): AudioSource {
  checkLayout(opts.format, opts.channels);
  const unit = bytesPerSample(opts.format) * opts.channels;
  const durationSamples = Math.floor(opts.data.byteLength / unit);
  if (durationSamples === 0) throw new AudioSourceError('SIM_AUDIO_EMPTY', 'the audio holds no samples');
  const { data } = opts;
  return {
    format: opts.format,
    channels: opts.channels,
    durationSamples,
    label: opts.label ?? `${opts.format} ${opts.channels === 2 ? 'stereo' : 'mono'} audio`,
    read(start, count) {
      const [s, e] = clip(start, count, durationSamples);
      return data.subarray(s * unit, e * unit);
    },
  };
}

/**
 * A source from the bytes of a WAV file.
 * @throws {@link AudioSourceError} `SIM_AUDIO_UNSUPPORTED_RATE` when the file is not 8 kHz (AudioHook has no
 *   other rate, §2.5), `SIM_AUDIO_EMPTY` when it holds no audio; `WavFormatError` for files that are not
 *   16-bit PCM or µ-law WAV
 */
export function wavSource(bytes: Uint8Array, label = 'WAV audio'): AudioSource {
  const wav = parseWav(bytes);
  if (wav.sampleRate !== SAMPLE_RATE) {
    throw new AudioSourceError(
      'SIM_AUDIO_UNSUPPORTED_RATE',
      `${label} is sampled at ${wav.sampleRate} Hz; AudioHook streams 8000 Hz only — resample it first ` +
        `(e.g. \`sox in.wav -r 8000 -e mu-law out.wav\`)`,
    );
  }
  return bytesSource({ format: wav.format, channels: wav.channels, data: wav.data, label });
}

/** Reads a WAV file into a source (see {@link wavSource} for what is accepted). */
export async function loadWavFile(path: string): Promise<AudioSource> {
  return wavSource(await readFile(path), path);
}

/** Options of {@link toneSource}. */
export interface ToneSourceOptions {
  format: MediaFormat;
  channels: 1 | 2;
  durationMs: number;
  /** Frequency in Hz (0 = silence); one per channel to tell channels apart. @default 1000 (the reference tone) */
  hz?: number | readonly number[];
  /** Fraction of full scale. @default 0.8 */
  amplitude?: number;
}

function gcd(a: number, b: number): number {
  let x = a;
  let y = b;
  while (y !== 0) [x, y] = [y, x % y];
  return x;
}

/**
 * A generated tone (by default the reference client's 1 kHz tone, §9.5) of a given length. Integer
 * frequencies repeat exactly every `8000 / gcd(hz, 8000)` samples, so one period is synthesized once and
 * tiled: benchmarks streaming hundreds of sessions then cost a copy per frame, not a `sin` per sample.
 * @throws {@link AudioSourceError} for invalid options
 */
export function toneSource(opts: ToneSourceOptions): AudioSource {
  checkLayout(opts.format, opts.channels);
  const durationSamples = checkDuration(opts.durationMs);
  const hz = opts.hz ?? REFERENCE_TONE.hz;
  const hzList = typeof hz === 'number' ? [hz] : [...hz];
  const toneOpts = {
    format: opts.format,
    channels: opts.channels,
    hz,
    amplitude: opts.amplitude ?? REFERENCE_TONE.amplitude,
    phase: REFERENCE_TONE.phase,
  };
  let generator: ToneSource;
  try {
    generator = new ToneSource(toneOpts);
  } catch (err) {
    throw new AudioSourceError('SIM_AUDIO_INVALID_OPTIONS', (err as Error).message);
  }
  const label = `tone ${hzList.join('/')} Hz ${opts.format} ${opts.channels === 2 ? 'stereo' : 'mono'}`;
  const unit = bytesPerSample(opts.format) * opts.channels;
  if (!hzList.every((f) => Number.isInteger(f))) {
    return {
      format: opts.format,
      channels: opts.channels,
      durationSamples,
      label,
      read(start, count) {
        const [s, e] = clip(start, count, durationSamples);
        const g = new ToneSource(toneOpts);
        g.skip(s);
        return g.next(e - s);
      },
    };
  }
  const period = hzList.reduce((p, f) => {
    const own = f === 0 ? 1 : SAMPLE_RATE / gcd(f, SAMPLE_RATE);
    return (p * own) / gcd(p, own);
  }, 1);
  // Two periods plus a frame's worth would do; a whole second keeps the common reads a single subarray.
  const tileSamples = Math.max(period, Math.ceil(SAMPLE_RATE / period) * period);
  const tile = generator.next(tileSamples * 2);
  return {
    format: opts.format,
    channels: opts.channels,
    durationSamples,
    label,
    read(start, count) {
      const [s, e] = clip(start, count, durationSamples);
      const offset = s % period;
      const n = e - s;
      if (offset + n <= tileSamples * 2) return tile.subarray(offset * unit, (offset + n) * unit);
      const out = new Uint8Array(n * unit);
      for (let done = 0; done < n; ) {
        const from = (offset + done) % period;
        const take = Math.min(n - done, tileSamples * 2 - from);
        out.set(tile.subarray(from * unit, (from + take) * unit), done * unit);
        done += take;
      }
      return out;
    },
  };
}

/** Digital silence of a given length. */
export function silenceSource(opts: Omit<ToneSourceOptions, 'hz' | 'amplitude'>): AudioSource {
  checkLayout(opts.format, opts.channels);
  const durationSamples = checkDuration(opts.durationMs);
  const second = silenceFrame(opts.format, opts.channels, SAMPLE_RATE);
  const unit = bytesPerSample(opts.format) * opts.channels;
  return {
    format: opts.format,
    channels: opts.channels,
    durationSamples,
    label: `silence ${opts.format} ${opts.channels === 2 ? 'stereo' : 'mono'}`,
    read(start, count) {
      const [s, e] = clip(start, count, durationSamples);
      const n = e - s;
      return n <= SAMPLE_RATE ? second.subarray(0, n * unit) : silenceFrame(opts.format, opts.channels, n);
    },
  };
}

/**
 * Renders audio for the media the server selected. When the selection matches the source's own format and
 * channel layout the frame is a zero-copy view; otherwise channels are picked by name (a channel the source
 * lacks is silence) and re-encoded, e.g. the mono `["internal"]` offer of a stereo file.
 * @param sourceChannels names of the source's channels in interleaving order
 * @returns `(start, count) => frame bytes` on the source timeline
 */
export function createFrameReader(
  source: AudioSource,
  sourceChannels: readonly ChannelName[],
  media: MediaParameter,
): (start: number, count: number) => Uint8Array {
  if (sourceChannels.length !== source.channels) {
    throw new AudioSourceError(
      'SIM_AUDIO_INVALID_OPTIONS',
      `${sourceChannels.length} channel name(s) given for a ${source.channels}-channel source`,
    );
  }
  const same =
    media.format === source.format &&
    media.channels.length === sourceChannels.length &&
    media.channels.every((c, i) => c === sourceChannels[i]);
  if (same) return (start, count) => source.read(start, count);
  const sourceMedia: MediaParameter = {
    type: 'audio',
    format: source.format,
    channels: [...sourceChannels],
    rate: SAMPLE_RATE,
  };
  const picks = media.channels.map((name) => sourceChannels.indexOf(name));
  return (start, count) => {
    const decoded = decodeFrame(sourceMedia, source.read(start, count));
    // A source read always holds whole sample-frames, so decoding cannot fail; keep the type checker honest.
    if (!decoded.ok) throw new AudioSourceError('SIM_AUDIO_INVALID_OPTIONS', decoded.error);
    const silence = new Int16Array(decoded.samples);
    return encodeFrame(
      media.format,
      picks.map((i) => (i >= 0 ? (decoded.channels[i] as Int16Array) : silence)),
    );
  };
}

/**
 * Consecutive frames of `frameMs` from the start of a source (the last one may be shorter). Convenience
 * for tests and tools that do not need the session's pause/discard clock.
 */
export function* sourceFrames(source: AudioSource, frameMs = 200): Generator<Uint8Array> {
  const n = (frameMs * SAMPLE_RATE) / 1000;
  if (!Number.isInteger(n) || n <= 0) {
    throw new AudioSourceError(
      'SIM_AUDIO_INVALID_OPTIONS',
      `frameMs must be a whole number of samples, got ${frameMs}`,
    );
  }
  for (let pos = 0; pos < source.durationSamples; pos += n) yield source.read(pos, n);
}

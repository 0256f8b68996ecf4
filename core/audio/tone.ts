/**
 * Synthetic AudioHook audio: sine tones and silence as binary frames in the wire format (§2.5: PCMU or
 * little-endian L16, mono or sample-interleaved stereo, 8 kHz). Used by the simulator, tests and
 * benchmarks, so it is deterministic and keeps a running sample clock across frames.
 */
import { AppError, type AppErrorOptions } from '../errors';
import { type MediaFormat, SAMPLE_RATE } from './format';
import { encodeMulawSample } from './mulaw';

/**
 * One period of the reference client's 1 kHz test tone, mono PCMU (§9.5). {@link ToneSource} reproduces
 * it with {@link REFERENCE_TONE}.
 */
export const REFERENCE_TONE_PERIOD_PCMU: Readonly<Uint8Array> = Uint8Array.of(
  0xff,
  0x0d,
  0x06,
  0x0d,
  0xff,
  0x8d,
  0x86,
  0x8d,
);

/** PCMU encoding of linear 0 (µ-law "positive zero"). */
export const PCMU_SILENCE = 0xff;

/** What to synthesize. */
export interface ToneOptions {
  format: MediaFormat;
  channels: 1 | 2;
  /**
   * Frequency in Hz; 0 gives silence. An array gives one frequency per channel (length = `channels`),
   * which lets tests tell the channels apart after decoding.
   */
  hz: number | readonly number[];
  /** Peak level as a fraction of full scale (0..1). @default 0.8 */
  amplitude?: number;
  /** Initial phase in radians. @default 0 */
  phase?: number;
  /** Frame length for {@link ToneSource.nextFrame} and {@link toneFrames}. @default 200 (the reference client's frame) */
  frameMs?: number;
}

/**
 * The reference client's tone: 1 kHz at 0.8 of full scale, starting half a period in (phase π), which
 * encodes to {@link REFERENCE_TONE_PERIOD_PCMU} exactly. Combine with a format and channel count.
 */
export const REFERENCE_TONE = { hz: 1000, amplitude: 0.8, phase: Math.PI } as const;

/** Stable code of {@link ToneOptionsError}. */
export type ToneErrorCode = 'TONE_INVALID_OPTIONS';

/** Invalid synthesis parameters (a programming error in a test, simulator or benchmark). */
export class ToneOptionsError extends AppError {
  override readonly name = 'ToneOptionsError';
  declare readonly code: ToneErrorCode;
  constructor(message: string, options?: AppErrorOptions) {
    super('TONE_INVALID_OPTIONS', message, options);
  }
}

function bytesPerSample(format: MediaFormat): number {
  return format === 'PCMU' ? 1 : 2;
}

/** Samples per channel in a frame of `frameMs` milliseconds at 8 kHz. */
export function samplesPerFrame(frameMs: number): number {
  const n = (frameMs * SAMPLE_RATE) / 1000;
  if (!Number.isInteger(n) || n <= 0) {
    throw new ToneOptionsError(`frameMs must give a whole, positive number of 8 kHz samples, got ${frameMs}`);
  }
  return n;
}

/**
 * Interleaves per-channel linear PCM into one wire frame (channel order = array order).
 * All channels must have the same length.
 */
export function encodeFrame(format: MediaFormat, channels: readonly Int16Array[]): Uint8Array {
  const nch = channels.length;
  const n = channels[0]?.length ?? 0;
  if (nch === 0 || channels.some((c) => c.length !== n)) {
    throw new ToneOptionsError('encodeFrame needs at least one channel and channels of equal length');
  }
  const out = new Uint8Array(n * nch * bytesPerSample(format));
  if (format === 'PCMU') {
    for (let c = 0; c < nch; c++) {
      const pcm = channels[c] as Int16Array;
      for (let i = 0; i < n; i++) out[i * nch + c] = encodeMulawSample(pcm[i] as number);
    }
  } else {
    const view = new DataView(out.buffer);
    for (let c = 0; c < nch; c++) {
      const pcm = channels[c] as Int16Array;
      for (let i = 0; i < n; i++) view.setInt16((i * nch + c) * 2, pcm[i] as number, true);
    }
  }
  return out;
}

/** A frame of `samples` samples per channel of digital silence. */
export function silenceFrame(format: MediaFormat, channels: 1 | 2, samples: number): Uint8Array {
  if (!Number.isSafeInteger(samples) || samples < 0) {
    throw new ToneOptionsError(`samples must be a non-negative integer, got ${samples}`);
  }
  const out = new Uint8Array(samples * channels * bytesPerSample(format));
  if (format === 'PCMU') out.fill(PCMU_SILENCE);
  return out;
}

/**
 * A tone generator with a running sample clock, so consecutive frames join without clicks and a
 * paused source can {@link skip} time the way the reference client's tone source does (§2.4).
 */
export class ToneSource {
  readonly #format: MediaFormat;
  readonly #hz: readonly number[];
  readonly #amplitude: number;
  readonly #phase: number;
  readonly #frameSamples: number;
  #position = 0;

  constructor(opts: ToneOptions) {
    const { format, channels } = opts;
    if (format !== 'PCMU' && format !== 'L16') throw new ToneOptionsError(`unknown format ${String(format)}`);
    if (channels !== 1 && channels !== 2) throw new ToneOptionsError(`channels must be 1 or 2, got ${channels}`);
    const hz = typeof opts.hz === 'number' ? Array.from({ length: channels }, () => opts.hz as number) : [...opts.hz];
    if (hz.length !== channels || hz.some((f) => !Number.isFinite(f) || f < 0 || f > SAMPLE_RATE / 2)) {
      throw new ToneOptionsError(`hz must give ${channels} frequencies between 0 and ${SAMPLE_RATE / 2}`);
    }
    const amplitude = opts.amplitude ?? 0.8;
    if (!(amplitude >= 0 && amplitude <= 1)) throw new ToneOptionsError(`amplitude must be in 0..1, got ${amplitude}`);
    this.#format = format;
    this.#hz = hz;
    this.#amplitude = amplitude * 32767;
    this.#phase = opts.phase ?? 0;
    this.#frameSamples = samplesPerFrame(opts.frameMs ?? 200);
  }

  /** Samples per channel generated or skipped so far (the source's own stream position). */
  get position(): number {
    return this.#position;
  }

  /** Samples per channel in one {@link nextFrame}. */
  get frameSamples(): number {
    return this.#frameSamples;
  }

  /** Linear PCM of the next `samples` samples of each channel (advances the clock). */
  nextPcm(samples: number): Int16Array[] {
    if (!Number.isSafeInteger(samples) || samples < 0) {
      throw new ToneOptionsError(`samples must be a non-negative integer, got ${samples}`);
    }
    const start = this.#position;
    this.#position += samples;
    return this.#hz.map((hz) => {
      const pcm = new Int16Array(samples);
      if (hz === 0 || this.#amplitude === 0) return pcm;
      const w = (2 * Math.PI * hz) / SAMPLE_RATE;
      for (let i = 0; i < samples; i++) {
        // `+ 0` turns the -0 that Math.round gives for tiny negative values into 0.
        pcm[i] = Math.round(this.#amplitude * Math.sin(w * (start + i) + this.#phase)) + 0;
      }
      return pcm;
    });
  }

  /** The next `samples` samples per channel as one wire frame. */
  next(samples: number): Uint8Array {
    return encodeFrame(this.#format, this.nextPcm(samples));
  }

  /** The next frame of the configured `frameMs`. */
  nextFrame(): Uint8Array {
    return this.next(this.#frameSamples);
  }

  /** Lets time pass without producing audio (a paused or discarding client keeps its clock running). */
  skip(samples: number): void {
    if (!Number.isSafeInteger(samples) || samples < 0) {
      throw new ToneOptionsError(`samples must be a non-negative integer, got ${samples}`);
    }
    this.#position += samples;
  }
}

/** `count` consecutive frames of a tone (or silence with `hz: 0`), starting at sample 0. */
export function toneFrames(opts: ToneOptions & { count: number }): Uint8Array[] {
  if (!Number.isSafeInteger(opts.count) || opts.count < 0) {
    throw new ToneOptionsError(`count must be a non-negative integer, got ${opts.count}`);
  }
  const source = new ToneSource(opts);
  return Array.from({ length: opts.count }, () => source.nextFrame());
}

/**
 * The reference 1 kHz PCMU tone (§9.5) as one wire frame: `periods` repetitions of the 8-sample period,
 * every channel identical. 200 periods are the reference client's 200 ms frame (1600 bytes mono,
 * 3200 stereo).
 */
export function referenceToneFrame(channels: 1 | 2, periods = 200): Uint8Array {
  const period = REFERENCE_TONE_PERIOD_PCMU;
  const out = new Uint8Array(period.length * channels * periods);
  for (let i = 0, j = 0; i < period.length * periods; i++) {
    const b = period[i % period.length] as number;
    for (let c = 0; c < channels; c++) out[j++] = b;
  }
  return out;
}

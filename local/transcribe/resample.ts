/**
 * Streaming sample-rate conversion of 16-bit PCM by a rational factor with a windowed-sinc (Blackman)
 * polyphase filter. The recognizer's acoustic model is 16 kHz while telephone audio is 8 kHz: sample-and-hold
 * or linear interpolation would fold images of the speech band above 4 kHz, which the recognizer hears as
 * hiss in exactly the bands where the model expects fricatives.
 *
 * Output sample `m` sits at input position `m·inRate/outRate` (no group delay: the filter is centred), so a
 * time in the output domain is the same time in the input domain.
 */
import { AppError } from '../../core/errors';

/** Stable codes of {@link ResampleError}. */
export type ResampleErrorCode = 'RESAMPLE_INVALID_RATE';

/** Invalid resampler options. */
export class ResampleError extends AppError {
  override readonly name = 'ResampleError';
  declare readonly code: ResampleErrorCode;
  constructor(code: ResampleErrorCode, message: string) {
    super(code, message);
  }
}

/** Options of {@link Resampler}. */
export interface ResamplerOptions {
  /**
   * Zero crossings of the sinc kept on each side of the centre, at the lower of the two rates.
   * @default 16 - about 0.1·Nyquist transition width and >70 dB stop band with the Blackman window.
   */
  zeroCrossings?: number;
}

/** Phase tables are precomputed up to this many phases; beyond it (odd rate pairs) taps are computed per sample. */
const MAX_TABLE_PHASES = 4096;

function gcd(a: number, b: number): number {
  let x = a;
  let y = b;
  while (y !== 0) [x, y] = [y, x % y];
  return x;
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = Math.PI * x;
  return Math.sin(px) / px;
}

/** Converts a stream of 16-bit samples from `inRate` to `outRate`. */
export class Resampler {
  readonly inRate: number;
  readonly outRate: number;
  private readonly up: number;
  private readonly down: number;
  /** Filter half-length in input samples. */
  private readonly half: number;
  /** Cutoff relative to the input rate's Nyquist. */
  private readonly cutoff: number;
  private readonly table: Float32Array[] | undefined;
  /** Input samples from absolute index `bufStart`. */
  private buf = new Float32Array(0);
  private bufStart: number;
  private bufLen = 0;
  /** Absolute input samples received. */
  private received = 0;
  /** Next output index. */
  private next = 0;

  constructor(inRate: number, outRate: number, opts: ResamplerOptions = {}) {
    for (const [name, r] of [
      ['inRate', inRate],
      ['outRate', outRate],
    ] as const) {
      if (!Number.isInteger(r) || r <= 0)
        throw new ResampleError('RESAMPLE_INVALID_RATE', `${name} must be a positive integer`);
    }
    this.inRate = inRate;
    this.outRate = outRate;
    const g = gcd(inRate, outRate);
    this.up = outRate / g;
    this.down = inRate / g;
    this.cutoff = Math.min(1, this.up / this.down);
    const zc = opts.zeroCrossings ?? 16;
    this.half = Math.ceil(zc / this.cutoff);
    // Samples before the stream are zeros, so the first outputs see a full (zero-padded) window.
    this.bufStart = -this.half;
    this.buf = new Float32Array(4096);
    this.bufLen = this.half;
    if (this.up <= MAX_TABLE_PHASES && this.up !== this.down) {
      this.table = Array.from({ length: this.up }, (_, p) => this.taps(p));
    }
  }

  /** Taps for phase `p`: coefficient `j` multiplies input `q - half + 1 + j`. */
  private taps(p: number): Float32Array {
    const n = 2 * this.half;
    const out = new Float32Array(n);
    const frac = p / this.up;
    for (let j = 0; j < n; j++) {
      const k = j - this.half + 1;
      const d = frac - k;
      // Blackman window over [-half, half].
      const w = 0.42 + 0.5 * Math.cos((Math.PI * d) / this.half) + 0.08 * Math.cos((2 * Math.PI * d) / this.half);
      out[j] = Math.abs(d) >= this.half ? 0 : this.cutoff * sinc(this.cutoff * d) * w;
    }
    return out;
  }

  private append(input: ArrayLike<number>): void {
    if (this.bufLen + input.length > this.buf.length) {
      const grown = new Float32Array(Math.max(this.buf.length * 2, this.bufLen + input.length));
      grown.set(this.buf.subarray(0, this.bufLen));
      this.buf = grown;
    }
    for (let i = 0; i < input.length; i++) this.buf[this.bufLen + i] = input[i] as number;
    this.bufLen += input.length;
  }

  /** Produces every output whose window lies within the buffered input (`limit` caps the output index). */
  private drain(limit: number): Int16Array {
    const out: number[] = [];
    const have = this.bufStart + this.bufLen; // one past the last buffered absolute index
    for (;;) {
      if (this.next >= limit) break;
      const num = this.next * this.down;
      const q = Math.floor(num / this.up);
      const p = num - q * this.up;
      if (q + this.half >= have) break;
      const taps = this.table?.[p] ?? (this.up === this.down ? undefined : this.taps(p));
      let acc = 0;
      if (taps === undefined) {
        acc = this.buf[q - this.bufStart] as number;
      } else {
        const base = q - this.half + 1 - this.bufStart;
        for (let j = 0; j < taps.length; j++) acc += (this.buf[base + j] as number) * (taps[j] as number);
      }
      out.push(acc > 32767 ? 32767 : acc < -32768 ? -32768 : Math.round(acc));
      this.next++;
    }
    // Keep only what later outputs can still reach.
    const num = this.next * this.down;
    const keepFrom = Math.floor(num / this.up) - this.half + 1;
    const drop = Math.max(0, Math.min(this.bufLen, keepFrom - this.bufStart));
    if (drop > 0) {
      this.buf.copyWithin(0, drop, this.bufLen);
      this.bufLen -= drop;
      this.bufStart += drop;
    }
    return Int16Array.from(out);
  }

  /** Feeds input samples; returns the output samples that are now complete. */
  push(input: Int16Array): Int16Array {
    this.append(input);
    this.received += input.length;
    return this.drain(Number.POSITIVE_INFINITY);
  }

  /** Ends the input: returns the remaining outputs (the tail is filtered against zeros). */
  flush(): Int16Array {
    this.append(new Float32Array(this.half + 1));
    const total = Math.ceil((this.received * this.up) / this.down);
    return this.drain(total);
  }

  /** Output samples produced for `inputSamples` samples of input once flushed. */
  static outputLength(inputSamples: number, inRate: number, outRate: number): number {
    return Math.ceil((inputSamples * outRate) / inRate);
  }
}

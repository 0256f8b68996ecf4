/**
 * Energy voice-activity detection on 16-bit PCM: 10 ms frames whose RMS is above a threshold are voiced;
 * a segment opens after `minSpeechMs` of voiced frames and closes after `hangoverMs` of unvoiced ones.
 * Used by the scripted recognizer (exact, deterministic segment times) and by the fixture generator
 * (speech boundaries of synthesized utterances). Not a speech detector for real calls: noise counts as speech.
 */

/** Options of {@link EnergyVad}. */
export interface EnergyVadOptions {
  sampleRate: number;
  /** @default -40 - dBFS RMS of a 10 ms frame above which it counts as voiced. */
  thresholdDbfs?: number;
  /** @default 30 - voiced time needed to open a segment (ms). */
  minSpeechMs?: number;
  /** @default 300 - unvoiced time that closes a segment (ms). */
  hangoverMs?: number;
}

/** A voiced segment: sample offsets `[start, end)` from the first sample pushed. */
export interface SpeechSegment {
  start: number;
  end: number;
}

/** Streaming energy VAD. Feed samples with {@link push}; closed segments are returned as they end. */
export class EnergyVad {
  private readonly frame: number;
  private readonly threshold: number;
  private readonly minFrames: number;
  private readonly hangFrames: number;
  private pending: number[] = [];
  private frameIndex = 0;
  /** First frame of the current run of voiced frames (before the segment opens). */
  private runStart = -1;
  private runLength = 0;
  private open: { startFrame: number; lastVoiced: number } | undefined;

  constructor(opts: EnergyVadOptions) {
    this.frame = Math.max(1, Math.round(opts.sampleRate / 100));
    const rms = 32768 * 10 ** ((opts.thresholdDbfs ?? -40) / 20);
    this.threshold = rms * rms;
    this.minFrames = Math.max(1, Math.round((opts.minSpeechMs ?? 30) / 10));
    this.hangFrames = Math.max(1, Math.round((opts.hangoverMs ?? 300) / 10));
  }

  /** Whether a segment is open (speech is in progress). */
  get inSpeech(): boolean {
    return this.open !== undefined;
  }

  /**
   * The segment open now, from its first voiced sample to the end of its last voiced frame so far (the
   * hangover is not part of it: a segment that closes ends there too); `undefined` while none is open.
   */
  get openSegment(): SpeechSegment | undefined {
    if (!this.open) return undefined;
    return { start: this.open.startFrame * this.frame, end: (this.open.lastVoiced + 1) * this.frame };
  }

  /** Samples per analysis frame (10 ms): segment bounds are multiples of it. */
  get frameSamples(): number {
    return this.frame;
  }

  /** Feeds samples; returns the segments that closed. */
  push(samples: ArrayLike<number>): SpeechSegment[] {
    const closed: SpeechSegment[] = [];
    for (let i = 0; i < samples.length; i++) {
      this.pending.push(samples[i] as number);
      if (this.pending.length === this.frame) {
        const seg = this.onFrame(this.pending);
        if (seg) closed.push(seg);
        this.pending = [];
      }
    }
    return closed;
  }

  /** Ends the input; returns the segment still open, if any (it ends at its last voiced frame). */
  flush(): SpeechSegment[] {
    const out: SpeechSegment[] = [];
    if (this.open) {
      out.push({ start: this.open.startFrame * this.frame, end: (this.open.lastVoiced + 1) * this.frame });
      this.open = undefined;
    }
    this.pending = [];
    return out;
  }

  private onFrame(frame: readonly number[]): SpeechSegment | undefined {
    let sum = 0;
    for (const s of frame) sum += s * s;
    const voiced = sum / frame.length > this.threshold;
    const f = this.frameIndex++;
    if (this.open) {
      if (voiced) this.open.lastVoiced = f;
      else if (f - this.open.lastVoiced >= this.hangFrames) {
        const seg = { start: this.open.startFrame * this.frame, end: (this.open.lastVoiced + 1) * this.frame };
        this.open = undefined;
        this.runLength = 0;
        return seg;
      }
      return undefined;
    }
    if (voiced) {
      if (this.runLength === 0) this.runStart = f;
      this.runLength++;
      if (this.runLength >= this.minFrames) this.open = { startFrame: this.runStart, lastVoiced: f };
    } else {
      this.runLength = 0;
    }
    return undefined;
  }
}

/** Every voiced segment of a whole signal. */
export function detectSpeech(samples: ArrayLike<number>, opts: EnergyVadOptions): SpeechSegment[] {
  const vad = new EnergyVad(opts);
  return [...vad.push(samples), ...vad.flush()];
}

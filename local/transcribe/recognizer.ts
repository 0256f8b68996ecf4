/**
 * The recognizer port behind the local Transcribe endpoint, and a deterministic scripted implementation for
 * protocol tests. A recognizer gets one channel of 16 kHz mono PCM and reports utterances (words with times
 * in seconds from its first input sample); the endpoint turns them into Transcribe results.
 */
import type { Logger } from '../../core/ports';
import { EnergyVad, type EnergyVadOptions, type SpeechSegment } from './energy-vad';
import type { TimedWord } from './pii';

/** The sample rate every recognizer consumes (the English acoustic model's rate). */
export const RECOGNIZER_SAMPLE_RATE = 16_000;

/** One recognized utterance. Times are seconds from the recognizer's first input sample. */
export interface RecognizedUtterance {
  words: TimedWord[];
}

/** Where a recognizer reports. Callbacks are never invoked after {@link Recognizer.close}. */
export interface RecognizerListener {
  /**
   * The words heard so far of the utterance in progress (progressive partials), reported while it lasts.
   * Every call until the next {@link onUtterance} concerns the same utterance, and that call ends it.
   * Recognizers that cannot say what they heard before an utterance ends (pocketsphinx) never call it.
   */
  onPartial?(utterance: RecognizedUtterance): void;
  /** An utterance ended: its final words. */
  onUtterance(utterance: RecognizedUtterance): void;
  /** The recognizer failed and will report nothing more. */
  onError(error: Error): void;
}

/** A streaming recognizer for one channel. */
export interface Recognizer {
  /** Feeds 16 kHz mono PCM. */
  write(pcm16k: Int16Array): void;
  /** No more audio: resolves once every remaining utterance has been reported. */
  end(): Promise<void>;
  /** Abandons recognition now; resolves once resources (child processes) are released. Idempotent. */
  close(): Promise<void>;
}

/** What a factory gets for each channel of each stream. */
export interface RecognizerContext {
  /** 0-based channel of the stream. */
  channel: number;
  logger: Logger;
  listener: RecognizerListener;
}

/** Creates one recognizer per channel of a stream. */
export type RecognizerFactory = (ctx: RecognizerContext) => Recognizer;

/** Options of {@link createScriptedRecognizer}. */
export interface ScriptedRecognizerOptions {
  /**
   * Words reported for the n-th speech segment (0-based) of a channel, spread evenly over the segment.
   * @default () => ['hello']
   */
  words?: (segmentIndex: number, channel: number) => readonly string[];
  /** VAD settings (the sample rate is fixed at 16 kHz). */
  vad?: Omit<EnergyVadOptions, 'sampleRate'>;
  /** @default 0.9 */
  confidence?: number;
  /**
   * Audio time between progressive partials of a segment in progress (whole 10 ms frames): the first word
   * once speech has lasted this long, one more word every further interval, never more than the script has;
   * each partial's words spread from the segment's start to its last voiced frame so far. 0 turns them off
   * (the endpoint then synthesizes partials when the utterance ends, as for pocketsphinx).
   * @default 200 - {@link DEFAULT_PARTIAL_INTERVAL_MS}
   */
  partialIntervalMs?: number;
}

/** Audio time between two progressive partials of an utterance in progress (milliseconds). */
export const DEFAULT_PARTIAL_INTERVAL_MS = 200;

/** The partial interval in milliseconds (`undefined` gives the default); a RangeError names a bad one. */
export function partialIntervalOf(ms: number | undefined): number {
  const value = ms ?? DEFAULT_PARTIAL_INTERVAL_MS;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`partialIntervalMs must be a number of milliseconds >= 0, got ${String(ms)}`);
  }
  return value;
}

/** What a {@link SpeechTracker} reports while audio is fed. */
export interface SpeechEvents {
  /**
   * The open segment lasted another partial interval: `seg` runs from its start to the end of its last voiced
   * frame so far, `intervals` is how many whole intervals that is (it only grows within a segment).
   */
  progress(seg: SpeechSegment, intervals: number): void;
  /** A segment ended (also the one still open at {@link SpeechTracker.flush}). */
  closed(seg: SpeechSegment): void;
}

/**
 * {@link EnergyVad} plus the schedule of progressive partials: reports each closed segment, and the open one
 * each time its voiced length crosses another multiple of the interval. Audio is fed to the VAD in pieces
 * that end on those crossings, so what is reported and when depends on the audio only, never on how the
 * writes were split.
 */
export class SpeechTracker {
  private readonly vad: EnergyVad;
  /** Samples per interval, rounded to whole 10 ms VAD frames (at least one); 0 when partials are off. */
  private readonly interval: number;
  /** Samples fed so far. */
  private position = 0;
  /** Start of the open segment already reported on, and the intervals reported for it. */
  private tracked: { start: number; intervals: number } | undefined;

  constructor(opts: { vad?: Omit<EnergyVadOptions, 'sampleRate'>; partialIntervalMs?: number }) {
    const ms = partialIntervalOf(opts.partialIntervalMs);
    this.vad = new EnergyVad({ ...opts.vad, sampleRate: RECOGNIZER_SAMPLE_RATE });
    const frame = this.vad.frameSamples;
    this.interval = ms === 0 ? 0 : Math.max(1, Math.round((ms * RECOGNIZER_SAMPLE_RATE) / 1000 / frame)) * frame;
  }

  /** Whether a segment is open. */
  get inSpeech(): boolean {
    return this.vad.inSpeech;
  }

  /** Feeds 16 kHz samples; reports what they closed and how the open segment grew, in audio order. */
  push(pcm: Int16Array, events: SpeechEvents): void {
    const frame = this.vad.frameSamples;
    let at = 0;
    while (at < pcm.length) {
      let n = pcm.length - at;
      if (this.interval > 0) {
        // Stop where an open segment could next cross an interval (that frame boundary), else at the next
        // frame boundary: a segment opens, and grows, one frame at a time.
        const open = this.vad.openSegment;
        const due = open
          ? open.start + (Math.floor((open.end - open.start) / this.interval) + 1) * this.interval
          : this.position;
        n = Math.min(n, due > this.position ? due - this.position : frame - (this.position % frame));
      }
      for (const seg of this.vad.push(pcm.subarray(at, at + n))) {
        this.tracked = undefined;
        events.closed(seg);
      }
      at += n;
      this.position += n;
      this.check(events);
    }
  }

  /** Ends the input: reports the segment still open as closed. */
  flush(events: SpeechEvents): void {
    this.tracked = undefined;
    for (const seg of this.vad.flush()) events.closed(seg);
  }

  private check(events: SpeechEvents): void {
    const open = this.vad.openSegment;
    if (!open || this.interval === 0) return;
    if (this.tracked?.start !== open.start) this.tracked = { start: open.start, intervals: 0 };
    const intervals = Math.floor((open.end - open.start) / this.interval);
    if (intervals > this.tracked.intervals) {
      this.tracked.intervals = intervals;
      events.progress(open, intervals);
    }
  }
}

/**
 * A recognizer that hears energy, not words: each segment found by {@link EnergyVad} is reported as the
 * scripted words, with the segment's exact start and end, preceded by progressive partials (a growing prefix
 * of the script spread from the segment's start to its last voiced frame so far). Deterministic, instant,
 * no child process.
 */
export function createScriptedRecognizer(opts: ScriptedRecognizerOptions = {}): RecognizerFactory {
  const script = opts.words ?? (() => ['hello']);
  const confidence = opts.confidence ?? 0.9;
  const partialIntervalMs = partialIntervalOf(opts.partialIntervalMs);
  return ({ channel, listener }) => {
    const tracker = new SpeechTracker({ vad: opts.vad, partialIntervalMs });
    let index = 0;
    let closed = false;
    /** The script of the segment open now, read once per segment (each segment takes one index). */
    let current: { start: number; words: readonly string[] } | undefined;
    const wordsOf = (seg: SpeechSegment): readonly string[] => {
      if (current?.start !== seg.start) current = { start: seg.start, words: script(index++, channel) };
      return current.words;
    };
    const events: SpeechEvents = {
      progress(seg, intervals) {
        const words = wordsOf(seg).slice(0, intervals);
        if (closed || words.length === 0) return;
        listener.onPartial?.({ words: spreadOverSegment(words, seg, confidence) });
      },
      closed(seg) {
        const words = wordsOf(seg);
        current = undefined;
        if (closed || words.length === 0) return;
        listener.onUtterance({ words: spreadOverSegment(words, seg, confidence) });
      },
    };
    return {
      write(pcm16k) {
        if (!closed) tracker.push(pcm16k, events);
      },
      async end() {
        if (!closed) tracker.flush(events);
        closed = true;
      },
      async close() {
        closed = true;
      },
    };
  };
}

/** `words` spread evenly over a VAD segment (16 kHz sample offsets), times in seconds to the millisecond. */
export function spreadOverSegment(words: readonly string[], seg: SpeechSegment, confidence: number): TimedWord[] {
  const start = seg.start / RECOGNIZER_SAMPLE_RATE;
  const step = (seg.end - seg.start) / RECOGNIZER_SAMPLE_RATE / words.length;
  return words.map((word, i) => ({
    word,
    startSec: round3(start + i * step),
    endSec: round3(start + (i + 1) * step),
    confidence,
  }));
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

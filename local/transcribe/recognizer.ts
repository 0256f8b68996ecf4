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
}

/**
 * A recognizer that hears energy, not words: each segment found by {@link EnergyVad} is reported as the
 * scripted words, with the segment's exact start and end. Deterministic, instant, no child process.
 */
export function createScriptedRecognizer(opts: ScriptedRecognizerOptions = {}): RecognizerFactory {
  const script = opts.words ?? (() => ['hello']);
  const confidence = opts.confidence ?? 0.9;
  return ({ channel, listener }) => {
    const vad = new EnergyVad({ ...opts.vad, sampleRate: RECOGNIZER_SAMPLE_RATE });
    let index = 0;
    let closed = false;
    const report = (segments: SpeechSegment[]) => {
      for (const seg of segments) {
        const words = script(index++, channel);
        if (closed || words.length === 0) continue;
        listener.onUtterance({ words: spreadOverSegment(words, seg, confidence) });
      }
    };
    return {
      write(pcm16k) {
        if (!closed) report(vad.push(pcm16k));
      },
      async end() {
        if (!closed) report(vad.flush());
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

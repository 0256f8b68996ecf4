/**
 * A recognizer that reads the tone code (tone-code.ts) instead of speech: each segment found by
 * {@link EnergyVad} is decoded into its symbols and reported as their words ("one again seven …"), so the
 * soak harness sees from the transcript which utterance was heard and whether it was whole, cut or heard
 * twice. Deterministic and instant, like the scripted recognizer, with no child process.
 */
import type { EnergyVadOptions, SpeechSegment } from './energy-vad';
import {
  partialIntervalOf,
  RECOGNIZER_SAMPLE_RATE,
  type RecognizerFactory,
  type SpeechEvents,
  SpeechTracker,
  spreadOverSegment,
} from './recognizer';
import { decodeToneSymbols, TONE_WORDS } from './tone-code';

/** Options of {@link createToneRecognizer}. */
export interface ToneRecognizerOptions {
  /** VAD settings (the sample rate is fixed at 16 kHz). @default the {@link EnergyVad} defaults */
  vad?: Omit<EnergyVadOptions, 'sampleRate'>;
  /** Confidence of every word. @default 0.9 */
  confidence?: number;
  /**
   * Audio time between progressive partials of a segment in progress (the symbols decoded so far; a symbol
   * still sounding is left out until it has lasted long enough to be told from a cut one). 0 turns them off.
   * @default 200 - DEFAULT_PARTIAL_INTERVAL_MS
   */
  partialIntervalMs?: number;
}

/**
 * Progressive partials stop once a segment is this long: each one decodes the segment from its start, so
 * their cost grows with the square of its length (a tone utterance lasts about a second; noise can last long).
 */
const MAX_PARTIAL_SEGMENT_MS = 10_000;

/** The word reported for a segment in which no symbol was heard. */
export const NOISE_WORD = 'noise';

/**
 * Audio kept before the current position while no segment is open. A segment opens after `minSpeechMs` of
 * voiced frames and starts at the first of them, so it never reaches further back than that plus the frame
 * still being filled; the extra second is a margin.
 */
const KEEP_MARGIN_MS = 1000;

/** The audio of one channel since a given sample offset, kept in the chunks it arrived in. */
class AudioWindow {
  private chunks: Int16Array[] = [];
  /** Offset of the first sample of `chunks[0]`. */
  private start = 0;
  /** Offset one past the last sample received. */
  private total = 0;

  append(pcm: Int16Array): void {
    if (pcm.length === 0) return;
    this.chunks.push(pcm.slice());
    this.total += pcm.length;
  }

  /** Forgets whole chunks that end before `offset`. */
  dropBefore(offset: number): void {
    while (this.chunks.length > 0) {
      const first = this.chunks[0] as Int16Array;
      if (this.start + first.length > offset) break;
      this.start += first.length;
      this.chunks.shift();
    }
  }

  get end(): number {
    return this.total;
  }

  /** Samples `[from, to)`, clipped to what is kept. */
  slice(from: number, to: number): Int16Array {
    const out = new Int16Array(Math.max(0, to - from));
    let at = this.start;
    for (const chunk of this.chunks) {
      const lo = Math.max(from, at);
      const hi = Math.min(to, at + chunk.length);
      if (hi > lo) out.set(chunk.subarray(lo - at, hi - at), lo - from);
      at += chunk.length;
      if (at >= to) break;
    }
    return out;
  }
}

/**
 * A recognizer factory for the tone code: each VAD segment's symbols are reported as words spread evenly
 * over the segment's exact start and end (seconds from the first sample, 3 decimals); a segment with no
 * symbol in it is reported as the single word {@link NOISE_WORD}. While a segment is open, the symbols of its
 * audio so far are reported as progressive partials (none while no symbol has been heard yet).
 */
export function createToneRecognizer(opts: ToneRecognizerOptions = {}): RecognizerFactory {
  const confidence = opts.confidence ?? 0.9;
  if (!(confidence >= 0 && confidence <= 1)) {
    throw new RangeError(`confidence must be within [0, 1], got ${String(opts.confidence)}`);
  }
  const keepSamples = Math.round((((opts.vad?.minSpeechMs ?? 30) + KEEP_MARGIN_MS) * RECOGNIZER_SAMPLE_RATE) / 1000);
  const maxPartialSamples = (MAX_PARTIAL_SEGMENT_MS * RECOGNIZER_SAMPLE_RATE) / 1000;
  const partialIntervalMs = partialIntervalOf(opts.partialIntervalMs);
  return ({ listener }) => {
    const tracker = new SpeechTracker({ vad: opts.vad, partialIntervalMs });
    const audio = new AudioWindow();
    let closed = false;
    const symbolWords = (seg: SpeechSegment): string[] =>
      decodeToneSymbols(audio.slice(seg.start, seg.end), RECOGNIZER_SAMPLE_RATE).map((s) => TONE_WORDS[s] as string);
    const events: SpeechEvents = {
      progress(seg) {
        if (closed || seg.end - seg.start > maxPartialSamples) return;
        const words = symbolWords(seg);
        if (words.length > 0) listener.onPartial?.({ words: spreadOverSegment(words, seg, confidence) });
      },
      closed(seg) {
        if (closed) return;
        const words = symbolWords(seg);
        listener.onUtterance({ words: spreadOverSegment(words.length > 0 ? words : [NOISE_WORD], seg, confidence) });
      },
    };
    return {
      write(pcm16k) {
        if (closed) return;
        // The window must hold the audio before the tracker reports on it.
        audio.append(pcm16k);
        tracker.push(pcm16k, events);
        // While no segment is open, older audio can no longer belong to one.
        if (!tracker.inSpeech) audio.dropBefore(audio.end - keepSamples);
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

/**
 * What a {@link SegmentStreamer} must remember so that nothing spoken is lost and nothing is transcribed
 * twice across lost streams.
 *
 * Transcribe acknowledges no audio, so audio already sent is kept (bounded by `resendWindowSec`) until it
 * is known to be transcribed. After a lost stream, audio is re-sent from where each channel's unfinished
 * speech began (the start of its open partial result, else the end of its last final result, or how far
 * the recognizer has reported on that same channel, less a margin); on each channel the re-sent samples
 * before that point are blanked, and a final is accepted only if it ends after the last accepted final of
 * its channel. Everything is per channel: one channel's results never mark the other's audio as done.
 */
import { SAMPLE_RATE } from '../../../core/audio/format';
import type { AudioChunk } from './audio-queue';
import { silenceChannelBefore } from './chunker';

const SAMPLES_PER_MS = SAMPLE_RATE / 1000;

/** Settings of {@link ResendLedger} (from the streamer's config). */
export interface ResendLedgerOptions {
  /** Audio already sent kept for re-sending, seconds. */
  readonly resendWindowSec: number;
  /** How far past audio without speech the recognizer must have reported before it counts as done, ms. */
  readonly resendMarginMs: number;
}

/** Sent audio not yet known to be transcribed, and per channel how far results have been accepted. */
export class ResendLedger {
  readonly #channels: number;
  readonly #opts: ResendLedgerOptions;
  /** Audio sent on the current and earlier streams that may still have to be re-sent. */
  #history: AudioChunk[] = [];
  #historySamples = 0;
  /** Per channel: timeline end of the last accepted final (−∞ before any). */
  readonly #lastFinalEnd: number[];
  /** Per channel: timeline start of the speech in progress (an open partial result). */
  readonly #openPartial: (number | undefined)[];
  /**
   * Per channel: timeline position up to which the recognizer has reported results on that channel
   * (partial or final). Per channel on purpose: results on one channel say nothing about speech on the
   * other that the recognizer has not reported yet (a lagging recognizer, or one that sends no partials).
   */
  readonly #horizon: number[];

  constructor(channels: number, opts: ResendLedgerOptions) {
    this.#channels = channels;
    this.#opts = opts;
    this.#lastFinalEnd = Array.from({ length: channels }, () => Number.NEGATIVE_INFINITY);
    this.#openPartial = Array.from({ length: channels }, () => undefined);
    this.#horizon = Array.from({ length: channels }, () => Number.NEGATIVE_INFINITY);
  }

  /** No channel has speech in progress (a good moment to rotate a stream). */
  get atUtteranceBoundary(): boolean {
    return this.#openPartial.every((p) => p === undefined);
  }

  /**
   * A partial result on `channel` spanning `[start, end)`: whether it is new speech (not before the last
   * accepted final); if so, it marks where that channel's unfinished speech begins.
   */
  notePartial(channel: number, start: number, end: number): boolean {
    this.#advanceHorizon(channel, end);
    const lastEnd = this.#lastFinalEnd[channel] ?? Number.NEGATIVE_INFINITY;
    if (end <= lastEnd) return false;
    this.#openPartial[channel] = Math.max(start, Number.isFinite(lastEnd) ? lastEnd : start);
    return true;
  }

  /** A final result on `channel` ending at `end`: whether to accept it (false: it repeats accepted speech). */
  noteFinal(channel: number, end: number): boolean {
    this.#advanceHorizon(channel, end);
    this.#openPartial[channel] = undefined;
    const lastEnd = this.#lastFinalEnd[channel] ?? Number.NEGATIVE_INFINITY;
    if (end <= lastEnd) return false;
    this.#lastFinalEnd[channel] = end;
    return true;
  }

  /** Keeps a sent chunk for re-sending, within `resendWindowSec` (so a long silence cannot grow it). */
  remember(chunk: AudioChunk): void {
    this.#history.push(chunk);
    this.#historySamples += chunk.samples;
    const limit = this.#opts.resendWindowSec * SAMPLE_RATE;
    let drop = 0;
    while (this.#historySamples > limit && drop < this.#history.length) {
      this.#historySamples -= (this.#history[drop] as AudioChunk).samples;
      drop++;
    }
    if (drop > 0) this.#history.splice(0, drop);
  }

  /** Forgets sent audio that is known to be transcribed. */
  trim(): void {
    const from = Math.min(...this.#resumePoints());
    let drop = 0;
    while (drop < this.#history.length) {
      const c = this.#history[drop] as AudioChunk;
      if (c.position + c.samples > from) break;
      this.#historySamples -= c.samples;
      drop++;
    }
    if (drop > 0) this.#history.splice(0, drop);
  }

  /** Forgets every sent chunk (the segment failed). */
  clear(): void {
    this.#history = [];
    this.#historySamples = 0;
  }

  /** A stream ended gracefully: it finalized everything it was sent, nothing is left to re-send. */
  settle(): void {
    this.clear();
    this.#openPartial.fill(undefined);
  }

  /**
   * After a lost stream: the unfinished audio to put back in front of the queue, finished speech blanked
   * per channel. The ledger then starts afresh (the re-sent chunks are remembered again as they go out).
   */
  takeResend(): AudioChunk[] {
    const points = this.#resumePoints();
    const from = Math.min(...points);
    const resend: AudioChunk[] = [];
    for (const chunk of this.#history) {
      if (chunk.position + chunk.samples <= from) continue;
      let out = chunk;
      points.forEach((p, ch) => {
        out = silenceChannelBefore(out, this.#channels, ch, p);
      });
      resend.push(out);
    }
    this.settle();
    return resend;
  }

  #advanceHorizon(channel: number, end: number): void {
    this.#horizon[channel] = Math.max(this.#horizon[channel] ?? Number.NEGATIVE_INFINITY, end);
  }

  /**
   * Per channel, the timeline position from which its audio may still need transcribing: the start of its
   * open partial, else the later of its last accepted final's end and its own horizon less the margin.
   * A channel the recognizer has reported nothing on since its last final is re-sent from that final.
   */
  #resumePoints(): number[] {
    const margin = this.#opts.resendMarginMs * SAMPLES_PER_MS;
    return this.#openPartial.map((open, ch) => {
      if (open !== undefined) return open;
      const lastEnd = this.#lastFinalEnd[ch] ?? Number.NEGATIVE_INFINITY;
      return Math.max(lastEnd, (this.#horizon[ch] ?? Number.NEGATIVE_INFINITY) - margin);
    });
  }
}

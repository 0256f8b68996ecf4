/**
 * Stream-timeline bookkeeping in integer 8 kHz samples (docs/audiohook-protocol.md §2.4).
 *
 * Two views of time matter to a transcription gateway:
 * - the AudioHook *stream timeline*: the client's position, which keeps running through pauses and
 *   discards, and on which every timestamp we emit is placed ({@link StreamTimeline});
 * - a downstream recognizer's *forwarded* time: it only counts the samples it was actually sent, so it
 *   loses pauses, discards, stop/start and stream rotation ({@link AnchorMap} maps it back).
 */
import { AppError } from '../errors';
import { SAMPLE_RATE } from './format';

const SAMPLES_PER_MS = SAMPLE_RATE / 1000;

/** A span of the timeline with no audio (client pause or discard, or audio dropped after our pause), in samples. */
export interface TimelineGap {
  kind: 'paused' | 'discarded' | 'server-paused';
  /** Timeline position where the gap starts. */
  start: number;
  /** Length of the gap in samples. */
  length: number;
}

/** Stable codes of {@link TimelineError}. */
export type TimelineErrorCode = 'TIMELINE_INVALID_SAMPLES' | 'TIMELINE_EMPTY';

/** A programming error in timeline use: a non-integer or negative sample count, or mapping before any audio. */
export class TimelineError extends AppError {
  override readonly name = 'TimelineError';
  declare readonly code: TimelineErrorCode;
  constructor(code: TimelineErrorCode, message: string) {
    super(code, message);
  }
}

function requireSamples(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new TimelineError(
      'TIMELINE_INVALID_SAMPLES',
      `${what} must be a non-negative integer sample count, got ${value}`,
    );
  }
  return value;
}

/**
 * The server's view of the client's stream position (§2.4 "server timeline algorithm"): advance by the
 * per-channel sample count of each accepted audio frame, resync to `position` on every client text
 * message (the client is authoritative), and jump over `discarded`/`resumed` gaps.
 *
 * For a `discarded`/`resumed` message call {@link gap} before {@link resync}: the message's `position`
 * normally equals `start + discarded`, so the resync then reports no drift.
 */
export class StreamTimeline {
  #position: number;

  /** @param startPosition - position at `open`, in samples. @default 0 (a new session starts at `PT0S`) */
  constructor(startPosition = 0) {
    this.#position = requireSamples(startPosition, 'startPosition');
  }

  /** Current position: the timeline index of the next audio sample we expect. */
  get position(): number {
    return this.#position;
  }

  /**
   * Accounts for one accepted audio frame.
   * @returns the timeline position of the frame's first sample (what an `AudioFrame` carries).
   */
  advance(samples: number): number {
    requireSamples(samples, 'samples');
    const at = this.#position;
    this.#position = at + samples;
    return at;
  }

  /**
   * Adopts the client's reported position.
   * @returns the drift in samples (`reported - ours`): positive when the client is ahead of what we
   * counted (audio we never received), negative when behind. Callers log large drifts.
   */
  resync(positionSamples: number): number {
    requireSamples(positionSamples, 'positionSamples');
    const drift = positionSamples - this.#position;
    this.#position = positionSamples;
    return drift;
  }

  /**
   * Records a span without audio (`discarded`, or the pause reported by `resumed`). The next audio
   * sample is at `start + length`. The reported start may disagree with our count (§6.2 item 6, and the
   * compliance suite sends a start ahead of the real position): the message is trusted as is.
   * @returns the gap, in samples, for the sink and the statistics.
   */
  gap(startSamples: number, lengthSamples: number, kind: TimelineGap['kind']): TimelineGap {
    requireSamples(startSamples, 'start');
    requireSamples(lengthSamples, 'length');
    this.#position = startSamples + lengthSamples;
    return { kind, start: startSamples, length: lengthSamples };
  }
}

/** One contiguous run of forwarded audio: forwarded index `forwarded` is timeline position `timeline`. */
interface Anchor {
  forwarded: number;
  timeline: number;
}

/**
 * Which side of a discontinuity an index that falls exactly on it belongs to. `start` (the default)
 * reads the index as the first sample of the next run — right for the start of a word or utterance.
 * `end` reads it as one past the last sample of the previous run — right for an exclusive end time, so
 * an utterance that ends at a pause is not stretched over the pause.
 */
export type AnchorEdge = 'start' | 'end';

/**
 * Piecewise-linear map from a downstream stream's forwarded sample index (a recognizer only counts the
 * samples it was sent) to conversation timeline positions. One anchor per discontinuity, so memory grows
 * with pauses/discards, not with call length; {@link trimBefore} bounds it further on very long calls.
 * Positions are in samples; fractional indices (recognizer times in seconds) are accepted and mapped
 * linearly.
 */
export class AnchorMap {
  readonly #anchors: Anchor[] = [];
  #forwarded = 0;

  /** Total samples recorded as forwarded (the index the next forwarded sample will have). */
  get forwardedSamples(): number {
    return this.#forwarded;
  }

  /** Number of runs kept (one per discontinuity, after trimming). */
  get anchorCount(): number {
    return this.#anchors.length;
  }

  /** Timeline position just after the last forwarded sample, or `undefined` before any audio. */
  get timelineEnd(): number | undefined {
    const last = this.#anchors.at(-1);
    return last === undefined ? undefined : last.timeline + (this.#forwarded - last.forwarded);
  }

  /**
   * Records `samples` forwarded samples whose first sample sits at `timelinePosition`. A new anchor is
   * created only when this audio does not continue the previous run on the timeline.
   */
  append(timelinePosition: number, samples: number): void {
    requireSamples(timelinePosition, 'timelinePosition');
    requireSamples(samples, 'samples');
    if (samples === 0) return;
    if (this.timelineEnd !== timelinePosition) {
      this.#anchors.push({ forwarded: this.#forwarded, timeline: timelinePosition });
    }
    this.#forwarded += samples;
  }

  /**
   * Maps a forwarded sample index to a timeline position. Indices past the end extrapolate from the last
   * run (a recognizer can report times slightly beyond what we counted); indices before the first kept
   * anchor extrapolate backwards from it.
   * @throws {@link TimelineError} `TIMELINE_EMPTY` when no audio has been recorded yet.
   */
  toTimeline(forwardedIndex: number, edge: AnchorEdge = 'start'): number {
    const anchor = this.#anchors[this.#runIndex(forwardedIndex, edge)];
    if (anchor === undefined) {
      throw new TimelineError('TIMELINE_EMPTY', 'no forwarded audio recorded yet: nothing to map against');
    }
    return anchor.timeline + (forwardedIndex - anchor.forwarded);
  }

  /** {@link toTimeline} in milliseconds (one sample is 0.125 ms; the result may be fractional). */
  toTimelineMs(forwardedMs: number, edge: AnchorEdge = 'start'): number {
    return this.toTimeline(forwardedMs * SAMPLES_PER_MS, edge) / SAMPLES_PER_MS;
  }

  /**
   * Forgets runs that end at or before `forwardedIndex` (results older than that will not be mapped
   * again). The run containing the index and all later runs are kept, so mapping at or after the index
   * is unchanged.
   * @returns the number of anchors dropped.
   */
  trimBefore(forwardedIndex: number): number {
    const keepFrom = this.#runIndex(forwardedIndex, 'start');
    if (keepFrom <= 0) return 0;
    this.#anchors.splice(0, keepFrom);
    return keepFrom;
  }

  /** Index of the run an index belongs to (binary search over run starts), or 0 when before the first. */
  #runIndex(forwardedIndex: number, edge: AnchorEdge): number {
    let lo = 0;
    let hi = this.#anchors.length - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const start = (this.#anchors[mid] as Anchor).forwarded;
      const inOrAfter = edge === 'start' ? start <= forwardedIndex : start < forwardedIndex;
      if (inOrAfter) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }
}

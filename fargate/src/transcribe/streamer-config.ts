/** The streamer's options: its collaborators, its tunables and their defaults. */
import type { Clock, Logger, Timers } from '../../../core/ports';
import type { PartialSink, UtteranceSink } from '../../../core/transcript/utterance';
import { type BackoffPolicy, THROTTLE_BACKOFF, TRANSIENT_BACKOFF } from './backoff';
import type { SegmentContext, TranscribeClientLike, TranscribeCustomization } from './start-request';
import type { TranscribeMetrics } from './streamer-stats';

/** Tunables of {@link SegmentStreamer}; every one has a default. */
export interface StreamerConfig {
  /** Chunk length. Transcribe recommends uniform chunks of 50–200 ms. @default 100 */
  readonly chunkMs: number;
  /** Audio held while no stream can take it (reopen, backoff). @default 30 */
  readonly bufferSec: number;
  /** Audio already sent kept for re-sending after a lost stream. @default 30 */
  readonly resendWindowSec: number;
  /**
   * Audio on a channel with no speech in progress is assumed transcribed once the recognizer has reported
   * this far past it (results come with some latency). @default 2000
   */
  readonly resendMarginMs: number;
  /** Close an open stream gracefully after this long without audio; 0 disables. @default 10000 */
  readonly idleEndMs: number;
  /** Rotate an underlying stream after this long (Transcribe's hard limit is 4 h). @default 13800000 (3 h 50 min) */
  readonly rotateAfterMs: number;
  /** Rotate even mid-utterance once this much past `rotateAfterMs`. @default 300000 */
  readonly rotateGraceMs: number;
  /** How long `end()` waits for the final results. @default 10000 */
  readonly endTimeoutMs: number;
  /** Consecutive transient failures (no result in between) before the segment is given up. @default 12 */
  readonly maxConsecutiveFailures: number;
  /** @default {@link TRANSIENT_BACKOFF} */
  readonly transientBackoff: BackoffPolicy;
  /** @default {@link THROTTLE_BACKOFF} */
  readonly throttleBackoff: BackoffPolicy;
}

/** The defaults of every {@link StreamerConfig} setting. */
export const DEFAULT_STREAMER_CONFIG: StreamerConfig = {
  chunkMs: 100,
  bufferSec: 30,
  resendWindowSec: 30,
  resendMarginMs: 2_000,
  idleEndMs: 10_000,
  rotateAfterMs: (3 * 60 + 50) * 60_000,
  rotateGraceMs: 5 * 60_000,
  endTimeoutMs: 10_000,
  maxConsecutiveFailures: 12,
  transientBackoff: TRANSIENT_BACKOFF,
  throttleBackoff: THROTTLE_BACKOFF,
};

/** Where the streamer notes when audio arrived (the control layer's `ArrivalClock` fits). */
export interface ArrivalRecorder {
  /** Audio up to `endPosition` (exclusive, in samples) had arrived at `monotonicMs`. */
  record(endPosition: number, monotonicMs: number): void;
}

/** Options of {@link SegmentStreamer}. */
export interface SegmentStreamerOptions {
  readonly client: TranscribeClientLike;
  readonly segment: SegmentContext;
  readonly utterances: UtteranceSink;
  /** Live captions; only used when nothing is redacted. */
  readonly partials?: PartialSink;
  readonly logger: Logger;
  readonly customization?: TranscribeCustomization;
  readonly config?: Partial<StreamerConfig>;
  readonly metrics?: TranscribeMetrics;
  /**
   * Told, once per chunk (never per frame), when the chunk's last sample arrived: the start of the
   * end-of-speech → stored latency.
   */
  readonly arrivals?: ArrivalRecorder;
  readonly clock?: Clock;
  readonly timers?: Timers;
  /** @default Math.random */
  readonly random?: () => number;
  /** @default crypto.randomUUID */
  readonly newSessionId?: () => string;
}

/**
 * Audio intake of one session (docs/audiohook-protocol.md §2.4–§2.5, §4.5): binary frames in, checked
 * for whole sample frames and passed to the sink as received (channel order kept), each frame placed on
 * the stream timeline; position accounting (the client's `position` resyncs it, pauses and discards are
 * gaps); and the dropping of audio that arrives when it is not wanted. This is the hot path: per frame it allocates only the small record handed to
 * the sink (no decoding here, no per-channel arrays).
 */
import { type FrameLayout, notWholeFrames, samplesInFrame } from '../audio/pcm';
import { StreamTimeline, type TimelineGap } from '../audio/timeline';
import type { Clock, Logger } from '../ports';
import { sampleCountOf } from './duration';
import type { SessionStats } from './ports';
import type { SessionSink } from './session-sink';

/** Why a frame was not accepted. */
export type DropCause =
  | 'before-open'
  | 'no-media'
  | 'probe'
  | 'server-paused'
  | 'client-paused'
  | 'after-close'
  | 'after-disconnect';

/** Straggler audio is logged at debug per frame, and at warn at most this often. */
const DROP_WARN_INTERVAL_MS = 10_000;

/** Collaborators of an {@link AudioIntake}. */
export interface AudioIntakeDeps {
  sink: SessionSink;
  /** The session's counters; the intake updates the audio ones. */
  stats: Omit<SessionStats, 'position'>;
  clock: Clock;
  /** The session's current logger (it gains bindings at `open`). */
  log: () => Logger;
}

/** What became of one binary frame. */
export type FrameOutcome = 'accepted' | 'dropped' | 'malformed';

/** The audio side of a session: timeline, frames, gaps and drops. */
export class AudioIntake {
  readonly #deps: AudioIntakeDeps;
  readonly #timeline = new StreamTimeline();
  #lastDropWarnAt = Number.NEGATIVE_INFINITY;
  #dropsSinceWarn = 0;

  constructor(deps: AudioIntakeDeps) {
    this.#deps = deps;
  }

  /** Current timeline position, in samples. */
  get position(): number {
    return this.#timeline.position;
  }

  /**
   * Takes one binary frame. With a `cause` (or no negotiated layout) it is counted and dropped; otherwise
   * it is written to the sink as received, in the negotiated channel order.
   * `'malformed'`: not whole sample frames, a protocol violation the caller answers.
   */
  receive(data: Uint8Array, layout: FrameLayout | undefined, cause: DropCause | undefined): FrameOutcome {
    const stats = this.#deps.stats;
    stats.framesReceived++;
    stats.audioBytesReceived += data.byteLength;
    if (cause !== undefined || layout === undefined) {
      this.#drop(data, layout, cause ?? 'no-media');
      return 'dropped';
    }
    const samples = samplesInFrame(layout, data.byteLength);
    if (samples === null) {
      const { format, channels } = layout;
      this.#deps
        .log()
        .warn({ bytes: data.byteLength, format, channels: channels.length }, notWholeFrames(layout, data.byteLength));
      return 'malformed';
    }
    if (samples === 0) return 'accepted';
    const position = this.#timeline.advance(samples);
    stats.samplesAccepted += samples;
    // Passed on as received: each sink converts the payload once, straight into its own buffer.
    this.#deps.sink.write({ position, samples, format: layout.format, channels: layout.channels.length, data });
    return 'accepted';
  }

  /**
   * A span the client reports it skipped (`resumed` after a pause, `discarded`): counted, placed on the
   * timeline, then the timeline resyncs to the message's `position`. Returns the gap for the sink.
   */
  clientGap(kind: 'paused' | 'discarded', start: number, length: number, position: string): TimelineGap {
    if (kind === 'paused') this.#deps.stats.pausedSamples += length;
    else this.#deps.stats.discardedSamples += length;
    const gap = this.#timeline.gap(start, length, kind);
    this.#resyncAfterGap(position);
    return gap;
  }

  /** The client's `position` is authoritative on every text message (§2.4 server timeline algorithm). */
  resyncTo(position: string): void {
    const samples = sampleCountOf(position);
    if (samples === null) return;
    const drift = this.#timeline.resync(samples);
    if (drift !== 0) this.#deps.log().debug({ drift }, 'audiohook timeline resynced to client position');
  }

  /**
   * By definition the next audio sample is at `start + discarded` (§2.4); a `position` behind that (a
   * client stamping the pre-gap position) must not pull the timeline back over the gap, one ahead wins.
   */
  #resyncAfterGap(position: string): void {
    const samples = sampleCountOf(position);
    if (samples !== null && samples > this.#timeline.position) this.#timeline.resync(samples);
  }

  /** Stragglers are benign (§4.5 REC, §6.2 item 7): count and drop, never disconnect. */
  #drop(data: Uint8Array, layout: FrameLayout | undefined, cause: DropCause): void {
    const { stats, clock } = this.#deps;
    const samples = layout ? (samplesInFrame(layout, data.byteLength) ?? 0) : 0;
    stats.samplesDropped += samples;
    if (cause === 'server-paused' && samples > 0) {
      // These samples are on the client's timeline; the sink learns they are missing as one gap.
      this.#deps.sink.dropped(this.#timeline.advance(samples), samples);
    }
    this.#dropsSinceWarn++;
    const log = this.#deps.log();
    log.debug({ cause, bytes: data.byteLength }, 'audiohook audio frame dropped');
    const now = clock.monotonic();
    if (now - this.#lastDropWarnAt >= DROP_WARN_INTERVAL_MS) {
      log.warn(
        { cause, framesDropped: this.#dropsSinceWarn, samplesDropped: stats.samplesDropped },
        'audiohook audio dropped outside streaming state',
      );
      this.#lastDropWarnAt = now;
      this.#dropsSinceWarn = 0;
    }
  }
}

/**
 * An {@link AudioSink} that only counts: samples per role, frames, gaps. For tests and benchmarks, where
 * the session's audio path must run end to end without doing any I/O.
 */
import type { Role } from '../../../core/audio/roles';
import type { TimelineGap } from '../../../core/audio/timeline';
import type { AudioFrame, AudioSink, SinkStartInfo } from '../../../core/audiohook/ports';

/** A snapshot of what a {@link NullSink} has seen. */
export interface NullSinkCounts {
  /** Samples received per role (a mono session counts only its one role). */
  samples: Record<Role, number>;
  frames: number;
  gaps: number;
  /** Total gap length per kind, in samples. */
  gapSamples: Record<TimelineGap['kind'], number>;
  /** Timeline position just after the last frame received, or `undefined` before any audio. */
  endPosition: number | undefined;
  language: string | undefined;
  ended: 'close' | 'disconnect' | 'transport-closed' | undefined;
}

/** Counts what it is given and drops the audio. */
export class NullSink implements AudioSink {
  #info: SinkStartInfo | undefined;
  readonly #counts: NullSinkCounts = {
    samples: { customer: 0, agent: 0 },
    frames: 0,
    gaps: 0,
    gapSamples: { paused: 0, discarded: 0, 'server-paused': 0 },
    endPosition: undefined,
    language: undefined,
    ended: undefined,
  };

  /** What `start` was told, if it was called. */
  get info(): SinkStartInfo | undefined {
    return this.#info;
  }

  /** A copy of the counters. */
  counts(): NullSinkCounts {
    const c = this.#counts;
    return { ...c, samples: { ...c.samples }, gapSamples: { ...c.gapSamples } };
  }

  start(info: SinkStartInfo): void {
    this.#info = info;
    this.#counts.language = info.language;
  }

  write(frame: AudioFrame): void {
    const c = this.#counts;
    c.frames++;
    // Channel c carries the session's role c (SinkStartInfo.roles, in negotiated order).
    const roles = this.#info?.roles ?? [];
    for (let ch = 0; ch < frame.channels; ch++) {
      const role = roles[ch];
      if (role !== undefined) c.samples[role] += frame.samples;
    }
    c.endPosition = frame.position + frame.samples;
  }

  gap(gap: TimelineGap): void {
    this.#counts.gaps++;
    this.#counts.gapSamples[gap.kind] += gap.length;
  }

  languageChanged(language: string): void {
    this.#counts.language = language;
  }

  end(reason: 'close' | 'disconnect' | 'transport-closed'): Promise<void> {
    this.#counts.ended ??= reason;
    return Promise.resolve();
  }
}

/** A factory with the same shape as the WAV sink's, for wiring tests and benchmarks. */
export function createNullSinkFactory(): (ctx: { sessionId: string }) => NullSink {
  return () => new NullSink();
}

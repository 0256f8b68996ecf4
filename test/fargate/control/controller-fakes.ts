/**
 * Fakes shared by the controller tests (conversation-controller.test.ts, genesys-control.test.ts): a
 * recognizer stream that records the frames it is given, and a session control surface that records
 * pause/resume. The store stays real (DynamoDB Local) in those tests.
 */
import type { Role } from '../../../core/audio/roles';
import type { AudioFrame, SessionControl, SessionStats } from '../../../core/audiohook/ports';
import { newSessionCounters } from '../../../core/audiohook/session-stats';
import type { SegmentStreamerOptions } from '../../../fargate/src/transcribe/streamer-config';
import type { StreamerStats } from '../../../fargate/src/transcribe/streamer-stats';

/** Records what a segment's streamer was given; its counters are the samples it received. */
export class FakeStreamer {
  readonly frames: AudioFrame[] = [];
  ended = false;
  /** `end()` resolves only when this settles (a recognizer still sending its last finals). */
  static endGate: Promise<void> | undefined;
  transcripts: Partial<Record<Role, number>> = {};
  constructor(readonly opts: SegmentStreamerOptions) {}
  get state() {
    return this.ended ? 'ended' : 'streaming';
  }
  write(frame: AudioFrame): void {
    if (!this.ended) this.frames.push(frame);
  }
  gap(): void {}
  async end(): Promise<void> {
    this.ended = true;
    await FakeStreamer.endGate;
  }
  get samples(): number {
    return this.frames.reduce((n, f) => n + f.samples, 0);
  }
  stats(): StreamerStats {
    const roles: StreamerStats['roles'] = {};
    for (const role of this.opts.segment.roles) {
      roles[role] = {
        totalAudioBytes: this.samples * 2,
        audioDurationMs: this.samples / 8,
        streamingSeconds: 1,
        transcripts: this.transcripts[role] ?? 0,
      };
    }
    return {
      state: this.state,
      roles,
      streamsOpened: 1,
      throttled: 0,
      transientErrors: 0,
      noAudioTimeouts: 0,
      rotations: 0,
      languageSwitches: 0,
      idleCloses: 0,
      failures: 0,
      droppedAudioMs: 0,
      duplicatesDropped: 0,
      resentAudioMs: 0,
      putFailures: 0,
    };
  }
}

/** The session's control surface as the gateway registry exposes it: records pause/resume. */
export class FakeSession implements SessionControl {
  readonly calls: ('pause' | 'resume')[] = [];
  constructor(readonly sessionId: string) {}
  pause(): void {
    this.calls.push('pause');
  }
  resume(): void {
    this.calls.push('resume');
  }
  sendEvent(): boolean {
    return false;
  }
  disconnect(): void {}
  stats(): SessionStats {
    return { ...newSessionCounters(), position: 0 };
  }
}

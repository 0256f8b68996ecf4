/**
 * Fakes shared by the controller tests (conversation-controller.test.ts, genesys-control.test.ts,
 * flush-before-closed.test.ts): a recognizer stream that records the frames it is given, its counters, a
 * session control surface that records pause/resume, and a controller built on them. The store stays real
 * (DynamoDB Local) in those tests.
 */

import type { StartPolicy } from '../../../core/api/start-stop-rules';
import type { Role } from '../../../core/audio/roles';
import type { AudioFrame, SessionControl, SessionStats } from '../../../core/audiohook/ports';
import { newSessionCounters } from '../../../core/audiohook/session-stats';
import { silentLogger, systemClock, systemTimers } from '../../../core/ports';
import type { ControlInboxPort, ConversationsPort } from '../../../fargate/src/control/controller-ports';
import { ConversationController } from '../../../fargate/src/control/conversation-controller';
import type { SegmentStreamer } from '../../../fargate/src/transcribe/streamer';
import type { SegmentStreamerOptions } from '../../../fargate/src/transcribe/streamer-config';
import type { StreamerStats } from '../../../fargate/src/transcribe/streamer-stats';
import { UtterancesRepository } from '../../../store/utterances';
import type { TestDynamoDb } from '../../helpers/dynamodb';

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
    return streamerStats(this.state, roles);
  }
}

/** Streamer counters as a substitute streamer reports them: one stream opened, nothing else happened. */
export function streamerStats(state: StreamerStats['state'], roles: StreamerStats['roles'] = {}): StreamerStats {
  return {
    state,
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

/** What {@link fakeController} builds a controller on (real store, fake streamers and sessions). */
export interface FakeControllerOptions {
  taskId: string;
  db: TestDynamoDb;
  conversations: ConversationsPort;
  inbox: ControlInboxPort;
  /** Each streamer the controller creates. */
  onStreamer(streamer: FakeStreamer): void;
  /** The live sessions, as the gateway registry exposes them. */
  sessions(): Map<string, FakeSession>;
  genesysPolicy?: StartPolicy;
}

/** A controller on the real store whose segments stream to {@link FakeStreamer}s (Transcribe is never called). */
export function fakeController(o: FakeControllerOptions): ConversationController {
  const c = new ConversationController({
    taskId: o.taskId,
    conversations: o.conversations,
    inbox: o.inbox,
    utterances: new UtterancesRepository(o.db.doc, { tableName: o.db.tables.utterances }),
    transcribe: { send: () => Promise.reject(new Error('the fake streamer never calls Transcribe')) },
    clock: systemClock,
    timers: systemTimers,
    logger: silentLogger,
    ...(o.genesysPolicy !== undefined && { genesysPolicy: o.genesysPolicy }),
    createStreamer: (opts) => {
      const s = new FakeStreamer(opts);
      o.onStreamer(s);
      return s as unknown as SegmentStreamer;
    },
  });
  c.attach({ sessions: o.sessions });
  return c;
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

/**
 * One AudioHook session of this gateway task as the controller sees it, and its sink wiring: the
 * {@link TranscriptionSink} (the session's audio sink), the utterance writer behind it, the Transcription
 * Connector, and the arrival clock the streamer feeds (per chunk).
 */
import type { Role } from '../../../core/audio/roles';
import type { TimelineGap } from '../../../core/audio/timeline';
import type { AudioFrame, AudioSink, ConnectionInfo, SinkStartInfo } from '../../../core/audiohook/ports';
import type { StartParams } from '../../../core/conversation/conversation';
import type { RoleSummary } from '../../../core/conversation/segment';
import type { Logger } from '../../../core/ports';
import type { Utterance } from '../../../core/transcript/utterance';
import { TranscriptionConnector, withTranscriptionConnector } from '../connector/transcription-connector';
import { type SegmentSummary, TranscriptionSink } from '../transcribe/transcription-sink';
import { ArrivalClock } from './arrival-clock';
import type { ControlContext } from './controller-ports';
import { DEFAULT_GENESYS_START_POLICY } from './genesys-control';
import { UtteranceWriter } from './utterance-writer';

/** What the controller knows about one session of this task. */
export interface LocalSession {
  readonly sessionId: string;
  readonly connection: ConnectionInfo;
  readonly sink: TranscriptionSink;
  /** When the session's audio arrived, for the end-of-speech → stored latency. */
  readonly arrivals: ArrivalClock;
  /** Sends this session's final utterances back to Genesys as `event`s when enabled at open. */
  readonly connector: TranscriptionConnector;
  readonly log: Logger;
  conversationId?: string;
  roles: Role[];
  channels?: string[];
  mediaFormat?: string;
  /** `opening`: the open hook runs; pause/resume go into the open decision, not to the client. */
  phase: 'connected' | 'opening' | 'open' | 'ended';
  registered: boolean;
  /** registerSession conflicted (session id closed or held elsewhere): never transcribed. */
  refused: boolean;
  /** The segment this session streams, with the counters already flushed with `addSegmentCounters`. */
  segment?: { number: number; flushed: Partial<Record<Role, RoleSummary>> };
  /** Start params per segment number (sender external ids of late utterances). */
  params: Map<number, StartParams>;
  /** Last pause/resume wish sent to (or decided for) the client. */
  paused: boolean;
  /** Summary of the segment the sink closed because the session ended. */
  endSummary?: SegmentSummary;
  /** The sink's `end()` as called by the session. */
  sinkEnd?: Promise<void>;
  /**
   * The flush and close of the segment stopped last, running outside the conversation chain (a restart
   * after a short hold must not wait for the recognizer's last finals). Settles, never rejects.
   */
  flushing?: Promise<void>;
  flushQueued: boolean;
  openedAt: number;
  /**
   * Set at open for a session of a `genesys`-controlled key: the start parameters it asks for, and whether
   * its start is recorded (the start is retried with the registration until it is).
   */
  genesys?: { params: StartParams; startRequested: boolean };
}

/** A session record with its sink, writer and connector, in phase `connected`. */
export function createLocalSession(ctx: ControlContext, sessionId: string, connection: ConnectionInfo): LocalSession {
  const o = ctx.options;
  const log = ctx.log.child({ sessionId });
  // The writer and the sink call back into the session record only after it exists.
  let ls: LocalSession | undefined;
  const arrivals = new ArrivalClock();
  const writer = new UtteranceWriter({
    repository: o.utterances,
    senderOf: (u: Utterance) => {
      const p = ls?.params.get(u.segment);
      return p ? (u.role === 'customer' ? p.customerId : p.agentId) || undefined : undefined;
    },
    ...(o.utteranceRetry !== undefined && { retry: o.utteranceRetry }),
    stats: ctx.stats,
    timers: o.timers,
    logger: log,
    random: ctx.random,
    // Utterance times are on the AudioHook timeline: 8 samples per ms.
    spokenAt: (u: Utterance) => arrivals.arrivedAt(Math.round(u.endMs * 8)),
    monotonicNow: () => o.clock.monotonic(),
  });
  const connector = new TranscriptionConnector({ sessionId, session: () => ctx.session(sessionId), logger: log });
  const sink = new TranscriptionSink({
    client: o.transcribe,
    logger: log,
    utterances: withTranscriptionConnector(writer, connector),
    onSegmentEnded: (summary) => {
      if (ls) ls.endSummary = summary;
    },
    arrivals,
    clock: o.clock,
    timers: o.timers,
    random: ctx.random,
    // The very list `opened.supportedLanguages` advertises: a language update may switch only to one of them.
    supportedLanguages: o.genesysPolicy?.supportedLanguages ?? DEFAULT_GENESYS_START_POLICY.supportedLanguages,
    ...(o.customization !== undefined && { customization: o.customization }),
    ...(o.streamerConfig !== undefined && { config: o.streamerConfig }),
    ...(o.transcribeMetrics !== undefined && { metrics: o.transcribeMetrics }),
    ...(o.createStreamer !== undefined && { createStreamer: o.createStreamer }),
    ...(o.recordings !== undefined && { recordings: o.recordings }),
    ...(o.partials !== undefined && { partials: o.partials }),
  });
  ls = {
    sessionId,
    connection,
    sink,
    connector,
    log,
    roles: [],
    phase: 'connected',
    registered: false,
    refused: false,
    params: new Map(),
    paused: true,
    flushQueued: false,
    arrivals,
    openedAt: 0,
  };
  return ls;
}

/**
 * The gateway-facing audio sink of a session: its {@link TranscriptionSink}, with the end held behind the
 * previous segment's close. Frames go straight to the sink (arrival times are noted per Transcribe
 * chunk by the streamer, not here per frame).
 */
export function sessionAudioSink(session: LocalSession): AudioSink {
  const sink = session.sink;
  return {
    start: (info: SinkStartInfo) => sink.start(info),
    write: (frame: AudioFrame) => sink.write(frame),
    gap: (gap: TimelineGap) => sink.gap(gap),
    languageChanged: (language: string) => sink.languageChanged(language),
    end: (reason) => {
      // The previous segment's close (not only its flush, which the sink awaits itself) comes first.
      session.sinkEnd = (async () => {
        await session.flushing;
        await sink.end(reason);
      })();
      return session.sinkEnd;
    },
  };
}

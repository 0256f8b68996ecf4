/**
 * The seams between the AudioHook session state machine (core) and everything around it:
 * the transport it writes to, the sink that receives the audio, the hooks through which the
 * transcription layer decides what to do with a session, and the session's own surface
 * ({@link AudioHookSession}, built by `createSession` in session.ts from {@link SessionDeps}).
 * Implementations of the collaborators live outside core/.
 */
import type { MediaFormat } from '../audio/format';
import type { ChannelName, Role } from '../audio/roles';
import type { TimelineGap } from '../audio/timeline';
import type { ApiKeyDefaults, ControlPolicy } from '../auth/api-keys';
import type { Clock, Logger, Timers } from '../ports';
import type {
  ClientMessage,
  CloseReason,
  DisconnectReason,
  EventEntity,
  MediaParameter,
  UnknownClientMessage,
  Uuid,
} from './messages';
import type { SessionState } from './session-tables';

/** Where the session writes. The gateway implements it over a `ws` socket; tests record calls. */
export interface SessionTransport {
  /** Sends one text frame (an already serialized protocol message). */
  sendText(text: string): void;
  /** Closes the WebSocket (code per §4.6: 1000 normal, 1008 policy, 1011 internal). */
  close(code: number, reason: string): void;
}

/** What was learnt at the HTTP upgrade (headers, authenticated key), handed to the session. */
export interface ConnectionInfo {
  sessionId: Uuid;
  organizationId: Uuid;
  correlationId: Uuid;
  /** A non-secret label of the API key that authenticated the upgrade (never the key itself). */
  apiKeyLabel: string;
  /** Organization ids this key may stream for; empty or undefined = any. */
  allowedOrganizationIds?: readonly string[];
  /** Opt-in features of this API key (e.g. the Transcription Connector). */
  features?: { transcriptionConnector?: boolean };
  /** Control policy of this API key (docs/genesys.md, "Two control policies"). @default 'api' */
  control?: ControlPolicy;
  /** Start-parameter defaults of this API key (the `genesys` policy). */
  defaults?: ApiKeyDefaults;
  remoteAddress?: string;
}

/** One decoded audio frame handed to the sink, placed on the session's stream timeline. */
export interface AudioFrame {
  /** Timeline position of the first sample, in 8 kHz samples since the start of the session (§2.4). */
  position: number;
  /** Samples per channel in this frame. */
  samples: number;
  /** Encoding of `data`: the negotiated media format. */
  format: MediaFormat;
  /** Channels interleaved in `data`, in negotiated order ({@link SinkStartInfo.roles} names each one's role). */
  channels: number;
  /**
   * The payload as received: `samples` sample frames, channels interleaved. It is not decoded on the way
   * in: each sink converts it once, straight into its own buffer (`writeL16`). Valid during `write` only:
   * a sink copies what it keeps.
   */
  data: Uint8Array;
}

/** What the sink is told when audio for a session starts flowing. */
export interface SinkStartInfo {
  sessionId: Uuid;
  conversationId: Uuid;
  media: MediaParameter;
  /** Role carried by each negotiated channel, in channel order. */
  roles: Role[];
  /** Channel names in negotiated order (channelId = index). */
  channels: ChannelName[];
  language?: string;
}

/**
 * Receives a session's decoded audio and timeline events. Called synchronously from the session; a
 * sink must not throw (the session catches and logs if it does) and must buffer rather than block.
 */
export interface AudioSink {
  start(info: SinkStartInfo): void;
  write(frame: AudioFrame): void;
  gap(gap: TimelineGap): void;
  /** The language changed mid-session (AudioHook `update`). */
  languageChanged?(language: string): void;
  /** End of audio: flush and release. The session awaits it (bounded) before `closed`. */
  end(reason: 'close' | 'disconnect' | 'transport-closed'): Promise<void>;
}

/** What the open transaction tells the transcription layer. */
export interface OpenInfo {
  sessionId: Uuid;
  organizationId: Uuid;
  conversationId: Uuid;
  participantId: Uuid;
  media: MediaParameter;
  roles: Role[];
  language?: string;
  customConfig?: Record<string, unknown>;
  /** Timeline position at open, in samples (normally 0). */
  position: number;
}

/** The transcription layer's answer to an open. */
export interface OpenDecision {
  /** Start paused: transcription is off for this conversation right now. */
  startPaused: boolean;
  /** Optional: ask the client to skip audio before this timeline position (samples). */
  discardToSamples?: number;
}

/** Per-session statistics, exposed to the next layer and to logs. */
export interface SessionStats {
  /** Raw audio payload bytes received (as sent on the wire). */
  audioBytesReceived: number;
  /** Samples per channel received and accepted (forwarded to the sink). */
  samplesAccepted: number;
  /** Samples per channel received but dropped (wrong state, stragglers after pause or close). */
  samplesDropped: number;
  /** Audio frames received (accepted + dropped). */
  framesReceived: number;
  /** Timeline span reported as paused (client `resumed.discarded`), in samples. */
  pausedSamples: number;
  /** Timeline span reported as discarded (`discarded` messages), in samples. */
  discardedSamples: number;
  /** Current timeline position, in samples. */
  position: number;
  /** Last, minimum and maximum client-reported RTT in ms (from `ping.rtt`), if any. */
  rttMs?: { last: number; min: number; max: number; count: number };
  messagesReceived: number;
  messagesSent: number;
  /** Monotonic ms from `open` received to `opened` sent. */
  openLatencyMs?: number;
}

/**
 * Hooks into the layer that owns transcription. All optional: the protocol-only gateway passes none.
 * Hooks may be async; the session never blocks protocol replies on them beyond its configured budgets.
 */
export interface SessionHooks {
  /** Decide how to open (called only for real calls, never for connection probes). */
  onOpen?(info: OpenInfo): OpenDecision | Promise<OpenDecision>;
  /** The client paused or resumed streaming (client-side pause state). */
  onClientPauseChanged?(paused: boolean): void;
  /** The session ended (socket gone). Called exactly once, after the sink ended. */
  onEnd?(summary: {
    reason: string;
    stats: SessionStats;
    closeReason?: CloseReason;
    disconnect?: DisconnectReason;
  }): void;
}

/** Control surface the session exposes to the layer above (start/stop, Transcription Connector). */
export interface SessionControl {
  readonly sessionId: Uuid;
  /** Ask the client to pause streaming (transcription switched off). Idempotent. */
  pause(): void;
  /** Ask the client to resume streaming (transcription switched on). Idempotent. */
  resume(): void;
  /** Send an `event` (only in active/paused/closing states; dropped with a log otherwise). */
  sendEvent(entities: EventEntity[]): boolean;
  /** Server-initiated end of session. */
  disconnect(reason: DisconnectReason, info?: string): void;
  stats(): SessionStats;
}

/** Behaviour knobs of a session. */
export interface SessionOptions {
  /** Languages advertised in `opened` iff `open.parameters.supportedLanguages === true` (§4.3.1). */
  supportedLanguages: readonly string[];
  /** Answer `update` with `updated` (§4.3.7). @default false - the reference server never sends it */
  sendUpdated?: boolean;
  /**
   * How long `opened` may wait for `hooks.onOpen`. When exceeded, `opened` goes out with
   * `startPaused: true` and the decision is applied (a `resume`) when it arrives. @default 800
   */
  openDecisionBudgetMs?: number;
  /** Longest wait for `sink.end()` (and held events) before `closed` is sent anyway. @default 3000 */
  flushBudgetMs?: number;
  /** Close the socket ourselves when the client has not done so this long after `closed`. @default 10000 */
  closeSocketAfterClosedMs?: number;
  /** After our `disconnect`, close the socket when no `close` arrives within this time. @default 10000 */
  disconnectCloseTimeoutMs?: number;
  /**
   * A connection that has sent no valid `open` this long after the upgrade gets `disconnect{error}` (and is
   * closed per `disconnectCloseTimeoutMs`): it would otherwise hold a session slot forever. @default 5000
   */
  openTimeoutMs?: number;
  /** Told each time the open deadline ends a session (a gateway counter). @default - nothing */
  onOpenTimeout?: () => void;
}

/** Everything a session needs; all collaborators are injected (no globals, no wall clock). */
export interface SessionDeps {
  connection: ConnectionInfo;
  transport: SessionTransport;
  sink: AudioSink;
  hooks?: SessionHooks;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  options: SessionOptions;
}

/** One AudioHook session, driven by the transport adapter and controlled by the transcription layer. */
export interface AudioHookSession extends SessionControl {
  readonly state: SessionState;
  /** From `open`; `undefined` before it. */
  readonly conversationId: string | undefined;
  /** True once an `open` identified a connection probe (§6.2 item 1). */
  readonly isProbe: boolean;
  /** One text message, already validated by the edge decoder. Replies (e.g. `pong`) are sent synchronously. */
  handleMessage(msg: ClientMessage | UnknownClientMessage): void;
  /** A text or binary frame the edge could not accept (malformed JSON, schema failure, too large). */
  handleInvalid(reason: string): void;
  /** One binary (audio) frame. */
  handleAudio(data: Uint8Array): void;
  /** The socket is gone (any state): ends the sink and calls `hooks.onEnd` once. */
  handleTransportClosed(code: number, reason: string): void;
}

/**
 * The seams between the AudioHook session state machine (core) and everything around it:
 * the transport it writes to, the sink that receives decoded audio, and the hooks through which the
 * transcription layer decides what to do with a session. Implementations live outside core/.
 */
import type { Role } from '../audio/roles';
import type { ChannelName, CloseReason, DisconnectReason, EventEntity, MediaParameter, Uuid } from './messages';

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
  remoteAddress?: string;
}

/** One decoded audio frame handed to the sink, placed on the session's stream timeline. */
export interface AudioFrame {
  /** Timeline position of the first sample, in 8 kHz samples since the start of the session (§2.4). */
  position: number;
  /** Samples per channel in this frame. */
  samples: number;
  /** 16-bit linear PCM per role (only the roles that the negotiated media carries). */
  pcm: Partial<Record<Role, Int16Array>>;
}

/** A span of the timeline with no audio (client pause or discard), in samples. */
export interface TimelineGap {
  kind: 'paused' | 'discarded' | 'server-paused';
  /** Timeline position where the gap starts. */
  start: number;
  /** Length of the gap in samples. */
  length: number;
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

/**
 * AudioHook protocol v2 wire shapes (see docs/audiohook-protocol.md §2–§3, Appendix A).
 * Hand-written: these are the protocol's own types; no library defines them.
 * Validation of untrusted input happens at the edge (fargate/src/audiohook/schema.ts, zod), which
 * produces these types; the session state machine in this folder only ever sees validated messages.
 * The audio facts they carry (sample rate, encodings, channel names) are declared in core/audio.
 */
import type { MediaFormat } from '../audio/format';
import type { ChannelName } from '../audio/roles';

export type Uuid = string;
/** Seconds-only ISO-8601 duration as emitted on the wire, e.g. `PT1.25S`. */
export type Duration = string;

export const PROTOCOL_VERSION = '2';
export const NIL_UUID = '00000000-0000-0000-0000-000000000000';
/** Largest text message either side may send (characters), §2.1 / §6.1. */
export const MAX_TEXT_MESSAGE_CHARS = 65_535;
/** Largest WebSocket payload the reference server accepts (bytes), §6.1. */
export const MAX_FRAME_BYTES = 65_536;

export interface MediaParameter {
  type: 'audio';
  format: MediaFormat;
  channels: ChannelName[];
  rate: 8000;
}

export interface Participant {
  id: Uuid;
  ani: string;
  aniName: string;
  dnis: string;
}

export interface ContinuedSession {
  id: Uuid;
  serverseq: number;
  clientseq: number;
}

export interface OpenParameters {
  organizationId: Uuid;
  conversationId: Uuid;
  participant: Participant;
  media: MediaParameter[];
  language?: string;
  supportedLanguages?: boolean;
  customConfig?: Record<string, unknown>;
  continuedSessions?: ContinuedSession[];
}

export type CloseReason = 'end' | 'error' | 'disconnect' | 'reconnect';
export type DisconnectReason = 'completed' | 'unauthorized' | 'error';

interface ClientEnvelope<T extends string, P> {
  version: '2';
  id: Uuid;
  type: T;
  seq: number;
  serverseq: number;
  position: Duration;
  parameters: P;
}

export type OpenMessage = ClientEnvelope<'open', OpenParameters>;
export type PingMessage = ClientEnvelope<'ping', { rtt?: Duration }>;
export type CloseMessage = ClientEnvelope<'close', { reason: CloseReason }>;
export type PausedMessage = ClientEnvelope<'paused', Record<string, never>>;
export type ResumedMessage = ClientEnvelope<'resumed', { start: Duration; discarded: Duration }>;
export type DiscardedMessage = ClientEnvelope<'discarded', { start: Duration; discarded: Duration }>;
export type UpdateMessage = ClientEnvelope<'update', { language: string }>;
export type ClientErrorMessage = ClientEnvelope<'error', { code: number; message: string; retryAfter?: Duration }>;

/** Every client→server message this server understands. */
export type ClientMessage =
  | OpenMessage
  | PingMessage
  | CloseMessage
  | PausedMessage
  | ResumedMessage
  | DiscardedMessage
  | UpdateMessage
  | ClientErrorMessage;

export type ClientMessageType = ClientMessage['type'];

/**
 * A syntactically valid envelope whose `type` this server does not know (forward compatibility, §4.5:
 * logged and ignored, but its `seq` still counts).
 */
export type UnknownClientMessage = ClientEnvelope<string, Record<string, unknown>> & { unknownType: true };

export interface EventEntity {
  type: string;
  data: unknown;
}

export interface OpenedParameters {
  media: MediaParameter[];
  startPaused?: boolean;
  discardTo?: Duration;
  supportedLanguages?: string[];
}

interface ServerEnvelope<T extends string, P> {
  version: '2';
  id: Uuid;
  type: T;
  seq: number;
  clientseq: number;
  parameters: P;
}

export type ServerMessage =
  | ServerEnvelope<'opened', OpenedParameters>
  | ServerEnvelope<'pong' | 'closed' | 'pause' | 'resume' | 'updated', Record<string, never>>
  | ServerEnvelope<'disconnect', { reason: DisconnectReason; info?: string }>
  | ServerEnvelope<'reconnect', { info?: string }>
  | ServerEnvelope<'event', { entities: EventEntity[] }>;

export type ServerMessageType = ServerMessage['type'];

/** Transcript entity data sent in `event` messages (Transcription Connector, §5.3). */
export interface TranscriptEntityData {
  id: Uuid;
  channelId: 0 | 1;
  isFinal: boolean;
  offset?: Duration;
  duration?: Duration;
  alternatives: Array<{
    confidence: number;
    languages?: string[];
    interpretations: Array<{
      type: 'display';
      transcript: string;
      tokens?: Array<{
        type: 'word';
        value: string;
        confidence: number;
        offset: Duration;
        duration: Duration;
        language?: string;
      }>;
    }>;
  }>;
}

/** True for a connection probe (§6.2): nil conversation and participant ids. */
export function isConnectionProbe(p: Pick<OpenParameters, 'conversationId' | 'participant'>): boolean {
  return p.conversationId === NIL_UUID && p.participant.id === NIL_UUID;
}

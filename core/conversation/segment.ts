/**
 * A transcription segment (one start → stop) and its per-role counters: the one declaration of the stop
 * summary that the store, the gateway and the API bodies share.
 */
import type { Role } from '../audio/roles';
import type { StartParams, StreamIds } from './conversation';

/**
 * Lifecycle of a segment: `pending` (start recorded, no gateway streaming yet) → `active` (a gateway
 * opened the recognizer stream) → `closing` (stop requested, gateway finishing) → `closed`.
 * A stop of a `pending` segment closes it at once (nothing was streamed).
 */
export type SegmentState = 'pending' | 'active' | 'closing' | 'closed';

/** The stop-streaming `summary` of one participant (api-contract.md §1.2): per-role counters of a segment. */
export interface RoleSummary {
  /** 16-bit PCM bytes (samples × 2) after µ-law decode. */
  totalAudioBytes: number;
  audioDurationMs: number;
  /** Wall time a Transcribe stream was open for this segment, seconds (rounded). */
  streamingSeconds: number;
  /** Final utterances stored. */
  transcripts: number;
}

/** The counters of {@link RoleSummary}, as names. */
export const SUMMARY_FIELDS: readonly (keyof RoleSummary)[] = [
  'totalAudioBytes',
  'audioDurationMs',
  'streamingSeconds',
  'transcripts',
];

/** A summary of a segment nothing was streamed in. */
export const ZERO_SUMMARY: Readonly<RoleSummary> = Object.freeze({
  totalAudioBytes: 0,
  audioDurationMs: 0,
  streamingSeconds: 0,
  transcripts: 0,
});

/** Why a segment was closed by someone other than its holder (see `decideHolderLost`). */
export type SegmentCloseReason = 'holder-lost';

/** One transcription segment (start → stop). */
export interface SegmentRecord {
  conversationId: string;
  segment: number;
  state: SegmentState;
  streamIds: StreamIds;
  params: StartParams;
  /** When the start was accepted. */
  startedAt: string;
  /** When a gateway opened it. */
  openedAt?: string;
  stopRequestedAt?: string;
  endedAt?: string;
  /**
   * Last sign of life of the gateway task streaming it (counter flush or heartbeat, every few seconds
   * while it streams): a stop uses it to tell a slow holder from a dead one.
   */
  heartbeatAt?: string;
  closeReason?: SegmentCloseReason;
  /** Gateway task and AudioHook session that stream it, once opened. */
  taskId?: string;
  sessionId?: string;
  summary: Record<Role, RoleSummary>;
  /** Expiry, epoch seconds. */
  ttl: number;
}

/** Who streams a segment: a gateway task and one of its AudioHook sessions. */
export interface SegmentHolder {
  taskId: string;
  sessionId: string;
}

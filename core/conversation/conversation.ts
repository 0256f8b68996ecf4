/**
 * The conversation as the domain sees it: the desired transcription state set by start/stop, its
 * version, the start parameters of the current segment and its per-role stream ids. The store maps it to
 * and from the Conversations table's META item (docs/data-model.md); everything else imports it from here.
 */
import type { Role } from '../audio/roles';
import type { RedactionOutput } from '../transcript/utterance';

/** The two roles, in the order summaries are reported (api-contract.md §1.2). */
export const ROLES: readonly Role[] = ['customer', 'agent'];

/** Desired transcription state as last requested through start/stop. */
export type DesiredState = 'on' | 'off';

/**
 * Control status of a conversation: `idle` (a session is known, never started), `waiting-for-audio`
 * (started; no gateway has begun transcribing the segment yet), `transcribing` (a gateway opened the
 * segment), `stopped`.
 */
export type ConversationStatus = 'idle' | 'waiting-for-audio' | 'transcribing' | 'stopped';

/** The start-streaming parameters of a segment (api-contract.md §1.1), with every default applied. */
export interface StartParams {
  /** Canonical spelling from the policy, whatever case the caller used (api-contract.md §7 A20). */
  language: string;
  redactionOutput: RedactionOutput;
  detailedToken: boolean;
  audioRecordingAllowed: boolean;
  customerId: string;
  agentId: string;
  /**
   * [EXT] The segment follows the AudioHook session's language updates (docs/genesys.md, "Language
   * updates"): always for `genesys`-controlled starts, on request for API starts. Stored only when true;
   * absent (as in items written before it existed) means false: the start language stays.
   */
  followLanguageUpdates?: boolean;
}

/** Per-role stream ids handed out by start-streaming. */
export type StreamIds = Record<Role, string>;

/** A conversation's control state (the META item). */
export interface ConversationMeta {
  conversationId: string;
  desired: DesiredState;
  /** +1 per accepted start or stop; 0 when only a session registration created the item. */
  desiredVersion: number;
  status: ConversationStatus;
  /** Params of the current (or last) segment. */
  params?: StartParams;
  /** Number of the current (or last) segment; absent until the first start. */
  currentSegment?: number;
  streamIds?: StreamIds;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  stoppedAt?: string;
  /** Expiry, epoch seconds. */
  ttl: number;
}

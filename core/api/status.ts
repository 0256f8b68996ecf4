/**
 * The conversation status view ([EXT] `GET /mg-autotranscribe/v1/conversations/{guid}/status`): what an
 * operator or an integration needs to see whether a start was honoured — the desired state and its
 * version, every segment with its summary, every AudioHook session with a coarse health, and the
 * `waiting-for-audio` state of a start that arrived before the call's audio (api-contract.md §6).
 *
 * Inputs are structural copies of the store's records, so this stays a pure function of data.
 */
import type { Role } from '../audio/roles';
import { type RoleSummary, toSummary } from './responses';

/** Control status as the store keeps it. */
export type ConversationState = 'idle' | 'waiting-for-audio' | 'transcribing' | 'stopped';

/** What the status view reads from the conversation's META item. */
export interface StatusMetaInput {
  desired: 'on' | 'off';
  desiredVersion: number;
  status: ConversationState;
  params?: {
    language: string;
    redactionOutput: string;
    detailedToken: boolean;
    audioRecordingAllowed: boolean;
    customerId: string;
    agentId: string;
  };
  currentSegment?: number;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  stoppedAt?: string;
}

/** What the status view reads from one segment item. */
export interface StatusSegmentInput {
  segment: number;
  state: 'pending' | 'active' | 'closing' | 'closed';
  streamIds: Record<Role, string>;
  startedAt: string;
  openedAt?: string;
  stopRequestedAt?: string;
  endedAt?: string;
  /** Last sign of life of the holder task (see store/conversations.ts `heartbeatSegment`). */
  heartbeatAt?: string;
  closeReason?: 'holder-lost';
  sessionId?: string;
  summary: Partial<Record<Role, Partial<Record<keyof RoleSummary, unknown>>>>;
}

/** What the status view reads from one session item. */
export interface StatusSessionInput {
  sessionId: string;
  taskId: string;
  state: 'open' | 'closed';
  openedAt: string;
  closedAt?: string;
  closeReason?: string;
  channels?: string[];
  mediaFormat?: string;
}

/**
 * Coarse health of a session: `streaming` (open and carrying the running segment), `connected` (open,
 * audio paused or transcription off), `closed`.
 */
export type SessionHealth = 'streaming' | 'connected' | 'closed';

/** The status route's 200 body. */
export interface ConversationStatusView {
  conversationId: string;
  state: ConversationState;
  desired: 'on' | 'off';
  desiredVersion: number;
  params?: StatusMetaInput['params'];
  currentSegment?: number;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  stoppedAt?: string;
  segments: {
    segment: number;
    state: StatusSegmentInput['state'];
    startedAt: string;
    openedAt?: string;
    stopRequestedAt?: string;
    endedAt?: string;
    heartbeatAt?: string;
    closeReason?: 'holder-lost';
    sessionId?: string;
    customer: { streamId: string; summary: RoleSummary };
    agent: { streamId: string; summary: RoleSummary };
  }[];
  sessions: {
    sessionId: string;
    taskId: string;
    state: 'open' | 'closed';
    health: SessionHealth;
    openedAt: string;
    closedAt?: string;
    closeReason?: string;
    channels?: string[];
    mediaFormat?: string;
  }[];
}

function defined<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Builds the status view. Segments oldest first; sessions by opening time. */
export function conversationStatusView(
  conversationId: string,
  meta: StatusMetaInput,
  segments: readonly StatusSegmentInput[],
  sessions: readonly StatusSessionInput[],
): ConversationStatusView {
  const running = segments.find(
    (s) => s.segment === meta.currentSegment && (s.state === 'active' || s.state === 'closing'),
  );
  const health = (s: StatusSessionInput): SessionHealth => {
    if (s.state === 'closed') return 'closed';
    return running?.sessionId === s.sessionId ? 'streaming' : 'connected';
  };
  return defined({
    conversationId,
    state: meta.status,
    desired: meta.desired,
    desiredVersion: meta.desiredVersion,
    params: meta.params,
    currentSegment: meta.currentSegment,
    createdAt: meta.createdAt,
    updatedAt: meta.updatedAt,
    startedAt: meta.startedAt,
    stoppedAt: meta.stoppedAt,
    segments: [...segments]
      .sort((a, b) => a.segment - b.segment)
      .map((s) =>
        defined({
          segment: s.segment,
          state: s.state,
          startedAt: s.startedAt,
          openedAt: s.openedAt,
          stopRequestedAt: s.stopRequestedAt,
          endedAt: s.endedAt,
          heartbeatAt: s.heartbeatAt,
          closeReason: s.closeReason,
          sessionId: s.sessionId,
          customer: { streamId: s.streamIds.customer, summary: toSummary(s.summary.customer) },
          agent: { streamId: s.streamIds.agent, summary: toSummary(s.summary.agent) },
        }),
      ),
    sessions: [...sessions]
      .sort((a, b) => a.openedAt.localeCompare(b.openedAt) || a.sessionId.localeCompare(b.sessionId))
      .map((s) =>
        defined({
          sessionId: s.sessionId,
          taskId: s.taskId,
          state: s.state,
          health: health(s),
          openedAt: s.openedAt,
          closedAt: s.closedAt,
          closeReason: s.closeReason,
          channels: s.channels,
          mediaFormat: s.mediaFormat,
        }),
      ),
  });
}

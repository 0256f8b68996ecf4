/**
 * The conversation status view ([EXT] `GET /mg-autotranscribe/v1/conversations/{guid}/status`): what an
 * operator or an integration needs to see whether a start was honoured — the desired state and its
 * version, every segment with its summary, every AudioHook session with a coarse health, and the
 * `waiting-for-audio` state of a start that arrived before the call's audio (api-contract.md §6).
 *
 * Inputs are the domain's records (core/conversation), narrowed to what the view reads, so this stays a
 * pure function of data.
 */
import type { Role } from '../audio/roles';
import type { ControlPolicy } from '../auth/api-keys';
import type { ConversationMeta, ConversationStatus } from '../conversation/conversation';
import type { RoleSummary, SegmentRecord } from '../conversation/segment';
import type { SessionRecord } from '../conversation/session';
import { toSummary } from './responses';

/**
 * What the status view reads from the conversation. `control` is META's `control` attribute, written
 * (`genesys`) when a session of a `genesys`-controlled API key registers; absent means `api`.
 */
export type StatusMetaInput = { control?: ControlPolicy } & Pick<
  ConversationMeta,
  | 'desired'
  | 'desiredVersion'
  | 'status'
  | 'params'
  | 'currentSegment'
  | 'createdAt'
  | 'updatedAt'
  | 'startedAt'
  | 'stoppedAt'
>;

/**
 * What the status view reads from one segment. The summary may be partial (an item written before a
 * counter existed); the view reads what is missing as 0.
 */
export type StatusSegmentInput = Pick<
  SegmentRecord,
  | 'segment'
  | 'state'
  | 'streamIds'
  | 'startedAt'
  | 'openedAt'
  | 'stopRequestedAt'
  | 'endedAt'
  | 'heartbeatAt'
  | 'closeReason'
  | 'sessionId'
> & { summary: Partial<Record<Role, Partial<RoleSummary>>> };

/** What the status view reads from one session. */
export type StatusSessionInput = Pick<
  SessionRecord,
  'sessionId' | 'taskId' | 'state' | 'openedAt' | 'closedAt' | 'closeReason' | 'channels' | 'mediaFormat'
>;

/**
 * Coarse health of a session: `streaming` (open and carrying the running segment), `connected` (open,
 * audio paused or transcription off), `closed`.
 */
export type SessionHealth = 'streaming' | 'connected' | 'closed';

/** The status route's 200 body. */
export interface ConversationStatusView {
  conversationId: string;
  state: ConversationStatus;
  desired: 'on' | 'off';
  desiredVersion: number;
  /** [EXT] Who controls transcription: `genesys` once a session of a `genesys`-controlled key opened, else `api`. */
  control: ControlPolicy;
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
    control: (meta.control === 'genesys' ? 'genesys' : 'api') as ControlPolicy,
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

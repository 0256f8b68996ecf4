/**
 * Stored utterance → ASAPP `Message` (api-contract.md §2.1), as a pure function.
 *
 * - `messageId`: the ULID stored with the utterance (time part = when it was stored), stable across reads.
 * - `createdTimestamp`: when the final transcript was persisted.
 * - `clientTimestamp`: when the words were spoken, as wall-clock time. Utterance offsets are positions
 *   on the AudioHook stream timeline, which starts at `PT0S` when the session opens and keeps running
 *   through pauses (audiohook-protocol.md §2.4); so the wall time is the opening time of the session that
 *   carried the utterance's segment plus `startMs`. This is the contract's REC mapping ("segment start
 *   time + start ms") applied to our timeline, whose origin is the session's start rather than each
 *   segment's (our offsets do not restart at 0 per segment). Without a known session it falls back to
 *   `createdTimestamp`, never to an invented time.
 * - `sender.externalId`: the id stored with the utterance, else the segment's customerId/agentId, else
 *   `null` (the field is nullable in the contract).
 */
import type { Role } from '../audio/roles';
import type { RecordedUtterance } from '../transcript/utterance';

/** The contract's Message. */
export interface AsappMessage {
  text: string;
  sender: { role: Role; externalId: string | null };
  messageId: string;
  createdTimestamp: string;
  clientTimestamp: string;
}

/** What the mapping reads from a stored utterance. */
export type MessageSource = Pick<
  RecordedUtterance,
  'messageId' | 'role' | 'text' | 'startMs' | 'segment' | 'createdAt' | 'senderExternalId'
>;

/** What the mapping knows about the segment an utterance belongs to. */
export interface SegmentContext {
  /** Wall-clock epoch ms of the stream timeline's origin (the carrying session's open). */
  timelineOriginMs?: number;
  customerId?: string;
  agentId?: string;
}

/** Maps one stored utterance. `segment` is the context of its segment, when known. */
export function toAsappMessage(u: MessageSource, segment: SegmentContext | undefined): AsappMessage {
  const createdMs = Date.parse(u.createdAt);
  const createdTimestamp = Number.isFinite(createdMs) ? new Date(createdMs).toISOString() : u.createdAt;
  const origin = segment?.timelineOriginMs;
  const clientTimestamp =
    origin !== undefined && Number.isFinite(origin) ? new Date(origin + u.startMs).toISOString() : createdTimestamp;
  const fallbackId = u.role === 'customer' ? segment?.customerId : segment?.agentId;
  return {
    text: u.text,
    sender: { role: u.role, externalId: u.senderExternalId ?? fallbackId ?? null },
    messageId: u.messageId,
    createdTimestamp,
    clientTimestamp,
  };
}

/** What {@link segmentContexts} reads from segments and sessions. */
export interface SegmentTimelineInput {
  segments: readonly {
    segment: number;
    sessionId?: string;
    params?: { customerId?: string; agentId?: string };
  }[];
  sessions: readonly { sessionId: string; openedAt: string }[];
}

/**
 * Context per segment number: the timeline origin of the session that streamed it, and its participant
 * ids. A segment never opened by a gateway has no session and so no origin.
 */
export function segmentContexts(input: SegmentTimelineInput): Map<number, SegmentContext> {
  const openedAt = new Map(input.sessions.map((s) => [s.sessionId, Date.parse(s.openedAt)]));
  const contexts = new Map<number, SegmentContext>();
  for (const s of input.segments) {
    const origin = s.sessionId === undefined ? undefined : openedAt.get(s.sessionId);
    contexts.set(s.segment, {
      ...(origin !== undefined && Number.isFinite(origin) && { timelineOriginMs: origin }),
      ...(s.params?.customerId !== undefined && { customerId: s.params.customerId }),
      ...(s.params?.agentId !== undefined && { agentId: s.params.agentId }),
    });
  }
  return contexts;
}

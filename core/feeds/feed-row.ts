/**
 * One row of the `utterances` feed, v1 (docs/feeds.md; our own schema, api-contract.md §4.1 [REC] and A13),
 * built from a stored utterance exactly as the export index returns it. Pure: the same utterance always
 * maps to the same line, so a re-run writes byte-identical files.
 */
import { dayOf, hourOf } from './partitions';

/** The stored-utterance fields the feed reads (a structural subset of the Utterances table item). */
export interface FeedSourceUtterance {
  conversationId: string;
  segment: number;
  streamId: string;
  role: string;
  utteranceId: string;
  messageId?: string;
  senderExternalId?: string;
  startMs: number;
  endMs: number;
  /** Redacted when redaction was requested (the feed never carries `unredactedText`). */
  text: string;
  confidence?: number;
  language: string;
  /** ISO-8601 UTC, milliseconds, `Z` (as stored). */
  createdAt: string;
}

/** A row of the utterances feed v1. Column order is the order of this interface (and of the Glue table). */
export interface UtteranceFeedRow {
  instance_ts: string;
  conversation_id: string;
  external_conversation_id: string;
  stream_id: string;
  segment: number;
  sender_role: string;
  sender_id: string | null;
  agent_id: string | null;
  utterance: string;
  utterance_start_ms: number;
  utterance_end_ms: number;
  created_ts: string;
  event_uuid: string;
  message_id: string | null;
  language: string;
  confidence: number | null;
  company_marker: string | null;
  dt: string;
  hr: string;
}

/** Column names of {@link UtteranceFeedRow}, in file order. */
export const UTTERANCE_FEED_COLUMNS: readonly (keyof UtteranceFeedRow)[] = [
  'instance_ts',
  'conversation_id',
  'external_conversation_id',
  'stream_id',
  'segment',
  'sender_role',
  'sender_id',
  'agent_id',
  'utterance',
  'utterance_start_ms',
  'utterance_end_ms',
  'created_ts',
  'event_uuid',
  'message_id',
  'language',
  'confidence',
  'company_marker',
  'dt',
  'hr',
];

/** Options of {@link toFeedRow}. */
export interface FeedRowOptions {
  /** The deployment's tenant marker (`company_marker`). @default null */
  companyMarker?: string;
}

/**
 * Maps a stored utterance to its feed row. The row's `dt`/`hr` are the UTC day and hour of `createdAt`:
 * the partition the row is written to (a conversation crossing midnight is split across two days).
 */
export function toFeedRow(u: FeedSourceUtterance, options: FeedRowOptions = {}): UtteranceFeedRow {
  const dt = dayOf(u.createdAt);
  const hr = hourOf(u.createdAt);
  const senderId = u.senderExternalId === undefined || u.senderExternalId === '' ? null : u.senderExternalId;
  return {
    instance_ts: `${dt}T${hr}:00:00.000Z`,
    conversation_id: u.conversationId,
    external_conversation_id: u.conversationId,
    stream_id: u.streamId,
    segment: u.segment,
    sender_role: u.role,
    sender_id: senderId,
    // The utterance item carries only its own sender; agentId of a customer turn lives on the segment.
    agent_id: u.role === 'agent' ? senderId : null,
    utterance: u.text,
    utterance_start_ms: u.startMs,
    utterance_end_ms: u.endMs,
    created_ts: u.createdAt,
    event_uuid: u.utteranceId,
    message_id: u.messageId ?? null,
    language: u.language,
    confidence: u.confidence ?? null,
    company_marker: options.companyMarker === undefined || options.companyMarker === '' ? null : options.companyMarker,
    dt,
    hr,
  };
}

/** One JSON Lines line (with its `\n`). Keys in column order; strict JSON (A21). */
export function feedLine(row: UtteranceFeedRow): string {
  return `${JSON.stringify(row)}\n`;
}

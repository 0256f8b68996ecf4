/**
 * A stored utterance (the Utterances table stream's NEW_IMAGE, unmarshalled) → the ASAPP-compatible
 * `transcript` message the webhook receives (api-contract.md §3.3), as pure functions.
 *
 * - `start` / `end`: the utterance's offsets in ms on the conversation's stream timeline (A5).
 * - `utterance`: exactly one element, the single most probable text (redacted when redaction is on).
 * - detailed tokens (A14): `utterance[0].tokens[]` = `{content, start, end, punctuationAfter?,
 *   punctuationBefore?}`; a punctuation token is folded into the word before it (`punctuationAfter`), or
 *   into the next word (`punctuationBefore`) when it opens the utterance. No "word type" field.
 * - `redacted_and_unredacted` (A16): `utterance[0].text` stays redacted and the plain text travels in the
 *   additive `autotranscribeResponse.unredactedUtterance: [{text}]`.
 * - `sender.externalId`: the stored customerId/agentId, `null` when none was recorded (as the messages
 *   API does).
 */
import type { Role } from '../audio/roles';
import type { RecordedUtterance, UtteranceToken } from '../transcript/utterance';
import { DeliveryError } from './errors';

/** What the fan-out reads from a NEW_IMAGE of the Utterances table: the recorded utterance's delivery fields. */
export type DeliverableUtterance = Pick<
  RecordedUtterance,
  'conversationId' | 'sk' | 'utteranceId' | 'streamId' | 'role' | 'startMs' | 'endMs' | 'text' | 'createdAt'
> &
  Partial<Pick<RecordedUtterance, 'messageId' | 'senderExternalId' | 'unredactedText' | 'tokens'>>;

/** One detailed token on the wire (A14). */
export interface TranscriptToken {
  content: string;
  start: number;
  end: number;
  punctuationAfter?: string;
  punctuationBefore?: string;
}

/** The webhook body (api-contract.md §3.3). */
export interface TranscriptMessage {
  type: 'transcript';
  externalConversationId: string;
  streamId: string;
  sender: { externalId: string | null; role: Role };
  autotranscribeResponse: {
    message: 'transcript';
    start: number;
    end: number;
    utterance: [{ text: string; tokens?: TranscriptToken[] }];
    /** [EXT] only for `redacted_and_unredacted`. */
    unredactedUtterance?: [{ text: string }];
  };
}

/**
 * What a WebSocket subscriber receives: the webhook body plus the ids a client needs to de-duplicate and
 * to line it up with the messages API (our own API, so additive fields are free).
 */
export interface SubscriberTranscriptMessage extends TranscriptMessage {
  utteranceId: string;
  messageId?: string;
  createdTimestamp: string;
}

function fail(field: string, why: string): never {
  throw new DeliveryError('DELIVERY_INVALID_RECORD', `utterance record: ${field} ${why}`);
}

function str(image: Record<string, unknown>, field: string): string {
  const v = image[field];
  if (typeof v !== 'string' || v.length === 0) fail(field, 'must be a non-empty string');
  return v as string;
}

function optStr(image: Record<string, unknown>, field: string): string | undefined {
  const v = image[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail(field, 'must be a string');
  return v as string;
}

function int(image: Record<string, unknown>, field: string): number {
  const v = image[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) fail(field, 'must be a non-negative integer');
  return v as number;
}

function tokensOf(raw: unknown): UtteranceToken[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) fail('tokens', 'must be a list');
  return (raw as unknown[]).map((t, i) => {
    const o = (typeof t === 'object' && t !== null ? t : fail(`tokens[${i}]`, 'must be an object')) as Record<
      string,
      unknown
    >;
    const type = o.type === 'punctuation' ? 'punctuation' : 'word';
    return { content: str(o, 'content'), startMs: int(o, 'startMs'), endMs: int(o, 'endMs'), type };
  });
}

/**
 * Validates an unmarshalled NEW_IMAGE and keeps what delivery needs. Throws a {@link DeliveryError}
 * (`DELIVERY_INVALID_RECORD`) naming the first bad field; never echoes the text.
 */
export function parseUtteranceImage(image: Record<string, unknown> | undefined): DeliverableUtterance {
  if (image === undefined || typeof image !== 'object' || image === null) fail('NewImage', 'is missing');
  const img = image as Record<string, unknown>;
  const role = img.role;
  if (role !== 'customer' && role !== 'agent') fail('role', 'must be customer or agent');
  const startMs = int(img, 'startMs');
  const endMs = int(img, 'endMs');
  if (endMs < startMs) fail('endMs', 'must not precede startMs');
  const createdAt = str(img, 'createdAt');
  if (!Number.isFinite(Date.parse(createdAt))) fail('createdAt', 'must be an ISO-8601 time');
  const tokens = tokensOf(img.tokens);
  const messageId = optStr(img, 'messageId');
  const senderExternalId = optStr(img, 'senderExternalId');
  const unredactedText = optStr(img, 'unredactedText');
  return {
    conversationId: str(img, 'conversationId'),
    sk: str(img, 'sk'),
    utteranceId: str(img, 'utteranceId'),
    streamId: str(img, 'streamId'),
    role: role as Role,
    startMs,
    endMs,
    text: str(img, 'text'),
    createdAt,
    ...(messageId !== undefined && { messageId }),
    ...(senderExternalId !== undefined && { senderExternalId }),
    ...(unredactedText !== undefined && { unredactedText }),
    ...(tokens !== undefined && { tokens }),
  };
}

/** Folds punctuation tokens into their neighbouring words (A14). */
export function wireTokens(tokens: readonly UtteranceToken[]): TranscriptToken[] {
  const out: TranscriptToken[] = [];
  let pendingBefore = '';
  for (const t of tokens) {
    if (t.type === 'punctuation') {
      const last = out[out.length - 1];
      if (last) last.punctuationAfter = (last.punctuationAfter ?? '') + t.content;
      else pendingBefore += t.content;
      continue;
    }
    const token: TranscriptToken = { content: t.content, start: t.startMs, end: t.endMs };
    if (pendingBefore !== '') {
      token.punctuationBefore = pendingBefore;
      pendingBefore = '';
    }
    out.push(token);
  }
  return out;
}

/** The webhook body of one utterance. */
export function toTranscriptMessage(u: DeliverableUtterance): TranscriptMessage {
  const first: { text: string; tokens?: TranscriptToken[] } = { text: u.text };
  if (u.tokens !== undefined) first.tokens = wireTokens(u.tokens);
  return {
    type: 'transcript',
    externalConversationId: u.conversationId,
    streamId: u.streamId,
    sender: { externalId: u.senderExternalId ?? null, role: u.role },
    autotranscribeResponse: {
      message: 'transcript',
      start: u.startMs,
      end: u.endMs,
      utterance: [first],
      ...(u.unredactedText !== undefined && {
        unredactedUtterance: [{ text: u.unredactedText }] as [{ text: string }],
      }),
    },
  };
}

/** The WebSocket frame of one utterance. */
export function toSubscriberMessage(u: DeliverableUtterance): SubscriberTranscriptMessage {
  return {
    ...toTranscriptMessage(u),
    utteranceId: u.utteranceId,
    ...(u.messageId !== undefined && { messageId: u.messageId }),
    createdTimestamp: new Date(Date.parse(u.createdAt)).toISOString(),
  };
}

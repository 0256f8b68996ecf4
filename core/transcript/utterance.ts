/**
 * The domain's transcript shapes: a final {@link Utterance} (and the {@link RecordedUtterance} it becomes
 * once stored) with its tokens and {@link Role}, the one declaration the store and delivery share; the optional live
 * {@link PartialUtterance}, the ports through which the transcription adapter hands them on, and the
 * deterministic utterance key that makes every write idempotent (architecture.md §1.4, §3).
 */
import { createHash } from 'node:crypto';
import type { Role } from '../audio/roles';

/** api-contract.md §1.1 `autotranscribeParams.redactionOutput`. */
export type RedactionOutput = 'redacted' | 'unredacted' | 'redacted_and_unredacted';

/** The start parameters that shape what an utterance carries (api-contract.md §1.1). */
export interface TranscriptionParams {
  /** IETF language tag sent to the recognizer, e.g. `en-US`. */
  readonly language: string;
  readonly redactionOutput: RedactionOutput;
  /** Word-level tokens with times and confidences. */
  readonly detailedToken: boolean;
}

/** One word or punctuation mark of an utterance, placed on the conversation timeline. */
export interface UtteranceToken {
  /** The token as it appears in {@link Utterance.text} (`#`-masked when it lies inside a redacted span). */
  content: string;
  startMs: number;
  endMs: number;
  /** 0..1; absent for punctuation or when the recognizer gave none. */
  confidence?: number;
  type: 'word' | 'punctuation';
}

/** A final transcript of one speaker turn, ready to be stored and delivered. */
export interface Utterance {
  conversationId: string;
  /** The transcription segment (start → stop) this utterance belongs to. */
  segment: number;
  /** The per-role stream id handed out by start-streaming (api-contract.md §1.1 response). */
  streamId: string;
  role: Role;
  /** The recognizer's id of the result this utterance came from. */
  resultId: string;
  /** Deterministic key from conversationId + streamId + resultId (see {@link utteranceIdOf}). */
  utteranceId: string;
  /** Offsets on the conversation's AudioHook timeline, in integer milliseconds. */
  startMs: number;
  endMs: number;
  /** Redacted text when redactionOutput is `redacted` or `redacted_and_unredacted`, else the plain text. */
  text: string;
  /** The plain text, only for `redacted_and_unredacted`. */
  unredactedText?: string;
  /** Only when `detailedToken` was requested. */
  tokens?: UtteranceToken[];
  /** Mean word confidence, 0..1; absent when the recognizer gave none. */
  confidence?: number;
  /** Language the recognizer reported for this result (falls back to the requested one). */
  language: string;
}

/**
 * A final utterance as recorded: what persisting it adds (the Utterances table item's domain fields; the
 * store adds only its export index keys and `ttl`). The messages API, the fan-out and the feed read this.
 */
export interface RecordedUtterance extends Utterance {
  /** `<startMs padded to 10>#<role>#<utteranceId>`: oldest first, stable across roles (the page position). */
  sk: string;
  /** `customerId` or `agentId` from start-streaming, echoed as `sender.externalId`. */
  senderExternalId?: string;
  /** ULID (time part = createdAt) for the messages API. */
  messageId: string;
  /** ISO-8601 time the utterance was stored. */
  createdAt: string;
}

/**
 * An in-progress (partial) transcript for live captions. Never produced when any redaction is requested:
 * the recognizer only identifies PII on final results, so a partial could leak it (architecture.md §1.4).
 */
export interface PartialUtterance {
  conversationId: string;
  segment: number;
  streamId: string;
  role: Role;
  resultId: string;
  startMs: number;
  endMs: number;
  text: string;
  language: string;
}

/**
 * Receives final utterances. Implementations write idempotently keyed by {@link Utterance.utteranceId}
 * (a retried `put` of the same utterance must not create a second row).
 */
export interface UtteranceSink {
  put(utterance: Utterance): Promise<void>;
}

/** Receives partial results for live captions; best effort, must not block. */
export interface PartialSink {
  partial(partial: PartialUtterance): void;
}

/**
 * Our own name-space UUID for utterance keys (random, fixed forever: changing it would change every key
 * and break idempotency of retried writes).
 */
export const UTTERANCE_ID_NAMESPACE = '5b0c8f7e-3c1d-4e8a-9f61-2d7a4b9e0c13';

/**
 * A name-based UUID, RFC 9562 version 5: SHA-1 over the namespace's 16 bytes and the UTF-8 name, with
 * the version and variant bits set. Deterministic: the same namespace and name give the same id.
 */
export function uuidV5(namespace: string, name: string): string {
  const hash = createHash('sha1')
    .update(Buffer.from(namespace.replaceAll('-', ''), 'hex'))
    .update(name, 'utf8')
    .digest();
  const b = Buffer.from(hash.subarray(0, 16));
  b[6] = ((b[6] as number) & 0x0f) | 0x50;
  b[8] = ((b[8] as number) & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * A name-based UUID (RFC 9562 version 5: SHA-1 over the namespace and the name) for one utterance.
 * The same result of the same stream always gets the same key, so a write retried after a crash or a
 * replayed result lands on the same row.
 */
export function utteranceIdOf(conversationId: string, streamId: string, resultId: string): string {
  // Length-prefixed fields so ("a|b","c") and ("a","b|c") can never collide.
  return uuidV5(
    UTTERANCE_ID_NAMESPACE,
    `${conversationId.length}:${conversationId}|${streamId.length}:${streamId}|${resultId}`,
  );
}

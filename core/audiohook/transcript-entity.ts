/**
 * Final utterance → AudioHook `transcript` entities for the Transcription Connector
 * (docs/audiohook-protocol.md §5.2–§5.3), as a pure function.
 *
 * - One entity per `event` message (the reference suite only reads `entities[0]`, §5.3).
 * - `channelId` is the index of the utterance's role in the **negotiated** channel order, never assumed.
 * - Times are the utterance's own offsets on the session's stream timeline, as seconds-only durations.
 * - Text is {@link Utterance.text}, the variant the store keeps as the primary: the redacted text whenever
 *   any redaction is requested. {@link Utterance.unredactedText} is never read here, so an unredacted
 *   transcript cannot leave through this path.
 * - Size: each event message must stay within the client's text limit (§6.1). See
 *   {@link buildTranscriptEvents} for how an oversized utterance is degraded.
 */
import type { Role } from '../audio/roles';
import { type Utterance, type UtteranceToken, uuidV5 } from '../transcript/utterance';
import { msToDuration } from './duration';
import { type EventEntity, MAX_TEXT_MESSAGE_CHARS, type TranscriptEntityData } from './messages';
import { serializeServerMessage } from './session-wire';

/** The entity `type` of a transcript (§5.3). */
export const TRANSCRIPT_ENTITY_TYPE = 'transcript';

/** How an utterance was fitted into event messages. */
export type TranscriptFit =
  /** One event with everything (tokens included when the utterance has them). */
  | 'whole'
  /** One event, word tokens left out to fit. */
  | 'tokens-dropped'
  /** Several events, each with a slice of the text (no tokens). */
  | 'split'
  /** Several events and the text still did not fit in `maxParts`: the tail was cut. */
  | 'truncated';

/** Why an utterance produced no entity. */
export type TranscriptSkipReason =
  /** The utterance's role is not carried by the negotiated channels (or by channel 0/1). */
  | 'unknown-channel'
  /** Nothing but whitespace to send. */
  | 'empty'
  /** `maxMessageBytes` leaves no room for even an empty entity (a configuration error). */
  | 'too-large';

/** The outcome of {@link buildTranscriptEvents}. */
export type TranscriptEventsOutcome =
  | { ok: true; entities: EventEntity[]; fit: TranscriptFit; channelId: 0 | 1 }
  | { ok: false; reason: TranscriptSkipReason };

/** Options of {@link buildTranscriptEvents}. */
export interface TranscriptEventOptions {
  /** Role carried by each negotiated channel, in channel order (`channelId` = index). */
  readonly roles: readonly Role[];
  /** The session id: it is part of every message, so of its size. */
  readonly sessionId: string;
  /**
   * Largest serialized `event` message, in UTF-8 bytes, counted with the widest possible `seq`.
   * @default 65 535 - the client's text limit in characters (§6.1); bytes are never fewer than UTF-16
   * characters, so this also keeps the message under the 64 KiB payload limit of the reference server
   */
  readonly maxMessageBytes?: number;
  /** Most events one utterance may become; text beyond them is cut. @default 4 */
  readonly maxParts?: number;
}

/** Reported when the recognizer gave no score: a 0 would read as "certainly wrong" to consumers that filter. */
const UNKNOWN_CONFIDENCE = 1;
/** Appended to the last part of a truncated utterance. */
const ELLIPSIS = '…';
/** Per-part times are rounded to whole ms; leave room for their strings growing beyond the template's. */
const PART_TIME_SLACK_BYTES = 32;
/** Fixed name-space for part ids (random, never to change: part ids would stop being stable). */
const PART_ID_NAMESPACE = '0f4d3a9e-6b2c-4e71-8a5d-93c1b7e2f604';
const DEFAULT_MAX_PARTS = 4;

/** UTF-8 size of the widest serialization of one `event` message carrying `entity`. */
export function eventMessageBytes(sessionId: string, entity: EventEntity): number {
  const widest = Number.MAX_SAFE_INTEGER;
  const params = JSON.stringify({ entities: [entity] });
  return Buffer.byteLength(serializeServerMessage(sessionId, 'event', widest, widest, params), 'utf8');
}

/** The `channelId` of a role in the negotiated channel order, or `undefined` when it is not carried. */
export function channelIdOf(role: Role, roles: readonly Role[]): 0 | 1 | undefined {
  const index = roles.indexOf(role);
  return index === 0 || index === 1 ? index : undefined;
}

/**
 * Word tokens on the wire: punctuation is attached to the word before it (the entity only knows `word`
 * tokens, §5.3), leading punctuation is dropped, and offsets are made strictly increasing because the
 * client requires them unique within an interpretation. The token language is left out: the alternative
 * carries it, and per token it would cost bytes of the size budget for nothing.
 */
export function wireTokensOf(tokens: readonly UtteranceToken[], fallbackConfidence: number) {
  const words: Array<{ value: string; startMs: number; endMs: number; confidence: number }> = [];
  for (const t of tokens) {
    const last = words.at(-1);
    if (t.type === 'punctuation') {
      if (last !== undefined) last.value += t.content;
      continue;
    }
    const startMs = last !== undefined && t.startMs <= last.startMs ? last.startMs + 1 : t.startMs;
    words.push({
      value: t.content,
      startMs,
      endMs: Math.max(startMs, t.endMs),
      confidence: clamp01(t.confidence ?? fallbackConfidence),
    });
  }
  return words.map((w) => ({
    type: 'word' as const,
    value: w.value,
    confidence: w.confidence,
    offset: msToDuration(w.startMs),
    duration: msToDuration(w.endMs - w.startMs),
  }));
}

/** The whole entity of an utterance (no size handling). */
export function transcriptEntityOf(
  utterance: Utterance,
  channelId: 0 | 1,
  options: { id?: string; text?: string; startMs?: number; endMs?: number; withTokens?: boolean } = {},
): EventEntity {
  const startMs = options.startMs ?? utterance.startMs;
  const endMs = Math.max(startMs, options.endMs ?? utterance.endMs);
  const confidence = clamp01(utterance.confidence ?? UNKNOWN_CONFIDENCE);
  const interpretation: TranscriptEntityData['alternatives'][number]['interpretations'][number] = {
    type: 'display',
    transcript: options.text ?? utterance.text,
  };
  if ((options.withTokens ?? true) && utterance.tokens !== undefined) {
    interpretation.tokens = wireTokensOf(utterance.tokens, confidence);
  }
  const data: TranscriptEntityData = {
    id: options.id ?? utterance.utteranceId,
    channelId,
    isFinal: true,
    offset: msToDuration(startMs),
    duration: msToDuration(endMs - startMs),
    alternatives: [{ confidence, languages: [utterance.language], interpretations: [interpretation] }],
  };
  return { type: TRANSCRIPT_ENTITY_TYPE, data };
}

/**
 * Builds the entities for one final utterance, one per `event` message, each within the size limit:
 *
 * 1. the whole utterance, with its word tokens when it has them;
 * 2. else without tokens (they cost ~120 bytes a word, the text a few): one event, the full text;
 * 3. else the text is split at whitespace into consecutive parts, each its own event with a derived id and
 *    a share of the utterance's time proportional to its share of the text;
 * 4. at most `maxParts` parts: the last one is cut and ends with `…` (a recognizer result that large is a
 *    runaway, and a burst of events would hit the client's rate limit).
 */
export function buildTranscriptEvents(utterance: Utterance, options: TranscriptEventOptions): TranscriptEventsOutcome {
  const channelId = channelIdOf(utterance.role, options.roles);
  if (channelId === undefined) return { ok: false, reason: 'unknown-channel' };
  if (utterance.text.trim() === '') return { ok: false, reason: 'empty' };
  const limit = options.maxMessageBytes ?? MAX_TEXT_MESSAGE_CHARS;
  const fits = (e: EventEntity) => eventMessageBytes(options.sessionId, e) <= limit;

  const whole = transcriptEntityOf(utterance, channelId);
  if (fits(whole)) return { ok: true, entities: [whole], fit: 'whole', channelId };
  if (utterance.tokens !== undefined) {
    const bare = transcriptEntityOf(utterance, channelId, { withTokens: false });
    if (fits(bare)) return { ok: true, entities: [bare], fit: 'tokens-dropped', channelId };
  }

  // What a part costs besides its text: the widest times it can have, and an id of the same length.
  const template = transcriptEntityOf(utterance, channelId, {
    text: '',
    withTokens: false,
    startMs: utterance.endMs,
    endMs: utterance.endMs * 2 - utterance.startMs,
  });
  const budget = limit - eventMessageBytes(options.sessionId, template) - PART_TIME_SLACK_BYTES;
  if (budget < 16) return { ok: false, reason: 'too-large' };
  const maxParts = Math.max(1, options.maxParts ?? DEFAULT_MAX_PARTS);
  let slices = splitText(utterance.text, budget, maxParts + 1);
  let fit: TranscriptFit = 'split';
  if (slices.length > maxParts) {
    fit = 'truncated';
    const last = slices[maxParts - 1] as TextSlice;
    const cut = splitText(last.text, budget - jsonBytes(ELLIPSIS), 1)[0] as TextSlice;
    slices = [
      ...slices.slice(0, maxParts - 1),
      { text: cut.text + ELLIPSIS, start: last.start, end: utterance.text.length },
    ];
  }
  const total = utterance.text.length;
  const span = utterance.endMs - utterance.startMs;
  const at = (chars: number) => utterance.startMs + Math.round((span * chars) / total);
  const entities = slices.map((s, i) =>
    transcriptEntityOf(utterance, channelId, {
      id: partIdOf(utterance.utteranceId, i),
      text: s.text,
      startMs: at(s.start),
      endMs: i === slices.length - 1 ? utterance.endMs : at(s.end),
      withTokens: false,
    }),
  );
  return { ok: true, entities, fit, channelId };
}

/** A deterministic UUID (version 5 layout) for part `index` of an utterance split over several events. */
export function partIdOf(utteranceId: string, index: number): string {
  return uuidV5(PART_ID_NAMESPACE, `${utteranceId}|part|${index}`);
}

/** A slice of the text: its (trimmed) content and where it lies in the original, in UTF-16 units. */
interface TextSlice {
  text: string;
  start: number;
  end: number;
}

/** Bytes a string adds inside a JSON string literal (escapes included, quotes excluded). */
function jsonBytes(s: string): number {
  return Buffer.byteLength(JSON.stringify(s), 'utf8') - 2;
}

/**
 * Cuts `text` into slices of at most `budget` JSON-escaped bytes, preferring the last whitespace of a
 * slice that is at least half full, never inside a code point. Stops after `maxSlices` slices (the rest of
 * a runaway text is not even scanned).
 */
function splitText(text: string, budget: number, maxSlices: number): TextSlice[] {
  const slices: TextSlice[] = [];
  let start = 0;
  let used = 0;
  let lastSpace = -1;
  let i = 0;
  const push = (from: number, to: number) => {
    const raw = text.slice(from, to);
    const lead = raw.length - raw.trimStart().length;
    const content = raw.trim();
    if (content !== '') slices.push({ text: content, start: from + lead, end: from + lead + content.length });
  };
  while (i < text.length) {
    const cp = text.codePointAt(i) as number;
    const ch = String.fromCodePoint(cp);
    const cost = jsonBytes(ch);
    if (used + cost > budget && i > start) {
      const cutAt = lastSpace > start && used > budget / 2 ? lastSpace : i;
      push(start, cutAt);
      if (slices.length >= maxSlices) return slices;
      start = cutAt;
      i = cutAt;
      used = 0;
      lastSpace = -1;
      continue;
    }
    if (/\s/.test(ch)) lastSpace = i;
    used += cost;
    i += ch.length;
  }
  push(start, text.length);
  return slices;
}

function clamp01(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : UNKNOWN_CONFIDENCE;
}

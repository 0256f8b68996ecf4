/**
 * The soak's ground truth and its verdict. Every utterance the harness plays carries a unique tone-coded
 * id (local/transcribe/tone-code.ts) that the local recognizer reads back from the audio, so each stored
 * item names the utterance it came from, and a fragment (part of an utterance recognized alone) cannot
 * pass for a whole one. Pure functions: the driver records what it played and when transcription was on,
 * the collectors record what came out, {@link judge} compares.
 */
import { parseToneWords } from '../../local/transcribe/tone-code';

/** What the harness knows about one utterance when it plays it. */
export type Expectation =
  /** Played while this session held a running segment: must be stored exactly once. */
  | 'stored'
  /** Played while transcription was confirmed off (hold): must not be stored. */
  | 'not-stored';

/** Why an utterance's fate cannot be known, so it is counted apart rather than as lost or extra. */
export type Uncertainty =
  /** Only part of its audio was sent (the session was paused or cut in the middle of it). */
  | 'partial'
  /** Its audio was still being played when the session was cut (drain timeout, socket loss). */
  | 'cut'
  /** Its final was not stored yet when the task was SIGKILLed (held in memory, or not yet recognized). */
  | 'killed';

export type Role = 'customer' | 'agent';

/** One played utterance. Positions are samples on its session's timeline. */
export interface Spoken {
  id: number;
  conversationId: string;
  /** Index of the AudioHook session within the call (a reconnect after a gateway restart is a new one). */
  session: number;
  role: Role;
  startSample: number;
  endSample: number;
  expect: Expectation;
  uncertain?: Uncertainty;
  /** Wall-clock ms when its last sample was sent. */
  sentAtMs?: number;
}

/** One item of the Utterances table, as the collector reads it. */
export interface StoredItem {
  conversationId: string;
  utteranceId: string;
  role: string;
  /** The stream (per role and segment) it was recognized on. */
  streamId: string;
  text: string;
  startMs: number;
  endMs: number;
  createdAtMs: number;
}

/** Words of a stored text, as the tone recognizer said them (punctuation and case are the endpoint's). */
export function textWords(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[^a-z\s]/g, ' ')
    .split(/\s+/)
    .filter((w) => w.length > 0);
}

/** The verdict on the stored utterances. */
export interface StoreVerdict {
  expected: number;
  stored: number;
  lost: Spoken[];
  /** Expected utterances stored more than once (each counted once here; `extraCopies` counts the copies). */
  duplicated: Spoken[];
  extraCopies: number;
  /** Stored though played while transcription was off. */
  storedWhileOff: Spoken[];
  /** A valid id of another conversation (or of no utterance at all). */
  misattributed: StoredItem[];
  /** Text that is not one whole utterance, not explained by a cut. */
  fragments: StoredItem[];
  /** Fragments overlapping an uncertain utterance (the cut itself). */
  cutFragments: number;
  /** Stored with the right id but at the wrong offset (beyond the tolerance). */
  misplaced: Array<{ spoken: Spoken; item: StoredItem }>;
  uncertain: { partial: number; cut: number; killed: number; storedAnyway: number };
  /** Per stored expected utterance: ms from its last sample sent to its item's `createdAt`. */
  sentToStoredMs: number[];
}

/** Offsets of a stored item may differ from where it was played by the recognizer's framing, no more. */
export const OFFSET_TOLERANCE_MS = 300;

/**
 * Compares what was played with what was stored. Offsets are checked for first sessions only (a later
 * session of the same call starts its own timeline at 0).
 */
export function judge(spoken: readonly Spoken[], items: readonly StoredItem[]): StoreVerdict {
  const byId = new Map(spoken.map((s) => [s.id, s]));
  const copies = new Map<number, StoredItem[]>();
  const v: StoreVerdict = {
    expected: 0,
    stored: items.length,
    lost: [],
    duplicated: [],
    extraCopies: 0,
    storedWhileOff: [],
    misattributed: [],
    fragments: [],
    cutFragments: 0,
    misplaced: [],
    uncertain: { partial: 0, cut: 0, killed: 0, storedAnyway: 0 },
    sentToStoredMs: [],
  };
  for (const item of items) {
    const parsed = parseToneWords(textWords(item.text));
    if ('fragment' in parsed) {
      if (explainedByCut(item, spoken)) v.cutFragments++;
      else v.fragments.push(item);
      continue;
    }
    const s = byId.get(parsed.id);
    if (!s || s.conversationId !== item.conversationId) {
      v.misattributed.push(item);
      continue;
    }
    const list = copies.get(s.id) ?? [];
    list.push(item);
    copies.set(s.id, list);
  }
  for (const s of spoken) {
    const got = copies.get(s.id) ?? [];
    if (s.uncertain) {
      v.uncertain[s.uncertain]++;
      if (got.length > 0) v.uncertain.storedAnyway++;
      if (got.length > 1) {
        v.duplicated.push(s);
        v.extraCopies += got.length - 1;
      }
      continue;
    }
    if (s.expect === 'not-stored') {
      if (got.length > 0) v.storedWhileOff.push(s);
      continue;
    }
    v.expected++;
    if (got.length === 0) {
      v.lost.push(s);
      continue;
    }
    if (got.length > 1) {
      v.duplicated.push(s);
      v.extraCopies += got.length - 1;
    }
    const first = got[0] as StoredItem;
    if (s.sentAtMs !== undefined) v.sentToStoredMs.push(Math.max(0, first.createdAtMs - s.sentAtMs));
    if (s.session === 0 && Math.abs(first.startMs - (s.startSample * 1000) / 8000) > OFFSET_TOLERANCE_MS) {
      v.misplaced.push({ spoken: s, item: first });
    }
  }
  return v;
}

/** A fragment stored where an uncertain (cut or killed) utterance of the same call and role was playing. */
function explainedByCut(item: StoredItem, spoken: readonly Spoken[]): boolean {
  return spoken.some(
    (s) =>
      s.uncertain !== undefined &&
      s.conversationId === item.conversationId &&
      s.role === item.role &&
      item.startMs < (s.endSample * 1000) / 8000 + OFFSET_TOLERANCE_MS &&
      item.endMs > (s.startSample * 1000) / 8000 - OFFSET_TOLERANCE_MS,
  );
}

/** One delivery as a receiver saw it (webhook POST answered 2xx, or a WebSocket push). */
export interface Delivery {
  utteranceId: string;
  atMs: number;
  redrive?: boolean;
}

/** The verdict on one output (webhook or WebSocket) against the stored utterances. */
export interface DeliveryVerdict {
  expected: number;
  delivered: number;
  duplicates: number;
  deadLettered: number;
  redriven: number;
  /** Stored, neither delivered nor dead-lettered. */
  lost: string[];
  /** First deliveries that were not redrives. */
  storedToDeliveredMs: number[];
}

/**
 * Compares deliveries with the stored utterances (`expectedIds`: utteranceId → createdAt ms). A
 * dead-lettered delivery is not lost: it is kept with its body for a redrive.
 */
export function judgeDeliveries(
  expectedIds: ReadonlyMap<string, number>,
  deliveries: readonly Delivery[],
  deadLettered: ReadonlySet<string> = new Set(),
): DeliveryVerdict {
  const seen = new Map<string, number>();
  const v: DeliveryVerdict = {
    expected: expectedIds.size,
    delivered: 0,
    duplicates: 0,
    deadLettered: deadLettered.size,
    redriven: 0,
    lost: [],
    storedToDeliveredMs: [],
  };
  for (const d of deliveries) {
    if (!expectedIds.has(d.utteranceId)) continue;
    if (d.redrive) v.redriven++;
    const n = seen.get(d.utteranceId) ?? 0;
    seen.set(d.utteranceId, n + 1);
    if (n > 0) {
      v.duplicates++;
      continue;
    }
    v.delivered++;
    // A redrive happens when the run ends, long after: it measures the run, not the delivery path.
    if (!d.redrive) v.storedToDeliveredMs.push(Math.max(0, d.atMs - (expectedIds.get(d.utteranceId) as number)));
  }
  for (const id of expectedIds.keys()) if (!seen.has(id) && !deadLettered.has(id)) v.lost.push(id);
  return v;
}

/** How stop answers and final segment summaries compare with what was stored, per role and stream. */
export interface SummaryVerdict {
  /** Stop answers × 2 roles. */
  answers: number;
  answersMatching: number;
  /** Role summaries in stop answers lower than what was finally stored for that stream. */
  answersUnder: number;
  /** Sum of what those answers left out. */
  answersMissing: number;
  answersOver: number;
  /** Final segment summaries (status route) × 2 roles, and how many equal the stored count. */
  finalSummaries: number;
  finalMatching: number;
}

/** Compares each role's `transcripts` count with the items stored for its stream. */
export function judgeSummaries(
  answers: ReadonlyArray<Record<'customer' | 'agent', { streamId: string; transcripts: number }>>,
  finals: ReadonlyArray<{ streamId: string; transcripts: number }>,
  items: readonly StoredItem[],
): SummaryVerdict {
  const perStream = new Map<string, number>();
  for (const i of items) perStream.set(i.streamId, (perStream.get(i.streamId) ?? 0) + 1);
  const v: SummaryVerdict = {
    answers: 0,
    answersMatching: 0,
    answersUnder: 0,
    answersMissing: 0,
    answersOver: 0,
    finalSummaries: 0,
    finalMatching: 0,
  };
  for (const a of answers) {
    for (const side of [a.customer, a.agent]) {
      v.answers++;
      const stored = perStream.get(side.streamId) ?? 0;
      if (side.transcripts === stored) v.answersMatching++;
      else if (side.transcripts < stored) {
        v.answersUnder++;
        v.answersMissing += stored - side.transcripts;
      } else v.answersOver++;
    }
  }
  for (const f of finals) {
    v.finalSummaries++;
    if (f.transcripts === (perStream.get(f.streamId) ?? 0)) v.finalMatching++;
  }
  return v;
}

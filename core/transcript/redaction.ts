/**
 * Local PII redaction of one recognizer result. The recognizer stream runs with content
 * *identification* (not redaction), so a single stream yields the PII entities and the plain text; we mask
 * each entity's span with `#` of the same length (api-contract.md §1.1: "PIN number is ####"). That lets
 * one stream serve `redacted`, `unredacted` and `redacted_and_unredacted` alike.
 *
 * Entities are located by time first (entity times → the items inside them → those items' character
 * spans in the transcript), then by their content string. An entity that cannot be located at all masks
 * the whole text: failing closed is the only safe choice for PII.
 */
import type { RecognizerEntity, RecognizerItem } from './recognizer-result';

/** The redaction mark (api-contract.md §1.1). */
export const REDACTION_CHAR = '#';

/** Half-open character range `[start, end)` in the transcript. */
export interface CharRange {
  start: number;
  end: number;
}

/** The outcome of {@link redactTranscript}. */
export interface RedactionResult {
  /** The transcript with every located entity span masked. */
  text: string;
  /** Merged, sorted masked ranges. */
  ranges: CharRange[];
  /** Character span of each item in the transcript (`undefined` when its content was not found). */
  itemSpans: (CharRange | undefined)[];
  /** Per item: whether it lies in a masked range (its token must be masked too). */
  itemMasked: boolean[];
  /** Entities that could not be located, which made the whole text masked. */
  unlocated: number;
}

/** Recognizer times are in seconds with millisecond precision; allow for rounding on both sides. */
const TIME_EPSILON_S = 0.0005;

/** Masks `text` (every character, spaces included) with {@link REDACTION_CHAR}. */
export function mask(text: string): string {
  return REDACTION_CHAR.repeat(text.length);
}

/** Finds where each item's content sits in the transcript, in order. */
export function locateItems(transcript: string, items: readonly RecognizerItem[]): (CharRange | undefined)[] {
  let cursor = 0;
  return items.map((item) => {
    const content = item.Content;
    if (content === undefined || content.length === 0) return undefined;
    const at = transcript.indexOf(content, cursor);
    if (at < 0) return undefined;
    cursor = at + content.length;
    return { start: at, end: cursor };
  });
}

function overlapsInTime(item: RecognizerItem, entity: RecognizerEntity): boolean {
  if (item.StartTime === undefined || item.EndTime === undefined) return false;
  if (entity.StartTime === undefined || entity.EndTime === undefined) return false;
  return item.StartTime < entity.EndTime - TIME_EPSILON_S && item.EndTime > entity.StartTime + TIME_EPSILON_S;
}

function byTime(
  entity: RecognizerEntity,
  items: readonly RecognizerItem[],
  spans: readonly (CharRange | undefined)[],
): CharRange | undefined {
  let start = Number.POSITIVE_INFINITY;
  let end = Number.NEGATIVE_INFINITY;
  items.forEach((item, i) => {
    const span = spans[i];
    if (span === undefined || item.Type === 'punctuation' || !overlapsInTime(item, entity)) return;
    start = Math.min(start, span.start);
    end = Math.max(end, span.end);
  });
  return end > start ? { start, end } : undefined;
}

function isMasked(ranges: readonly CharRange[], at: number, length: number): boolean {
  return ranges.some((r) => r.start <= at && at + length <= r.end);
}

function byContent(entity: RecognizerEntity, transcript: string, taken: readonly CharRange[]): CharRange | undefined {
  const content = entity.Content?.trim();
  if (!content) return undefined;
  // Prefer an occurrence that is not already masked (the same number can be spoken twice).
  for (const haystack of [transcript, transcript.toLowerCase()]) {
    const needle = haystack === transcript ? content : content.toLowerCase();
    let first: number | undefined;
    for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, at + 1)) {
      first ??= at;
      if (!isMasked(taken, at, needle.length)) return { start: at, end: at + needle.length };
    }
    if (first !== undefined) return { start: first, end: first + needle.length };
  }
  return undefined;
}

function merge(ranges: CharRange[]): CharRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const out: CharRange[] = [];
  for (const r of sorted) {
    const last = out.at(-1);
    if (last !== undefined && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else out.push({ ...r });
  }
  return out;
}

/**
 * Masks every PII entity of a result in its transcript.
 * @param transcript - the result's plain transcript
 * @param items - the result's items, in order (may be empty)
 * @param entities - the result's PII entities (may be empty: nothing is masked)
 */
export function redactTranscript(
  transcript: string,
  items: readonly RecognizerItem[],
  entities: readonly RecognizerEntity[],
): RedactionResult {
  const itemSpans = locateItems(transcript, items);
  const found: CharRange[] = [];
  let unlocated = 0;
  for (const entity of entities) {
    const range = byTime(entity, items, itemSpans) ?? byContent(entity, transcript, found);
    if (range === undefined) unlocated++;
    else found.push(range);
  }
  const ranges = unlocated > 0 ? [{ start: 0, end: transcript.length }] : merge(found);
  let text = transcript;
  for (const r of ranges) text = text.slice(0, r.start) + mask(text.slice(r.start, r.end)) + text.slice(r.end);
  const itemMasked = items.map((item, i) => {
    if (unlocated > 0) return true;
    const span = itemSpans[i];
    if (span !== undefined) return ranges.some((r) => span.start < r.end && span.end > r.start);
    // An item we could not place in the text is masked when its time falls inside any entity.
    return item.Type !== 'punctuation' && entities.some((e) => overlapsInTime(item, e));
  });
  return { text, ranges, itemSpans, itemMasked, unlocated };
}

/**
 * The recognizer result shapes the domain reads: a structural subset of Amazon Transcribe Streaming's
 * `Result`/`Alternative`/`Item`/`Entity` (core/ may not import the SDK). The SDK's types are assignable
 * to these, so the adapter passes results through untouched. Every field is optional, as on the wire.
 * Times are seconds (millisecond precision) from the start of the audio sent on that recognizer stream.
 */

/** A word or punctuation mark. */
export interface RecognizerItem {
  StartTime?: number | undefined;
  EndTime?: number | undefined;
  /** `pronunciation` (a spoken word) or `punctuation`. */
  Type?: string | undefined;
  Content?: string | undefined;
  Confidence?: number | undefined;
  VocabularyFilterMatch?: boolean | undefined;
  Stable?: boolean | undefined;
}

/** A PII entity found by content identification. */
export interface RecognizerEntity {
  StartTime?: number | undefined;
  EndTime?: number | undefined;
  Category?: string | undefined;
  Type?: string | undefined;
  Content?: string | undefined;
  Confidence?: number | undefined;
}

/** One hypothesis of a result. */
export interface RecognizerAlternative {
  Transcript?: string | undefined;
  Items?: RecognizerItem[] | undefined;
  Entities?: RecognizerEntity[] | undefined;
}

/** One result (a speaker turn on one channel), partial or final. */
export interface RecognizerResult {
  ResultId?: string | undefined;
  StartTime?: number | undefined;
  EndTime?: number | undefined;
  IsPartial?: boolean | undefined;
  Alternatives?: RecognizerAlternative[] | undefined;
  /** `ch_0` / `ch_1` with channel identification; absent on a mono stream. */
  ChannelId?: string | undefined;
  LanguageCode?: string | undefined;
}

/** The recognizer's channel labels, in channel order (ch_0 is the first negotiated AudioHook channel). */
export type ChannelId = 'ch_0' | 'ch_1';

/** The channel id of channel index `index` (0 or 1). */
export function channelIdOf(index: number): ChannelId {
  return index === 0 ? 'ch_0' : 'ch_1';
}

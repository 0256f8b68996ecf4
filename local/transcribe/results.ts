/**
 * Turning a recognized utterance into Transcribe `Result` objects: the partial results that precede it and
 * the final one. Pure. Shapes follow the streaming API's Result/Alternative/Item/Entity; times are seconds
 * from the start of the stream's audio. As in the service, PII identification/redaction applies only to
 * final results ("performed upon complete transcription of the audio segments"), so partials carry the
 * words as heard.
 */
import type { PiiEntityType } from './params';
import { applyPii, type PiiEntity, type TimedWord } from './pii';

/** A Transcribe `Item`. */
export interface TranscribeItem {
  StartTime: number;
  EndTime: number;
  Type: 'pronunciation' | 'punctuation';
  Content: string;
  Confidence?: number;
  VocabularyFilterMatch: boolean;
  Stable?: boolean;
}

/** A Transcribe `Result` with one alternative. */
export interface TranscribeResult {
  ResultId: string;
  StartTime: number;
  EndTime: number;
  IsPartial: boolean;
  ChannelId?: string;
  Alternatives: { Transcript: string; Items: TranscribeItem[]; Entities?: PiiEntity[] }[];
}

/** How results of a stream are shaped. */
export interface ResultOptions {
  resultId: string;
  /** `ch_0`/`ch_1` with channel identification; absent otherwise. */
  channelId?: string;
  /** Adds `Stable` to items (partial-results stabilization). */
  stabilization: boolean;
  pii?: { mode: 'identify' | 'redact'; types?: readonly PiiEntityType[] };
}

function items(words: readonly TimedWord[], stable: (i: number) => boolean | undefined): TranscribeItem[] {
  return words.map((w, i) => {
    const item: TranscribeItem = {
      StartTime: w.startSec,
      EndTime: w.endSec,
      Type: 'pronunciation',
      Content: w.word,
      Confidence: w.confidence,
      VocabularyFilterMatch: false,
    };
    const s = stable(i);
    if (s !== undefined) item.Stable = s;
    return item;
  });
}

function result(
  words: readonly TimedWord[],
  partial: boolean,
  opts: ResultOptions,
  extra: { punctuation: boolean; entities?: PiiEntity[] },
): TranscribeResult {
  const first = words[0] as TimedWord;
  const last = words[words.length - 1] as TimedWord;
  // With stabilization, every word of a partial but the newest is stable; a final is stable throughout.
  const its = items(words, (i) => (opts.stabilization ? !partial || i < words.length - 1 : undefined));
  let transcript = words.map((w) => w.word).join(' ');
  if (extra.punctuation) {
    // The service punctuates finals; one full stop keeps the punctuation-item path exercised.
    const stop: TranscribeItem = {
      StartTime: last.endSec,
      EndTime: last.endSec,
      Type: 'punctuation',
      Content: '.',
      VocabularyFilterMatch: false,
    };
    if (opts.stabilization) stop.Stable = true;
    its.push(stop);
    transcript += '.';
  }
  const alternative: TranscribeResult['Alternatives'][number] = { Transcript: transcript, Items: its };
  if (extra.entities !== undefined && extra.entities.length > 0) alternative.Entities = extra.entities;
  const r: TranscribeResult = {
    ResultId: opts.resultId,
    StartTime: first.startSec,
    EndTime: last.endSec,
    IsPartial: partial,
    Alternatives: [alternative],
  };
  if (opts.channelId !== undefined) r.ChannelId = opts.channelId;
  return r;
}

/**
 * The results for one utterance: partials over growing prefixes (half the words, then all of them), then
 * the final. Empty when the utterance has no words.
 */
export function utteranceResults(words: readonly TimedWord[], opts: ResultOptions): TranscribeResult[] {
  if (words.length === 0) return [];
  const out: TranscribeResult[] = [];
  const half = Math.ceil(words.length / 2);
  const prefixes = half < words.length ? [half, words.length] : [words.length];
  for (const n of prefixes) out.push(result(words.slice(0, n), true, opts, { punctuation: false }));
  if (opts.pii) {
    const { words: finalWords, entities } = applyPii(words, opts.pii.mode, opts.pii.types);
    out.push(result(finalWords, false, opts, { punctuation: true, entities }));
  } else {
    out.push(result(words, false, opts, { punctuation: true }));
  }
  return out;
}

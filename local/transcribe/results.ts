/**
 * Turning recognized words into Transcribe `Result` objects: progressive partials of an utterance in progress,
 * its final, or (for recognizers that only report whole utterances) partials synthesized from the final's
 * words followed by it. Pure but for the ResultIds, which {@link ChannelResults} draws from an injectable source. Shapes follow the streaming API's Result/Alternative/Item/Entity; times are seconds
 * from the start of the stream's audio. As in the service, PII identification/redaction applies only to
 * final results ("performed upon complete transcription of the audio segments"), so partials carry the
 * words as heard.
 */
import { randomUUID } from 'node:crypto';
import type { PiiEntityType, StreamParams } from './params';
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
  /** The stream's requested language: the recognizer reports the language it was asked for. */
  LanguageCode: string;
  Alternatives: { Transcript: string; Items: TranscribeItem[]; Entities?: PiiEntity[] }[];
}

/** How results of a stream are shaped. */
export interface ResultOptions {
  resultId: string;
  /**
   * `LanguageCode` of every result: the stream's requested one (recognition itself is English whatever it is,
   * see params.ts).
   */
  languageCode: string;
  /** `ch_0`/`ch_1` with channel identification; absent otherwise. */
  channelId?: string;
  /** Adds `Stable` to items (partial-results stabilization). */
  stabilization: boolean;
  pii?: { mode: 'identify' | 'redact'; types?: readonly PiiEntityType[] };
}

/** The options of the results of `channel` (0-based) of a stream, for the utterance `resultId`. */
export function streamResultOptions(params: StreamParams, channel: number, resultId: string): ResultOptions {
  const opts: ResultOptions = {
    resultId,
    languageCode: params.languageCode,
    stabilization: params.partialResultsStabilization,
  };
  if (params.channelIdentification) opts.channelId = `ch_${channel}`;
  if (params.contentRedaction) opts.pii = { mode: 'redact', types: params.piiEntityTypes };
  else if (params.contentIdentification) opts.pii = { mode: 'identify', types: params.piiEntityTypes };
  return opts;
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
    LanguageCode: opts.languageCode,
    Alternatives: [alternative],
  };
  if (opts.channelId !== undefined) r.ChannelId = opts.channelId;
  return r;
}

/**
 * A partial result: the words heard so far, unpunctuated, without PII entities (PII applies to finals only);
 * with stabilization every word but the newest is `Stable`. Throws on no words (a result needs at least one).
 */
export function partialResult(words: readonly TimedWord[], opts: ResultOptions): TranscribeResult {
  if (words.length === 0) throw new RangeError('a partial result needs at least one word');
  return result(words, true, opts, { punctuation: false });
}

/** The final result of an utterance: punctuated, with PII identified or redacted as asked. Throws on no words. */
export function finalResult(words: readonly TimedWord[], opts: ResultOptions): TranscribeResult {
  if (words.length === 0) throw new RangeError('a final result needs at least one word');
  if (!opts.pii) return result(words, false, opts, { punctuation: true });
  const { words: finalWords, entities } = applyPii(words, opts.pii.mode, opts.pii.types);
  return result(finalWords, false, opts, { punctuation: true, entities });
}

/**
 * The results for one utterance reported only once it ended: partials synthesized over growing prefixes
 * (half the words, then all of them), then the final. Empty when the utterance has no words.
 */
export function utteranceResults(words: readonly TimedWord[], opts: ResultOptions): TranscribeResult[] {
  if (words.length === 0) return [];
  const half = Math.ceil(words.length / 2);
  const prefixes = half < words.length ? [half, words.length] : [words.length];
  return [...prefixes.map((n) => partialResult(words.slice(0, n), opts)), finalResult(words, opts)];
}

/**
 * The results of one channel of a stream, utterance after utterance. The progressive partials of the
 * utterance in progress share one ResultId, which its final then takes (as in the service); an utterance that
 * had none gets partials synthesized from its final words (recognizers that only report whole utterances).
 * Results for no words are never made.
 */
export class ChannelResults {
  /** ResultId of the utterance whose partials went out, until its final. */
  private openResultId: string | undefined;

  constructor(
    private readonly params: StreamParams,
    private readonly channel: number,
    private readonly newResultId: () => string = randomUUID,
  ) {}

  /** A progressive partial of the utterance in progress (none for no words). */
  partial(words: readonly TimedWord[]): TranscribeResult[] {
    if (words.length === 0) return [];
    this.openResultId ??= this.newResultId();
    return [partialResult(words, streamResultOptions(this.params, this.channel, this.openResultId))];
  }

  /** The utterance in progress ended: its final, preceded by synthesized partials if it had no partial. */
  final(words: readonly TimedWord[]): TranscribeResult[] {
    const openId = this.openResultId;
    this.openResultId = undefined;
    if (words.length === 0) return [];
    const opts = streamResultOptions(this.params, this.channel, openId ?? this.newResultId());
    return openId === undefined ? utteranceResults(words, opts) : [finalResult(words, opts)];
  }
}

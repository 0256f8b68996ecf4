/**
 * Recognizer result → domain utterance, as a pure function of the result and its context.
 *
 * - Role: from the result's channel through the negotiated channel order (`ch_0` is the first AudioHook
 *   channel, whatever it is), never assumed (architecture.md §1.3).
 * - Time: a result's times are seconds of the audio sent on *that* recognizer stream; the stream's
 *   {@link AnchorMap} maps them onto the conversation's AudioHook timeline, so pauses, discards, stop/start,
 *   reconnects and rotation are all accounted for.
 * - Text: redaction is done here from the PII entities (see redaction.ts), per `redactionOutput`.
 */
import { SAMPLE_RATE } from '../audio/format';
import type { Role } from '../audio/roles';
import type { AnchorMap } from '../audio/timeline';
import { TimelineError } from '../audio/timeline';
import type { ChannelId, RecognizerItem, RecognizerResult } from './recognizer-result';
import { mask, redactTranscript } from './redaction';
import type { PartialUtterance, TranscriptionParams, Utterance, UtteranceToken } from './utterance';
import { utteranceIdOf } from './utterance';

/** What a result is mapped against. */
export interface MappingContext {
  readonly conversationId: string;
  readonly segment: number;
  /** Role of each recognizer channel, from the negotiated AudioHook channel order. */
  readonly channelRoles: Readonly<Partial<Record<ChannelId, Role>>>;
  /** The per-role stream ids of the segment. */
  readonly streamIds: Readonly<Partial<Record<Role, string>>>;
  /** The anchor map of the recognizer stream that produced the result. */
  readonly anchors: AnchorMap;
  readonly params: TranscriptionParams;
}

/** Why a result produced no utterance. */
export type MapSkipReason =
  | 'partial'
  | 'final'
  | 'redaction-on'
  | 'empty'
  | 'unknown-channel'
  | 'no-stream-id'
  | 'no-result-id'
  | 'no-audio';

/** Either a mapped value or why there is none. */
export type MapOutcome<T> = { ok: true; value: T } | { ok: false; reason: MapSkipReason };

/** Where a result sits: its channel, role, and timeline span in samples. */
export interface ResultPlacement {
  channelId: ChannelId;
  role: Role;
  streamId: string;
  /** Timeline position of the result's first sample. */
  startSamples: number;
  /** Timeline position just after the result's last sample. */
  endSamples: number;
}

const SAMPLES_PER_MS = SAMPLE_RATE / 1000;

function toSamples(seconds: number | undefined): number {
  return Math.max(0, Math.round((seconds ?? 0) * SAMPLE_RATE));
}

function skip<T>(reason: MapSkipReason): MapOutcome<T> {
  return { ok: false, reason };
}

/**
 * Places a result (partial or final) on the timeline.
 * A mono stream has no channel id: its results belong to channel 0.
 */
export function placeResult(result: RecognizerResult, ctx: MappingContext): MapOutcome<ResultPlacement> {
  const channelId = (result.ChannelId ?? 'ch_0') as ChannelId;
  const role = ctx.channelRoles[channelId];
  if (role === undefined) return skip('unknown-channel');
  const streamId = ctx.streamIds[role];
  if (streamId === undefined) return skip('no-stream-id');
  try {
    const startSamples = Math.round(ctx.anchors.toTimeline(toSamples(result.StartTime), 'start'));
    const endSamples = Math.round(ctx.anchors.toTimeline(toSamples(result.EndTime ?? result.StartTime), 'end'));
    return {
      ok: true,
      value: { channelId, role, streamId, startSamples, endSamples: Math.max(startSamples, endSamples) },
    };
  } catch (err) {
    if (err instanceof TimelineError) return skip('no-audio');
    throw err;
  }
}

function samplesToMs(samples: number): number {
  return Math.round(samples / SAMPLES_PER_MS);
}

function textOf(items: readonly RecognizerItem[], transcript: string | undefined): string {
  if (transcript !== undefined) return transcript;
  // Without a transcript, rebuild one the way the recognizer writes it: words spaced, punctuation attached.
  let out = '';
  for (const item of items) {
    const c = item.Content ?? '';
    out += item.Type === 'punctuation' || out === '' ? c : ` ${c}`;
  }
  return out;
}

function meanConfidence(items: readonly RecognizerItem[]): number | undefined {
  const values = items
    .filter((i) => i.Type !== 'punctuation' && typeof i.Confidence === 'number')
    .map((i) => i.Confidence as number);
  if (values.length === 0) return undefined;
  return values.reduce((a, b) => a + b, 0) / values.length;
}

function itemMs(ctx: MappingContext, seconds: number | undefined, fallbackMs: number, edge: 'start' | 'end'): number {
  if (seconds === undefined) return fallbackMs;
  return samplesToMs(ctx.anchors.toTimeline(toSamples(seconds), edge));
}

/**
 * Maps a final result to an utterance. Partial results, whitespace-only finals, results on a channel
 * with no role, and results of a stream with no audio recorded yet are skipped (with the reason).
 */
export function mapFinalResult(result: RecognizerResult, ctx: MappingContext): MapOutcome<Utterance> {
  if (result.IsPartial === true) return skip('partial');
  const placed = placeResult(result, ctx);
  if (!placed.ok) return placed;
  const { role, streamId, startSamples, endSamples } = placed.value;
  const resultId = result.ResultId;
  if (!resultId) return skip('no-result-id');
  const alt = result.Alternatives?.[0];
  const items = alt?.Items ?? [];
  const plain = textOf(items, alt?.Transcript);
  if (plain.trim() === '') return skip('empty');

  const mode = ctx.params.redactionOutput;
  const redaction = mode === 'unredacted' ? undefined : redactTranscript(plain, items, alt?.Entities ?? []);
  const startMs = samplesToMs(startSamples);
  const endMs = samplesToMs(endSamples);
  const utterance: Utterance = {
    conversationId: ctx.conversationId,
    segment: ctx.segment,
    streamId,
    role,
    resultId,
    utteranceId: utteranceIdOf(ctx.conversationId, streamId, resultId),
    startMs,
    endMs,
    text: redaction?.text ?? plain,
    language: result.LanguageCode ?? ctx.params.language,
  };
  if (mode === 'redacted_and_unredacted') utterance.unredactedText = plain;
  const confidence = meanConfidence(items);
  if (confidence !== undefined) utterance.confidence = confidence;
  if (ctx.params.detailedToken) {
    const tokens: UtteranceToken[] = [];
    items.forEach((item, i) => {
      if (!item.Content) return;
      const token: UtteranceToken = {
        content: redaction?.itemMasked[i] === true ? mask(item.Content) : item.Content,
        startMs: itemMs(ctx, item.StartTime, startMs, 'start'),
        endMs: itemMs(ctx, item.EndTime, endMs, 'end'),
        type: item.Type === 'punctuation' ? 'punctuation' : 'word',
      };
      if (typeof item.Confidence === 'number') token.confidence = item.Confidence;
      tokens.push(token);
    });
    utterance.tokens = tokens;
  }
  return { ok: true, value: utterance };
}

/**
 * Maps a partial result for live captions. Refused whenever any redaction is requested: PII is only
 * identified on final results, so a partial would show it in clear.
 */
export function mapPartialResult(result: RecognizerResult, ctx: MappingContext): MapOutcome<PartialUtterance> {
  if (result.IsPartial !== true) return skip('final');
  if (ctx.params.redactionOutput !== 'unredacted') return skip('redaction-on');
  const placed = placeResult(result, ctx);
  if (!placed.ok) return placed;
  const resultId = result.ResultId;
  if (!resultId) return skip('no-result-id');
  const alt = result.Alternatives?.[0];
  const text = textOf(alt?.Items ?? [], alt?.Transcript);
  if (text.trim() === '') return skip('empty');
  const { role, streamId, startSamples, endSamples } = placed.value;
  return {
    ok: true,
    value: {
      conversationId: ctx.conversationId,
      segment: ctx.segment,
      streamId,
      role,
      resultId,
      startMs: samplesToMs(startSamples),
      endMs: samplesToMs(endSamples),
      text,
      language: result.LanguageCode ?? ctx.params.language,
    },
  };
}

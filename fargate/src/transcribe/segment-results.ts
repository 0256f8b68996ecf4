/**
 * The results side of a {@link SegmentStreamer}: Transcribe results are placed on the conversation
 * timeline (the underlying stream's {@link AnchorMap}), checked against the {@link ResendLedger} (a final
 * that repeats accepted speech is dropped), mapped to utterances — the one place where recognizer channels
 * become roles — and delivered in order to the utterance sink (partials to the partial sink).
 */
import type { Result, TranscriptEvent, TranscriptResultStream } from '@aws-sdk/client-transcribe-streaming';
import type { Role } from '../../../core/audio/roles';
import type { AnchorMap } from '../../../core/audio/timeline';
import { describeError } from '../../../core/errors';
import type { Logger } from '../../../core/ports';
import { type MappingContext, mapFinalResult, mapPartialResult, placeResult } from '../../../core/transcript/mapping';
import { type ChannelId, channelIdOf } from '../../../core/transcript/recognizer-result';
import type { PartialSink, Utterance, UtteranceSink } from '../../../core/transcript/utterance';
import { TranscribeAdapterError } from './errors';
import type { ResendLedger } from './resend-ledger';
import type { SegmentContext } from './start-request';
import type { StreamerTally, TranscribeMetrics } from './streamer-stats';

/** Collaborators of {@link SegmentResults} (shared with the streamer that owns it). */
export interface SegmentResultsDeps {
  readonly segment: SegmentContext;
  readonly utterances: UtteranceSink;
  /** Live captions; `undefined` when anything is redacted. */
  readonly partials: PartialSink | undefined;
  readonly ledger: ResendLedger;
  readonly tally: StreamerTally;
  readonly metrics: TranscribeMetrics | undefined;
  readonly log: Logger;
}

/** What the results side needs of one underlying stream. */
export interface ResultStreamView {
  /** Where the stream's audio lies on the conversation timeline. */
  readonly anchors: AnchorMap;
  /** The language the stream was opened in. */
  readonly language: string;
}

/** Maps one segment's results to utterances and delivers them, in order, never twice. */
export class SegmentResults {
  readonly #d: SegmentResultsDeps;
  readonly #channelRoles: Partial<Record<ChannelId, Role>>;
  #puts: Promise<void> = Promise.resolve();

  constructor(deps: SegmentResultsDeps) {
    this.#d = deps;
    this.#channelRoles = Object.fromEntries(deps.segment.roles.map((r, i) => [channelIdOf(i), r]));
  }

  /** Settles once every utterance emitted so far was stored (or failed to be). Never rejects. */
  get delivered(): Promise<void> {
    return this.#puts;
  }

  /**
   * Handles one transcript event of `stream` (its timeline anchors, and its language: the fallback of
   * results that name none); true when at least one result was placed on the timeline (progress).
   */
  onTranscript(event: TranscriptEvent, stream: ResultStreamView): boolean {
    const ctx = this.#context(stream);
    let placed = false;
    for (const result of event.Transcript?.Results ?? []) {
      try {
        if (this.#onResult(result, ctx)) placed = true;
      } catch (err) {
        // One malformed result must not cost the stream (and a retry would re-send audio for nothing).
        this.#d.log.error(
          { err: describeError(err), resultId: result.ResultId },
          'Transcribe result could not be mapped',
        );
      }
    }
    this.#d.ledger.trim();
    return placed;
  }

  #context(stream: ResultStreamView): MappingContext {
    const s = this.#d.segment;
    return {
      conversationId: s.conversationId,
      segment: s.segment,
      channelRoles: this.#channelRoles,
      streamIds: s.streamIds,
      anchors: stream.anchors,
      params: stream.language === s.params.language ? s.params : { ...s.params, language: stream.language },
    };
  }

  #onResult(result: Result, ctx: MappingContext): boolean {
    const placed = placeResult(result, ctx);
    if (!placed.ok) {
      this.#d.log.debug({ reason: placed.reason, channelId: result.ChannelId }, 'Transcribe result skipped');
      return false;
    }
    const { channelId, startSamples, endSamples } = placed.value;
    const ch = channelId === 'ch_1' ? 1 : 0;
    if (result.IsPartial === true) {
      if (!this.#d.ledger.notePartial(ch, startSamples, endSamples)) return true;
      const partial = this.#d.partials ? mapPartialResult(result, ctx) : undefined;
      if (partial?.ok) this.#emitPartial(partial.value);
      return true;
    }
    if (!this.#d.ledger.noteFinal(ch, endSamples)) {
      this.#d.tally.counters.duplicatesDropped++;
      this.#d.metrics?.count('duplicatesDropped');
      this.#d.log.debug({ resultId: result.ResultId, channelId }, 'Transcribe final repeats accepted speech: dropped');
      return true;
    }
    const mapped = mapFinalResult(result, ctx);
    if (mapped.ok) this.#emit(mapped.value);
    return true;
  }

  #emitPartial(partial: Parameters<PartialSink['partial']>[0]): void {
    try {
      this.#d.partials?.partial(partial);
    } catch (err) {
      this.#d.log.warn({ err: describeError(err) }, 'partial sink threw; partial dropped');
    }
  }

  #emit(utterance: Utterance): void {
    this.#puts = this.#puts.then(async () => {
      try {
        await this.#d.utterances.put(utterance);
        this.#d.tally.addTranscript(utterance.role);
        this.#d.metrics?.count('utterances');
      } catch (err) {
        this.#d.tally.counters.putFailures++;
        this.#d.metrics?.count('utterancePutFailures');
        this.#d.log.error(
          { err: describeError(err), utteranceId: utterance.utteranceId, role: utterance.role },
          'storing an utterance failed',
        );
      }
    });
  }
}

/**
 * Reads one response's result stream to its end, handing each `TranscriptEvent` on. The SDK throws
 * modeled exception events itself; one that arrives as a member anyway is thrown here.
 */
export async function readResultStream(
  results: AsyncIterable<TranscriptResultStream> | undefined,
  onTranscript: (event: TranscriptEvent) => void,
): Promise<void> {
  if (results === undefined) {
    throw new TranscribeAdapterError('TRANSCRIBE_NO_RESULT_STREAM', 'Transcribe answered without a result stream');
  }
  for await (const event of results) {
    if (event.TranscriptEvent !== undefined) {
      onTranscript(event.TranscriptEvent);
      continue;
    }
    const thrown =
      event.BadRequestException ??
      event.LimitExceededException ??
      event.InternalFailureException ??
      event.ConflictException ??
      event.ServiceUnavailableException;
    if (thrown !== undefined) throw thrown;
  }
}

/**
 * One underlying StartStreamTranscription call of a {@link SegmentStreamer}'s logical stream: its own
 * SessionId, timeline anchors and recognition language, and why its input ended. Kept apart from the
 * streamer's loop so the loop reads as decisions over this small record.
 */
import { AnchorMap } from '../../../core/audio/timeline';
import type { SpanRef } from './language-timeline';

/** Why the streamer ended a stream's input on purpose. */
export type EndReason = 'idle' | 'rotation' | 'language';

/** One underlying StartStreamTranscription call. */
export interface UnderlyingStream {
  readonly sessionId: string;
  readonly anchors: AnchorMap;
  readonly abort: AbortController;
  readonly openedAt: number;
  /** The language span of its audio: the one in force at the position of its first chunk (language-timeline.ts). */
  readonly span: number;
  /** The recognition language: that span's. */
  readonly language: string;
  /** Set to end the input gracefully (idle, rotation, a language switch). */
  endRequested: EndReason | undefined;
  /** The input iterable finished on purpose (the SDK then sent the end-of-stream frame). */
  inputDone: boolean;
  /** The call is over (failed or completed): its input must not take more audio. */
  dead: boolean;
  sawResult: boolean;
}

/** How an underlying stream's call ended. */
export type StreamOutcome = { kind: 'completed' } | { kind: 'failed'; error: unknown };

/** How an underlying stream ended, and whether it produced any result (progress resets the retry count). */
export interface StreamRun {
  outcome: StreamOutcome;
  sawResult: boolean;
}

/** A stream about to be opened, at monotonic time `openedAt`. */
export function newUnderlyingStream(sessionId: string, span: SpanRef, openedAt: number): UnderlyingStream {
  return {
    sessionId,
    anchors: new AnchorMap(),
    abort: new AbortController(),
    openedAt,
    span: span.span,
    language: span.language,
    endRequested: undefined,
    inputDone: false,
    dead: false,
    sawResult: false,
  };
}

/** Ends the stream's input on purpose: Transcribe then finalizes what it was sent and completes the call. */
export function endInput(stream: UnderlyingStream, why: EndReason): void {
  stream.endRequested = why;
  stream.inputDone = true;
}

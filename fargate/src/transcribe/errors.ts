/**
 * Errors of the Transcribe adapter. Service errors from the SDK are not wrapped: they are classified
 * (backoff.ts) and logged; these classes cover what the adapter itself detects.
 */

/** Stable codes of {@link TranscribeAdapterError}. */
export type TranscribeAdapterErrorCode =
  /** A segment was described with other than 1 or 2 channels (a wiring bug, caught at construction). */
  | 'TRANSCRIBE_INVALID_CHANNELS'
  /** The service answered without a result stream. */
  | 'TRANSCRIBE_NO_RESULT_STREAM'
  /** The result stream ended although we had not ended the audio (treated as a lost stream). */
  | 'TRANSCRIBE_STREAM_ENDED_EARLY';

/** A problem the Transcribe adapter detects itself. */
export class TranscribeAdapterError extends Error {
  override readonly name = 'TranscribeAdapterError';
  constructor(
    readonly code: TranscribeAdapterErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Errors of the Transcribe adapter. Service errors from the SDK are not wrapped: they are classified
 * (backoff.ts) and logged; these classes cover what the adapter itself detects.
 */
import { AppError } from '../../../core/errors';

/** Stable codes of {@link TranscribeAdapterError}. */
export type TranscribeAdapterErrorCode =
  /** A segment was described with other than 1 or 2 channels (a wiring bug, caught at construction). */
  | 'TRANSCRIBE_INVALID_CHANNELS'
  /** The service answered without a result stream. */
  | 'TRANSCRIBE_NO_RESULT_STREAM'
  /** The result stream ended although we had not ended the audio (treated as a lost stream). */
  | 'TRANSCRIBE_STREAM_ENDED_EARLY';

/** A problem the Transcribe adapter detects itself. */
export class TranscribeAdapterError extends AppError {
  override readonly name = 'TranscribeAdapterError';
  declare readonly code: TranscribeAdapterErrorCode;
  constructor(code: TranscribeAdapterErrorCode, message: string) {
    super(code, message);
  }
}

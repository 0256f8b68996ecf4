/**
 * Errors of segment recordings. Recording problems never end a session or a segment: they are logged
 * with one of these codes (docs/errors.md) and the recording is kept on disk or given up.
 */
import { AppError, type AppErrorOptions } from '../../../core/errors';

/** Stable codes of {@link RecordingError}. */
export type RecordingErrorCode =
  /** Writing the local spool file failed (disk full, directory gone): this segment's recording is given up. */
  | 'RECORDING_SPOOL_FAILED'
  /** Every upload attempt failed: the WAV stays in the spool directory (the log names the path). */
  | 'RECORDING_UPLOAD_FAILED'
  /** The spool file could not be deleted after a successful upload. */
  | 'RECORDING_CLEANUP_FAILED';

/** A recording that could not be spooled, stored or cleaned up. */
export class RecordingError extends AppError {
  override readonly name = 'RecordingError';
  declare readonly code: RecordingErrorCode;
  constructor(code: RecordingErrorCode, message: string, options?: AppErrorOptions) {
    super(code, message, options);
  }
}

/**
 * Errors of segment recordings. Recording problems never end a session or a segment: they are logged
 * with one of these codes (docs/errors.md) and the recording is kept on disk (and retried) or given up.
 */
import { AppError, type AppErrorOptions } from '../../../core/errors';

/** Stable codes of {@link RecordingError}. */
export type RecordingErrorCode =
  /** Writing the local spool file failed (disk full, directory gone): this segment's recording is given up. */
  | 'RECORDING_SPOOL_FAILED'
  /** Every attempt of the first round failed: the WAV is kept (the log names the path) and retried later. */
  | 'RECORDING_UPLOAD_FAILED'
  /** A kept recording's sidecar could not be written: only the process that kept it retries it. */
  | 'RECORDING_SIDECAR_FAILED'
  /** A sidecar found in the spool directory is unreadable or malformed: its recording is left alone. */
  | 'RECORDING_SIDECAR_INVALID'
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

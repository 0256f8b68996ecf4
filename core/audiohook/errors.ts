/**
 * Errors of the AudioHook session layer. Every class carries a `name` and a stable `code` (listed in
 * docs/errors.md). The session never throws them into a socket callback: a protocol violation is answered
 * on the wire with `disconnect{reason:"error", info}` (§4.5), and the error object only travels to logs.
 */
import { AppError, type AppErrorOptions } from '../errors';

/** Stable codes for client protocol violations (answered with `disconnect{error}`). */
export type AudioHookProtocolErrorCode =
  | 'AUDIOHOOK_INVALID_MESSAGE'
  | 'AUDIOHOOK_BAD_VERSION'
  | 'AUDIOHOOK_ID_MISMATCH'
  | 'AUDIOHOOK_SEQ_GAP'
  | 'AUDIOHOOK_SERVERSEQ_AHEAD'
  | 'AUDIOHOOK_BAD_POSITION'
  | 'AUDIOHOOK_BAD_AUDIO_FRAME'
  | 'AUDIOHOOK_NO_SUPPORTED_MEDIA'
  | 'AUDIOHOOK_ORG_MISMATCH'
  | 'AUDIOHOOK_ORG_NOT_ALLOWED'
  | 'AUDIOHOOK_AUDIO_BEFORE_OPEN'
  | 'AUDIOHOOK_OPEN_TIMEOUT';

/**
 * The client broke the protocol (or was refused). `info` is the short text sent in `disconnect.info`,
 * so it never holds internal detail.
 */
export class AudioHookProtocolError extends AppError {
  override readonly name = 'AudioHookProtocolError';
  declare readonly code: AudioHookProtocolErrorCode;
  constructor(
    code: AudioHookProtocolErrorCode,
    readonly info: string,
  ) {
    super(code, info);
  }
}

/** Stable codes for failures of the collaborators the session calls (logged; the session goes on). */
export type AudioHookSessionErrorCode =
  | 'AUDIOHOOK_HOOK_FAILED'
  | 'AUDIOHOOK_SINK_FAILED'
  | 'AUDIOHOOK_TRANSPORT_FAILED'
  | 'AUDIOHOOK_MESSAGE_TOO_LARGE'
  | 'AUDIOHOOK_INVALID_OPTIONS'
  | 'AUDIOHOOK_INTERNAL';

/**
 * A hook, the sink or the transport failed, an outgoing message could not be built, or the session was
 * given options it cannot run with.
 */
export class AudioHookSessionError extends AppError {
  override readonly name = 'AudioHookSessionError';
  declare readonly code: AudioHookSessionErrorCode;
  constructor(code: AudioHookSessionErrorCode, message: string, options?: AppErrorOptions) {
    super(code, message, options);
  }
}

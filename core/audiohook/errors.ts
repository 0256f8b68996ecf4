/**
 * Errors of the AudioHook session layer. Every class carries a `name` and a stable `code` (listed in
 * docs/errors.md). The session never throws them into a socket callback: a protocol violation is answered
 * on the wire with `disconnect{reason:"error", info}` (§4.5), and the error object only travels to logs.
 */

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
  | 'AUDIOHOOK_ORG_NOT_ALLOWED';

/**
 * The client broke the protocol (or was refused). `info` is the short text sent in `disconnect.info`,
 * so it never holds internal detail.
 */
export class AudioHookProtocolError extends Error {
  override readonly name = 'AudioHookProtocolError';
  constructor(
    readonly code: AudioHookProtocolErrorCode,
    readonly info: string,
  ) {
    super(info);
  }
}

/** Stable codes for failures of the collaborators the session calls (logged; the session goes on). */
export type AudioHookSessionErrorCode =
  | 'AUDIOHOOK_HOOK_FAILED'
  | 'AUDIOHOOK_SINK_FAILED'
  | 'AUDIOHOOK_TRANSPORT_FAILED'
  | 'AUDIOHOOK_MESSAGE_TOO_LARGE'
  | 'AUDIOHOOK_INTERNAL';

/** A hook, the sink or the transport failed, or an outgoing message could not be built. */
export class AudioHookSessionError extends Error {
  override readonly name = 'AudioHookSessionError';
  constructor(
    readonly code: AudioHookSessionErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Normalizes anything caught into an `Error` (once, at the catch site). */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === 'string' ? value : 'non-error value thrown', { cause: value });
}

/** Log-safe summary of a caught value: name, code and message, never a stack or arbitrary payload. */
export function describeError(value: unknown): Record<string, unknown> {
  const err = toError(value);
  const code = (err as { code?: unknown }).code;
  return { errName: err.name, errMessage: err.message, ...(typeof code === 'string' ? { errCode: code } : {}) };
}

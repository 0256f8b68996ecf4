/**
 * The message envelope in both directions (docs/audiohook-protocol.md §2.2–§2.3): the integrity checks of
 * a client envelope, and the serialization of server→client messages — exactly the envelope fields
 * `version, id, type, seq, clientseq, parameters` in that order, never `position`, never binary.
 */
import { sampleCountOf } from './duration';
import { AudioHookProtocolError } from './errors';
import type { ClientMessage, ServerMessage, ServerMessageType, UnknownClientMessage } from './messages';
import { PROTOCOL_VERSION } from './messages';

/** The `parameters` shape of a server message type (`pong`, `closed`… share one envelope member). */
export type ServerParams<T extends ServerMessageType> = ServerMessage extends infer M
  ? M extends { type: infer U; parameters: infer P }
    ? T extends U
      ? P
      : never
    : never
  : never;

/**
 * Builds the text of one server message from already serialized parameters. The parameters are
 * serialized separately so that an `event` can be size-checked (and held) before it gets a `seq`.
 */
export function serializeServerMessage(
  id: string,
  type: ServerMessageType,
  seq: number,
  clientseq: number,
  parametersJson: string,
): string {
  return `{"version":"${PROTOCOL_VERSION}","id":${JSON.stringify(id)},"type":"${type}","seq":${seq},"clientseq":${clientseq},"parameters":${parametersJson}}`;
}

/**
 * Longest text a message can have once numbered: the same envelope with the widest possible `seq` and
 * `clientseq`. Lets `sendEvent` refuse an oversized event before queuing it.
 */
export function maxSerializedLength(id: string, type: ServerMessageType, parametersJson: string): number {
  const widest = Number.MAX_SAFE_INTEGER;
  return serializeServerMessage(id, type, widest, widest, parametersJson).length;
}

/** The numbering a client envelope is checked against. */
export interface EnvelopeNumbering {
  /** The last client `seq` accepted: the next must be exactly one more. */
  readonly lastClientSeq: number;
  /** The last `seq` we sent: a client `serverseq` may not exceed it. */
  readonly lastServerSeq: number;
}

/**
 * Checks the integrity of a client envelope (§2.3, §4.5): version, session id, gapless `seq`, a
 * `serverseq` we actually sent, a valid `position`. Returns the violation, or `undefined`.
 */
export function checkClientEnvelope(
  msg: ClientMessage | UnknownClientMessage,
  sessionId: string,
  numbering: EnvelopeNumbering,
): AudioHookProtocolError | undefined {
  if (msg.version !== PROTOCOL_VERSION) {
    return new AudioHookProtocolError('AUDIOHOOK_BAD_VERSION', 'unsupported protocol version');
  }
  if (msg.id !== sessionId) {
    return new AudioHookProtocolError('AUDIOHOOK_ID_MISMATCH', 'session id mismatch');
  }
  const expected = numbering.lastClientSeq + 1;
  if (msg.seq !== expected) {
    return new AudioHookProtocolError('AUDIOHOOK_SEQ_GAP', `unexpected seq ${msg.seq} (expected ${expected})`);
  }
  if (!Number.isSafeInteger(msg.serverseq) || msg.serverseq > numbering.lastServerSeq) {
    return new AudioHookProtocolError(
      'AUDIOHOOK_SERVERSEQ_AHEAD',
      `serverseq ${msg.serverseq} ahead of last sent seq ${numbering.lastServerSeq}`,
    );
  }
  if (sampleCountOf(msg.position) === null) {
    return new AudioHookProtocolError('AUDIOHOOK_BAD_POSITION', 'invalid position');
  }
  return undefined;
}

/** Cuts `text` to at most `max` characters (an ellipsis marks the cut), for logs and `disconnect.info`. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * Serialization of server→client messages (docs/audiohook-protocol.md §2.2): exactly the envelope fields
 * `version, id, type, seq, clientseq, parameters` in that order, never `position`, never binary.
 */
import type { ServerMessage, ServerMessageType } from './messages';
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

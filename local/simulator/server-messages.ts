/** Checks of the messages a simulated session receives from the server (§2.2–§2.3, §3.3). */
import { parseDurationSamples } from '../../core/audiohook/duration';
import { type DisconnectReason, type MediaParameter, PROTOCOL_VERSION } from '../../core/audiohook/messages';

/** Whether `v` is a plain JSON object. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Whether `v` is a sequence number or a count. */
export function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Whether the server's `opened` media entry is exactly the offered one (channel order included). */
export function sameMedia(a: MediaParameter, b: unknown): boolean {
  if (!isObject(b) || !Array.isArray(b.channels)) return false;
  return (
    a.type === b.type &&
    a.format === b.format &&
    a.rate === b.rate &&
    a.channels.length === b.channels.length &&
    a.channels.every((c, i) => c === (b.channels as unknown[])[i])
  );
}

/** The `disconnect` reasons a server may give. */
export const DISCONNECT_REASONS: readonly DisconnectReason[] = ['completed', 'unauthorized', 'error'];

/** A server message whose envelope passed the checks. */
export type ServerMessage = Record<string, unknown> & {
  type: string;
  seq: number;
  clientseq: number;
  parameters: Record<string, unknown>;
};

/** A fatal server error: the client reports it and closes with reason `error` (§3.4). */

export class Fatal {
  constructor(
    readonly code: number,
    readonly message: string,
  ) {}
}

/** The server's side of the sequencing (§2.3): the last `seq` seen. */
export interface ServerSequence {
  last: number;
}

/**
 * Common fields and sequencing of a server message (§2.2–§2.3); violations are fatal. A message with a
 * usable `seq` still moves the server sequence on, so one bad message is reported once instead of
 * cascading into a gap on every later message (and a lost `closed`).
 */
export function checkEnvelope(parsed: unknown, sessionId: string, sequence: ServerSequence): ServerMessage {
  if (!isObject(parsed)) throw new Fatal(400, 'Message is malformed: not a JSON object');
  const { version, id, type, seq, clientseq, parameters } = parsed;
  const name = typeof type === 'string' && type.length > 0 ? `'${type}'` : 'message';
  if (!isCount(seq)) throw new Fatal(400, `${name} has an invalid seq ${JSON.stringify(seq)}`);
  const expected = sequence.last + 1;
  sequence.last = seq;
  if (seq !== expected) throw new Fatal(500, `${name} has seq ${seq}, expected ${expected}`);
  if (version !== PROTOCOL_VERSION) throw new Fatal(400, `${name} has version ${JSON.stringify(version)}`);
  if (typeof type !== 'string' || type.length === 0) throw new Fatal(400, 'Message has no type');
  if (id !== sessionId) throw new Fatal(400, `${name} carries id ${JSON.stringify(id)}, not the session id`);
  if (!isCount(clientseq)) throw new Fatal(400, `${name} has an invalid clientseq ${JSON.stringify(clientseq)}`);
  if (!isObject(parameters)) throw new Fatal(400, `${name} has no parameters object`);
  return parsed as ServerMessage;
}

/** What a valid `opened` asks of the client. */
export interface OpenedChoice {
  /** The offered media entry the server selected; undefined when it selected none. */
  selected: MediaParameter | undefined;
  /** Where the server wants the stream to start, in samples (`discardTo`). */
  discardTo: number | undefined;
}

/** Checks the parameters of `opened` against the client's offer (§3.3); violations are fatal. */
export function checkOpened(p: Record<string, unknown>, offer: readonly MediaParameter[]): OpenedChoice {
  if (!Array.isArray(p.media)) throw new Fatal(400, "'opened' has no media array");
  const media: unknown[] = p.media;
  if (media.length > 1) throw new Fatal(400, `'opened' selects ${media.length} media; at most one is allowed`);
  // Exactly one entry taken verbatim from the offer, channel order included (§3.3).
  const selected = media.length === 0 ? undefined : offer.find((m) => sameMedia(m, media[0]));
  if (media.length === 1 && !selected) {
    throw new Fatal(400, `'opened' selects media that was not offered: ${JSON.stringify(media[0])}`);
  }
  if (p.startPaused !== undefined && typeof p.startPaused !== 'boolean') {
    throw new Fatal(400, "'opened' startPaused is not a boolean");
  }
  const discardTo = p.discardTo === undefined ? undefined : parseDurationSamples(String(p.discardTo));
  if (discardTo === null || (p.discardTo !== undefined && typeof p.discardTo !== 'string')) {
    throw new Fatal(400, `'opened' discardTo ${JSON.stringify(p.discardTo)} is not a duration`);
  }
  if (
    p.supportedLanguages !== undefined &&
    !(Array.isArray(p.supportedLanguages) && p.supportedLanguages.every((l) => typeof l === 'string'))
  ) {
    throw new Fatal(400, "'opened' supportedLanguages is not an array of strings");
  }
  return { selected, discardTo };
}

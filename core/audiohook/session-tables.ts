/**
 * What each client message does in each session state: the §4.2 handling matrix of
 * docs/audiohook-protocol.md (REC column), one table per state. A table row names a handler; the
 * handlers themselves are the session's ({@link MessageHandlers}), so this file holds only the policy.
 */
import type { ClientMessage, ClientMessageType } from './messages';

/** Server-side session states (§4.1 naming; `finalized` = the socket is gone). */
export type SessionState =
  | 'preparing'
  | 'opening'
  | 'active'
  | 'paused'
  | 'closing'
  | 'closed'
  | 'unauthorized'
  | 'signaled-error'
  | 'finalized';

/** The client message of one `type`. */
export type MessageOf<T extends ClientMessageType> = Extract<ClientMessage, { type: T }>;

/** What the tables can ask of a session. */
export interface MessageHandlers {
  logIgnored(type: ClientMessageType, level: 'debug' | 'info', why?: string): void;
  onPing(msg: MessageOf<'ping'>): void;
  onOpen(msg: MessageOf<'open'>): void;
  onClose(msg: MessageOf<'close'>): void;
  onClientPaused(msg: MessageOf<'paused'>): void;
  onClientResumed(msg: MessageOf<'resumed'>): void;
  onDiscarded(msg: MessageOf<'discarded'>): void;
  onUpdate(msg: MessageOf<'update'>): void;
  onClientError(msg: MessageOf<'error'>): void;
}

type Handler<T extends ClientMessageType> = (session: MessageHandlers, msg: MessageOf<T>) => void;
/** One row of the §4.2 matrix: what a state does with each client message type. */
type MessageTable = { readonly [T in ClientMessageType]: Handler<T> };

const ignore = (s: MessageHandlers, msg: ClientMessage): void => s.logIgnored(msg.type, 'debug');
const ignoreAndLog = (s: MessageHandlers, msg: ClientMessage): void => s.logIgnored(msg.type, 'info');
const answerPing: Handler<'ping'> = (s, msg) => s.onPing(msg);
const clientError: Handler<'error'> = (s, msg) => s.onClientError(msg);
const recordDiscarded: Handler<'discarded'> = (s, msg) => s.onDiscarded(msg);
const closeSession: Handler<'close'> = (s, msg) => s.onClose(msg);
const ignoreDuplicateClose: Handler<'close'> = (s) => s.logIgnored('close', 'debug', 'duplicate close');
const applyUpdate: Handler<'update'> = (s, msg) => s.onUpdate(msg);

const PREPARING: MessageTable = {
  open: (s, msg) => s.onOpen(msg),
  ping: answerPing,
  close: closeSession,
  paused: ignoreAndLog,
  resumed: ignoreAndLog,
  discarded: recordDiscarded,
  update: ignore,
  error: clientError,
};

const OPENING: MessageTable = {
  open: ignoreAndLog,
  ping: answerPing,
  // The pending decision is abandoned: no `opened` ever goes out, only `closed` (§4.3.1).
  close: closeSession,
  paused: ignoreAndLog,
  resumed: ignoreAndLog,
  discarded: recordDiscarded,
  update: ignore,
  error: clientError,
};

const ACTIVE: MessageTable = {
  open: ignoreAndLog,
  ping: answerPing,
  close: closeSession,
  paused: (s, msg) => s.onClientPaused(msg),
  resumed: ignoreAndLog,
  discarded: recordDiscarded,
  update: applyUpdate,
  error: clientError,
};

const PAUSED: MessageTable = {
  open: ignoreAndLog,
  ping: answerPing,
  close: closeSession,
  // The compliance client sends `paused` twice (§6.2 item 4); a `resume` answered by `paused` lands here too.
  paused: (s) => s.logIgnored('paused', 'debug', 'already paused'),
  resumed: (s, msg) => s.onClientResumed(msg),
  discarded: recordDiscarded,
  update: applyUpdate,
  error: clientError,
};

const CLOSING: MessageTable = {
  open: ignore,
  ping: answerPing,
  close: ignoreDuplicateClose,
  paused: ignore,
  resumed: ignore,
  discarded: recordDiscarded,
  update: ignore,
  error: clientError,
};

/** `unauthorized` and `signaled-error`: we sent `disconnect`; only `ping` and `close` still matter. */
const DISCONNECTING: MessageTable = {
  open: ignore,
  ping: answerPing,
  close: closeSession,
  paused: ignore,
  resumed: ignore,
  discarded: ignore,
  update: ignore,
  error: clientError,
};

const FINALIZED: MessageTable = {
  open: ignore,
  ping: ignore,
  close: ignore,
  paused: ignore,
  resumed: ignore,
  discarded: ignore,
  update: ignore,
  error: ignore,
};

const TABLES: Readonly<Record<SessionState, MessageTable>> = {
  preparing: PREPARING,
  opening: OPENING,
  active: ACTIVE,
  paused: PAUSED,
  closing: CLOSING,
  closed: CLOSING,
  unauthorized: DISCONNECTING,
  'signaled-error': DISCONNECTING,
  finalized: FINALIZED,
};

/** Hands one validated client message to what `state`'s table row says. */
export function dispatch(state: SessionState, session: MessageHandlers, msg: ClientMessage): void {
  const handler = TABLES[state][msg.type] as Handler<typeof msg.type>;
  handler(session, msg);
}

/**
 * The socket adapter: binds one `ws` WebSocket to one AudioHook session (style.md habit 3, "frames →
 * session state machine → effects"). It enforces the protocol's size limits (§6.1) before anything is
 * parsed, turns text frames into validated messages, hands binary frames over without copying, and runs
 * a WebSocket-level heartbeat so a peer that vanished without a FIN does not hold a session forever.
 * Nothing thrown by the session escapes into a `ws` callback.
 */

import type { RawData, WebSocket } from 'ws';
import type { ClientMessage, UnknownClientMessage } from '../../../core/audiohook/messages';
import { MAX_FRAME_BYTES, MAX_TEXT_MESSAGE_CHARS } from '../../../core/audiohook/messages';
import type { SessionTransport } from '../../../core/audiohook/ports';
import { describeError } from '../../../core/errors';
import type { Logger, TimerHandle, Timers } from '../../../core/ports';
import { decodeClientText } from './schema';

/** What the adapter feeds: the input side of an `AudioHookSession`. */
export interface SessionInput {
  handleMessage(msg: ClientMessage | UnknownClientMessage): void;
  handleInvalid(reason: string): void;
  handleAudio(data: Uint8Array): void;
  handleTransportClosed(code: number, reason: string): void;
}

/** Options of {@link createConnection}. */
export interface ConnectionOptions {
  logger: Logger;
  timers: Timers;
  /** Interval between our WebSocket pings. @default 30_000 */
  heartbeatIntervalMs?: number;
  /** Consecutive unanswered pings after which the socket is terminated. @default 2 */
  maxMissedPongs?: number;
  /** Called once when the socket is gone (after the session was told). */
  onClosed?(code: number, reason: string): void;
}

/** One socket bound (or about to be bound) to one session. */
export interface Connection {
  /** What the session writes to. */
  readonly transport: SessionTransport;
  /** Starts delivering frames to the session. Call once, synchronously after creating the session. */
  attach(session: SessionInput): void;
  /** Drops the TCP connection without a closing handshake (dead peer, shutdown deadline). */
  terminate(): void;
  /** True once the socket closed and the session was told. */
  readonly closed: boolean;
}

/** WebSocket close reasons are limited to 123 bytes (RFC 6455 §5.5); `ws` throws beyond that. */
const MAX_CLOSE_REASON_BYTES = 123;

/**
 * Binds `ws` to a session created afterwards with the returned `transport`. Frames cannot arrive before
 * `attach()` as long as it is called in the same tick as the `handleUpgrade` callback.
 */
export function createConnection(ws: WebSocket, opts: ConnectionOptions): Connection {
  const { logger, timers } = opts;
  const heartbeatIntervalMs = opts.heartbeatIntervalMs ?? 30_000;
  const maxMissedPongs = opts.maxMissedPongs ?? 2;
  let session: SessionInput | undefined;
  let closed = false;
  let missedPongs = 0;
  let heartbeat: TimerHandle | undefined;

  const onSessionThrew = (what: string, err: unknown): void => {
    // A session bug must cost this call only: log it and end this socket as an internal error (§4.6).
    logger.error({ err: describeError(err), during: what }, 'session threw; closing its socket');
    safeClose(1011, 'internal error');
  };
  const guard = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      onSessionThrew(what, err);
    }
  };

  const safeClose = (code: number, reason: string): void => {
    if (ws.readyState !== ws.OPEN && ws.readyState !== ws.CONNECTING) return;
    try {
      ws.close(code, truncateUtf8(reason, MAX_CLOSE_REASON_BYTES));
    } catch (err) {
      logger.warn({ err: describeError(err) }, 'websocket close failed; terminating');
      ws.terminate();
    }
  };

  const finish = (code: number, reason: string): void => {
    if (closed) return;
    closed = true;
    heartbeat?.cancel();
    heartbeat = undefined;
    if (session) {
      const s = session;
      guard('transport-closed', () => s.handleTransportClosed(code, reason));
    }
    try {
      opts.onClosed?.(code, reason);
    } catch (err) {
      logger.error({ err: describeError(err) }, 'onClosed callback threw');
    }
  };

  const beat = (): void => {
    if (closed) return;
    if (missedPongs >= maxMissedPongs) {
      logger.warn({ missedPongs }, 'websocket peer stopped answering pings; terminating');
      ws.terminate();
      return;
    }
    if (ws.readyState === ws.OPEN) {
      missedPongs += 1;
      ws.ping();
    }
    heartbeat = timers.setTimeout(beat, heartbeatIntervalMs);
  };

  const onMessage = (data: RawData, isBinary: boolean): void => {
    // Any frame proves the peer is alive, not only a pong.
    missedPongs = 0;
    const s = session;
    if (!s || closed) return;
    const buf = toBuffer(data);
    if (isBinary) {
      if (buf.byteLength > MAX_FRAME_BYTES) {
        guard('invalid', () => s.handleInvalid('message too large'));
        return;
      }
      // A view over ws's own buffer: the session and its sinks read audio synchronously, so no copy is
      // needed. A plain Uint8Array, not a Buffer, so core code sees `slice` copy as the standard says.
      // Inline rather than through `guard`: no closure per audio frame.
      const view = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
      try {
        s.handleAudio(view);
      } catch (err) {
        onSessionThrew('audio', err);
      }
      return;
    }
    // A UTF-8 text of more than 4 × the limit in bytes is too long in characters whatever it holds.
    const text = buf.byteLength > MAX_TEXT_MESSAGE_CHARS * 4 ? undefined : buf.toString('utf8');
    if (text === undefined || text.length > MAX_TEXT_MESSAGE_CHARS) {
      guard('invalid', () => s.handleInvalid('message too large'));
      return;
    }
    const decoded = decodeClientText(text);
    if (decoded.ok) guard('message', () => s.handleMessage(decoded.message));
    else guard('invalid', () => s.handleInvalid(decoded.reason));
  };

  ws.on('message', onMessage);
  ws.on('pong', () => {
    missedPongs = 0;
  });
  ws.on('close', (code: number, reason: Buffer) => finish(code, reason.toString('utf8')));
  ws.on('error', (err: Error) => {
    // Oversized frame, invalid UTF-8, socket reset…: ws always follows with 'close' (carrying the code it
    // closed with, e.g. 1009), which ends the session; here we only record why.
    logger.warn({ err: describeError(err) }, 'websocket error');
  });

  const transport: SessionTransport = {
    sendText(text) {
      if (ws.readyState !== ws.OPEN) {
        logger.debug({ readyState: ws.readyState }, 'dropping outgoing message: socket not open');
        return;
      }
      ws.send(text, (err) => {
        if (err) logger.debug({ err: describeError(err) }, 'websocket send failed');
      });
    },
    close(code, reason) {
      safeClose(code, reason);
    },
  };

  return {
    transport,
    attach(s) {
      if (session) throw new Error('connection already attached to a session');
      session = s;
      heartbeat = timers.setTimeout(beat, heartbeatIntervalMs);
    },
    terminate() {
      ws.terminate();
    },
    get closed() {
      return closed;
    },
  };
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function truncateUtf8(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s) <= maxBytes) return s;
  let out = s.slice(0, maxBytes);
  while (Buffer.byteLength(out) > maxBytes) out = out.slice(0, -1);
  return out;
}

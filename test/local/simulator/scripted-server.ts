/**
 * A tiny AudioHook *server* for testing the simulator client: it records everything the client sends and
 * answers by script. By default it behaves like a compliant server (opened with the first offer, pong,
 * closed); each test overrides only the step it is about. Not a gateway: the real one is tested elsewhere.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';

/** A JSON message as received; tests inspect fields ad hoc. */
// biome-ignore lint/suspicious/noExplicitAny: assertions read arbitrary wire fields; a schema would only restate the test
export type WireMessage = Record<string, any>;

/** What the server received, in order. */
export interface Received {
  atMs: number;
  kind: 'text' | 'binary';
  /** Parsed JSON of a text message (`undefined` when it did not parse). */
  message?: WireMessage;
  raw?: string;
  bytes?: number;
}

/** One accepted WebSocket connection. */
export interface ScriptedConnection {
  readonly headers: IncomingHttpHeaders;
  /** Request target (path and query). */
  readonly target: string;
  readonly received: Received[];
  /** Last client `seq` seen. */
  readonly lastClientSeq: number;
  /** Sends a server message with the next `seq` and `clientseq` = last client seq; overrides win (an overridden `seq` moves the counter). */
  send(type: string, parameters?: Record<string, unknown>, overrides?: Record<string, unknown>): void;
  sendRaw(data: string | Buffer): void;
  /** Resolves with the first (or next matching) client text message of that type. */
  waitFor(type: string, predicate?: (m: WireMessage) => boolean): Promise<WireMessage>;
  /** Text messages of that type received so far. */
  texts(type?: string): WireMessage[];
  /** Resolves when the socket has closed, with the close code. */
  readonly closed: Promise<number>;
  terminate(): void;
}

export interface ScriptedServerOptions {
  /** Return a status to refuse the upgrade with that HTTP status and body. */
  onUpgrade?: (headers: IncomingHttpHeaders, target: string) => { status: number; body?: string } | undefined;
  /**
   * Called for every client text message before the default behaviour; return `true` to suppress the
   * default (opened / pong / closed).
   */
  onMessage?: (conn: ScriptedConnection, msg: WireMessage) => boolean | undefined;
  /** Called when a connection is accepted. */
  onConnection?: (conn: ScriptedConnection) => void;
  /** Parameters of the automatic `opened` (media defaults to the first offer). */
  opened?: (open: WireMessage) => Record<string, unknown>;
}

export interface ScriptedServer {
  readonly url: string;
  readonly connections: ScriptedConnection[];
  /** Resolves with the next connection (or the first one already accepted and not yet taken). */
  nextConnection(): Promise<ScriptedConnection>;
  close(): Promise<void>;
}

/** Starts the scripted server on 127.0.0.1, port 0. */
export async function startScriptedServer(opts: ScriptedServerOptions = {}): Promise<ScriptedServer> {
  const http: Server = createServer((_req, res) => {
    res.writeHead(404).end();
  });
  const wss = new WebSocketServer({ noServer: true });
  const connections: ScriptedConnection[] = [];
  const waiting: Array<(c: ScriptedConnection) => void> = [];
  let taken = 0;

  http.on('upgrade', (req, socket, head) => {
    const target = req.url ?? '/';
    const refusal = opts.onUpgrade?.(req.headers, target);
    if (refusal) {
      const body = refusal.body ?? '';
      socket.end(
        `HTTP/1.1 ${refusal.status} Refused\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = wrap(ws, req.headers, target, opts);
      connections.push(conn);
      opts.onConnection?.(conn);
      const w = waiting.shift();
      if (w) {
        taken++;
        w(conn);
      }
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/api/v1/audiohook/ws`,
    connections,
    nextConnection() {
      const ready = connections[taken];
      if (ready) {
        taken++;
        return Promise.resolve(ready);
      }
      return new Promise((resolve) => waiting.push(resolve));
    },
    async close() {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

function wrap(
  ws: WebSocket,
  headers: IncomingHttpHeaders,
  target: string,
  opts: ScriptedServerOptions,
): ScriptedConnection {
  const started = performance.now();
  const received: Received[] = [];
  const waiters: Array<{
    type: string;
    predicate?: (m: WireMessage) => boolean;
    resolve: (m: WireMessage) => void;
    from: number;
  }> = [];
  let seq = 0;
  let lastClientSeq = 0;
  let sessionId = String(headers['audiohook-session-id'] ?? '');
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));

  const conn: ScriptedConnection = {
    headers,
    target,
    received,
    get lastClientSeq() {
      return lastClientSeq;
    },
    send(type, parameters = {}, overrides = {}) {
      seq += 1;
      // An overridden seq moves the counter: later messages continue from it, as a gapping server would.
      if (typeof overrides.seq === 'number') seq = overrides.seq;
      ws.send(
        JSON.stringify({ version: '2', id: sessionId, type, seq, clientseq: lastClientSeq, parameters, ...overrides }),
      );
    },
    sendRaw(data) {
      ws.send(data);
    },
    waitFor(type, predicate) {
      const found = received.find((r) => r.message?.type === type && (!predicate || predicate(r.message)));
      if (found) return Promise.resolve(found.message as WireMessage);
      return new Promise((resolve) => waiters.push({ type, predicate, resolve, from: received.length }));
    },
    texts(type) {
      return received
        .filter((r) => r.kind === 'text' && r.message && (type === undefined || r.message.type === type))
        .map((r) => r.message as WireMessage);
    },
    closed,
    terminate() {
      ws.terminate();
    },
  };

  ws.on('message', (data: Buffer, isBinary) => {
    const atMs = performance.now() - started;
    if (isBinary) {
      received.push({ atMs, kind: 'binary', bytes: data.byteLength });
      return;
    }
    const raw = data.toString('utf8');
    let message: WireMessage | undefined;
    try {
      message = JSON.parse(raw);
    } catch {
      message = undefined;
    }
    received.push(message ? { atMs, kind: 'text', message } : { atMs, kind: 'text', raw: raw.slice(0, 200) });
    if (!message) return;
    if (typeof message.seq === 'number') lastClientSeq = message.seq;
    if (message.type === 'open' && typeof message.id === 'string') sessionId = message.id;
    for (let i = 0; i < waiters.length; i++) {
      const w = waiters[i];
      if (w && w.type === message.type && (!w.predicate || w.predicate(message))) {
        waiters.splice(i, 1);
        w.resolve(message);
        break;
      }
    }
    if (opts.onMessage?.(conn, message)) return;
    if (message.type === 'open') {
      const params = opts.opened?.(message) ?? { startPaused: false, media: [message.parameters.media[0]] };
      conn.send('opened', params);
    } else if (message.type === 'ping') conn.send('pong');
    else if (message.type === 'close') conn.send('closed');
  });
  return conn;
}

/** Bytes of audio the server received between two indices of `received`. */
export function audioBytes(received: Received[], from = 0, to = received.length): number {
  return received.slice(from, to).reduce((n, r) => n + (r.kind === 'binary' ? (r.bytes ?? 0) : 0), 0);
}

/** Index in `received` of the first text message of that type (-1 when absent). */
export function indexOfText(received: Received[], type: string, nth = 0): number {
  let seen = 0;
  for (let i = 0; i < received.length; i++) {
    if (received[i]?.message?.type === type) {
      if (seen === nth) return i;
      seen++;
    }
  }
  return -1;
}

/**
 * The local WebSocket front (`npm start`, tests): a `ws` server that plays API Gateway's WebSocket API
 * and nothing more. Every business rule stays in the real route handlers (lambdas/websocket/*):
 *
 * - the handshake becomes a `$connect` event (headers, query); a non-2xx answer refuses the handshake
 *   with that HTTP status, as API Gateway does;
 * - each text frame is routed by `$request.body.action` to the matching route's handler, else
 *   `$default`; frames of one connection are handled one after another; a handler that throws makes the
 *   client receive `{"message":"Internal server error",…}` as from API Gateway;
 * - a close becomes `$disconnect` (with the close code and reason);
 * - the management API is served on the same port: `POST /@connections/{id}` (postToConnection),
 *   `GET` (getConnection), `DELETE` (deleteConnection), with `410 GoneException` for an unknown id and
 *   `413 PayloadTooLargeException` over 128 KiB, so the real `@aws-sdk/client-apigatewaymanagementapi`
 *   client works with `endpoint: http://<host>:<port>` (any stage prefix before `/@connections` is
 *   accepted).
 *
 * Build ≠ listen: {@link createWebSocketFront} returns the server; the caller listens (tests on port 0).
 * Run as a script it is the local WebSocket API of `npm start` (see {@link main}).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { loadWebSocketConfig } from '../lambdas/shared/realtime-config';
import {
  type ConnectionPusher,
  ManagementApiPusher,
  managementClient,
  type WebSocketDeps,
  type WebSocketEvent,
  type WebSocketHandler,
  webSocketDepsFromConfig,
} from '../lambdas/shared/websocket';
import { makeHandler as makeConnect } from '../lambdas/websocket/connect/handler';
import { makeHandler as makeDefault } from '../lambdas/websocket/default/handler';
import { makeHandler as makeDisconnect } from '../lambdas/websocket/disconnect/handler';
import { makeHandler as makeSubscribe } from '../lambdas/websocket/subscribe/handler';

/** The route handlers of the WebSocket API. */
export interface WebSocketRoutes {
  $connect: WebSocketHandler;
  $disconnect: WebSocketHandler;
  $default: WebSocketHandler;
  /** Custom routes by route key (the frame's `action`). */
  [routeKey: string]: WebSocketHandler;
}

/** Options of {@link createWebSocketFront}. */
export interface WebSocketFrontOptions {
  routes: WebSocketRoutes;
  /** @default 'local' */
  stage?: string;
  /** API Gateway's message size limit. @default 128 KiB */
  maxPayloadBytes?: number;
  /** Called when a handler throws (the client only sees the generic message). */
  onError?: (err: unknown, context: { routeKey: string; connectionId: string }) => void;
}

/** A running front. */
export interface WebSocketFront {
  /** The HTTP server (WebSocket upgrades + management API). Not listening yet. */
  readonly server: Server;
  /** Open connections by id. */
  readonly connections: ReadonlyMap<string, WebSocket>;
  /** Closes every connection (each gets its `$disconnect`) and the server. */
  close(): Promise<void>;
}

interface Connection {
  ws: WebSocket;
  connectedAt: number;
  lastActiveAt: number;
  sourceIp: string;
  userAgent: string;
  queue: Promise<void>;
}

/** API Gateway connection ids look like `L0SM9cOFvHcCIhw=`: 12 random bytes, base64. */
function newConnectionId(): string {
  return randomBytes(12).toString('base64');
}

function singleValues(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headersDistinct)) if (v && v.length > 0) out[k] = v[v.length - 1] as string;
  return out;
}

/** Builds the front's server (not listening). */
export function createWebSocketFront(options: WebSocketFrontOptions): WebSocketFront {
  const stage = options.stage ?? 'local';
  const maxPayload = options.maxPayloadBytes ?? 128 * 1024;
  const wss = new WebSocketServer({ noServer: true, maxPayload });
  const live = new Map<string, Connection>();
  const sockets = new Map<string, WebSocket>();

  const context = (
    connectionId: string,
    routeKey: string,
    eventType: WebSocketEvent['requestContext']['eventType'],
    host: string,
  ) => {
    const t = Date.now();
    return {
      routeKey,
      eventType,
      connectionId,
      domainName: host,
      stage,
      requestId: randomUUID(),
      apiId: 'localws',
      connectedAt: live.get(connectionId)?.connectedAt ?? t,
      requestTimeEpoch: t,
    };
  };

  const run = async (handler: WebSocketHandler, event: WebSocketEvent) => {
    try {
      return await handler(event);
    } catch (err) {
      options.onError?.(err, {
        routeKey: event.requestContext.routeKey,
        connectionId: event.requestContext.connectionId,
      });
      return undefined;
    }
  };

  const refuse = (socket: Duplex, status: number, body: string) => {
    socket.end(
      `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : 'Error'}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  };

  const onMessage = (connectionId: string, host: string, data: RawData, isBinary: boolean) => {
    const conn = live.get(connectionId);
    if (!conn) return;
    conn.lastActiveAt = Date.now();
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    const body = isBinary ? buf.toString('base64') : buf.toString('utf8');
    let routeKey = '$default';
    if (!isBinary) {
      try {
        const action = (JSON.parse(body) as { action?: unknown }).action;
        if (typeof action === 'string' && Object.hasOwn(options.routes, action) && !action.startsWith('$')) {
          routeKey = action;
        }
      } catch {
        // not JSON: $default
      }
    }
    const handler = options.routes[routeKey] ?? options.routes.$default;
    const requestContext = context(connectionId, routeKey, 'MESSAGE', host);
    // One frame at a time per connection, in arrival order.
    conn.queue = conn.queue.then(async () => {
      const result = await run(handler, { requestContext, body, isBase64Encoded: isBinary });
      if (result === undefined && conn.ws.readyState === WebSocket.OPEN) {
        conn.ws.send(
          JSON.stringify({ message: 'Internal server error', connectionId, requestId: requestContext.requestId }),
        );
      }
    });
  };

  const onUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const connectionId = newConnectionId();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const query = Object.fromEntries(url.searchParams);
    const host = req.headers.host ?? 'localhost';
    const event: WebSocketEvent = {
      requestContext: context(connectionId, '$connect', 'CONNECT', host),
      headers: singleValues(req),
      multiValueHeaders: req.headersDistinct as Record<string, string[]>,
      queryStringParameters: Object.keys(query).length > 0 ? query : null,
      isBase64Encoded: false,
    };
    const result = await run(options.routes.$connect, event);
    const status = result?.statusCode ?? 500;
    if (status < 200 || status >= 300) {
      refuse(socket, status, result?.body ?? 'Internal server error');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const now = Date.now();
      live.set(connectionId, {
        ws,
        connectedAt: now,
        lastActiveAt: now,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: req.headers['user-agent'] ?? '',
        queue: Promise.resolve(),
      });
      sockets.set(connectionId, ws);
      ws.on('message', (data, isBinary) => onMessage(connectionId, host, data, isBinary));
      ws.on('error', () => ws.terminate());
      ws.on('close', (code, reason) => {
        const conn = live.get(connectionId);
        live.delete(connectionId);
        sockets.delete(connectionId);
        const requestContext = {
          ...context(connectionId, '$disconnect', 'DISCONNECT', host),
          ...(conn && { connectedAt: conn.connectedAt }),
          disconnectStatusCode: code,
          disconnectReason: reason.toString('utf8'),
        };
        void (conn?.queue ?? Promise.resolve()).then(() =>
          run(options.routes.$disconnect, { requestContext, isBase64Encoded: false }),
        );
      });
    });
  };

  const management = async (req: IncomingMessage, res: ServerResponse, escapedId: string) => {
    const connectionId = decodeURIComponent(escapedId);
    const gone = () => {
      const body = JSON.stringify({ message: `connection ${connectionId} is gone` });
      res.writeHead(410, { 'Content-Type': 'application/json', 'x-amzn-ErrorType': 'GoneException' });
      res.end(body);
    };
    const conn = live.get(connectionId);
    const method = (req.method ?? 'GET').toUpperCase();
    if (method === 'POST') {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of req) {
        size += (c as Buffer).length;
        if (size <= maxPayload) chunks.push(c as Buffer);
      }
      if (size > maxPayload) {
        res.writeHead(413, { 'Content-Type': 'application/json', 'x-amzn-ErrorType': 'PayloadTooLargeException' });
        res.end(JSON.stringify({ message: 'payload too large' }));
        return;
      }
      if (!conn || conn.ws.readyState !== WebSocket.OPEN) return gone();
      const data = Buffer.concat(chunks);
      // API Gateway delivers postToConnection data as a text frame.
      await new Promise<void>((ok) => conn.ws.send(data.toString('utf8'), () => ok()));
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end();
      return;
    }
    if (!conn) return gone();
    if (method === 'DELETE') {
      conn.ws.close(1000, 'deleted by the management API');
      res.writeHead(204);
      res.end();
      return;
    }
    if (method === 'GET') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({
          ConnectedAt: new Date(conn.connectedAt).toISOString(),
          LastActiveAt: new Date(conn.lastActiveAt).toISOString(),
          Identity: { SourceIp: conn.sourceIp, UserAgent: conn.userAgent },
        }),
      );
      return;
    }
    res.writeHead(405);
    res.end();
  };

  const server = createServer((req, res) => {
    // A throw here would be uncaught and end the process: an unparseable target (`http://[`) is a 400.
    if (!URL.canParse(req.url ?? '/', 'http://localhost')) {
      res.writeHead(400).end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/health') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"status":"ok"}');
      return;
    }
    const m = /\/@connections\/([^/]+)$/.exec(url.pathname);
    if (!m) {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end('{"message":"Not Found"}');
      return;
    }
    management(req, res, m[1] as string).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(err instanceof URIError ? 400 : 500); // URIError: an id like `%ZZ`
      res.end();
    });
  });
  server.on('upgrade', (req, socket, head) => {
    onUpgrade(req, socket, head).catch(() => socket.destroy());
  });

  return {
    server,
    connections: sockets,
    async close() {
      const pending = [...live.values()].map(
        (c) =>
          new Promise<void>((ok) => {
            c.ws.once('close', () => ok());
            c.ws.close(1001, 'going away');
          }),
      );
      await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, 2000).unref())]);
      await Promise.all([...live.values()].map((c) => c.queue));
      await new Promise<void>((ok) => server.close(() => ok()));
      server.closeAllConnections();
    },
  };
}

/** The real handlers, built around one set of collaborators. */
export function webSocketRoutes(deps: WebSocketDeps): WebSocketRoutes {
  const subscribe = makeSubscribe(deps);
  return {
    $connect: makeConnect(deps),
    $disconnect: makeDisconnect(deps),
    $default: makeDefault(deps),
    subscribe,
    unsubscribe: subscribe,
  };
}

/**
 * A management API pusher whose endpoint is known only once the front listens: the handlers are built
 * before `listen`, their replies go through the real SDK client created on first use.
 */
export function lazyPusher(endpoint: () => string): ConnectionPusher {
  let pusher: ConnectionPusher | undefined;
  const get = () => {
    pusher ??= new ManagementApiPusher(managementClient(endpoint()));
    return pusher;
  };
  return {
    post: (id, data) => get().post(id, data),
    disconnect: (id) => get().disconnect(id),
  };
}

/** Where the front listens when run as a script. */
export interface WebSocketFrontListenConfig {
  host: string;
  port: number;
}

/** Reads LOCAL_WS_HOST (default 127.0.0.1) and LOCAL_WS_PORT (default 8083). */
export function loadFrontListenConfig(env: Record<string, string | undefined>): WebSocketFrontListenConfig {
  const raw = env.LOCAL_WS_PORT;
  const port = raw === undefined || raw === '' ? 8083 : Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`LOCAL_WS_PORT must be a TCP port number (0-65535), got ${JSON.stringify(raw)}`);
  }
  return { host: env.LOCAL_WS_HOST || '127.0.0.1', port };
}

/**
 * `tsx local/websocket-front.ts`: the local WebSocket API. Environment: the WebSocket handlers' variables
 * (lambdas/shared/realtime-config.ts `loadWebSocketConfig`: SUBSCRIPTIONS_TABLE, DYNAMODB_ENDPOINT,
 * API_CREDENTIALS_JSON/FILE, REALTIME_TOKEN_SECRET, REALTIME_SUPERVISOR_API_IDS) plus LOCAL_WS_HOST /
 * LOCAL_WS_PORT. The management endpoint is this process's own URL.
 */
export async function main(env: Record<string, string | undefined> = process.env): Promise<void> {
  const listen = loadFrontListenConfig(env);
  let endpoint = '';
  const config = loadWebSocketConfig(env);
  const base = webSocketDepsFromConfig(config, 'local-websocket');
  const pusher = lazyPusher(() => endpoint);
  const deps: WebSocketDeps = { ...base, pusherFor: () => pusher };
  const front = createWebSocketFront({
    routes: webSocketRoutes(deps),
    onError: (err, ctx) =>
      base.logger.error('websocket handler failed', {
        ...ctx,
        error: err instanceof Error ? err.message : String(err),
      }),
  });
  await new Promise<void>((ok) => front.server.listen(listen.port, listen.host, ok));
  const address = front.server.address();
  const port = typeof address === 'object' && address ? address.port : listen.port;
  endpoint = `http://${listen.host}:${port}`;
  base.logger.info('local WebSocket API listening', {
    url: `ws://${listen.host}:${port}`,
    managementEndpoint: endpoint,
  });
  const stop = () => {
    front.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`local WebSocket API failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}

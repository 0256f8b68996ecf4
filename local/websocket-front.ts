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
 * - the management API is served on the same port behind a secret path prefix (API Gateway signs these
 *   calls with IAM; see local/management-secret.ts): `POST /_management/<secret>/@connections/{id}`
 *   (postToConnection), `GET` (getConnection), `DELETE` (deleteConnection), with `410 GoneException` for
 *   an unknown id and `413 PayloadTooLargeException` over 128 KiB, so the real
 *   `@aws-sdk/client-apigatewaymanagementapi` client works with `endpoint: <front>/_management/<secret>`;
 *   any other `@connections` path, or a wrong secret, is `403`.
 *
 * Build ≠ listen: {@link createWebSocketFront} returns the server; the caller listens (tests on port 0).
 * Run as a script it is the local WebSocket API of `npm start` (see {@link main}).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import { resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { SourceLimiter, sourceKeyOf } from '../core/auth/source-limiter';
import { API_ID_HEADER, API_SECRET_HEADER } from '../lambdas/authorizer/handler';
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
import { LOCAL_SOURCE_LIMITS, type LocalSourceLimits } from './api/server';
import { requireLoopbackHost, urlHost } from './loopback';
import {
  MANAGEMENT_PREFIX,
  MANAGEMENT_SECRET_ENV,
  managementEndpoint,
  matchManagementPath,
  newManagementSecret,
  requireManagementSecret,
} from './management-secret';
import { type ManagedConnection, serveManagementCall } from './websocket-management';

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
  /** The management API's secret path segment (≥ 32 URL-safe characters). @default - 32 random bytes */
  managementSecret?: string;
  /**
   * Per-source limits checked before `$connect` runs (the local stand-in for a WAF rate rule, like the
   * local REST adapter's): over them, `429` without any credential or token check. A handshake whose
   * credential headers or token verified recently is vouched for and skips them. @default - no limits
   */
  sourceLimits?: LocalSourceLimits;
  /** Called when a handler throws (the client only sees the generic message). */
  onError?: (err: unknown, context: { routeKey: string; connectionId: string }) => void;
}

/** A running front. */
export interface WebSocketFront {
  /** The HTTP server (WebSocket upgrades + management API). Not listening yet. */
  readonly server: Server;
  /** Open connections by id. */
  readonly connections: ReadonlyMap<string, WebSocket>;
  /** The management API's path prefix, `/_management/<secret>`: append it to the front's URL for the SDK. */
  readonly managementPath: string;
  /** Closes every connection (each gets its `$disconnect`) and the server. */
  close(): Promise<void>;
}

interface Connection extends ManagedConnection {
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
  const secret =
    options.managementSecret === undefined
      ? newManagementSecret()
      : requireManagementSecret('managementSecret', options.managementSecret);
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

  const refuse = (socket: Duplex, status: number, body: string, headers: Record<string, string> = {}) => {
    const extra = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: text/plain\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
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

  const limits = options.sourceLimits;
  const sources = limits && new SourceLimiter({ requests: limits.requests, failures: limits.failures, now: Date.now });

  const onUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const connectionId = newConnectionId();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const query = Object.fromEntries(url.searchParams);
    const source = sourceKeyOf(req.socket.remoteAddress);
    const id = req.headersDistinct[API_ID_HEADER]?.at(-1);
    const secretHeader = req.headersDistinct[API_SECRET_HEADER]?.at(-1);
    const credential = id && secretHeader ? `${id}\n${secretHeader}` : query.token;
    const admission = sources?.admit(source, credential);
    if (admission && !admission.allowed) {
      refuse(socket, 429, 'Too Many Requests', { 'Retry-After': String(admission.retryAfterSec) });
      return;
    }
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
    if (status === 401) sources?.recordFailure(source, credential);
    else if (status === 200 && credential !== undefined) sources?.recordSuccess(credential);
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
    const route = matchManagementPath(url.pathname, secret);
    if (route.kind !== 'connection') {
      const status = route.kind === 'forbidden' ? 403 : 404;
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(status === 403 ? '{"message":"Forbidden"}' : '{"message":"Not Found"}');
      return;
    }
    serveManagementCall(req, res, { escapedId: route.escapedId, live, maxPayload }).catch((err: unknown) => {
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
    managementPath: `${MANAGEMENT_PREFIX}${secret}`,
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

/** The local WebSocket API listening: the front with the real route handlers, its own management API as their pusher. */
export interface ListeningWebSocketApi {
  readonly front: WebSocketFront;
  /** `ws://host:port`, for clients. */
  readonly url: string;
  /** `http://host:port/_management/<secret>`: the endpoint for the management API client (never log it). */
  readonly managementEndpoint: string;
}

/**
 * Starts the front on `host:port` (a loopback address; port 0 picks one) with `deps`' handlers, their
 * management API client pointed at this very front.
 */
export async function listenWebSocketApi(
  deps: Omit<WebSocketDeps, 'pusherFor'>,
  options: Omit<WebSocketFrontOptions, 'routes'> & { host?: string; port?: number } = {},
): Promise<ListeningWebSocketApi> {
  const { host = '127.0.0.1', port = 0, ...frontOptions } = options;
  let endpoint = '';
  const pusher = lazyPusher(() => endpoint);
  const front = createWebSocketFront({
    ...frontOptions,
    routes: webSocketRoutes({ ...deps, pusherFor: () => pusher }),
  });
  await new Promise<void>((ok) => front.server.listen(port, requireLoopbackHost('host', host), ok));
  const address = front.server.address();
  const origin = `${urlHost(host)}:${typeof address === 'object' && address ? address.port : port}`;
  endpoint = `http://${origin}${front.managementPath}`;
  return { front, url: `ws://${origin}`, managementEndpoint: endpoint };
}

/** Where the front listens when run as a script. */
export interface WebSocketFrontListenConfig {
  /** A loopback address. */
  host: string;
  port: number;
  /** @default - a random secret (then only this process can use its management API) */
  managementSecret?: string;
}

/**
 * Reads LOCAL_WS_HOST (a loopback address, default 127.0.0.1), LOCAL_WS_PORT (default 8083) and
 * LOCAL_WS_MANAGEMENT_SECRET (optional).
 */
export function loadFrontListenConfig(env: Record<string, string | undefined>): WebSocketFrontListenConfig {
  const raw = env.LOCAL_WS_PORT;
  const port = raw === undefined || raw === '' ? 8083 : Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`LOCAL_WS_PORT must be a TCP port number (0-65535), got ${JSON.stringify(raw)}`);
  }
  const secret = env[MANAGEMENT_SECRET_ENV];
  return {
    host: requireLoopbackHost('LOCAL_WS_HOST', env.LOCAL_WS_HOST || '127.0.0.1'),
    port,
    ...(secret !== undefined &&
      secret !== '' && {
        managementSecret: requireManagementSecret(MANAGEMENT_SECRET_ENV, secret),
      }),
  };
}

/**
 * `tsx local/websocket-front.ts`: the local WebSocket API. Environment: the WebSocket handlers' variables
 * (lambdas/shared/realtime-config.ts `loadWebSocketConfig`: SUBSCRIPTIONS_TABLE, DYNAMODB_ENDPOINT,
 * API_CREDENTIALS_JSON/FILE, REALTIME_TOKEN_SECRET, REALTIME_SUPERVISOR_API_IDS) plus LOCAL_WS_HOST /
 * LOCAL_WS_PORT / LOCAL_WS_MANAGEMENT_SECRET. The management endpoint is this process's own URL under
 * the secret prefix; it is never logged.
 */
export async function main(env: Record<string, string | undefined> = process.env): Promise<void> {
  const listen = loadFrontListenConfig(env);
  const base = webSocketDepsFromConfig(loadWebSocketConfig(env), 'local-websocket');
  const { front, url } = await listenWebSocketApi(base, {
    host: listen.host,
    port: listen.port,
    sourceLimits: LOCAL_SOURCE_LIMITS,
    ...(listen.managementSecret !== undefined && { managementSecret: listen.managementSecret }),
    onError: (err, ctx) =>
      base.logger.error('websocket handler failed', {
        ...ctx,
        error: err instanceof Error ? err.message : String(err),
      }),
  });
  base.logger.info('local WebSocket API listening', {
    url,
    managementEndpoint: managementEndpoint(url.replace(/^ws:/, 'http:'), '<secret>'),
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

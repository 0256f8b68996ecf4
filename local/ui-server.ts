/**
 * The local server of the live transcript page (web/transcript/): static files plus `/config.json`, the
 * page's configuration with a fresh WebSocket connect token. The token is obtained here, server-side, from
 * the REST API's token route (`POST /realtime/v1/token`, lambdas/realtime-token) with the local API
 * credentials, so the page never sees the API secret (docs/realtime.md §5).
 *
 * - `GET /config.json?conversationId=<id>` → `{ websocketUrl, conversationId, token, expiresAt }`, the token
 *   scoped to that one conversation; without `conversationId` → `{ websocketUrl }` only (never an
 *   all-conversations token, and no token route call); GET only;
 * - `GET /health` → 200;
 * - any other GET/HEAD → the file under `root` (`/` and `…/` serve `index.html`); paths that leave `root`,
 *   name a dotfile or a directory, or do not exist → 404; other methods → 405.
 *
 * It spends the user's own REST credential, so it answers only its own page: it binds to loopback, and
 * refuses (403 `UI_REQUEST_REFUSED`) a request whose `Host` is not its loopback authority (DNS rebinding:
 * `evil.example` resolving to 127.0.0.1) and one sent by another origin (`Origin`, `Sec-Fetch-Site`);
 * the rules are in local/ui-request-policy.ts.
 * Every answer carries a CSP whose `connect-src` is pinned to the configured WebSocket API's origin.
 *
 * Build ≠ listen: {@link createUiServer} returns the server; {@link startUiServer} listens. Run as a script
 * (`tsx local/ui-server.ts`) it is the `ui` component of `npm start` (see {@link main}).
 */

import { realpathSync } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AppError, type AppErrorOptions } from '../core/errors';
import { isLoopbackHost, urlHost } from './loopback';
import { contentSecurityPolicy, conversationIdOf, refusalOf } from './ui-request-policy';

/** Stable codes of {@link UiServerError} (listed in docs/errors.md). */
export type UiServerErrorCode = 'UI_CONFIG_INVALID' | 'UI_TOKEN_FAILED' | 'UI_REQUEST_REFUSED';

/** Bad configuration of the page server, or a token the REST API would not issue. */
export class UiServerError extends AppError {
  override readonly name = 'UiServerError';
  declare readonly code: UiServerErrorCode;
  constructor(code: UiServerErrorCode, message: string, options?: AppErrorOptions) {
    super(code, message, options);
  }
}

/** Options of {@link createUiServer} and {@link startUiServer}. */
export interface UiServerOptions {
  /** Listen address (used by {@link startUiServer}): loopback only (127.0.0.0/8, `::1`, `localhost`). */
  host: string;
  /** Listen port; 0 picks a free one. */
  port: number;
  /** Base URL of the REST API, e.g. `http://127.0.0.1:8082`. */
  apiUrl: string;
  /** REST API credential used to ask for connect tokens (never sent to the browser). */
  apiId: string;
  apiSecret: string;
  /** The WebSocket API the page connects to, e.g. `ws://127.0.0.1:8083`; its origin is pinned in the CSP. */
  websocketUrl: string;
  /** Directory of the page's static files. */
  root: string;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Called when the token route fails (the browser only sees a generic 502). */
  onError?: (err: unknown) => void;
}

/** A listening page server. */
export interface UiServer {
  /** `http://host:port` (`http://[::1]:port` for IPv6) */
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

/** The page's `/config.json`. */
export interface UiConfig {
  websocketUrl: string;
  conversationId?: string;
  token?: string;
  expiresAt?: string;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

const TOKEN_TIMEOUT_MS = 5000;

/**
 * The `ws:`/`wss:` origin of `websocketUrl`, as it goes into the CSP's `connect-src`.
 * @throws {@link UiServerError} `UI_CONFIG_INVALID` for anything else (another scheme, credentials in the
 *   URL, characters a CSP source cannot hold)
 */
export function websocketOriginOf(websocketUrl: string): string {
  let url: URL;
  try {
    url = new URL(websocketUrl);
  } catch {
    throw new UiServerError(
      'UI_CONFIG_INVALID',
      `websocketUrl must be a ws(s) URL, got ${JSON.stringify(websocketUrl)}`,
    );
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new UiServerError('UI_CONFIG_INVALID', `websocketUrl must be a ws:// or wss:// URL, got ${url.protocol}//…`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new UiServerError('UI_CONFIG_INVALID', 'websocketUrl must not carry credentials');
  }
  // `;`, `,` or spaces in the origin would end the CSP directive and let the value add its own.
  if (!/^wss?:\/\/[A-Za-z0-9.\-[\]:]+$/.test(url.origin)) {
    throw new UiServerError('UI_CONFIG_INVALID', `websocketUrl has an unusable host: ${JSON.stringify(url.host)}`);
  }
  return url.origin;
}

/** Asks the REST API's token route for a token scoped to one conversation. */
async function issueToken(
  opts: Pick<UiServerOptions, 'apiUrl' | 'apiId' | 'apiSecret'>,
  doFetch: typeof fetch,
  conversationId: string,
): Promise<{ token: string; expiresAt: string }> {
  let res: Response;
  try {
    res = await doFetch(new URL('/realtime/v1/token', opts.apiUrl), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'asapp-api-id': opts.apiId,
        'asapp-api-secret': opts.apiSecret,
      },
      body: JSON.stringify({ conversationId }),
      signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS),
    });
  } catch (err) {
    throw new UiServerError('UI_TOKEN_FAILED', `the REST API at ${opts.apiUrl} did not answer`, { cause: err });
  }
  const body = (await res.json().catch(() => undefined)) as { token?: unknown; expiresAt?: unknown } | undefined;
  if (!res.ok || typeof body?.token !== 'string') {
    throw new UiServerError('UI_TOKEN_FAILED', `the token route answered HTTP ${res.status}`);
  }
  return { token: body.token, expiresAt: typeof body.expiresAt === 'string' ? body.expiresAt : '' };
}

/**
 * Builds the page server (not listening).
 * @throws {@link UiServerError} `UI_CONFIG_INVALID` when `websocketUrl` is not a usable ws(s) URL
 */
export function createUiServer(opts: Omit<UiServerOptions, 'host' | 'port'>): Server {
  const doFetch = opts.fetch ?? globalThis.fetch;
  // Symlinks inside root are followed only when they stay inside it: compare real paths.
  const root = realpathSync(resolve(opts.root));
  /** What every answer carries: the page may hold a token and must not be framed or talk elsewhere. */
  const securityHeaders: Readonly<Record<string, string>> = {
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
    'Content-Security-Policy': contentSecurityPolicy(websocketOriginOf(opts.websocketUrl)),
  };

  const send = (
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    body: string | Buffer,
    headers: Record<string, string>,
  ): void => {
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    res.writeHead(status, { ...securityHeaders, 'Content-Length': String(bytes.byteLength), ...headers });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  };
  const sendJson = (req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void =>
    send(req, res, status, JSON.stringify(body), {
      'Content-Type': 'application/json; charset=utf-8',
      // It may carry a connect token, which is a credential: no cache may keep it.
      'Cache-Control': 'no-store',
    });
  const notFound = (req: IncomingMessage, res: ServerResponse): void =>
    send(req, res, 404, 'Not found\n', { 'Content-Type': 'text/plain; charset=utf-8' });
  const notAllowed = (req: IncomingMessage, res: ServerResponse, allow: string): void =>
    send(req, res, 405, 'Method not allowed\n', { 'Content-Type': 'text/plain; charset=utf-8', Allow: allow });

  const config = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    // A HEAD would cost a token (a call with the user's credential) for a body nobody reads.
    if (req.method !== 'GET') return notAllowed(req, res, 'GET');
    const named = conversationIdOf(url.searchParams);
    if (named === undefined) return sendJson(req, res, 200, { websocketUrl: opts.websocketUrl } satisfies UiConfig);
    if ('problem' in named) {
      return sendJson(req, res, 400, { error: { code: 'UI_CONFIG_INVALID', message: named.problem } });
    }
    const conversationId = named.id;
    try {
      const { token, expiresAt } = await issueToken(opts, doFetch, conversationId);
      const body: UiConfig = { websocketUrl: opts.websocketUrl, conversationId, token, expiresAt };
      sendJson(req, res, 200, body);
    } catch (err) {
      opts.onError?.(err);
      sendJson(req, res, 502, { error: { code: 'UI_TOKEN_FAILED', message: 'could not obtain a connect token' } });
    }
  };

  const file = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      return notFound(req, res);
    }
    if (path.includes('\0') || path.includes('\\')) return notFound(req, res);
    if (path.endsWith('/')) path += 'index.html';
    const segments = path.split('/').filter((s) => s !== '');
    // No dotfiles, and no `..` even where URL parsing left one (encoded forms are decoded above).
    if (segments.some((s) => s.startsWith('.'))) return notFound(req, res);
    const candidate = resolve(root, ...segments);
    if (!candidate.startsWith(root + sep)) return notFound(req, res);
    let real: string;
    try {
      real = await realpath(candidate);
      if (!real.startsWith(root + sep) || !(await stat(real)).isFile()) return notFound(req, res);
    } catch {
      return notFound(req, res);
    }
    const body = await readFile(real);
    send(req, res, 200, body, {
      'Content-Type': CONTENT_TYPES[extname(real).toLowerCase()] ?? 'application/octet-stream',
      // A development server: always revalidate, so an edited page shows on reload.
      'Cache-Control': 'no-cache',
    });
  };

  return createServer((req, res) => {
    const refusal = refusalOf(req.headers, { address: req.socket.localAddress, port: req.socket.localPort ?? 0 });
    if (refusal !== undefined) {
      sendJson(req, res, 403, { error: { code: 'UI_REQUEST_REFUSED', message: refusal } });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') return notAllowed(req, res, 'GET, HEAD');
    const route =
      url.pathname === '/health'
        ? Promise.resolve(sendJson(req, res, 200, { status: 'ok' }))
        : url.pathname === '/config.json'
          ? config(req, res, url)
          : file(req, res, url);
    route.catch((err: unknown) => {
      opts.onError?.(err);
      if (!res.headersSent) send(req, res, 500, 'Internal error\n', { 'Content-Type': 'text/plain; charset=utf-8' });
      else res.end();
    });
  });
}

/**
 * Builds the page server and listens on `host:port`.
 * @throws {@link UiServerError} `UI_CONFIG_INVALID` when `host` is not a loopback address
 */
export async function startUiServer(opts: UiServerOptions): Promise<UiServer> {
  if (!isLoopbackHost(opts.host)) {
    throw new UiServerError(
      'UI_CONFIG_INVALID',
      `the page server listens on loopback only (127.0.0.0/8, ::1 or localhost), got host ${JSON.stringify(opts.host)}`,
    );
  }
  const server = createUiServer(opts);
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port, opts.host, () => {
      server.off('error', fail);
      ok();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  return {
    url: `http://${urlHost(opts.host)}:${port}`,
    server,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

/** Where the page's files live in this repository. */
export const DEFAULT_UI_ROOT = join(import.meta.dirname, '..', 'web', 'transcript');

/**
 * Reads LOCAL_UI_HOST (127.0.0.1), LOCAL_UI_PORT (8085), API_URL, API_ID, API_SECRET, WEBSOCKET_URL and
 * LOCAL_UI_ROOT (web/transcript).
 * @throws {@link UiServerError} `UI_CONFIG_INVALID` naming each missing or bad variable
 */
export function loadUiServerConfig(env: Record<string, string | undefined>): UiServerOptions {
  const problems: string[] = [];
  const required = (name: string): string => {
    const v = env[name];
    if (v === undefined || v === '') problems.push(`${name} is required`);
    return v ?? '';
  };
  const raw = env.LOCAL_UI_PORT;
  const port = raw === undefined || raw === '' ? 8085 : Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    problems.push(`LOCAL_UI_PORT must be a TCP port number (0-65535), got ${JSON.stringify(raw)}`);
  }
  const apiUrl = required('API_URL');
  const websocketUrl = required('WEBSOCKET_URL');
  if (apiUrl && !/^https?:\/\//.test(apiUrl)) problems.push(`API_URL must be an http(s) URL, got ${apiUrl}`);
  if (websocketUrl && !/^wss?:\/\//.test(websocketUrl)) {
    problems.push(`WEBSOCKET_URL must be a ws(s) URL, got ${websocketUrl}`);
  }
  const host = env.LOCAL_UI_HOST || '127.0.0.1';
  if (!isLoopbackHost(host)) {
    problems.push(
      `LOCAL_UI_HOST must be a loopback address (127.0.0.0/8, ::1 or localhost), got ${JSON.stringify(host)}`,
    );
  }
  const opts: UiServerOptions = {
    host,
    port,
    apiUrl,
    apiId: required('API_ID'),
    apiSecret: required('API_SECRET'),
    websocketUrl,
    root: env.LOCAL_UI_ROOT || DEFAULT_UI_ROOT,
  };
  if (problems.length > 0) throw new UiServerError('UI_CONFIG_INVALID', problems.join('; '));
  return opts;
}

/** `tsx local/ui-server.ts`: serves the page until SIGTERM/SIGINT. Logs one JSON line per event. */
export async function main(env: Record<string, string | undefined> = process.env): Promise<void> {
  const log = (level: number, msg: string, fields: Record<string, unknown> = {}) =>
    process.stdout.write(`${JSON.stringify({ level, time: Date.now(), msg, ...fields })}\n`);
  const cfg = loadUiServerConfig(env);
  const ui = await startUiServer({
    ...cfg,
    onError: (err) =>
      log(50, 'transcript page: connect token failed', { error: err instanceof Error ? err.message : String(err) }),
  });
  log(30, 'transcript page listening', { url: ui.url });
  const stop = () => {
    ui.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    process.stderr.write(
      `transcript page server failed to start: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exit(1);
  });
}

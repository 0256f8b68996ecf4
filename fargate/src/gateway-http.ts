/**
 * The gateway's plain HTTP answers: the constant `/health` responses, the JSON answer to any other request,
 * the raw refusal written on an upgrade socket before `ws` takes it over, and the request-target and header
 * helpers the upgrade path uses. No state: the gateway passes in what it knows (draining or not).
 */
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

const GENERIC_BODY: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/**
 * `/health` answers, built once: the load balancer and the container check call it every few seconds, so it
 * reads one flag and writes a constant response. It never looks at DynamoDB, Transcribe or Secrets Manager
 * (a downstream outage must not take every task out of the target group at once).
 */
const HEALTH_OK = Buffer.from('{"status":"ok"}');
const HEALTH_DRAINING = Buffer.from('{"status":"draining"}');
const HEALTH_HEADERS_OK = healthHeaders(HEALTH_OK);
const HEALTH_HEADERS_DRAINING = healthHeaders(HEALTH_DRAINING);

/** Answers a plain (non-upgrade) request: `/health`, or 404 for anything else. */
export function answerHttpRequest(req: IncomingMessage, res: ServerResponse, draining: boolean): void {
  // First and synchronous: 200 while serving, 503 only while draining after SIGTERM.
  if (isHealthTarget(req.url) && (req.method === 'GET' || req.method === 'HEAD')) {
    res.writeHead(draining ? 503 : 200, draining ? HEALTH_HEADERS_DRAINING : HEALTH_HEADERS_OK);
    res.end(req.method === 'HEAD' ? undefined : draining ? HEALTH_DRAINING : HEALTH_OK);
    return;
  }
  sendJson(res, 404, { error: 'not_found', message: 'Not Found' }, req.method === 'HEAD');
}

/** Writes an HTTP refusal with a generic body on a not-yet-upgraded socket, then destroys it. */
export function writeRefusal(socket: Duplex, status: number, extraHeaders: Record<string, string>): void {
  if (socket.destroyed) return;
  const body = GENERIC_BODY[status] ?? STATUS_CODES[status] ?? 'Error';
  const headers = {
    Connection: 'close',
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    ...extraHeaders,
  };
  const head = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${head}\r\n${body}`, () => socket.destroy());
}

/** `/health`, with or without a query string (compared without parsing: no allocation). */
function isHealthTarget(url: string | undefined): boolean {
  return url === '/health' || url?.startsWith('/health?') === true;
}

function healthHeaders(body: Buffer): Record<string, string> {
  return { 'Content-Type': 'application/json', 'Content-Length': String(body.length), 'Cache-Control': 'no-store' };
}

/** Pathname of a request target, or undefined when it does not parse. */
export function pathnameOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    return new URL(url, 'http://gateway.invalid').pathname;
  } catch {
    return undefined;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headOnly: boolean): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(headOnly ? undefined : text);
}

/** Untrusted header values go to logs bounded, and only as strings. */
export function headerForLog(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value.join(', ') : value;
  return v === undefined ? undefined : v.slice(0, 100);
}

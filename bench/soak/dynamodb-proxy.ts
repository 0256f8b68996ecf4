/**
 * A fault-injecting HTTP/1.1 reverse proxy in front of DynamoDB Local, for the soak (issue #14).
 *
 * The local stack points its DynamoDB clients at this proxy instead of DynamoDB Local; the soak switches
 * its mode to make DynamoDB misbehave the way the real service does, so the retry and hold paths of the
 * gateway, the Lambdas and the fan-out are exercised by the unmodified AWS SDK:
 *
 * - `pass`: every request is forwarded as is (method, path, headers, body, streamed both ways) over
 *   keep-alive connections.
 * - `throttle`: with probability `probability` a request is answered here, never forwarded, with the
 *   throttling error DynamoDB sends (HTTP 400, `application/x-amz-json-1.0`, `x-amzn-requestid`,
 *   `x-amz-crc32`, a `__type` body). A share `provisionedThroughputShare` of those answers is a
 *   `ProvisionedThroughputExceededException` instead of a `ThrottlingException`. The SDK (@smithy/core
 *   retry) classifies both by name as THROTTLING errors (retried with the longer throttling backoff);
 *   neither carries a `$retryable` trait.
 * - `stall`: requests are held, unread and unanswered, until the mode changes (then every held request
 *   is forwarded, as a frozen DynamoDB that resumes would process its queue) or until the mode's
 *   `stallMaxMs` passes for that request (then it is forwarded).
 * - `error`: with probability `probability` (default 1) an `InternalServerError` (HTTP 500, same JSON
 *   shape); the SDK classifies it as TRANSIENT (by status) and retries it.
 *
 * When the target cannot be reached or fails mid-response, the proxy does not invent an HTTP answer
 * (a 502 would be read by the SDK as a service error with a status): it resets the client's connection
 * (TCP RST), which the SDK sees exactly as it would see a dead DynamoDB endpoint (`ECONNRESET`, a
 * transient network error). Those are counted in `stats().reset`.
 *
 * Random draws (only in `throttle` and `error` modes): one per request for the probability, and in
 * `throttle` one more for the exception kind when `0 < provisionedThroughputShare < 1`.
 */
import { randomBytes } from 'node:crypto';
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import { crc32 } from 'node:zlib';

/** The proxy's behaviour; switch it at any time with `setMode`. */
export type ProxyMode =
  | { readonly kind: 'pass' }
  | {
      readonly kind: 'throttle';
      /** Share of requests answered with a throttling error, in [0, 1]. */
      readonly probability: number;
      /** Share of those answered `ProvisionedThroughputExceededException`, in [0, 1]. @default 0 */
      readonly provisionedThroughputShare?: number;
    }
  | {
      readonly kind: 'stall';
      /** A held request is forwarded after this long even if the mode has not changed. @default no limit */
      readonly stallMaxMs?: number;
    }
  | {
      readonly kind: 'error';
      /** Share of requests answered `InternalServerError` (HTTP 500), in [0, 1]. @default 1 */
      readonly probability?: number;
    };

/** Counters since the proxy started. A stalled request that is later forwarded counts in both. */
export interface DynamoDbFaultProxyStats {
  /** Requests sent on to the target. */
  readonly forwarded: number;
  /** Requests answered with a throttling error (either exception). */
  readonly throttled: number;
  /** Requests that were held by `stall`. */
  readonly stalled: number;
  /** Requests answered with `InternalServerError`. */
  readonly errored: number;
  /** Client connections reset because the target was unreachable or failed mid-response. */
  readonly reset: number;
}

/** Options of {@link startDynamoDbFaultProxy}. */
export interface DynamoDbFaultProxyOptions {
  /** The real endpoint, e.g. DynamoDB Local's `http://127.0.0.1:8000` (plain HTTP, no path). */
  readonly target: string;
  /** Port to listen on (127.0.0.1). @default 0 - any free port */
  readonly port?: number;
  /** Source of uniform numbers in [0, 1) for the fault draws (inject a seeded one). @default Math.random */
  readonly random?: () => number;
}

/** A running proxy. */
export interface DynamoDbFaultProxy {
  /** `http://127.0.0.1:<port>`: give it to DynamoDB clients as their endpoint. */
  readonly endpoint: string;
  readonly port: number;
  /** Switches the behaviour for requests that arrive from now on (and releases held ones when leaving `stall`). */
  setMode(mode: ProxyMode): void;
  /** The current mode. */
  mode(): ProxyMode;
  stats(): DynamoDbFaultProxyStats;
  /** Stops listening and drops every connection, held requests included. */
  close(): Promise<void>;
}

const MAX_TIMER_MS = 2_147_483_647;
const JSON_1_0 = 'application/x-amz-json-1.0';
const ERROR_TYPE_PREFIX = 'com.amazonaws.dynamodb.v20120810#';
const THROTTLING = {
  type: 'ThrottlingException',
  message: 'Rate of requests exceeds the allowed throughput.',
};
const PROVISIONED = {
  type: 'ProvisionedThroughputExceededException',
  message:
    'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.',
};
const INTERNAL = { type: 'InternalServerError', message: 'Internal server error' };

// Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are not forwarded. `expect` is
// answered by this server already (Node sends the 100 Continue), so the target must not be asked again.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);

function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = String(headers.connection ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== '');
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.includes(name)) continue;
    out[name] = value;
  }
  return out;
}

/** DynamoDB request ids are 52 upper-case alphanumerics. */
function requestId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  return Array.from(randomBytes(52), (b) => alphabet[b % alphabet.length]).join('');
}

function validateProbability(value: number, what: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) {
    throw new RangeError(`${what} must be a number between 0 and 1, got ${String(value)}`);
  }
}

function validateMode(mode: ProxyMode): void {
  switch (mode?.kind) {
    case 'pass':
      return;
    case 'throttle':
      validateProbability(mode.probability, 'throttle probability');
      if (mode.provisionedThroughputShare !== undefined) {
        validateProbability(mode.provisionedThroughputShare, 'throttle provisionedThroughputShare');
      }
      return;
    case 'stall':
      // Node timers hold at most 2^31 − 1 ms; a longer one would fire at once.
      if (mode.stallMaxMs !== undefined && !(mode.stallMaxMs > 0 && mode.stallMaxMs <= MAX_TIMER_MS)) {
        throw new RangeError(
          `stallMaxMs must be a number of milliseconds in 1..${MAX_TIMER_MS}, got ${String(mode.stallMaxMs)}`,
        );
      }
      return;
    case 'error':
      if (mode.probability !== undefined) validateProbability(mode.probability, 'error probability');
      return;
    default:
      throw new TypeError(
        `unknown proxy mode ${JSON.stringify(mode)}: expected kind 'pass', 'throttle', 'stall' or 'error'`,
      );
  }
}

function parseTarget(target: string): URL {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw new RangeError(`target must be a URL such as http://127.0.0.1:8000, got ${JSON.stringify(target)}`);
  }
  if (url.protocol !== 'http:') {
    throw new RangeError(`target must be a plain http:// endpoint (DynamoDB Local), got ${target}`);
  }
  if (url.pathname !== '/' || url.search !== '') {
    throw new RangeError(`target must have no path or query (DynamoDB serves '/'), got ${target}`);
  }
  return url;
}

/** Starts the proxy on 127.0.0.1 in `pass` mode. */
export async function startDynamoDbFaultProxy(options: DynamoDbFaultProxyOptions): Promise<DynamoDbFaultProxy> {
  const target = parseTarget(options.target);
  const listenPort = options.port ?? 0;
  if (!Number.isInteger(listenPort) || listenPort < 0 || listenPort > 65535) {
    throw new RangeError(`port must be an integer in 0..65535, got ${String(options.port)}`);
  }
  const random = options.random ?? Math.random;
  const agent = new Agent({ keepAlive: true });
  const counts = { forwarded: 0, throttled: 0, stalled: 0, errored: 0, reset: 0 };
  let current: ProxyMode = { kind: 'pass' };
  let closed = false;
  /** Held requests: the release that forwards each one → the cancel that forgets it (closing). */
  const held = new Map<() => void, () => void>();

  function resetClient(req: IncomingMessage): void {
    if (req.socket.destroyed) return;
    counts.reset += 1;
    req.socket.resetAndDestroy();
  }

  function forward(req: IncomingMessage, res: ServerResponse): void {
    counts.forwarded += 1;
    const upstream = httpRequest({
      host: target.hostname,
      port: target.port === '' ? 80 : Number(target.port),
      method: req.method,
      path: req.url,
      headers: endToEnd(req.headers),
      agent,
    });
    upstream.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
      pipeline(answer, res, (err) => {
        // The target failed mid-body, or the client went away: either way this exchange is over.
        if (err) resetClient(req);
      });
    });
    // Connection refused or reset by the target: the client must see what a dead endpoint does.
    upstream.on('error', () => resetClient(req));
    pipeline(req, upstream, (err) => {
      if (err) upstream.destroy();
    });
  }

  function answerError(req: IncomingMessage, res: ServerResponse, status: number, error: typeof INTERNAL): void {
    const body = JSON.stringify({ __type: `${ERROR_TYPE_PREFIX}${error.type}`, message: error.message });
    // Drain the request first so the connection stays usable for the client's next request.
    req.resume();
    req.once('end', () => {
      if (res.destroyed) return;
      res.writeHead(status, {
        'content-type': JSON_1_0,
        'content-length': Buffer.byteLength(body),
        'x-amzn-requestid': requestId(),
        'x-amz-crc32': String(crc32(body)),
      });
      res.end(body);
    });
  }

  function hold(req: IncomingMessage, res: ServerResponse, stallMaxMs: number | undefined): void {
    counts.stalled += 1;
    let timer: NodeJS.Timeout | undefined;
    const cancel = () => {
      held.delete(release);
      if (timer) clearTimeout(timer);
    };
    const release = () => {
      cancel();
      if (!res.destroyed) forward(req, res);
    };
    held.set(release, cancel);
    if (stallMaxMs !== undefined) timer = setTimeout(release, stallMaxMs);
    // The client gave up while held: nothing to forward any more.
    res.once('close', cancel);
  }

  const handlers: {
    [K in ProxyMode['kind']]: (
      mode: Extract<ProxyMode, { kind: K }>,
      req: IncomingMessage,
      res: ServerResponse,
    ) => void;
  } = {
    pass: (_mode, req, res) => forward(req, res),
    throttle: (mode, req, res) => {
      if (random() >= mode.probability) return forward(req, res);
      const share = mode.provisionedThroughputShare ?? 0;
      const provisioned = share >= 1 || (share > 0 && random() < share);
      counts.throttled += 1;
      answerError(req, res, 400, provisioned ? PROVISIONED : THROTTLING);
    },
    stall: (mode, req, res) => hold(req, res, mode.stallMaxMs),
    error: (mode, req, res) => {
      if (random() >= (mode.probability ?? 1)) return forward(req, res);
      counts.errored += 1;
      answerError(req, res, 500, INTERNAL);
    },
  };

  function dispatch(req: IncomingMessage, res: ServerResponse): void {
    const mode = current;
    // The table is keyed by kind, so the narrowing below is exact.
    (handlers[mode.kind] as (m: ProxyMode, q: IncomingMessage, s: ServerResponse) => void)(mode, req, res);
  }

  const server: Server = createServer({ requestTimeout: 0 }, dispatch);
  // Longer than the SDK's idle sockets usually live, so a client rarely reuses a socket the proxy just
  // closed (that race would show as an ECONNRESET fault nobody injected).
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new Error(`DynamoDB fault proxy cannot listen on port ${listenPort}: ${err.message}`, { cause: err })),
    );
    server.listen(listenPort, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    setMode(mode: ProxyMode): void {
      validateMode(mode);
      if (closed) throw new Error('the DynamoDB fault proxy is closed');
      const wasStalling = current.kind === 'stall';
      current = mode;
      if (wasStalling && mode.kind !== 'stall') for (const release of [...held.keys()]) release();
    },
    mode: () => current,
    stats: () => ({ ...counts }),
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const cancel of [...held.values()]) cancel();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await done;
      agent.destroy();
    },
  };
}

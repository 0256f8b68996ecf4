/**
 * The local REST front (`npm start`, tests): a plain `http.Server` that plays API Gateway's part and
 * nothing more. It turns each HTTP request into the REST API's Lambda events (payload v1), runs the real
 * REQUEST authorizer, then the real route handler, and writes the handler's result back. Every business
 * rule stays in the handlers; what is emulated here is what API Gateway itself does in AWS:
 *
 * - unknown path or method → `404-01` (the `MISSING_AUTHENTICATION_TOKEN` gateway response);
 * - bodies over API Gateway's 10 MB payload limit → `413-01` (`REQUEST_TOO_LARGE`);
 * - a request Node's HTTP parser refuses (a control byte in a header, a bad Content-Length) → `400-01`,
 *   headers past Node's size limit → `413-01`: the envelope, never Node's bare status line;
 * - authorizer: `Error('Unauthorized')` → `401-01` (`UNAUTHORIZED`), a policy that does not allow the
 *   method ARN → `403-01` (`ACCESS_DENIED`), any other failure → `500-01` (`AUTHORIZER_FAILURE`);
 *   authorizer context values reach the handler as strings, with `principalId`, as API Gateway does;
 * - per-credential throttling (a usage plan keyed by the authorizer's `usageIdentifierKey`) → `429-01`
 *   with `Retry-After`;
 * - per-source limits *before* the authorizer (the WAF rate-based rule's stand-in, issue #15 item 6) →
 *   `429-01` with `Retry-After`, with no scrypt spent. Locally every caller is 127.0.0.1, so a plain per-IP
 *   rule would let one flood starve every legitimate caller (and the test suite would throttle itself).
 *   So two buckets per source, both skipped by a credential that passed the authorizer recently
 *   (core/auth/source-limiter.ts keeps a keyed hash of id + secret, withdrawn on its first 401): `requests`
 *   counts what arrives without such a credential, `failures` only the 401s. A flood of bad credentials
 *   empties the failure bucket after its burst and is answered 429 from then on, while a caller whose
 *   credential verified keeps its 2xx at any rate its usage plan allows. A caller's very first request
 *   during a flood competes for the failure budget like any unverified one: locally nothing else can
 *   tell it apart before the scrypt, in AWS it has its own address;
 * - a handler that throws → `500-01` (`DEFAULT_5XX`).
 *
 * Build ≠ listen: {@link createLocalApi} returns the server; the caller listens (tests on port 0).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { type ApiErrorCode, errorEnvelope } from '../../core/api/errors';
import { type RateLimit, SourceLimiter, sourceKeyOf } from '../../core/auth/source-limiter';
import { API_ID_HEADER, API_SECRET_HEADER } from '../../lambdas/authorizer/handler';
import type { ApiEvent, ApiResult, RouteHandler } from '../../lambdas/shared/http';

/** One route served by the adapter. */
export interface LocalRoute {
  method: string;
  /** API Gateway resource path, `{name}` for a path parameter (e.g. `/x/{guid}/status`). */
  path: string;
  handler: RouteHandler;
}

/** The authorizer function (same shape as lambdas/authorizer/handler.ts exports). */
export type LocalAuthorizer = (event: APIGatewayRequestAuthorizerEvent) => Promise<APIGatewayAuthorizerResult>;

/** Options of {@link createLocalApi}. */
export interface LocalApiOptions {
  routes: readonly LocalRoute[];
  /** REQUEST authorizer run before every route. @default - none: every request is let through */
  authorizer?: LocalAuthorizer;
  /** Stage name in ARNs and `requestContext.stage`. @default 'local' */
  stage?: string;
  /** Requests per second per credential when the authorizer names no `rateLimitPerSec`. @default 100 */
  defaultRateLimitPerSec?: number;
  /** Largest body accepted (API Gateway REST's payload limit). @default 10 MiB */
  maxPayloadBytes?: number;
  /** Unauthenticated liveness path answered by the adapter itself (local only). @default '/health' */
  healthPath?: string;
  /** Wall clock for throttling. @default Date.now */
  now?: () => number;
  /** Per-source limits checked before the authorizer (see the module comment). @default - none */
  sourceLimits?: LocalSourceLimits;
  /** Called when a handler or the authorizer throws (the body never carries details). */
  onError?: (err: unknown, context: { requestId: string; stage: 'authorizer' | 'handler' }) => void;
}

/** Per-source limits of {@link LocalApiOptions.sourceLimits}, per source address. */
export interface LocalSourceLimits {
  /** Requests that carry no recently verified credential. */
  requests: RateLimit;
  /** Answers `401-01`; once spent, unverified requests get `429-01` without reaching the authorizer. */
  failures: RateLimit;
}

/**
 * What `npm start` uses. Both budgets only meet attempts without a recently verified credential (a
 * caller's first request, and floods), so they can be small: the failures only count once an attempt's
 * scrypt has answered, and until then a concurrent flood is held by the requests burst (40 × ~40 ms of
 * scrypt at most, then 20 a second), not by a burst sized for legitimate traffic.
 */
export const LOCAL_SOURCE_LIMITS: LocalSourceLimits = {
  requests: { ratePerSec: 20, burst: 40 },
  failures: { ratePerSec: 10, burst: 20 },
};

const REGION = 'local';
const ACCOUNT = '000000000000';
const API_ID = 'localapi';

interface Matched {
  route: LocalRoute;
  pathParameters: Record<string, string> | null;
}

function compile(path: string): RegExp {
  const pattern = path
    .split('/')
    .map((seg) => {
      const param = /^\{([A-Za-z0-9_]+)\}$/.exec(seg);
      return param ? `(?<${param[1]}>[^/]+)` : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return new RegExp(`^${pattern}$`);
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function envelope(
  res: ServerResponse,
  requestId: string,
  code: ApiErrorCode,
  headers: Record<string, string> = {},
): void {
  json(res, Number(code.slice(0, 3)), errorEnvelope(requestId, code), { 'x-amzn-RequestId': requestId, ...headers });
}

/** Reads the body, stopping at `limit + 1` bytes (the rest is drained, never buffered). */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) tooLarge = true;
    if (!tooLarge) chunks.push(buf);
  }
  return tooLarge ? 'too-large' : Buffer.concat(chunks);
}

/** Does an IAM-style resource pattern (`*` wildcards) cover `arn`? */
function resourceMatches(pattern: string, arn: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return re.test(arn);
}

/** API Gateway's evaluation of an authorizer policy: an explicit Deny wins, else some Allow must match. */
export function policyAllows(result: APIGatewayAuthorizerResult, methodArn: string): boolean {
  let allowed = false;
  for (const statement of result.policyDocument?.Statement ?? []) {
    const s = statement as { Effect?: string; Resource?: string | string[]; Action?: string | string[] };
    const resources = s.Resource === undefined ? [] : Array.isArray(s.Resource) ? s.Resource : [s.Resource];
    const actions = s.Action === undefined ? [] : Array.isArray(s.Action) ? s.Action : [s.Action];
    const actionOk = actions.some((a) => a === 'execute-api:Invoke' || a === 'execute-api:*' || a === '*');
    if (!actionOk || !resources.some((r) => resourceMatches(r, methodArn))) continue;
    if (s.Effect === 'Deny') return false;
    if (s.Effect === 'Allow') allowed = true;
  }
  return allowed;
}

/** A token bucket per credential: `rate` per second, burst of `max(rate, 1)`. */
class Throttle {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(private readonly now: () => number) {}

  /** 0 when admitted, else whole seconds until a token is available. */
  take(key: string, rate: number): number {
    const t = this.now();
    const capacity = Math.max(rate, 1);
    const b = this.buckets.get(key) ?? { tokens: capacity, at: t };
    b.tokens = Math.min(capacity, b.tokens + ((t - b.at) / 1000) * rate);
    b.at = t;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / rate));
  }
}

/** The presented id and secret as one string (what the authorizer reads: the last value of each header). */
function credentialOf(req: IncomingMessage): string | undefined {
  const id = req.headersDistinct[API_ID_HEADER]?.at(-1);
  const secret = req.headersDistinct[API_SECRET_HEADER]?.at(-1);
  return id && secret ? `${id}\n${secret}` : undefined;
}

function singleValues(distinct: Record<string, string[]>): Record<string, string> {
  // API Gateway REST v1 keeps the last value of a repeated header or query parameter in the single-value map.
  return Object.fromEntries(
    Object.entries(distinct)
      .filter(([, v]) => v.length > 0)
      .map(([k, v]) => [k, v[v.length - 1] as string]),
  );
}

/** Builds the adapter's server (not listening). */
export function createLocalApi(options: LocalApiOptions): Server {
  const stage = options.stage ?? 'local';
  const maxPayload = options.maxPayloadBytes ?? 10 * 1024 * 1024;
  const defaultRate = options.defaultRateLimitPerSec ?? 100;
  const healthPath = options.healthPath ?? '/health';
  const now = options.now ?? Date.now;
  const throttle = new Throttle(now);
  const limits = options.sourceLimits;
  const sources = limits && new SourceLimiter({ requests: limits.requests, failures: limits.failures, now });
  const compiled = options.routes.map((route) => ({ route, re: compile(route.path) }));

  const match = (method: string, path: string): Matched | undefined => {
    for (const { route, re } of compiled) {
      if (route.method !== method) continue;
      const m = re.exec(path);
      if (!m) continue;
      const groups = m.groups ?? {};
      const params = Object.fromEntries(Object.entries(groups).map(([k, v]) => [k, decodeURIComponent(v)]));
      return { route, pathParameters: Object.keys(params).length > 0 ? params : null };
    }
    return undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const requestId = randomUUID();
    const started = now();
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return envelope(res, requestId, '404-01'); // an unparseable request target (`http://[`) matches no route
    }
    const method = (req.method ?? 'GET').toUpperCase();
    if (method === 'GET' && url.pathname === healthPath) {
      json(res, 200, { status: 'ok' });
      return;
    }
    // Before the body is read and before the authorizer: a throttled request costs a map lookup.
    const source = sourceKeyOf(req.socket.remoteAddress);
    const credential = credentialOf(req);
    const admission = sources?.admit(source, credential);
    if (admission && !admission.allowed) {
      return envelope(res, requestId, '429-01', { 'Retry-After': String(admission.retryAfterSec) });
    }
    const body = await readBody(req, maxPayload);
    if (body === 'too-large') return envelope(res, requestId, '413-01');
    let matched: Matched | undefined;
    try {
      matched = match(method, url.pathname);
    } catch {
      matched = undefined; // a malformed %-escape in a path parameter matches nothing
    }
    if (!matched) return envelope(res, requestId, '404-01');
    const { route, pathParameters } = matched;

    const multiValueHeaders = req.headersDistinct as Record<string, string[]>;
    const headers = singleValues(multiValueHeaders);
    // A Map, not an object literal: a parameter named `__proto__` or `constructor` must be a plain key.
    const queryLists = new Map<string, string[]>();
    for (const [k, v] of url.searchParams) queryLists.set(k, [...(queryLists.get(k) ?? []), v]);
    const multiValueQuery: Record<string, string[]> = Object.fromEntries(queryLists);
    const hasQuery = Object.keys(multiValueQuery).length > 0;
    const sourceIp = req.socket.remoteAddress ?? '127.0.0.1';
    const identity = {
      accessKey: null,
      accountId: null,
      apiKey: null,
      apiKeyId: null,
      caller: null,
      clientCert: null,
      cognitoAuthenticationProvider: null,
      cognitoAuthenticationType: null,
      cognitoIdentityId: null,
      cognitoIdentityPoolId: null,
      principalOrgId: null,
      sourceIp,
      user: null,
      userAgent: headers['user-agent'] ?? null,
      userArn: null,
    };
    const requestContext = {
      accountId: ACCOUNT,
      apiId: API_ID,
      protocol: `HTTP/${req.httpVersion}`,
      httpMethod: method,
      identity,
      path: `/${stage}${url.pathname}`,
      stage,
      requestId,
      requestTime: new Date(started).toISOString(),
      requestTimeEpoch: started,
      resourceId: route.path,
      resourcePath: route.path,
    };
    const methodArn = `arn:aws:execute-api:${REGION}:${ACCOUNT}:${API_ID}/${stage}/${method}${route.path}`;

    let authorizerContext: Record<string, unknown> = {};
    if (options.authorizer) {
      const authEvent: APIGatewayRequestAuthorizerEvent = {
        type: 'REQUEST',
        methodArn,
        resource: route.path,
        path: url.pathname,
        httpMethod: method,
        headers,
        multiValueHeaders,
        pathParameters,
        queryStringParameters: hasQuery ? singleValues(multiValueQuery) : null,
        multiValueQueryStringParameters: hasQuery ? multiValueQuery : null,
        stageVariables: null,
        requestContext: { ...requestContext, authorizer: undefined },
      };
      let verdict: APIGatewayAuthorizerResult;
      try {
        verdict = await options.authorizer(authEvent);
      } catch (err) {
        if (err instanceof Error && err.message === 'Unauthorized') {
          sources?.recordFailure(source, credential);
          return envelope(res, requestId, '401-01');
        }
        options.onError?.(err, { requestId, stage: 'authorizer' });
        return envelope(res, requestId, '500-01');
      }
      if (!policyAllows(verdict, methodArn)) return envelope(res, requestId, '403-01');
      if (credential !== undefined) sources?.recordSuccess(credential);
      const context = verdict.context ?? {};
      const rate = Number(context.rateLimitPerSec ?? defaultRate);
      const key = verdict.usageIdentifierKey ?? verdict.principalId;
      const waitSec = throttle.take(key, Number.isFinite(rate) && rate > 0 ? rate : defaultRate);
      if (waitSec > 0) return envelope(res, requestId, '429-01', { 'Retry-After': String(waitSec) });
      // API Gateway hands the context to the integration with every value as a string.
      authorizerContext = {
        ...Object.fromEntries(Object.entries(context).map(([k, v]) => [k, String(v)])),
        principalId: verdict.principalId,
        integrationLatency: now() - started,
      };
    }

    const event: ApiEvent = {
      resource: route.path,
      path: url.pathname,
      httpMethod: method,
      headers,
      multiValueHeaders,
      queryStringParameters: hasQuery ? singleValues(multiValueQuery) : null,
      multiValueQueryStringParameters: hasQuery ? multiValueQuery : null,
      pathParameters,
      stageVariables: null,
      requestContext: { ...requestContext, authorizer: authorizerContext },
      body: body.length > 0 ? body.toString('utf8') : null,
      isBase64Encoded: false,
    };
    let result: ApiResult;
    try {
      result = await route.handler(event);
    } catch (err) {
      options.onError?.(err, { requestId, stage: 'handler' });
      return envelope(res, requestId, '500-01');
    }
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(result.headers ?? {})) out[k] = String(v);
    for (const [k, v] of Object.entries(result.multiValueHeaders ?? {})) out[k] = v.map(String);
    const payload = result.isBase64Encoded
      ? Buffer.from(result.body, 'base64')
      : Buffer.from(result.body ?? '', 'utf8');
    res.writeHead(result.statusCode, { ...out, 'x-amzn-RequestId': requestId, 'Content-Length': payload.length });
    res.end(payload);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      options.onError?.(err, { requestId: 'unknown', stage: 'handler' });
      if (!res.headersSent) envelope(res, randomUUID(), '500-01');
      else res.destroy();
    });
  });
  server.on('clientError', answerClientError);
  return server;
}

/**
 * Requests Node's HTTP parser refuses (a control byte in a header, a bad Content-Length, headers past
 * the size limit) get the contract's envelope instead of Node's bare `400 Bad Request`: every non-2xx
 * body is the envelope (docs/openapi.yaml).
 */
function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (!socket.writable || err.code === 'ECONNRESET' || err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    socket.destroy();
    return;
  }
  const code: ApiErrorCode = err.code === 'HPE_HEADER_OVERFLOW' ? '413-01' : '400-01';
  const requestId = randomUUID();
  const text = JSON.stringify(errorEnvelope(requestId, code));
  socket.end(
    `HTTP/1.1 ${code.slice(0, 3)} ${code === '413-01' ? 'Request Entity Too Large' : 'Bad Request'}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n` +
      `x-amzn-RequestId: ${requestId}\r\nConnection: close\r\n\r\n${text}`,
  );
}

/**
 * One webhook receiver over HTTP(S): POSTs a body with the target's authentication (api-contract.md
 * §3.2), our HMAC signature, the idempotency key and the attempt number, within a timeout, and reports
 * the outcome in the retry policy's terms (core/delivery/retry-policy.ts). It never throws for a
 * receiver's misbehaviour: every failure is an {@link AttemptOutcome} with a stable code.
 *
 * Node's `http`/`https` are used rather than `fetch` because a custom CA and a client certificate are
 * per-connection TLS options (an `https.Agent` per target, kept alive between POSTs). An OAuth2 target's
 * token request gets its own agent, chosen by the token URL's scheme and configured only by the token
 * endpoint's own TLS settings: the receiver's CA and mTLS client certificate never reach the token server.
 */

import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { type AttemptOutcome, classifyStatus, parseRetryAfter } from '../../core/delivery/retry-policy';
import { SIGNATURE_HEADER, signBody } from '../../core/delivery/signature';
import { AppError } from '../../core/errors';
import type { WebhookTarget, WebhookTls } from './webhook-targets';

/** Header carrying the utterance id: the receivers' idempotency key. */
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
/** Header carrying the attempt number (1 on a first try). */
export const ATTEMPT_HEADER = 'X-Delivery-Attempt';
/** Header present (value `1`) on a dead-letter redrive. */
export const REDRIVE_HEADER = 'X-Delivery-Redrive';
/** User agent of every POST. */
export const USER_AGENT = 'audiohook-transcribe-webhook/1';

/** Per-POST metadata. */
export interface PostMeta {
  idempotencyKey: string;
  attempt: number;
  redrive?: boolean;
}

/** Options of {@link WebhookClient}. */
export interface WebhookClientOptions {
  /** Used when the target names no `timeoutMs`. */
  defaultTimeoutMs: number;
  /** Wall clock (epoch ms): signature timestamps and token expiry. @default Date.now */
  now?: () => number;
  /** Refresh an OAuth2 token this long before it expires. @default 30000 */
  tokenRefreshMarginMs?: number;
}

interface RawResponse {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

class RequestFailed extends AppError {
  override readonly name = 'RequestFailed';
  declare readonly code: 'WEBHOOK_TIMEOUT' | 'WEBHOOK_NETWORK';
  constructor(code: 'WEBHOOK_TIMEOUT' | 'WEBHOOK_NETWORK', message: string) {
    super(code, message);
  }
}

const MAX_RESPONSE_BYTES = 64 * 1024;

/** A cached OAuth2 access token. */
interface CachedToken {
  value: string;
  expiresAt: number;
}

/**
 * The connection pool for `url`: plain HTTP, or TLS 1.2+ with exactly the given settings (no `ca` means the
 * system's CAs; no `certPem` means no client certificate).
 */
export function agentFor(url: string, tls: WebhookTls | undefined, maxSockets: number): HttpAgent | HttpsAgent {
  if (!/^https:/i.test(url)) return new HttpAgent({ keepAlive: true, maxSockets });
  return new HttpsAgent({
    keepAlive: true,
    maxSockets,
    minVersion: 'TLSv1.2',
    ...(tls?.caPem !== undefined && { ca: tls.caPem }),
    ...(tls?.certPem !== undefined && { cert: tls.certPem }),
    ...(tls?.keyPem !== undefined && { key: tls.keyPem }),
    ...(tls?.keyPassphrase !== undefined && { passphrase: tls.keyPassphrase }),
  });
}

/** POSTs to one {@link WebhookTarget}. Create one per target per container and reuse it. */
export class WebhookClient {
  private readonly agent: HttpAgent | HttpsAgent;
  /** The token endpoint's own pool (OAuth2 targets only). */
  private readonly tokenAgent: HttpAgent | HttpsAgent | undefined;
  private readonly now: () => number;
  private readonly timeoutMs: number;
  private readonly refreshMarginMs: number;
  private token: CachedToken | undefined;
  private tokenLoading: Promise<CachedToken> | undefined;
  /** Token requests made (observability and tests). */
  tokenRequests = 0;

  constructor(
    readonly target: WebhookTarget,
    options: WebhookClientOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.timeoutMs = target.timeoutMs ?? options.defaultTimeoutMs;
    this.refreshMarginMs = options.tokenRefreshMarginMs ?? 30_000;
    this.agent = agentFor(target.url, target.tls, 32);
    // One token request at a time per client (concurrent callers share it), so one socket suffices.
    this.tokenAgent = target.auth.type === 'oauth2' ? agentFor(target.auth.tokenUrl, target.auth.tls, 1) : undefined;
  }

  /** Closes pooled connections. */
  close(): void {
    this.agent.destroy();
    this.tokenAgent?.destroy();
  }

  /** POSTs `body` once (plus one immediate retry after refreshing an OAuth2 token on a 401). */
  async post(body: string, meta: PostMeta): Promise<AttemptOutcome> {
    let outcome = await this.postOnce(body, meta, false);
    if (this.target.auth.type === 'oauth2' && outcome.kind === 'permanent' && outcome.status === 401) {
      // The receiver may have revoked the token before its expiry: refresh once, as §3.2 REC says.
      outcome = await this.postOnce(body, meta, true);
    }
    return outcome;
  }

  private async postOnce(body: string, meta: PostMeta, forceNewToken: boolean): Promise<AttemptOutcome> {
    const url = new URL(this.target.url);
    const headers: Record<string, string> = {
      ...this.target.headers,
      'Content-Type': 'application/json',
      'User-Agent': USER_AGENT,
      [IDEMPOTENCY_HEADER]: meta.idempotencyKey,
      [ATTEMPT_HEADER]: String(meta.attempt),
    };
    if (meta.redrive) headers[REDRIVE_HEADER] = '1';
    if (this.target.signingSecrets && this.target.signingSecrets.length > 0) {
      headers[SIGNATURE_HEADER] = signBody(this.target.signingSecrets, body, Math.floor(this.now() / 1000));
    }
    const auth = this.target.auth;
    if (auth.type === 'secret') {
      if (auth.placement === 'query') url.searchParams.set(auth.name, auth.value);
      else headers[auth.name] = auth.value;
    } else if (auth.type === 'oauth2') {
      try {
        headers.Authorization = `Bearer ${(await this.accessToken(forceNewToken)).value}`;
      } catch (err) {
        return { kind: 'retryable', code: 'WEBHOOK_OAUTH_FAILED', ...statusOf(err) };
      }
    }
    let response: RawResponse;
    try {
      response = await this.send(url, this.agent, headers, body);
    } catch (err) {
      return { kind: 'retryable', code: err instanceof RequestFailed ? err.code : 'WEBHOOK_NETWORK' };
    }
    const verdict = classifyStatus(response.status);
    if (verdict === 'delivered') return { kind: 'delivered', status: response.status };
    if (verdict === 'permanent') return { kind: 'permanent', code: 'WEBHOOK_HTTP_STATUS', status: response.status };
    const retryAfterMs = parseRetryAfter(headerValue(response.headers['retry-after']), this.now());
    return {
      kind: 'retryable',
      code: 'WEBHOOK_HTTP_STATUS',
      status: response.status,
      ...(retryAfterMs !== undefined && { retryAfterMs }),
    };
  }

  /** The cached token, or a new one from the token endpoint (concurrent callers share one request). */
  private async accessToken(force: boolean): Promise<CachedToken> {
    const cached = this.token;
    if (!force && cached && cached.expiresAt - this.refreshMarginMs > this.now()) return cached;
    this.tokenLoading ??= this.fetchToken().finally(() => {
      this.tokenLoading = undefined;
    });
    return this.tokenLoading;
  }

  private async fetchToken(): Promise<CachedToken> {
    const auth = this.target.auth;
    if (auth.type !== 'oauth2') throw new Error('not an oauth2 target');
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (auth.scope) form.set('scope', auth.scope);
    if (auth.audience) form.set('audience', auth.audience);
    const headers: Record<string, string> = {
      'Content-Type': 'application/x-www-form-urlencoded',
      Accept: 'application/json',
      'User-Agent': USER_AGENT,
    };
    if (auth.clientAuth === 'body') {
      form.set('client_id', auth.clientId);
      form.set('client_secret', auth.clientSecret);
    } else {
      // RFC 6749 §2.3.1: form-urlencode each part before base64.
      const pair = `${encodeURIComponent(auth.clientId)}:${encodeURIComponent(auth.clientSecret)}`;
      headers.Authorization = `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
    }
    this.tokenRequests++;
    const started = this.now();
    const res = await this.send(new URL(auth.tokenUrl), this.tokenAgent ?? this.agent, headers, form.toString());
    if (res.status < 200 || res.status >= 300) {
      throw Object.assign(new Error(`token endpoint answered ${res.status}`), { status: res.status });
    }
    let parsed: { access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(res.body) as typeof parsed;
    } catch {
      throw new Error('token endpoint answered something that is not JSON');
    }
    if (typeof parsed.access_token !== 'string' || parsed.access_token === '') {
      throw new Error('token endpoint answered no access_token');
    }
    // No expires_in: assume a short life rather than caching forever.
    const expiresInSec = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : 60;
    this.token = { value: parsed.access_token, expiresAt: started + expiresInSec * 1000 };
    return this.token;
  }

  /** POSTs `body` to `url` through `agent` (which must match the URL's scheme). */
  private send(
    url: URL,
    agent: HttpAgent | HttpsAgent,
    headers: Record<string, string>,
    body: string,
  ): Promise<RawResponse> {
    const payload = Buffer.from(body, 'utf8');
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<RawResponse>((resolve, reject) => {
      let settled = false;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        fn();
      };
      const req = request(
        url,
        { method: 'POST', agent, headers: { ...headers, 'Content-Length': String(payload.length) } },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size <= MAX_RESPONSE_BYTES) chunks.push(c);
          });
          res.on('end', () =>
            finish(() =>
              resolve({
                status: res.statusCode ?? 0,
                headers: res.headers,
                body: Buffer.concat(chunks).toString('utf8'),
              }),
            ),
          );
          res.on('error', (err) => finish(() => reject(new RequestFailed('WEBHOOK_NETWORK', err.message))));
        },
      );
      const timer = setTimeout(() => {
        finish(() => reject(new RequestFailed('WEBHOOK_TIMEOUT', `no answer within ${this.timeoutMs} ms`)));
        req.destroy();
      }, this.timeoutMs);
      req.on('error', (err) => finish(() => reject(new RequestFailed('WEBHOOK_NETWORK', err.message))));
      req.end(payload);
    });
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function statusOf(err: unknown): { status?: number } {
  const status = (err as { status?: unknown } | undefined)?.status;
  return typeof status === 'number' ? { status } : {};
}

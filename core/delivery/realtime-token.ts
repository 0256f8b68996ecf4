/**
 * Short-lived tokens for the WebSocket API's `$connect`. Browsers cannot set the `asapp-api-id` /
 * `asapp-api-secret` headers on a WebSocket handshake, and an API secret must never travel in a URL; so a
 * backend holding the credentials asks the REST API for a token (`POST /realtime/v1/token`) and hands
 * it to the browser, which connects with `?token=…`.
 *
 * Format: `rt1.<base64url JSON claims>.<base64url HMAC-SHA256(key, "rt1.<claims>")>`. Claims:
 * `sub` (api id), `scope` (`{conversationId}` for one conversation or `{all: true}` for a supervisor),
 * `aud` (always {@link TOKEN_AUDIENCE}: a token is good for the WebSocket handshake only), `kid` (names the
 * signing key: {@link keyId}), `iat`, `exp` (epoch seconds). Stateless: any function holding the key
 * verifies it. Verification refuses a token whose lifetime exceeds {@link MAX_TOKEN_TTL_SEC} or that was
 * issued in the future, whatever its signature; `$connect` also re-checks that `sub` is still a credential
 * allowed the `realtime` scope (lambdas/websocket/connect), so removing a credential ends its tokens.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { DeliveryError } from './errors';

/** What a token lets its holder subscribe to. */
export type RealtimeScope = { readonly conversationId: string } | { readonly all: true };

/** The claims of a token. */
export interface RealtimeClaims {
  /** The api id that asked for it. */
  readonly sub: string;
  readonly scope: RealtimeScope;
  /** Always {@link TOKEN_AUDIENCE}. */
  readonly aud: typeof TOKEN_AUDIENCE;
  /** {@link keyId} of the signing key. */
  readonly kid: string;
  /** Issued at, epoch seconds. */
  readonly iat: number;
  /** Expiry, epoch seconds. */
  readonly exp: number;
}

/** Longest lifetime a token may be issued with: it only has to survive until the handshake. */
export const MAX_TOKEN_TTL_SEC = 900;

/** The one audience of a token: the WebSocket API's `$connect`. */
export const TOKEN_AUDIENCE = 'ws-connect';
/** Clock skew tolerated on `iat` between the issuing and the verifying function. */
const MAX_SKEW_SEC = 60;

const PREFIX = 'rt1';
const TOKEN_RE = /^rt1\.([A-Za-z0-9_-]{1,4096})\.([A-Za-z0-9_-]{43})$/;

/** A short, non-secret name of a key (first 8 base64url characters of its SHA-256), carried as `kid`. */
export function keyId(key: string | Uint8Array): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 8);
}

function sign(key: string | Uint8Array, payload: string): string {
  return createHmac('sha256', key).update(`${PREFIX}.${payload}`).digest('base64url');
}

/** Issues a token. `ttlSec` must be 1..{@link MAX_TOKEN_TTL_SEC}. */
export function issueRealtimeToken(
  key: string | Uint8Array,
  subject: string,
  scope: RealtimeScope,
  nowSec: number,
  ttlSec: number,
): { token: string; claims: RealtimeClaims } {
  if (!Number.isInteger(ttlSec) || ttlSec < 1 || ttlSec > MAX_TOKEN_TTL_SEC) {
    throw new RangeError(`ttlSec must be 1..${MAX_TOKEN_TTL_SEC}`);
  }
  const claims: RealtimeClaims = {
    sub: subject,
    scope,
    aud: TOKEN_AUDIENCE,
    kid: keyId(key),
    iat: Math.floor(nowSec),
    exp: Math.floor(nowSec) + ttlSec,
  };
  const payload = Buffer.from(JSON.stringify(claims), 'utf8').toString('base64url');
  return { token: `${PREFIX}.${payload}.${sign(key, payload)}`, claims };
}

function invalid(why: string): never {
  throw new DeliveryError('REALTIME_TOKEN_INVALID', `realtime token ${why}`);
}

/**
 * Verifies a token and returns its claims. Throws a {@link DeliveryError} `REALTIME_TOKEN_INVALID` when it
 * is malformed, not signed with `key`, for another audience, expired at `nowSec`, issued in the future, or
 * valid for longer than {@link MAX_TOKEN_TTL_SEC}.
 */
export function verifyRealtimeToken(key: string | Uint8Array, token: string, nowSec: number): RealtimeClaims {
  const m = TOKEN_RE.exec(token);
  if (!m) invalid('is malformed');
  const [, payload = '', given = ''] = m as RegExpExecArray;
  const expected = Buffer.from(sign(key, payload), 'utf8');
  const actual = Buffer.from(given, 'utf8');
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) invalid('has a bad signature');
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    invalid('is malformed');
  }
  const c = claims as Partial<RealtimeClaims> & { scope?: Record<string, unknown> };
  if (typeof c.sub !== 'string' || typeof c.exp !== 'number' || typeof c.iat !== 'number') invalid('is malformed');
  const scope = c.scope;
  const scopeOk =
    typeof scope === 'object' &&
    scope !== null &&
    (scope.all === true || (typeof scope.conversationId === 'string' && scope.conversationId.length > 0));
  if (!scopeOk) invalid('has no valid scope');
  if (c.aud !== TOKEN_AUDIENCE) invalid('is for another audience');
  const iat = c.iat as number;
  const exp = c.exp as number;
  if (exp - iat > MAX_TOKEN_TTL_SEC) invalid('outlives the maximum lifetime');
  if (iat > nowSec + MAX_SKEW_SEC) invalid('was issued in the future');
  if (exp <= nowSec) invalid('has expired');
  return c as RealtimeClaims;
}

/**
 * The `kid` a token claims, read without verifying it (undefined when it has none or is malformed): lets a
 * verifier holding one key tell a token of another key (re-read the key) from a bad one (refuse at once).
 */
export function claimedKeyId(token: string): string | undefined {
  const m = TOKEN_RE.exec(token);
  if (!m) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(m[1] as string, 'base64url').toString('utf8')) as { kid?: unknown };
    return typeof claims.kid === 'string' ? claims.kid : undefined;
  } catch {
    return undefined;
  }
}

/** May a holder of `scope` subscribe to `target` (`'*'` = every conversation)? */
export function scopeAllows(scope: RealtimeScope, target: string): boolean {
  if ('all' in scope) return true;
  return target !== '*' && scope.conversationId === target;
}

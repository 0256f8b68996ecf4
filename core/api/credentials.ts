/**
 * API credentials (`asapp-api-id` + `asapp-api-secret`, api-contract.md §5), hashed at rest.
 *
 * The credential set is a JSON object keyed by api id (kept in a Secrets Manager secret in AWS, a file or
 * inline JSON locally):
 *
 * ```json
 * { "app-123": { "alg": "scrypt", "salt": "q3J…", "secretHash": "9f1c…", "label": "genesys-prod",
 *                "rateLimitPerSec": 100, "usageKey": "uk-…" } }
 * ```
 *
 * - `alg: "scrypt"` (default): `secretHash` = hex of scrypt(secret, salt, N=16384, r=8, p=1, 32 bytes). A
 *   deliberately slow hash: a leaked secret value does not give the secrets away.
 * - `alg: "sha256"`, or the field `secretSha256` instead of `secretHash`: hex of SHA-256(salt ‖ secret),
 *   for entries produced by hand with standard tools. Accepted, not recommended.
 * - `salt`: any string (used as UTF-8 bytes), unique per credential. `npx tsx lambdas/authorizer/hash-secret.ts`
 *   produces complete entries.
 * - `usageKey`: the value of the API Gateway API key that meters this credential in a usage plan
 *   (returned as the authorizer's `usageIdentifierKey`). @default - {@link defaultUsageKey}(apiId)
 * - `disabled: true` keeps an entry known but refused (`403-01`), e.g. while rotating.
 * - `scopes`: what the credential may do, a non-empty subset of {@link SCOPES} (docs/security.md §3):
 *   `control` start/stop, `read` messages and status, `realtime` WebSocket tokens and connections, `export`
 *   the File Exporter's read routes, `admin` on-demand exports. Each REST route needs one scope
 *   (contract/routes.ts); the authorizer's policy allows exactly the routes of the credential's scopes.
 *   @default - every scope, and {@link CredentialEntry.legacyScopes} is set: entries written before scopes
 *   existed keep working (the authorizer logs a warning naming the api id; add `scopes` to narrow them).
 *
 * Comparisons are constant-time over equal-length digests; an unknown id still costs one hash, so timing
 * does not tell known ids from unknown ones.
 */

import { createHash, scrypt, timingSafeEqual } from 'node:crypto';
import { AppError, type AppErrorOptions } from '../errors';

/** Hash algorithms of a stored secret. */
export type CredentialAlg = 'scrypt' | 'sha256';

/** What a credential may do (docs/security.md §3). */
export const SCOPES = ['control', 'read', 'realtime', 'export', 'admin'] as const;
/** One scope of {@link SCOPES}. */
export type Scope = (typeof SCOPES)[number];

/** One credential, as parsed. Never holds the secret itself. */
export interface CredentialEntry {
  readonly apiId: string;
  readonly alg: CredentialAlg;
  readonly salt: string;
  /** The stored digest (32 bytes). */
  readonly hash: Buffer;
  readonly label: string;
  readonly rateLimitPerSec?: number;
  readonly usageKey: string;
  readonly disabled: boolean;
  /** The scopes granted (every scope when the entry names none). */
  readonly scopes: ReadonlySet<Scope>;
  /** True when the entry names no `scopes` and so holds every scope (the pre-scopes default). */
  readonly legacyScopes: boolean;
}

function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && (SCOPES as readonly string[]).includes(value);
}

/**
 * Parses a scope list (`["control","read"]` or `"control,read"`). Throws a `RangeError` naming the first
 * unknown scope; an empty list is refused (a credential that may do nothing is a mistake).
 */
export function parseScopes(value: unknown): Set<Scope> {
  const items = typeof value === 'string' ? value.split(',').map((s) => s.trim()) : value;
  if (!Array.isArray(items) || items.length === 0) {
    throw new RangeError(`scopes must be a non-empty list of ${SCOPES.join(', ')}`);
  }
  const scopes = new Set<Scope>();
  for (const item of items) {
    if (!isScope(item)) {
      const shown = typeof item === 'string' ? JSON.stringify(item.slice(0, 32)) : typeof item;
      throw new RangeError(`unknown scope ${shown} (expected ${SCOPES.join(', ')})`);
    }
    scopes.add(item);
  }
  return scopes;
}

/** A credential set that cannot be used. */
export class CredentialConfigError extends AppError {
  override readonly name = 'CredentialConfigError';
  declare readonly code: 'CREDENTIALS_INVALID';
  constructor(message: string, options?: AppErrorOptions) {
    super('CREDENTIALS_INVALID', message, options);
  }
}

/** scrypt cost parameters of `alg: "scrypt"` (fixed: changing them would invalidate every stored hash). */
export const SCRYPT_PARAMS = { N: 16_384, r: 8, p: 1, keylen: 32, maxmem: 64 * 1024 * 1024 } as const;

const API_ID_RE = /^[\x21-\x7e]{1,128}$/;
const HEX64_RE = /^[0-9a-f]{64}$/i;

/**
 * The API Gateway API-key value metering a credential when its entry names none: derived from the api id
 * (not a secret: with `apiKeySource: AUTHORIZER` clients never send it). API Gateway requires ≥ 20 chars.
 */
export function defaultUsageKey(apiId: string): string {
  return `uk-${createHash('sha256').update(`audiohook-transcribe/usage/${apiId}`, 'utf8').digest('hex').slice(0, 40)}`;
}

function scryptAsync(secret: string, salt: string): Promise<Buffer> {
  const { N, r, p, keylen, maxmem } = SCRYPT_PARAMS;
  return new Promise((resolve, reject) => {
    scrypt(Buffer.from(secret, 'utf8'), Buffer.from(salt, 'utf8'), keylen, { N, r, p, maxmem }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** The digest of `secret` under an algorithm and salt. */
export async function hashSecret(alg: CredentialAlg, secret: string, salt: string): Promise<Buffer> {
  if (alg === 'sha256') return createHash('sha256').update(Buffer.from(salt, 'utf8')).update(secret, 'utf8').digest();
  return scryptAsync(secret, salt);
}

/** A dummy entry hashed for unknown ids, so they cost as much as known ones. */
const DUMMY: Pick<CredentialEntry, 'alg' | 'salt' | 'hash'> = {
  alg: 'scrypt',
  salt: 'audiohook-transcribe/unknown-api-id',
  hash: Buffer.alloc(32),
};

/** True when `secret` matches `entry`'s digest (constant-time compare). */
export async function verifySecret(
  entry: Pick<CredentialEntry, 'alg' | 'salt' | 'hash'> | undefined,
  secret: string,
): Promise<boolean> {
  const target = entry ?? DUMMY;
  const digest = await hashSecret(target.alg, secret, target.salt);
  const equal = digest.length === target.hash.length && timingSafeEqual(digest, target.hash);
  return entry !== undefined && equal;
}

function fail(apiId: string, what: string): never {
  throw new CredentialConfigError(`credential '${apiId}': ${what}`);
}

/**
 * Parses a credential set (the JSON object above). Throws {@link CredentialConfigError} naming the first
 * bad entry and field; never echoes a hash or salt.
 */
export function parseCredentials(json: unknown): Map<string, CredentialEntry> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CredentialConfigError('credentials must be a JSON object keyed by api id');
  }
  const entries = new Map<string, CredentialEntry>();
  for (const [apiId, raw] of Object.entries(json as Record<string, unknown>)) {
    if (!API_ID_RE.test(apiId)) fail(apiId.slice(0, 32), 'api id must be 1-128 printable ASCII characters');
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(apiId, 'entry must be an object');
    const e = raw as Record<string, unknown>;
    const legacy = e.secretSha256 !== undefined && e.secretHash === undefined;
    const alg = e.alg ?? (legacy ? 'sha256' : 'scrypt');
    if (alg !== 'scrypt' && alg !== 'sha256') fail(apiId, 'alg must be "scrypt" or "sha256"');
    const hashHex = legacy ? e.secretSha256 : e.secretHash;
    if (typeof hashHex !== 'string' || !HEX64_RE.test(hashHex)) {
      fail(apiId, 'secretHash must be 64 hex characters (use lambdas/authorizer/hash-secret.ts)');
    }
    if (typeof e.salt !== 'string' || e.salt.length < 8) fail(apiId, 'salt must be a string of at least 8 characters');
    if (e.label !== undefined && (typeof e.label !== 'string' || e.label.length > 128)) {
      fail(apiId, 'label must be a string of at most 128 characters');
    }
    const rate = e.rateLimitPerSec;
    if (rate !== undefined && (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0)) {
      fail(apiId, 'rateLimitPerSec must be a positive number');
    }
    const usageKey = e.usageKey;
    if (usageKey !== undefined && (typeof usageKey !== 'string' || !/^[\x21-\x7e]{20,128}$/.test(usageKey))) {
      fail(apiId, 'usageKey must be 20-128 printable ASCII characters (an API Gateway API key value)');
    }
    if (e.disabled !== undefined && typeof e.disabled !== 'boolean') fail(apiId, 'disabled must be a boolean');
    let scopes: Set<Scope> = new Set(SCOPES);
    if (e.scopes !== undefined) {
      if (!Array.isArray(e.scopes)) fail(apiId, `scopes must be an array of ${SCOPES.join(', ')}`);
      try {
        scopes = parseScopes(e.scopes);
      } catch (err) {
        fail(apiId, (err as Error).message);
      }
    }
    entries.set(apiId, {
      apiId,
      alg,
      salt: e.salt as string,
      hash: Buffer.from(hashHex as string, 'hex'),
      label: (e.label as string | undefined) ?? apiId,
      ...(rate !== undefined && { rateLimitPerSec: rate as number }),
      usageKey: (usageKey as string | undefined) ?? defaultUsageKey(apiId),
      disabled: e.disabled === true,
      scopes,
      legacyScopes: e.scopes === undefined,
    });
  }
  return entries;
}

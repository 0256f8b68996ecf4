/**
 * Throttling before authentication (issue #15 item 6): token buckets per source address, checked before
 * any secret is hashed or any signature computed, so a flood costs a map lookup instead of an scrypt or
 * an HMAC, and a brute force is cut off after a small burst of failures.
 *
 * Two buckets per source: `requests` (every attempt that does not carry a recently verified credential)
 * and `failures` (drained only by failed authentications, checked before the next attempt). A caller
 * whose credential verified recently is *vouched* and skips both: it cannot be told apart from an
 * attacker by address alone when both share one (every local caller is 127.0.0.1; behind a load
 * balancer without client IP preservation every caller is one of its nodes), but it can by the
 * credential it presents, and an attacker cannot present it without knowing it. The vouch is a keyed
 * hash of the credential (never the credential), bounded in number and lifetime, and is withdrawn
 * when that credential fails once (a rotated-out secret stops bypassing at once).
 *
 * Memory is bounded: at most `maxSources` buckets per kind and `maxVouched` vouches, least recently used
 * evicted first (a bucket untouched for long has refilled, so forgetting it loses nothing). An attacker
 * rotating source addresses therefore cannot grow memory; IPv6 sources are keyed by their /64, the
 * block one subscriber is usually given. Pure: no I/O, no timers; the clock is injected.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { AuthConfigError } from './errors';

/** A token bucket: `ratePerSec` tokens added per second, at most `burst` held (a new bucket starts full). */
export interface RateLimit {
  readonly ratePerSec: number;
  readonly burst: number;
}

/** Outcome of taking a token: admitted, or refused with whole seconds until a token is available (≥ 1). */
export type TakeResult = { ok: true } | { ok: false; retryAfterSec: number };

/** @throws {AuthConfigError} unless `ratePerSec` > 0 and `burst` ≥ 1 are finite numbers */
export function checkRateLimit(name: string, limit: RateLimit): void {
  const { ratePerSec, burst } = limit;
  if (!Number.isFinite(ratePerSec) || ratePerSec <= 0) {
    throw new AuthConfigError(`${name}.ratePerSec must be a positive number of tokens per second, got ${ratePerSec}`);
  }
  if (!Number.isFinite(burst) || burst < 1) {
    throw new AuthConfigError(`${name}.burst must be a number of tokens ≥ 1, got ${burst}`);
  }
}

function checkCount(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new AuthConfigError(`${name} must be an integer ≥ 1, got ${value}`);
}

interface Bucket {
  tokens: number;
  /** Clock reading (ms) of the last refill. */
  at: number;
}

/** Token buckets by key, at most `maxKeys` of them (least recently used evicted first). */
export class KeyedTokenBuckets {
  readonly limit: RateLimit;
  readonly maxKeys: number;
  private readonly now: () => number;
  /** In least-recently-used-first order: every access moves its key to the end. */
  private readonly buckets = new Map<string, Bucket>();

  /** @throws {AuthConfigError} for a limit or key bound that is not positive */
  constructor(opts: { limit: RateLimit; maxKeys: number; now: () => number; name?: string }) {
    checkRateLimit(opts.name ?? 'limit', opts.limit);
    checkCount(`${opts.name ?? 'limit'}.maxKeys`, opts.maxKeys);
    this.limit = opts.limit;
    this.maxKeys = opts.maxKeys;
    this.now = opts.now;
  }

  /** Keys tracked now. */
  get size(): number {
    return this.buckets.size;
  }

  /** Tokens available for `key` now (a key not tracked has a full bucket). Does not count as a use. */
  available(key: string): number {
    const bucket = this.buckets.get(key);
    return bucket ? this.refilled(bucket, this.now()) : this.limit.burst;
  }

  /** Seconds until `key` has a whole token (0 when it has one now). */
  retryAfterSec(key: string): number {
    const missing = 1 - this.available(key);
    return missing <= 0 ? 0 : Math.max(1, Math.ceil(missing / this.limit.ratePerSec));
  }

  /** Takes one token for `key` if there is one. */
  take(key: string): TakeResult {
    const t = this.now();
    const bucket = this.touch(key, t);
    bucket.tokens = this.refilled(bucket, t);
    bucket.at = t;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSec: Math.max(1, Math.ceil((1 - bucket.tokens) / this.limit.ratePerSec)) };
  }

  private refilled(bucket: Bucket, t: number): number {
    // A clock that steps back never adds tokens.
    const elapsedMs = Math.max(0, t - bucket.at);
    return Math.min(this.limit.burst, bucket.tokens + (elapsedMs / 1000) * this.limit.ratePerSec);
  }

  /** The key's bucket, moved to the most recently used end (created full, evicting the oldest, if new). */
  private touch(key: string, t: number): Bucket {
    const existing = this.buckets.get(key);
    if (existing) {
      this.buckets.delete(key);
      this.buckets.set(key, existing);
      return existing;
    }
    if (this.buckets.size >= this.maxKeys) {
      const oldest = this.buckets.keys().next();
      if (!oldest.done) this.buckets.delete(oldest.value);
    }
    const bucket = { tokens: this.limit.burst, at: t };
    this.buckets.set(key, bucket);
    return bucket;
  }
}

/** Options of {@link SourceLimiter}. */
export interface SourceLimiterOptions {
  /** Attempts per source that carry no vouched credential. */
  requests: RateLimit;
  /** Failed authentications per source; an empty bucket refuses the source's next unvouched attempts. */
  failures: RateLimit;
  /** Sources tracked per bucket kind. @default 10_000 */
  maxSources?: number;
  /** Credentials vouched for at once. @default 1_000 */
  maxVouched?: number;
  /** How long a verified credential stays vouched after its last success. @default 900_000 (15 minutes) */
  vouchTtlMs?: number;
  /** Milliseconds from any fixed origin (a monotonic clock); injected so tests control time. */
  now: () => number;
  /** Key of the credential hash. @default - 32 random bytes per limiter */
  fingerprintKey?: Uint8Array;
}

/** Why a source was refused: too many attempts, or too many failed authentications. */
export type SourceRefusal = 'requests' | 'failures';

/** Outcome of {@link SourceLimiter.admit}. */
export type SourceAdmission =
  | { allowed: true; vouched: boolean }
  | { allowed: false; reason: SourceRefusal; retryAfterSec: number };

/** Defaults of {@link SourceLimiterOptions}. */
export const SOURCE_LIMITER_DEFAULTS = { maxSources: 10_000, maxVouched: 1_000, vouchTtlMs: 15 * 60_000 } as const;

/** Per-source admission before authentication; see the module comment. */
export class SourceLimiter {
  private readonly requests: KeyedTokenBuckets;
  private readonly failures: KeyedTokenBuckets;
  private readonly now: () => number;
  private readonly maxVouched: number;
  private readonly vouchTtlMs: number;
  private readonly fingerprintKey: Uint8Array;
  /** Credential fingerprint → vouched until (clock ms), least recently confirmed first. */
  private readonly vouched = new Map<string, number>();

  /** @throws {AuthConfigError} for a non-positive limit, bound or lifetime */
  constructor(opts: SourceLimiterOptions) {
    const maxSources = opts.maxSources ?? SOURCE_LIMITER_DEFAULTS.maxSources;
    this.now = opts.now;
    this.requests = new KeyedTokenBuckets({
      limit: opts.requests,
      maxKeys: maxSources,
      now: opts.now,
      name: 'requests',
    });
    this.failures = new KeyedTokenBuckets({
      limit: opts.failures,
      maxKeys: maxSources,
      now: opts.now,
      name: 'failures',
    });
    this.maxVouched = opts.maxVouched ?? SOURCE_LIMITER_DEFAULTS.maxVouched;
    checkCount('maxVouched', this.maxVouched);
    this.vouchTtlMs = opts.vouchTtlMs ?? SOURCE_LIMITER_DEFAULTS.vouchTtlMs;
    if (!Number.isFinite(this.vouchTtlMs) || this.vouchTtlMs <= 0) {
      throw new AuthConfigError(`vouchTtlMs must be a positive number of milliseconds, got ${this.vouchTtlMs}`);
    }
    this.fingerprintKey = opts.fingerprintKey ?? randomBytes(32);
  }

  /**
   * Decides whether an attempt from `source` may go on to authentication. `credential` is what the
   * attempt presents (any string; only its keyed hash is kept): a recently verified one is admitted
   * without touching the buckets. Otherwise the source must have failure budget left and a request token.
   */
  admit(source: string, credential?: string): SourceAdmission {
    if (credential !== undefined && this.isVouched(credential)) return { allowed: true, vouched: true };
    if (this.failures.available(source) < 1) {
      return { allowed: false, reason: 'failures', retryAfterSec: this.failures.retryAfterSec(source) };
    }
    const taken = this.requests.take(source);
    if (!taken.ok) return { allowed: false, reason: 'requests', retryAfterSec: taken.retryAfterSec };
    return { allowed: true, vouched: false };
  }

  /** An authentication from `source` failed: drains its failure budget and withdraws the credential's vouch. */
  recordFailure(source: string, credential?: string): void {
    this.failures.take(source);
    if (credential !== undefined) this.vouched.delete(this.fingerprint(credential));
  }

  /** `credential` verified: it is vouched for `vouchTtlMs` from now (renewed by every success). */
  recordSuccess(credential: string): void {
    const key = this.fingerprint(credential);
    this.vouched.delete(key);
    if (this.vouched.size >= this.maxVouched) {
      const oldest = this.vouched.keys().next();
      if (!oldest.done) this.vouched.delete(oldest.value);
    }
    this.vouched.set(key, this.now() + this.vouchTtlMs);
  }

  /** Whether `credential` verified within `vouchTtlMs` (and has not failed since). */
  isVouched(credential: string): boolean {
    const key = this.fingerprint(credential);
    const until = this.vouched.get(key);
    if (until === undefined) return false;
    if (this.now() < until) return true;
    this.vouched.delete(key);
    return false;
  }

  /** Sizes, for metrics and tests. */
  stats(): { requestSources: number; failureSources: number; vouched: number } {
    return { requestSources: this.requests.size, failureSources: this.failures.size, vouched: this.vouched.size };
  }

  private fingerprint(credential: string): string {
    return createHmac('sha256', this.fingerprintKey).update(credential, 'utf8').digest('base64url').slice(0, 22);
  }
}

/**
 * The key a source address is limited under: IPv4 as is (IPv4-mapped IPv6 unwrapped), IPv6 by its /64
 * (one subscriber's block: a limit per full address would let them rotate through 2^64), anything
 * unparseable or absent under one shared `'unknown'` key.
 */
export function sourceKeyOf(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped?.[1] !== undefined && isIPv4(mapped[1])) return mapped[1];
  if (isIPv4(address)) return address;
  const bare = address.split('%')[0] ?? address; // zone index (fe80::1%eth0)
  if (!isIPv6(bare)) return 'unknown';
  return `${expandIPv6(bare).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, lower-case without leading zeros. */
function expandIPv6(address: string): string[] {
  let text = address.toLowerCase();
  // An embedded IPv4 tail (::1.2.3.4) is two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((g) => Number.parseInt(g, 16).toString(16));
}

/**
 * Replay protection for signed AudioHook upgrades (docs/audiohook-protocol.md §1.3 "Replay" [REC]; the
 * reference server keeps none).
 *
 * A signature stays acceptable from the moment it is first seen for at most `maxAge + 2 × skew` seconds
 * (its `created` may be up to `skew` ahead of our clock, and is accepted until `maxAge + skew` behind it).
 * Remembering every nonce for that fixed window from first sight is therefore enough, and a fixed window
 * makes insertion order equal expiry order: the oldest entry is always the first to expire, so eviction
 * is a walk from the front of a `Map` (amortized O(1)).
 *
 * Memory is bounded by `maxEntries`. When the cache is full of nonces that are still inside their window
 * we refuse new ones (`'replay-cache-full'`) instead of forgetting live nonces, because forgetting would
 * silently reopen the replay window. Only requests with a valid MAC reach the cache, so only a holder of a
 * client secret can fill it; the default size is far above any realistic Genesys connection rate.
 */
import type { Clock } from '../ports';
import { AuthConfigError } from './errors';

/** Outcome of {@link NonceCache.checkAndRemember}. */
export type NonceCheck = 'fresh' | 'replayed' | 'replay-cache-full';

/** Options of {@link NonceCache}. */
export interface NonceCacheOptions {
  clock: Clock;
  /** How long a nonce is remembered. Must cover the authenticator's acceptance window. @default 16 (10 + 2 × 3) */
  windowSec?: number;
  /** Upper bound on remembered nonces (all keys together). @default 100_000 */
  maxEntries?: number;
}

/** Remembers `(keyid, nonce)` pairs for the signature acceptance window. */
export class NonceCache {
  /** Seconds a nonce is remembered after first sight. */
  readonly windowSec: number;
  /** Maximum number of remembered nonces. */
  readonly maxEntries: number;
  private readonly clock: Clock;
  /** `keyid \0 nonce` → forget-after time (epoch ms), in insertion (= expiry) order. */
  private readonly entries = new Map<string, number>();

  /** @throws {AuthConfigError} for a non-positive window or size */
  constructor(opts: NonceCacheOptions) {
    this.clock = opts.clock;
    this.windowSec = opts.windowSec ?? 16;
    this.maxEntries = opts.maxEntries ?? 100_000;
    if (!(this.windowSec > 0) || !Number.isFinite(this.windowSec)) {
      throw new AuthConfigError('NonceCache windowSec must be a positive number of seconds');
    }
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) {
      throw new AuthConfigError('NonceCache maxEntries must be a positive integer');
    }
  }

  /** Number of nonces currently remembered (including expired ones not yet evicted). */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Records a nonce for `keyid` unless it was already seen inside the window.
   * Call only after the signature has verified, so forged requests cannot fill the cache.
   */
  checkAndRemember(keyid: string, nonce: string): NonceCheck {
    const now = this.clock.now();
    this.evictExpired(now);
    const id = `${keyid}\u0000${nonce}`;
    const forgetAt = this.entries.get(id);
    if (forgetAt !== undefined && forgetAt > now) return 'replayed';
    if (forgetAt === undefined && this.entries.size >= this.maxEntries) return 'replay-cache-full';
    // Re-inserting moves the key to the back, keeping insertion order equal to expiry order.
    this.entries.delete(id);
    this.entries.set(id, now + this.windowSec * 1000);
    return 'fresh';
  }

  /** Drops expired nonces from the front. Stops at the first live one (a wall-clock step back only delays eviction). */
  private evictExpired(now: number): void {
    for (const [id, forgetAt] of this.entries) {
      if (forgetAt > now) return;
      this.entries.delete(id);
    }
  }
}

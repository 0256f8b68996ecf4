import { describe, expect, it } from 'vitest';
import { AuthConfigError } from '../../../core/auth/errors';
import { KeyedTokenBuckets, SourceLimiter, sourceKeyOf } from '../../../core/auth/source-limiter';

/** A clock tests move by hand. */
function fakeClock(start = 1_000_000) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

function limiter(clock = fakeClock(), extra: Partial<ConstructorParameters<typeof SourceLimiter>[0]> = {}) {
  return new SourceLimiter({
    requests: { ratePerSec: 5, burst: 10 },
    failures: { ratePerSec: 1, burst: 3 },
    now: clock.now,
    ...extra,
  });
}

describe('KeyedTokenBuckets', () => {
  it('admits a burst, then refuses with the whole seconds until the next token', () => {
    const clock = fakeClock();
    const buckets = new KeyedTokenBuckets({ limit: { ratePerSec: 2, burst: 4 }, maxKeys: 10, now: clock.now });
    const results = Array.from({ length: 5 }, () => buckets.take('a'));
    expect(results.filter((r) => r.ok)).toHaveLength(4);
    expect(results[4]).toEqual({ ok: false, retryAfterSec: 1 });
  });

  it('refills at the configured rate and never beyond the burst', () => {
    const clock = fakeClock();
    const buckets = new KeyedTokenBuckets({ limit: { ratePerSec: 2, burst: 4 }, maxKeys: 10, now: clock.now });
    for (let i = 0; i < 4; i++) buckets.take('a');
    clock.advance(500); // one token at 2 per second
    expect(buckets.take('a').ok).toBe(true);
    expect(buckets.take('a').ok).toBe(false);
    clock.advance(60_000);
    expect(buckets.available('a')).toBe(4);
  });

  it('computes Retry-After from the rate when tokens come slowly', () => {
    const clock = fakeClock();
    const buckets = new KeyedTokenBuckets({ limit: { ratePerSec: 0.25, burst: 1 }, maxKeys: 10, now: clock.now });
    expect(buckets.take('a').ok).toBe(true);
    expect(buckets.take('a')).toEqual({ ok: false, retryAfterSec: 4 });
    expect(buckets.retryAfterSec('a')).toBe(4);
  });

  it('adds no tokens when the clock steps back', () => {
    const clock = fakeClock();
    const buckets = new KeyedTokenBuckets({ limit: { ratePerSec: 1, burst: 1 }, maxKeys: 10, now: clock.now });
    buckets.take('a');
    clock.advance(-10_000);
    expect(buckets.take('a').ok).toBe(false);
  });

  it('tracks at most maxKeys keys, evicting the least recently used', () => {
    const clock = fakeClock();
    const buckets = new KeyedTokenBuckets({ limit: { ratePerSec: 1, burst: 1 }, maxKeys: 3, now: clock.now });
    buckets.take('old');
    buckets.take('b');
    buckets.take('c');
    buckets.take('old'); // used again: now the most recent
    buckets.take('d'); // evicts 'b', the least recently used
    expect(buckets.size).toBe(3);
    expect(buckets.available('old')).toBe(0);
    expect(buckets.available('b')).toBe(1); // forgotten: a full bucket again
  });

  it.each([
    [{ ratePerSec: 0, burst: 1 }, /ratePerSec must be a positive/],
    [{ ratePerSec: Number.NaN, burst: 1 }, /ratePerSec must be a positive/],
    [{ ratePerSec: 1, burst: 0.5 }, /burst must be a number of tokens ≥ 1/],
  ])('refuses the limit %o with a clear error', (limit, message) => {
    const make = () => new KeyedTokenBuckets({ limit, maxKeys: 1, now: Date.now, name: 'requests' });
    expect(make).toThrow(AuthConfigError);
    expect(make).toThrow(message);
  });

  it('refuses a key bound below 1', () => {
    expect(() => new KeyedTokenBuckets({ limit: { ratePerSec: 1, burst: 1 }, maxKeys: 0, now: Date.now })).toThrow(
      /maxKeys must be an integer ≥ 1/,
    );
  });
});

describe('SourceLimiter', () => {
  describe('requests', () => {
    it('refuses a source beyond its request burst and admits another source meanwhile', () => {
      const l = limiter();
      const answers = Array.from({ length: 12 }, () => l.admit('10.0.0.1'));
      expect(answers.filter((a) => a.allowed)).toHaveLength(10);
      expect(answers[11]).toEqual({ allowed: false, reason: 'requests', retryAfterSec: 1 });
      expect(l.admit('10.0.0.2')).toEqual({ allowed: true, vouched: false });
    });
  });

  describe('failures', () => {
    it('cuts a source off once its failure burst is spent, before it runs out of requests', () => {
      const clock = fakeClock();
      const l = limiter(clock);
      for (let i = 0; i < 3; i++) {
        expect(l.admit('10.0.0.1').allowed).toBe(true);
        l.recordFailure('10.0.0.1');
      }
      expect(l.admit('10.0.0.1')).toEqual({ allowed: false, reason: 'failures', retryAfterSec: 1 });
      clock.advance(1000); // one failure token back at 1 per second
      expect(l.admit('10.0.0.1').allowed).toBe(true);
    });

    it('never limits a source that only succeeds, at a rate within its request budget', () => {
      const clock = fakeClock();
      const l = limiter(clock);
      for (let i = 0; i < 100; i++) {
        clock.advance(200); // 5 per second: the request rate
        expect(l.admit('10.0.0.1').allowed).toBe(true);
      }
    });
  });

  describe('vouched credentials', () => {
    it('admits a verified credential from a source whose buckets are empty', () => {
      const l = limiter();
      l.recordSuccess('good-credential');
      for (let i = 0; i < 20; i++) {
        l.admit('10.0.0.1', 'bad');
        l.recordFailure('10.0.0.1', 'bad');
      }
      expect(l.admit('10.0.0.1', 'bad').allowed).toBe(false);
      expect(l.admit('10.0.0.1', 'good-credential')).toEqual({ allowed: true, vouched: true });
    });

    it('withdraws the vouch when the credential fails, and after its lifetime', () => {
      const clock = fakeClock();
      const l = limiter(clock, { vouchTtlMs: 60_000 });
      l.recordSuccess('rotated');
      expect(l.isVouched('rotated')).toBe(true);
      l.recordFailure('10.0.0.1', 'rotated');
      expect(l.isVouched('rotated')).toBe(false);

      l.recordSuccess('expiring');
      clock.advance(59_999);
      expect(l.isVouched('expiring')).toBe(true);
      clock.advance(1);
      expect(l.isVouched('expiring')).toBe(false);
    });

    it('keeps only a keyed hash of the credential', () => {
      const a = limiter(fakeClock(), { fingerprintKey: Buffer.alloc(32, 1) });
      a.recordSuccess('s3cr3t-value');
      expect(JSON.stringify([...(a as unknown as { vouched: Map<string, number> }).vouched])).not.toContain('s3cr3t');
      const other = limiter(fakeClock(), { fingerprintKey: Buffer.alloc(32, 2) });
      expect(other.isVouched('s3cr3t-value')).toBe(false);
    });

    it('bounds the vouched credentials, forgetting the least recently confirmed', () => {
      const l = limiter(fakeClock(), { maxVouched: 2 });
      l.recordSuccess('a');
      l.recordSuccess('b');
      l.recordSuccess('a');
      l.recordSuccess('c');
      expect(l.stats().vouched).toBe(2);
      expect([l.isVouched('a'), l.isVouched('b'), l.isVouched('c')]).toEqual([true, false, true]);
    });
  });

  it('keeps memory bounded under source-address rotation', () => {
    const l = limiter(fakeClock(), { maxSources: 100 });
    for (let i = 0; i < 5_000; i++) {
      const source = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      l.admit(source, `guess-${i}`);
      l.recordFailure(source, `guess-${i}`);
    }
    const stats = l.stats();
    expect(stats.requestSources).toBeLessThanOrEqual(100);
    expect(stats.failureSources).toBeLessThanOrEqual(100);
    expect(stats.vouched).toBe(0);
  });

  it('refuses invalid options with a clear error', () => {
    expect(() => limiter(fakeClock(), { failures: { ratePerSec: -1, burst: 1 } })).toThrow(
      /failures\.ratePerSec must be a positive/,
    );
    expect(() => limiter(fakeClock(), { maxVouched: 0 })).toThrow(/maxVouched must be an integer ≥ 1/);
    expect(() => limiter(fakeClock(), { vouchTtlMs: 0 })).toThrow(/vouchTtlMs must be a positive/);
  });
});

describe('sourceKeyOf', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:DB8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::ffff:0:203.0.113.7', '0:0:0:0::/64'],
    [undefined, 'unknown'],
    ['', 'unknown'],
    ['not an address', 'unknown'],
  ])('keys %s as %s', (address, key) => {
    expect(sourceKeyOf(address)).toBe(key);
  });

  it('puts every address of one IPv6 /64 under one key', () => {
    expect(sourceKeyOf('2001:db8:aa:bb:1::1')).toBe(sourceKeyOf('2001:db8:aa:bb:ffff:ffff:ffff:ffff'));
    expect(sourceKeyOf('2001:db8:aa:bb::1')).not.toBe(sourceKeyOf('2001:db8:aa:bc::1'));
  });
});

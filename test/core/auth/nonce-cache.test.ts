import { describe, expect, it } from 'vitest';
import { AuthConfigError } from '../../../core/auth/errors';
import { NonceCache } from '../../../core/auth/nonce-cache';
import type { Clock } from '../../../core/ports';

function fakeClock(startMs = 1_641_013_200_000) {
  let now = startMs;
  const clock: Clock = { now: () => now, monotonic: () => now };
  return {
    clock,
    advance(ms: number) {
      now += ms;
    },
  };
}

describe('NonceCache', () => {
  it('accepts a nonce once and rejects it again inside the window', () => {
    const { clock, advance } = fakeClock();
    const cache = new NonceCache({ clock, windowSec: 16 });
    expect(cache.checkAndRemember('key', 'nonce-1')).toBe('fresh');
    advance(15_999);
    expect(cache.checkAndRemember('key', 'nonce-1')).toBe('replayed');
  });

  it('forgets a nonce once its window has passed', () => {
    const { clock, advance } = fakeClock();
    const cache = new NonceCache({ clock, windowSec: 16 });
    cache.checkAndRemember('key', 'nonce-1');
    advance(16_000);
    expect(cache.checkAndRemember('key', 'nonce-1')).toBe('fresh');
    expect(cache.size).toBe(1);
  });

  it('keeps nonces of different key ids apart', () => {
    const { clock } = fakeClock();
    const cache = new NonceCache({ clock });
    expect(cache.checkAndRemember('key-a', 'same-nonce')).toBe('fresh');
    expect(cache.checkAndRemember('key-b', 'same-nonce')).toBe('fresh');
    expect(cache.checkAndRemember('key-a', 'same-nonce')).toBe('replayed');
  });

  it('does not confuse key id and nonce boundaries', () => {
    const { clock } = fakeClock();
    const cache = new NonceCache({ clock });
    expect(cache.checkAndRemember('ab', 'c')).toBe('fresh');
    expect(cache.checkAndRemember('a', 'bc')).toBe('fresh');
  });

  it('evicts expired nonces, oldest first, to make room', () => {
    const { clock, advance } = fakeClock();
    const cache = new NonceCache({ clock, windowSec: 10, maxEntries: 3 });
    cache.checkAndRemember('k', 'n1');
    advance(1000);
    cache.checkAndRemember('k', 'n2');
    advance(1000);
    cache.checkAndRemember('k', 'n3');
    advance(8000); // n1 expires now; n2, n3 still live
    expect(cache.checkAndRemember('k', 'n4')).toBe('fresh');
    expect(cache.size).toBe(3);
    expect(cache.checkAndRemember('k', 'n2')).toBe('replayed');
    expect(cache.checkAndRemember('k', 'n3')).toBe('replayed');
  });

  it('refuses new nonces rather than forgetting live ones when full', () => {
    const { clock, advance } = fakeClock();
    const cache = new NonceCache({ clock, windowSec: 10, maxEntries: 2 });
    cache.checkAndRemember('k', 'n1');
    cache.checkAndRemember('k', 'n2');
    expect(cache.checkAndRemember('k', 'n3')).toBe('replay-cache-full');
    expect(cache.checkAndRemember('k', 'n1')).toBe('replayed');
    advance(10_000);
    expect(cache.checkAndRemember('k', 'n3')).toBe('fresh');
  });

  it('treats an expired nonce as expired even when a wall-clock step back left it behind a live one', () => {
    const { clock, advance } = fakeClock();
    const cache = new NonceCache({ clock, windowSec: 10, maxEntries: 10 });
    cache.checkAndRemember('k', 'n1'); // remembered until t0 + 10 s
    advance(-5000);
    cache.checkAndRemember('k', 'n2'); // remembered until t0 + 5 s, but queued after n1
    advance(10_000); // now t0 + 5 s
    expect(cache.checkAndRemember('k', 'n2')).toBe('fresh');
    expect(cache.checkAndRemember('k', 'n1')).toBe('replayed');
  });

  it.each([[{ windowSec: 0 }], [{ windowSec: Number.POSITIVE_INFINITY }], [{ maxEntries: 0 }], [{ maxEntries: 1.5 }]])(
    'rejects invalid options %j',
    (opts) => {
      expect(() => new NonceCache({ clock: fakeClock().clock, ...opts })).toThrow(AuthConfigError);
    },
  );
});

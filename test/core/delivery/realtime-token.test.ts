import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DeliveryError } from '../../../core/delivery/errors';
import {
  claimedKeyId,
  issueRealtimeToken,
  keyId,
  scopeAllows,
  verifyRealtimeToken,
} from '../../../core/delivery/realtime-token';

const KEY = 'k'.repeat(32);
const NOW = 1_737_000_000;

describe('realtime connect tokens', () => {
  it('round-trips the claims until expiry', () => {
    const { token, claims } = issueRealtimeToken(KEY, 'app-1', { conversationId: 'c-1' }, NOW, 300);
    expect(token).toMatch(/^rt1\./);
    expect(claims).toEqual({
      sub: 'app-1',
      scope: { conversationId: 'c-1' },
      aud: 'ws-connect',
      kid: keyId(KEY),
      iat: NOW,
      exp: NOW + 300,
    });
    expect(claimedKeyId(token)).toBe(keyId(KEY));
    expect(keyId(KEY)).not.toBe(keyId('x'.repeat(32)));
    expect(verifyRealtimeToken(KEY, token, NOW + 299)).toEqual(claims);
  });

  it('refuses an expired, forged or malformed token with REALTIME_TOKEN_INVALID', () => {
    const { token } = issueRealtimeToken(KEY, 'app-1', { all: true }, NOW, 60);
    const code = (fn: () => unknown) => {
      try {
        fn();
        return 'accepted';
      } catch (err) {
        return err instanceof DeliveryError ? err.code : 'other';
      }
    };
    expect(code(() => verifyRealtimeToken(KEY, token, NOW + 60))).toBe('REALTIME_TOKEN_INVALID');
    expect(code(() => verifyRealtimeToken('x'.repeat(32), token, NOW))).toBe('REALTIME_TOKEN_INVALID');
    const [p, payload, mac] = token.split('.');
    const widened = Buffer.from(
      JSON.stringify({ sub: 'app-1', scope: { all: true }, iat: NOW, exp: NOW + 9999 }),
    ).toString('base64url');
    expect(code(() => verifyRealtimeToken(KEY, `${p}.${widened}.${mac}`, NOW))).toBe('REALTIME_TOKEN_INVALID');
    expect(code(() => verifyRealtimeToken(KEY, `${p}.${payload}`, NOW))).toBe('REALTIME_TOKEN_INVALID');
    expect(code(() => verifyRealtimeToken(KEY, 'nonsense', NOW))).toBe('REALTIME_TOKEN_INVALID');
  });

  it('refuses a validly signed token for another audience, too long a lifetime, or issued in the future', () => {
    // Sign claims by hand with the right key: what a token issued by an older or buggy issuer would be.
    const signed = (claims: Record<string, unknown>) => {
      const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
      const mac = createHmac('sha256', KEY).update(`rt1.${payload}`).digest('base64url');
      return `rt1.${payload}.${mac}`;
    };
    const base = { sub: 'app-1', scope: { conversationId: 'c-1' }, aud: 'ws-connect', kid: keyId(KEY) };
    const good = signed({ ...base, iat: NOW, exp: NOW + 900 });
    expect(verifyRealtimeToken(KEY, good, NOW).sub).toBe('app-1');
    const reasons = [
      signed({ ...base, aud: undefined, iat: NOW, exp: NOW + 60 }),
      signed({ ...base, aud: 'rest', iat: NOW, exp: NOW + 60 }),
      signed({ ...base, iat: NOW, exp: NOW + 901 }),
      signed({ ...base, iat: NOW + 3600, exp: NOW + 3700 }),
    ].map((t) => {
      try {
        verifyRealtimeToken(KEY, t, NOW);
        return 'accepted';
      } catch (err) {
        return (err as Error).message;
      }
    });
    expect(reasons).toEqual([
      'realtime token is for another audience',
      'realtime token is for another audience',
      'realtime token outlives the maximum lifetime',
      'realtime token was issued in the future',
    ]);
  });

  it('limits the lifetime it issues', () => {
    expect(() => issueRealtimeToken(KEY, 'a', { all: true }, NOW, 0)).toThrow(RangeError);
    expect(() => issueRealtimeToken(KEY, 'a', { all: true }, NOW, 901)).toThrow(RangeError);
  });

  it('lets a conversation scope reach only its conversation, and all reach everything', () => {
    expect(scopeAllows({ conversationId: 'c-1' }, 'c-1')).toBe(true);
    expect(scopeAllows({ conversationId: 'c-1' }, 'c-2')).toBe(false);
    expect(scopeAllows({ conversationId: 'c-1' }, '*')).toBe(false);
    expect(scopeAllows({ all: true }, '*')).toBe(true);
  });
});

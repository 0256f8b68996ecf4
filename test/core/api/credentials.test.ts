import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CredentialConfigError,
  defaultUsageKey,
  hashSecret,
  parseCredentials,
  verifySecret,
} from '../../../core/api/credentials';

describe('credentials', () => {
  it('verify a scrypt entry and refuse any other secret', async () => {
    const salt = 'salt-0123456789';
    const hash = (await hashSecret('scrypt', 's3cr3t-value', salt)).toString('hex');
    const entry = parseCredentials({ app: { salt, secretHash: hash, label: 'L' } }).get('app');
    expect(entry).toMatchObject({ alg: 'scrypt', label: 'L', disabled: false, usageKey: defaultUsageKey('app') });
    expect(await verifySecret(entry, 's3cr3t-value')).toBe(true);
    expect(await verifySecret(entry, 's3cr3t-valuf')).toBe(false);
    expect(await verifySecret(undefined, 's3cr3t-value')).toBe(false);
  });

  it('accept the sha256(salt+secret) form under secretSha256', async () => {
    const salt = 'salt-abcdefgh';
    const secretSha256 = createHash('sha256').update(`${salt}pw-123`).digest('hex');
    const entry = parseCredentials({ app: { salt, secretSha256 } }).get('app');
    expect(entry?.alg).toBe('sha256');
    expect(await verifySecret(entry, 'pw-123')).toBe(true);
  });

  it.each([
    ['not an object', []],
    ['a bad hash', { a: { salt: 'saltsalt', secretHash: 'abc' } }],
    ['a short salt', { a: { salt: 'x', secretHash: 'a'.repeat(64) } }],
    ['an unknown alg', { a: { salt: 'saltsalt', secretHash: 'a'.repeat(64), alg: 'md5' } }],
    ['a bad rate limit', { a: { salt: 'saltsalt', secretHash: 'a'.repeat(64), rateLimitPerSec: 0 } }],
    ['a short usage key', { a: { salt: 'saltsalt', secretHash: 'a'.repeat(64), usageKey: 'short' } }],
  ])('reject %s without echoing secrets', (_what, json) => {
    expect(() => parseCredentials(json)).toThrow(CredentialConfigError);
  });

  it('derive a stable usage key that satisfies API Gateway (≥ 20 chars)', () => {
    expect(defaultUsageKey('app')).toBe(defaultUsageKey('app'));
    expect(defaultUsageKey('app')).not.toBe(defaultUsageKey('app2'));
    expect(defaultUsageKey('app').length).toBeGreaterThanOrEqual(20);
  });
});

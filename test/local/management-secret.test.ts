/**
 * The local WebSocket front's management secret: how a request path is classified (other, forbidden,
 * an authorized call) and what counts as a usable secret.
 */
import { describe, expect, it } from 'vitest';
import {
  managementEndpoint,
  matchManagementPath,
  newManagementSecret,
  requireManagementSecret,
} from '../../local/management-secret';

const SECRET = newManagementSecret();

describe('management secret', () => {
  it('is 32 random bytes in base64url, different every time', () => {
    const other = newManagementSecret();
    expect(SECRET).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(SECRET, 'base64url')).toHaveLength(32);
    expect(other).not.toBe(SECRET);
  });

  it('authorizes only /_management/<secret>/@connections/<id>, keeping the id escaped', () => {
    expect(matchManagementPath(`/_management/${SECRET}/@connections/abc%3D`, SECRET)).toEqual({
      kind: 'connection',
      escapedId: 'abc%3D',
    });
  });

  it('forbids management paths without the exact secret', () => {
    const wrong = `${SECRET.slice(0, -1)}${SECRET.endsWith('x') ? 'y' : 'x'}`;
    for (const path of [
      '/@connections/abc',
      '/local/@connections/abc',
      `/_management/${wrong}/@connections/abc`,
      `/_management/${SECRET}x/@connections/abc`,
      `/_management/${SECRET.slice(1)}/@connections/abc`,
      `/_management/${SECRET}/@connections/`,
      `/_management/${SECRET}/@connections/a/b`,
      `/_management/${SECRET}`,
      '/_management/',
    ]) {
      expect(matchManagementPath(path, SECRET), path).toEqual({ kind: 'forbidden' });
    }
  });

  it('leaves every other path to the caller (health, upgrades, unknown paths)', () => {
    for (const path of ['/', '/health', '/connections/abc', '/x/_management']) {
      expect(matchManagementPath(path, SECRET), path).toEqual({ kind: 'other' });
    }
  });

  it('builds the endpoint the SDK client is given', () => {
    expect(managementEndpoint('http://127.0.0.1:8083/', SECRET)).toBe(`http://127.0.0.1:8083/_management/${SECRET}`);
  });

  it('refuses a short or non-URL-safe secret, naming the setting and never echoing the value', () => {
    for (const bad of ['', 'short', `${'a'.repeat(40)}/`, `${'a'.repeat(40)} `]) {
      expect(() => requireManagementSecret('THE_SECRET', bad)).toThrow(/^THE_SECRET must be at least 32 characters/);
    }
    const message = (() => {
      try {
        requireManagementSecret('THE_SECRET', 'hunter2');
        return 'accepted';
      } catch (err) {
        return (err as Error).message;
      }
    })();
    expect(message).toMatch(/got 7 characters$/);
    expect(message).not.toContain('hunter2');
    expect(requireManagementSecret('THE_SECRET', SECRET)).toBe(SECRET);
  });
});

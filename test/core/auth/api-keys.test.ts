import * as crypto from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { ApiKeyStore } from '../../../core/auth/api-keys';
import { ApiKeyConfigError } from '../../../core/auth/errors';

// Pass-through spy: lets a test count constant-time comparisons without changing behaviour.
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return { ...real, timingSafeEqual: vi.fn(real.timingSafeEqual) };
});

const KEY_A = 'SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh';
const SECRET_A = 'TXlTdXBlclNlY3JldEtleVRlbGxOby0xITJAMyM0JDU=';
const KEY_B = 'rotated-key_0123456789';
const SECRET_B = Buffer.from('another secret of 32 bytes long!').toString('base64');
const ORG = 'd7934305-0972-4844-938e-9060eef73d05';

function configError(json: unknown): ApiKeyConfigError {
  try {
    ApiKeyStore.fromJson(json);
  } catch (err) {
    expect(err).toBeInstanceOf(ApiKeyConfigError);
    return err as ApiKeyConfigError;
  }
  throw new Error('expected fromJson to throw');
}

describe('ApiKeyStore', () => {
  describe('fromJson (AUDIOHOOK_API_KEYS)', () => {
    it('reads the simple form: key → base64 secret, empty string for unsigned', () => {
      const store = ApiKeyStore.fromJson({ [KEY_A]: SECRET_A, [KEY_B]: '' });
      expect(store.size).toBe(2);
      expect(store.lookup(KEY_A)?.secret?.toString('utf8')).toBe('MySuperSecretKeyTellNo-1!2@3#4$5');
      expect(store.lookup(KEY_A)?.label).toBe('SGVs…');
      expect(store.lookup(KEY_B)?.secret).toBeNull();
    });

    it('reads the extended form', () => {
      const store = ApiKeyStore.fromJson({
        [KEY_A]: {
          secret: SECRET_A,
          label: 'genesys-prod',
          organizationIds: [ORG.toUpperCase()],
          transcriptionConnector: true,
        },
        [KEY_B]: { label: 'unsigned-lab' },
      });
      const a = store.lookup(KEY_A);
      expect(a?.label).toBe('genesys-prod');
      expect(a?.allowedOrganizationIds).toEqual([ORG]);
      expect(a?.features).toEqual({ transcriptionConnector: true });
      expect(store.lookup(KEY_B)).toMatchObject({ label: 'unsigned-lab', secret: null });
      expect(store.lookup(KEY_B)?.allowedOrganizationIds).toBeUndefined();
    });

    it('accepts the JSON text itself', () => {
      expect(ApiKeyStore.fromJson(JSON.stringify({ [KEY_A]: SECRET_A })).lookup(KEY_A)?.label).toBe('SGVs…');
    });

    it('accepts URL-safe base64 secrets', () => {
      const urlSafe = Buffer.from('\xfb\xff'.repeat(8), 'latin1').toString('base64url');
      expect(ApiKeyStore.fromJson({ [KEY_A]: urlSafe }).lookup(KEY_A)?.secret?.length).toBe(16);
    });

    it.each([
      ['a JSON array', [KEY_A], /must be a JSON object/],
      ['null', null, /must be a JSON object/],
      ['a number', 42, /must be a JSON object/],
      ['an empty object', {}, /defines no API keys/],
      ['a value that is neither string nor object', { [KEY_A]: 42 }, /"SGVs…": value must be/],
      ['a value that is an array', { [KEY_A]: [SECRET_A] }, /"SGVs…": value must be/],
      ['a secret that is not base64', { [KEY_A]: 'not base64!' }, /"SGVs…": secret is not base64/],
      ['a secret of impossible length', { [KEY_A]: 'QUJDREVGR0hJSktMTU5PUAQUJ' }, /"SGVs…": secret is not base64/],
      ['a secret with lost bits', { [KEY_A]: 'QUJDREVGR0hJSktMTU5PUB==' }, /"SGVs…": secret is not canonical base64/],
      ['a secret under 16 bytes', { [KEY_A]: 'c2hvcnQgc2VjcmV0' }, /"SGVs…": secret must decode to at least 16 bytes/],
      ['a non-string secret', { [KEY_A]: { secret: 1 } }, /"SGVs…": "secret" must be a string/],
      [
        'an unknown field',
        { [KEY_A]: { secret: SECRET_A, organisationIds: [ORG] } },
        /unknown field "organisationIds"/,
      ],
      [
        'an organization id that is not a UUID',
        { [KEY_A]: { organizationIds: ['acme'] } },
        /"organizationIds" must be/,
      ],
      ['an empty organization list', { [KEY_A]: { organizationIds: [] } }, /"organizationIds" must be/],
      [
        'a non-boolean feature flag',
        { [KEY_A]: { transcriptionConnector: 'yes' } },
        /"transcriptionConnector" must be/,
      ],
      ['an empty label', { [KEY_A]: { label: '' } }, /"SGVs…": "label" must be/],
      ['a key that is too short', { [KEY_A]: SECRET_A, short: SECRET_A }, /entry "#2": key must be 8–256/],
      ['a key with forbidden characters', { 'has space key': SECRET_A }, /entry "#1": key must be/],
      ['a key over 256 characters', { ['k'.repeat(257)]: SECRET_A }, /entry "#1": key must be/],
      ['two keys with the same default label', { [KEY_A]: SECRET_A, [`${KEY_A}2`]: SECRET_A }, /label is used twice/],
    ])('rejects %s with a message that names the entry', (_what, json, message) => {
      const err = configError(json);
      expect(err.code).toBe('api-key-config-invalid');
      expect(err.name).toBe('ApiKeyConfigError');
      expect(err.message).toMatch(message);
    });

    it('names an invalid entry by its explicit label', () => {
      expect(configError({ 'bad key!': { label: 'partner-x', secret: SECRET_A } }).message).toMatch(/"partner-x": key/);
    });

    it('never puts keys or secrets into error messages', () => {
      const cases: unknown[] = [
        { [KEY_A]: 'c2hvcnQgc2VjcmV0' },
        { [KEY_A]: `${SECRET_A}!` },
        { 'secret-looking-key!': SECRET_A },
        { [KEY_A]: { secret: SECRET_A, bogus: true } },
        `{"${KEY_A}": "${SECRET_A}",}`,
      ];
      for (const json of cases) {
        const { message } = configError(json);
        for (const secret of [KEY_A, SECRET_A, 'c2hvcnQgc2VjcmV0', 'secret-looking-key', 'MySuperSecret']) {
          expect(message).not.toContain(secret);
        }
      }
    });

    it('reports malformed JSON text without quoting it', () => {
      const err = configError(`{"${KEY_A}": "${SECRET_A}"`);
      expect(err.message).toBe('AUDIOHOOK_API_KEYS is not valid JSON');
    });

    it('accepts keys of 8 and 256 characters', () => {
      const store = ApiKeyStore.fromJson({ '12345678': '', ['k'.repeat(256)]: SECRET_A });
      expect(store.size).toBe(2);
    });
  });

  describe('lookup', () => {
    it('finds every active key (rotation: old and new at once)', () => {
      const store = ApiKeyStore.fromJson({ [KEY_A]: SECRET_A, [KEY_B]: SECRET_B });
      expect(store.lookup(KEY_A)?.label).toBe('SGVs…');
      expect(store.lookup(KEY_B)?.label).toBe('rota…');
    });

    it('returns undefined for an unknown, empty or near-miss key', () => {
      const store = ApiKeyStore.fromJson({ [KEY_A]: SECRET_A });
      expect(store.lookup('unknown-key-123')).toBeUndefined();
      expect(store.lookup('')).toBeUndefined();
      expect(store.lookup(KEY_A.slice(0, -1))).toBeUndefined();
      expect(store.lookup(`${KEY_A} `)).toBeUndefined();
    });

    it('compares against every stored key in constant time, even after a match', () => {
      const store = ApiKeyStore.fromJson({ [KEY_A]: SECRET_A, [KEY_B]: SECRET_B, 'third-key-xyz': '' });
      const spy = vi.mocked(crypto.timingSafeEqual);
      spy.mockClear();
      expect(store.lookup(KEY_A)?.label).toBe('SGVs…');
      expect(spy).toHaveBeenCalledTimes(3);
      spy.mockClear();
      expect(store.lookup('not-a-configured-key')).toBeUndefined();
      expect(spy).toHaveBeenCalledTimes(3);
      for (const [a, b] of spy.mock.calls) {
        expect((a as Buffer).length).toBe(32);
        expect((b as Buffer).length).toBe(32);
      }
    });
  });

  describe('replaceAll (reload)', () => {
    it('swaps the key set at once', () => {
      const store = ApiKeyStore.fromJson({ [KEY_A]: SECRET_A });
      store.replaceAll(ApiKeyStore.parseJson({ [KEY_B]: SECRET_B }));
      expect(store.lookup(KEY_A)).toBeUndefined();
      expect(store.lookup(KEY_B)).toBeDefined();
    });

    it('keeps the old keys when the new set is invalid', () => {
      const store = ApiKeyStore.fromJson({ [KEY_A]: SECRET_A });
      expect(() =>
        store.replaceAll([
          { apiKey: KEY_B, secret: null },
          { apiKey: KEY_B, label: 'dup', secret: null },
        ]),
      ).toThrow(/configured twice/);
      expect(store.lookup(KEY_A)).toBeDefined();
      expect(store.lookup(KEY_B)).toBeUndefined();
    });

    it('validates programmatic definitions too', () => {
      const store = new ApiKeyStore();
      expect(() => store.replaceAll([{ apiKey: KEY_A, secret: Buffer.alloc(8) }])).toThrow(/at least 16 bytes/);
      expect(() => store.replaceAll([{ apiKey: KEY_A, secret: null, allowedOrganizationIds: ['x'] }])).toThrow(
        /not a UUID/,
      );
      expect(() => store.replaceAll([{ apiKey: KEY_A, label: '\n', secret: null }])).toThrow(/label must be/);
    });

    it('copies secrets so later changes to the caller buffer do not leak in', () => {
      const secret = Buffer.alloc(16, 1);
      const store = new ApiKeyStore([{ apiKey: KEY_A, secret }]);
      secret.fill(2);
      expect(store.lookup(KEY_A)?.secret?.equals(Buffer.alloc(16, 1))).toBe(true);
    });
  });

  describe('redaction', () => {
    const store = ApiKeyStore.fromJson({ [KEY_A]: { secret: SECRET_A, label: 'prod' }, [KEY_B]: '' });
    const secretBytes = Buffer.from(SECRET_A, 'base64');
    const leaks = (text: string) =>
      [KEY_A, SECRET_A, secretBytes.toString('utf8'), secretBytes.toString('hex'), 'MySuper'].filter((s) =>
        text.includes(s),
      );

    it.each([
      ['JSON.stringify(entry)', () => JSON.stringify(store.lookup(KEY_A))],
      ['JSON.stringify(store)', () => JSON.stringify(store)],
      ['inspect(entry)', () => inspect(store.lookup(KEY_A), { depth: 5 })],
      ['inspect(store)', () => inspect(store, { depth: 5 })],
      ['String(entry)', () => String(store.lookup(KEY_A))],
      ['template literal', () => `${store.lookup(KEY_A)}`],
    ])('%s shows no key or secret', (_how, render) => {
      const text = render();
      expect(text).toContain('prod');
      expect(leaks(text)).toEqual([]);
    });

    it('says whether a secret exists', () => {
      expect(JSON.parse(JSON.stringify(store))).toEqual({
        keys: [
          { label: 'prod', secret: '[redacted]' },
          { label: 'rota…', secret: null },
        ],
      });
    });

    it('freezes entries', () => {
      const entry = store.lookup(KEY_A);
      expect(Object.isFrozen(entry)).toBe(true);
    });
  });
});

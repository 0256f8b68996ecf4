/**
 * The control policy and defaults of an AudioHook API key (core/auth/api-keys.ts, extended form):
 * `"control": "api" | "genesys"` and `"defaults": { "language": "<tag>" }`, validated at load, carried on
 * the entry, listed by label for the start-up log, and never a way around the secret's redaction.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ApiKeyStore } from '../../../core/auth/api-keys';

const KEY_A = 'key-aaaaaaaa-0001';
const KEY_B = 'key-bbbbbbbb-0002';
const SECRET = Buffer.from('0123456789abcdef0123').toString('base64');

describe('API key control policy', () => {
  it('defaults to api and carries genesys with its default language on the entry', () => {
    const store = ApiKeyStore.fromJson({
      [KEY_A]: SECRET,
      [KEY_B]: {
        secret: SECRET,
        label: 'connector',
        control: 'genesys',
        transcriptionConnector: true,
        defaults: { language: 'es-US' },
      },
    });
    expect(store.lookup(KEY_A)?.control).toBe('api');
    expect(store.lookup(KEY_A)?.defaults).toBeUndefined();
    const b = store.lookup(KEY_B);
    expect(b?.control).toBe('genesys');
    expect(b?.defaults).toEqual({ language: 'es-US' });
    expect(Object.isFrozen(b?.defaults)).toBe(true);
  });

  it('lists each key policy by label, without keys or secrets', () => {
    const store = ApiKeyStore.fromJson({
      [KEY_A]: { secret: SECRET, label: 'monitor' },
      [KEY_B]: { secret: SECRET, label: 'connector', control: 'genesys', transcriptionConnector: true },
    });
    const policies = store.policies();
    expect(policies).toEqual([
      { label: 'monitor', control: 'api', transcriptionConnector: false },
      { label: 'connector', control: 'genesys', transcriptionConnector: true },
    ]);
    const text = JSON.stringify(policies);
    expect(text).not.toContain(KEY_B);
    expect(text).not.toContain(SECRET);
  });

  it('keeps the secret redacted in every serialization of a genesys entry', () => {
    const store = ApiKeyStore.fromJson({
      [KEY_B]: { secret: SECRET, control: 'genesys', defaults: { language: 'en-US' } },
    });
    const entry = store.lookup(KEY_B);
    const seen = [JSON.stringify(entry), inspect(entry), JSON.stringify(store), inspect(store)];
    for (const text of seen) {
      expect(text).not.toContain(SECRET);
      expect(text).toContain('genesys');
    }
    expect(JSON.parse(JSON.stringify(entry))).toMatchObject({
      secret: '[redacted]',
      control: 'genesys',
      defaults: { language: 'en-US' },
    });
  });

  it.each([
    [{ control: 'connector' }, /"control" must be one of "api", "genesys"/],
    [{ control: true }, /"control" must be one of/],
    [{ defaults: 'en-US' }, /"defaults" must be an object/],
    [{ defaults: ['en-US'] }, /"defaults" must be an object/],
    [{ defaults: { language: '' } }, /"defaults.language" must be 1–35 characters/],
    [{ defaults: { language: 'en_US' } }, /"defaults.language" must be 1–35 characters/],
    [{ defaults: { language: 'x'.repeat(36) } }, /"defaults.language" must be 1–35 characters/],
    [{ defaults: { language: 7 } }, /"defaults.language" must be 1–35 characters/],
    [
      { defaults: { speed: 2 } },
      /unknown field "defaults.speed" \(expected language, redactionOutput, detailedToken\)/,
    ],
    [{ defaults: { redactionOutput: 'masked' } }, /"defaults.redactionOutput" must be one of redacted, unredacted/],
    [{ defaults: { detailedToken: 'yes' } }, /"defaults.detailedToken" must be true or false/],
    [{ defaults: { detailedToken: true } }, /"defaults.detailedToken" needs "defaults.redactionOutput": "unredacted"/],
  ])('refuses %j with a message naming the entry', (fields, message) => {
    const load = () => ApiKeyStore.fromJson({ [KEY_A]: { secret: SECRET, label: 'bad-entry', ...fields } });
    expect(load).toThrow(message);
    expect(load).toThrow(/API key entry "bad-entry"/);
  });

  it('keeps the redaction and token defaults of a key', () => {
    const store = ApiKeyStore.fromJson({
      [KEY_A]: {
        secret: SECRET,
        label: 'connector',
        control: 'genesys',
        defaults: { redactionOutput: 'unredacted', detailedToken: true },
      },
    });
    expect(store.lookup(KEY_A)?.defaults).toEqual({ redactionOutput: 'unredacted', detailedToken: true });
  });

  it('accepts a 35-character language tag and validates definitions given directly', () => {
    const tag = `en-${'a'.repeat(32)}`;
    const store = ApiKeyStore.fromJson({ [KEY_A]: { control: 'genesys', defaults: { language: tag } } });
    expect(store.lookup(KEY_A)?.defaults?.language).toBe(tag);
    expect(() => new ApiKeyStore([{ apiKey: KEY_A, secret: null, defaults: { language: 'en US' } }])).toThrow(
      /defaults.language must be 1–35 characters/,
    );
    expect(() => new ApiKeyStore([{ apiKey: KEY_A, secret: null, control: 'everyone' as unknown as 'api' }])).toThrow(
      /control must be one of api, genesys/,
    );
  });
});

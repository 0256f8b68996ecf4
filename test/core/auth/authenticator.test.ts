import { describe, expect, it } from 'vitest';
import { ApiKeyStore } from '../../../core/auth/api-keys';
import {
  Authenticator,
  type AuthenticatorOptions,
  type AuthOutcome,
  type AuthRequest,
  MIN_AUTH_FAILURE_DELAY_MS,
} from '../../../core/auth/authenticator';
import { AuthConfigError } from '../../../core/auth/errors';
import { NonceCache } from '../../../core/auth/nonce-cache';
import { signAudioHookRequest } from '../../../core/auth/signature';
import type { Clock } from '../../../core/ports';

// docs/audiohook-protocol.md §9.1
const API_KEY = 'SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh';
const SECRET_B64 = 'TXlTdXBlclNlY3JldEtleVRlbGxOby0xITJAMyM0JDU=';
const CREATED = 1641013200;
const ORG = 'd7934305-0972-4844-938e-9060eef73d05';
const SESSION = '30b0e395-84d3-4570-ac13-9a62d8f514c0';
const CORRELATION = 'e160e428-53e2-487c-977d-96989bf5c99d';
const OFFICIAL_INPUT =
  'sig1=("@request-target" "@authority" "audiohook-organization-id" "audiohook-session-id" "audiohook-correlation-id" "x-api-key");keyid="SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh";nonce="VGhpc0lzQVVuaXF1ZU5vbmNl";alg="hmac-sha256";created=1641013200;expires=3282026430';
const OFFICIAL_SIGNATURE = 'sig1=:NZBwyBHRRyRoeLqy1IzOa9VYBuI8TgMFt2GRDkDuJh4=:';

const UNSIGNED_KEY = 'unsigned-key-0001';
const NEW_KEY = 'new-rotated-key-0002';
const NEW_SECRET_B64 = Buffer.from('the rotated client secret, 32 B!').toString('base64');
const OTHER_ORG = '11111111-2222-4333-8444-555555555555';

function fakeClock(nowSec = CREATED) {
  let now = nowSec * 1000;
  const clock: Clock = { now: () => now, monotonic: () => now };
  return {
    clock,
    advanceSec(s: number) {
      now += s * 1000;
    },
  };
}

function keys(): ApiKeyStore {
  return ApiKeyStore.fromJson({
    [API_KEY]: { secret: SECRET_B64, label: 'official' },
    [NEW_KEY]: { secret: NEW_SECRET_B64, label: 'rotated', transcriptionConnector: true },
    [UNSIGNED_KEY]: { label: 'unsigned', organizationIds: [ORG] },
  });
}

function setup(opts: Partial<AuthenticatorOptions> = {}) {
  const time = fakeClock();
  const auth = new Authenticator({ keys: keys(), clock: time.clock, ...opts });
  return { auth, ...time };
}

function officialRequest(overrides: Record<string, string | string[] | undefined> = {}): AuthRequest {
  return {
    target: '/api/v1/voicebiometrics/ws',
    authority: 'audiohook.example.com',
    headers: {
      host: 'audiohook.example.com',
      connection: 'Upgrade',
      upgrade: 'websocket',
      'user-agent': 'GenesysCloud-AudioHook-Client',
      'audiohook-organization-id': ORG,
      'audiohook-correlation-id': CORRELATION,
      'audiohook-session-id': SESSION,
      'x-api-key': API_KEY,
      signature: OFFICIAL_SIGNATURE,
      'signature-input': OFFICIAL_INPUT,
      ...overrides,
    },
  };
}

function signedRequest(
  apiKey: string,
  secretB64: string,
  opts: { nonce?: string; created?: number; expires?: number; org?: string } = {},
): AuthRequest {
  const created = opts.created ?? CREATED;
  const signed = signAudioHookRequest({
    apiKey,
    clientSecretBase64: secretB64,
    target: '/api/v1/voicebiometrics/ws',
    authority: 'audiohook.example.com',
    organizationId: opts.org ?? ORG,
    sessionId: SESSION,
    correlationId: CORRELATION,
    nonce: opts.nonce,
    created,
    expires: opts.expires ?? created + 30,
  });
  return officialRequest({
    'x-api-key': apiKey,
    'audiohook-organization-id': opts.org ?? ORG,
    'signature-input': signed.signatureInput,
    signature: signed.signature,
  });
}

function expectFailure(outcome: AuthOutcome, status: number, code: string) {
  expect(outcome).toMatchObject({ ok: false, status, code });
}

describe('Authenticator', () => {
  it('exports the minimum failure delay the gateway applies (§1.3 check 8)', () => {
    expect(MIN_AUTH_FAILURE_DELAY_MS).toBe(500);
  });

  describe('accepting', () => {
    it('accepts the official signed example (§9.1) and reports what it established', () => {
      const { auth } = setup();
      expect(auth.authenticate(officialRequest())).toEqual({
        ok: true,
        apiKeyLabel: 'official',
        signed: true,
        sessionId: SESSION,
        organizationId: ORG,
        correlationId: CORRELATION,
        features: { transcriptionConnector: false },
        control: 'api',
      });
    });

    it('accepts an unsigned request for a key configured without a secret', () => {
      const { auth } = setup();
      const outcome = auth.authenticate(
        officialRequest({ 'x-api-key': UNSIGNED_KEY, signature: undefined, 'signature-input': undefined }),
      );
      expect(outcome).toMatchObject({
        ok: true,
        apiKeyLabel: 'unsigned',
        signed: false,
        allowedOrganizationIds: [ORG],
      });
    });

    it('accepts both keys during a rotation, each with its own secret', () => {
      const { auth } = setup();
      expect(auth.authenticate(officialRequest())).toMatchObject({ ok: true, apiKeyLabel: 'official' });
      expect(auth.authenticate(signedRequest(NEW_KEY, NEW_SECRET_B64))).toMatchObject({
        ok: true,
        apiKeyLabel: 'rotated',
        features: { transcriptionConnector: true },
      });
    });

    it('rejects a key removed by a reload', () => {
      const store = keys();
      const { clock } = fakeClock();
      const auth = new Authenticator({ keys: store, clock });
      store.replaceAll(ApiKeyStore.parseJson({ [NEW_KEY]: NEW_SECRET_B64 }));
      expectFailure(auth.authenticate(officialRequest()), 401, 'unknown-api-key');
      expect(auth.authenticate(signedRequest(NEW_KEY, NEW_SECRET_B64)).ok).toBe(true);
    });

    it('does not mix up the secrets of two keys', () => {
      const { auth } = setup();
      expectFailure(auth.authenticate(signedRequest(NEW_KEY, SECRET_B64)), 401, 'signature-mismatch');
    });

    it('verifies a Host rewritten by a proxy against expectedAuthority', () => {
      const behindProxy = { ...officialRequest(), authority: 'gateway.internal:8080' };
      expectFailure(setup().auth.authenticate(behindProxy), 401, 'signature-mismatch');
      expect(setup({ expectedAuthority: 'audiohook.example.com' }).auth.authenticate(behindProxy).ok).toBe(true);
    });

    it('ignores the default port and case in Host', () => {
      const { auth } = setup();
      expect(auth.authenticate({ ...officialRequest(), authority: 'AudioHook.Example.com:443' }).ok).toBe(true);
    });
  });

  describe('400: required headers', () => {
    it.each(['audiohook-session-id', 'audiohook-organization-id', 'audiohook-correlation-id', 'x-api-key'])(
      'answers missing-header without %s',
      (name) => {
        expectFailure(setup().auth.authenticate(officialRequest({ [name]: undefined })), 400, 'missing-header');
        expectFailure(setup().auth.authenticate(officialRequest({ [name]: '  ' })), 400, 'missing-header');
      },
    );

    it.each(['audiohook-session-id', 'audiohook-organization-id', 'audiohook-correlation-id'])(
      'answers invalid-header when %s is not a UUID',
      (name) => {
        expectFailure(setup().auth.authenticate(officialRequest({ [name]: 'not-a-uuid' })), 400, 'invalid-header');
        expectFailure(
          setup().auth.authenticate(officialRequest({ [name]: [SESSION, SESSION] })),
          400,
          'invalid-header',
        );
      },
    );
  });

  describe('401', () => {
    it('answers unknown-api-key for an unknown key, signed or not', () => {
      const { auth } = setup();
      expectFailure(auth.authenticate(officialRequest({ 'x-api-key': 'unknown-key-xyz' })), 401, 'unknown-api-key');
      expectFailure(
        auth.authenticate(
          officialRequest({ 'x-api-key': 'unknown-key-xyz', signature: undefined, 'signature-input': undefined }),
        ),
        401,
        'unknown-api-key',
      );
      expectFailure(
        auth.authenticate(officialRequest({ 'x-api-key': 'unknown-key-xyz', 'signature-input': 'garbage((' })),
        401,
        'unknown-api-key',
      );
    });

    it('answers signature-required when a key with a secret gets an unsigned request', () => {
      const outcome = setup().auth.authenticate(
        officialRequest({ signature: undefined, 'signature-input': undefined }),
      );
      expectFailure(outcome, 401, 'signature-required');
    });

    it.each([
      ['Signature without Signature-Input', { 'signature-input': undefined }],
      ['Signature-Input without Signature', { signature: undefined }],
      ['unparsable Signature-Input', { 'signature-input': 'sig1=(' }],
    ])('answers signature-malformed for %s', (_what, overrides) => {
      expectFailure(setup().auth.authenticate(officialRequest(overrides)), 401, 'signature-malformed');
    });

    it('answers signature-malformed when only one signature header reaches a secret-less key', () => {
      const outcome = setup().auth.authenticate(
        officialRequest({ 'x-api-key': UNSIGNED_KEY, 'signature-input': undefined }),
      );
      expectFailure(outcome, 401, 'signature-malformed');
    });

    it('answers signature-params for an unknown parameter', () => {
      const input = `${OFFICIAL_INPUT};tag="x"`;
      expectFailure(setup().auth.authenticate(officialRequest({ 'signature-input': input })), 401, 'signature-params');
    });

    it('answers signature-components for the host-covering variant (§9.2)', () => {
      const outcome = setup().auth.authenticate(
        officialRequest({
          'signature-input': OFFICIAL_INPUT.replace('"@authority"', '"host"'),
          signature: 'sig1=:zupMJUMfd/kMuvKc5zhRyfJPE3jTROuz1S1hn8SCTpE=:',
        }),
      );
      expectFailure(outcome, 401, 'signature-components');
    });

    it('answers signature-keyid when keyid is another configured key', () => {
      const input = OFFICIAL_INPUT.replace(`keyid="${API_KEY}"`, `keyid="${NEW_KEY}"`);
      expectFailure(setup().auth.authenticate(officialRequest({ 'signature-input': input })), 401, 'signature-keyid');
    });

    it('answers signature-nonce for a short nonce', () => {
      const outcome = setup().auth.authenticate(signedRequest(API_KEY, SECRET_B64, { nonce: 'short-nonce' }));
      expectFailure(outcome, 401, 'signature-nonce');
    });

    it('answers signature-expired for an old signature', () => {
      const { auth, advanceSec } = setup();
      advanceSec(14);
      expectFailure(auth.authenticate(officialRequest()), 401, 'signature-expired');
    });

    it('answers signature-not-yet-valid for a signature from the future', () => {
      const { auth, advanceSec } = setup();
      advanceSec(-4);
      expectFailure(auth.authenticate(officialRequest()), 401, 'signature-not-yet-valid');
    });

    it('answers signature-mismatch for a tampered header', () => {
      const outcome = setup().auth.authenticate(officialRequest({ 'audiohook-correlation-id': OTHER_ORG }));
      expectFailure(outcome, 401, 'signature-mismatch');
    });

    it('answers signature-mismatch when a secret-less key receives a signed request', () => {
      const outcome = setup().auth.authenticate(
        signedRequest(UNSIGNED_KEY, Buffer.from('a secret we were never told about').toString('base64')),
      );
      expectFailure(outcome, 401, 'signature-mismatch');
      expect(outcome.ok ? '' : outcome.message).toMatch(/has no client secret but the request is signed/);
    });

    describe('replay', () => {
      it('answers nonce-replayed for the same signed request inside the window', () => {
        const { auth, advanceSec } = setup();
        expect(auth.authenticate(officialRequest()).ok).toBe(true);
        advanceSec(1);
        expectFailure(auth.authenticate(officialRequest()), 401, 'nonce-replayed');
      });

      it('still refuses the replay once the nonce is forgotten, because the signature is then too old', () => {
        const { auth, advanceSec } = setup();
        expect(auth.authenticate(officialRequest()).ok).toBe(true);
        advanceSec(17);
        expectFailure(auth.authenticate(officialRequest()), 401, 'signature-expired');
      });

      it('does not record nonces of requests that fail verification', () => {
        const { auth } = setup();
        expectFailure(
          auth.authenticate(officialRequest({ 'audiohook-session-id': OTHER_ORG })),
          401,
          'signature-mismatch',
        );
        expect(auth.authenticate(officialRequest()).ok).toBe(true);
      });

      it('answers replay-cache-full when the cache is full of live nonces', () => {
        const { clock } = fakeClock();
        const nonceCache = new NonceCache({ clock, windowSec: 16, maxEntries: 1 });
        const auth = new Authenticator({ keys: keys(), clock, nonceCache });
        expect(auth.authenticate(signedRequest(API_KEY, SECRET_B64)).ok).toBe(true);
        expectFailure(auth.authenticate(signedRequest(API_KEY, SECRET_B64)), 401, 'replay-cache-full');
      });
    });
  });

  describe('403', () => {
    it('answers organization-not-allowed for an organization outside the key allow-list', () => {
      const outcome = setup().auth.authenticate(
        officialRequest({
          'x-api-key': UNSIGNED_KEY,
          'audiohook-organization-id': OTHER_ORG,
          signature: undefined,
          'signature-input': undefined,
        }),
      );
      expectFailure(outcome, 403, 'organization-not-allowed');
    });

    it('compares organization ids case-insensitively', () => {
      const outcome = setup().auth.authenticate(
        officialRequest({
          'x-api-key': UNSIGNED_KEY,
          'audiohook-organization-id': ORG.toUpperCase(),
          signature: undefined,
          'signature-input': undefined,
        }),
      );
      expect(outcome).toMatchObject({ ok: true, organizationId: ORG.toUpperCase() });
    });
  });

  describe('robustness', () => {
    it('never puts the API key or secret into a failure message', () => {
      const { auth } = setup();
      const requests = [
        officialRequest({ 'x-api-key': `${API_KEY}x` }),
        officialRequest({ signature: undefined, 'signature-input': undefined }),
        officialRequest({ 'audiohook-session-id': OTHER_ORG }),
        officialRequest({ 'signature-input': `${OFFICIAL_INPUT};tag="x"` }),
        signedRequest(API_KEY, SECRET_B64, { nonce: 'short' }),
      ];
      for (const req of requests) {
        const outcome = auth.authenticate(req);
        expect(outcome.ok).toBe(false);
        if (outcome.ok) continue;
        for (const secret of [API_KEY, SECRET_B64, 'MySuperSecret']) expect(outcome.message).not.toContain(secret);
      }
    });

    it('answers every malformed signature header with a 401 instead of throwing', () => {
      const { auth } = setup();
      const garbage = [
        '',
        ' ',
        'sig1',
        'sig1=?1',
        'sig1=()',
        'sig1=("',
        '=',
        ',',
        'sig1=:::',
        `sig1=(${'"a" '.repeat(3000)})`,
      ];
      for (const input of garbage) {
        for (const signature of [OFFICIAL_SIGNATURE, input]) {
          const outcome = auth.authenticate(officialRequest({ 'signature-input': input, signature }));
          expect(outcome).toMatchObject({ ok: false, status: 401 });
        }
      }
    });

    it.each([
      [{ maxSignatureAgeSec: -1 }],
      [{ clockSkewSec: Number.NaN }],
      [{ nonceCache: new NonceCache({ clock: fakeClock().clock, windowSec: 15 }) }],
    ])('rejects invalid options %#', (opts) => {
      expect(() => new Authenticator({ keys: keys(), clock: fakeClock().clock, ...opts })).toThrow(AuthConfigError);
    });

    it('sizes its default replay cache to the configured window', () => {
      const { auth, advanceSec } = setup({ maxSignatureAgeSec: 60 });
      expect(auth.authenticate(officialRequest()).ok).toBe(true);
      advanceSec(40);
      expectFailure(auth.authenticate(officialRequest()), 401, 'nonce-replayed');
    });
  });
});

import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SignatureBaseError } from '../../../core/auth/errors';
import {
  buildSignatureBase,
  canonicalizeHeaderValue,
  createRequestResolver,
  normalizeAuthority,
  type SignedRequest,
  signAudioHookRequest,
  verifyAudioHookSignature,
  verifyHttpMessageSignature,
} from '../../../core/auth/signature';
import { type InnerList, parseDictionary, serializeInnerList } from '../../../core/auth/structured-fields';

// docs/audiohook-protocol.md §9.1
const API_KEY = 'SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh';
const SECRET_B64 = 'TXlTdXBlclNlY3JldEtleVRlbGxOby0xITJAMyM0JDU=';
const SECRET = Buffer.from(SECRET_B64, 'base64');
const CREATED = 1641013200;
const COMPONENTS =
  '("@request-target" "@authority" "audiohook-organization-id" "audiohook-session-id" "audiohook-correlation-id" "x-api-key")';
const OFFICIAL_PARAMS = `${COMPONENTS};keyid="${API_KEY}";nonce="VGhpc0lzQVVuaXF1ZU5vbmNl";alg="hmac-sha256";created=1641013200;expires=3282026430`;
const OFFICIAL_INPUT = `sig1=${OFFICIAL_PARAMS}`;
const OFFICIAL_SIGNATURE = 'sig1=:NZBwyBHRRyRoeLqy1IzOa9VYBuI8TgMFt2GRDkDuJh4=:';

const HEADERS = {
  host: 'audiohook.example.com',
  'audiohook-organization-id': 'd7934305-0972-4844-938e-9060eef73d05',
  'audiohook-correlation-id': 'e160e428-53e2-487c-977d-96989bf5c99d',
  'audiohook-session-id': '30b0e395-84d3-4570-ac13-9a62d8f514c0',
  'x-api-key': API_KEY,
};

function officialRequest(): SignedRequest {
  return { target: '/api/v1/voicebiometrics/ws', authority: 'audiohook.example.com', headers: { ...HEADERS } };
}

const SIGNER_BASE = {
  apiKey: API_KEY,
  clientSecretBase64: SECRET_B64,
  target: '/api/v1/voicebiometrics/ws',
  authority: 'audiohook.example.com',
  organizationId: HEADERS['audiohook-organization-id'],
  sessionId: HEADERS['audiohook-session-id'],
  correlationId: HEADERS['audiohook-correlation-id'],
  nonce: 'VGhpc0lzQVVuaXF1ZU5vbmNl',
  created: CREATED,
};

/** Signs an arbitrary Signature-Input correctly, so a test isolates a policy check from the MAC. */
function signInput(signatureInput: string, request: SignedRequest = officialRequest(), key: Uint8Array = SECRET) {
  const [label, list] = [...parseDictionary(signatureInput)][0] as [string, InnerList];
  const ids = list.items.map((i) => i.value.value as string);
  const base = buildSignatureBase(ids, createRequestResolver(request), serializeInnerList(list));
  return `${label}=:${createHmac('sha256', key).update(base).digest('base64')}:`;
}

function verifyAt(nowSec: number, signatureInput: string, signature: string, request = officialRequest()) {
  return verifyAudioHookSignature({ signatureInput, signature, request, secret: SECRET, nowMs: nowSec * 1000 });
}

function failureCode(result: { ok: boolean; code?: string }): string | undefined {
  return result.ok ? undefined : result.code;
}

describe('HTTP message signatures (draft-11)', () => {
  describe('signature base', () => {
    it('is the seven lines of the official example (§9.1)', () => {
      const ids = [
        '@request-target',
        '@authority',
        'audiohook-organization-id',
        'audiohook-session-id',
        'audiohook-correlation-id',
        'x-api-key',
      ];
      expect(buildSignatureBase(ids, createRequestResolver(officialRequest()), OFFICIAL_PARAMS)).toBe(
        [
          '"@request-target": /api/v1/voicebiometrics/ws',
          '"@authority": audiohook.example.com',
          '"audiohook-organization-id": d7934305-0972-4844-938e-9060eef73d05',
          '"audiohook-session-id": 30b0e395-84d3-4570-ac13-9a62d8f514c0',
          '"audiohook-correlation-id": e160e428-53e2-487c-977d-96989bf5c99d',
          '"x-api-key": SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh',
          `"@signature-params": ${OFFICIAL_PARAMS}`,
        ].join('\n'),
      );
    });

    it('throws a SignatureBaseError for a component the request lacks', () => {
      expect(() => buildSignatureBase(['x-missing'], () => undefined, '("x-missing")')).toThrow(SignatureBaseError);
    });

    it('throws a SignatureBaseError for a value with a line break (no forged base lines)', () => {
      expect(() => buildSignatureBase(['a'], () => 'v\n"b": w', '("a")')).toThrow(SignatureBaseError);
    });

    it('uses the request target exactly as sent, query included', () => {
      const resolve = createRequestResolver({ target: '/ws?x=1&y=%20', authority: 'h', headers: {} });
      expect(resolve('@request-target')).toBe('/ws?x=1&y=%20');
    });

    it('does not resolve derived components it does not support', () => {
      expect(createRequestResolver(officialRequest())('@method')).toBeUndefined();
    });
  });

  describe('component canonicalization', () => {
    it.each([
      ['Audiohook.Example.COM', 'audiohook.example.com'],
      ['audiohook.example.com:443', 'audiohook.example.com'],
      ['audiohook.example.com:8443', 'audiohook.example.com:8443'],
      ['127.0.0.1:80', '127.0.0.1:80'],
      ['[::1]:443', '[::1]'],
      ['[::1]:9000', '[::1]:9000'],
      ['host:', 'host'],
    ])('"@authority" of Host %j is %j', (host, expected) => {
      expect(normalizeAuthority(host)).toBe(expected);
    });

    it('trims header values, unfolds obsolete line folding and joins repeated instances', () => {
      expect(canonicalizeHeaderValue('  value  ')).toBe('value');
      expect(canonicalizeHeaderValue('a,\r\n   b')).toBe('a, b');
      expect(canonicalizeHeaderValue(['one ', ' two'])).toBe('one, two');
      expect(canonicalizeHeaderValue(undefined)).toBeUndefined();
      expect(canonicalizeHeaderValue([])).toBeUndefined();
    });
  });

  describe('signing (the Genesys side, §9.1 cross-checks)', () => {
    it.each([
      [false, 3282026430, 'NZBwyBHRRyRoeLqy1IzOa9VYBuI8TgMFt2GRDkDuJh4='],
      [false, 1641013230, '13MrOmtEIFb8cH00czAZWdEkgJr9QlnAQABRRF1A2gE='],
      [true, 3282026430, 'zupMJUMfd/kMuvKc5zhRyfJPE3jTROuz1S1hn8SCTpE='],
      [true, 1641013230, 'QGhWrB1TMzQQ6/AWQIuZHRS3x6RJ3omhJvpnJa/XVh4='],
    ])('covering host=%s with expires=%d gives %s', (coverHost, expires, mac) => {
      const { signature } = signAudioHookRequest({ ...SIGNER_BASE, expires, coverHostInsteadOfAuthority: coverHost });
      expect(signature).toBe(`sig1=:${mac}:`);
    });

    it('emits the official Signature-Input and Signature headers', () => {
      expect(signAudioHookRequest({ ...SIGNER_BASE, expires: 3282026430 })).toEqual({
        signatureInput: OFFICIAL_INPUT,
        signature: OFFICIAL_SIGNATURE,
      });
    });

    it('uses a fresh 32-character base64url nonce by default', () => {
      const nonceOf = (input: string) => /nonce="([^"]*)"/.exec(input)?.[1];
      const a = nonceOf(
        signAudioHookRequest({ ...SIGNER_BASE, nonce: undefined, expires: CREATED + 30 }).signatureInput,
      );
      const b = nonceOf(
        signAudioHookRequest({ ...SIGNER_BASE, nonce: undefined, expires: CREATED + 30 }).signatureInput,
      );
      expect(a).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(b).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(a).not.toBe(b);
    });

    it('honours a custom label', () => {
      const signed = signAudioHookRequest({ ...SIGNER_BASE, expires: CREATED + 30, label: 'genesys' });
      expect(signed.signatureInput.startsWith('genesys=(')).toBe(true);
      expect(signed.signature.startsWith('genesys=:')).toBe(true);
    });

    it('produces requests the verifier accepts', () => {
      const signed = signAudioHookRequest({ ...SIGNER_BASE, nonce: undefined, expires: CREATED + 30 });
      expect(verifyAt(CREATED, signed.signatureInput, signed.signature).ok).toBe(true);
    });
  });

  describe('generic verification', () => {
    // draft-11 appendix B.2.5 (§9.3)
    const B25_KEY = Buffer.from(
      'uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ==',
      'base64',
    );
    const B25_INPUT = 'sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"';
    const B25_SIGNATURE = 'sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:';
    const b25Request = (date = 'Tue, 20 Apr 2021 02:07:55 GMT'): SignedRequest => ({
      target: '/foo?param=Value&Pet=dog',
      authority: 'example.com',
      headers: { date, 'content-type': 'application/json' },
    });

    it('verifies the draft-11 B.2.5 vector (label sig-b25, no nonce)', () => {
      const result = verifyHttpMessageSignature({
        signatureInput: B25_INPUT,
        signature: B25_SIGNATURE,
        resolve: createRequestResolver(b25Request()),
        key: B25_KEY,
      });
      expect(result).toMatchObject({
        ok: true,
        value: { label: 'sig-b25', params: { created: 1618884473, keyid: 'test-shared-secret' } },
      });
    });

    it('rejects the B.2.5 vector with a changed covered header', () => {
      const result = verifyHttpMessageSignature({
        signatureInput: B25_INPUT,
        signature: B25_SIGNATURE,
        resolve: createRequestResolver(b25Request('Tue, 20 Apr 2021 02:07:56 GMT')),
        key: B25_KEY,
      });
      expect(failureCode(result)).toBe('signature-mismatch');
    });

    it('verifies the older host-covering variant (§9.2) when asked generically', () => {
      const result = verifyHttpMessageSignature({
        signatureInput: OFFICIAL_INPUT.replace('"@authority"', '"host"'),
        signature: 'sig1=:zupMJUMfd/kMuvKc5zhRyfJPE3jTROuz1S1hn8SCTpE=:',
        resolve: createRequestResolver(officialRequest()),
        key: SECRET,
      });
      expect(result.ok).toBe(true);
    });

    it('verifies a label other than the first when named', () => {
      const input = `other=("x-api-key");created=1, ${OFFICIAL_INPUT}`;
      const signature = `other=:AAAA:, ${OFFICIAL_SIGNATURE}`;
      const resolve = createRequestResolver(officialRequest());
      expect(
        verifyHttpMessageSignature({ signatureInput: input, signature, resolve, key: SECRET, label: 'sig1' }).ok,
      ).toBe(true);
      expect(failureCode(verifyHttpMessageSignature({ signatureInput: input, signature, resolve, key: SECRET }))).toBe(
        'signature-mismatch',
      );
    });
  });

  describe('AudioHook verification (§1.3 checks)', () => {
    it('accepts the official example at its created time', () => {
      expect(verifyAt(CREATED, OFFICIAL_INPUT, OFFICIAL_SIGNATURE)).toEqual({
        ok: true,
        value: {
          label: 'sig1',
          keyid: API_KEY,
          nonce: 'VGhpc0lzQVVuaXF1ZU5vbmNl',
          created: CREATED,
          expires: 3282026430,
        },
      });
    });

    it.each([
      ['@request-target', (r: SignedRequest) => Object.assign(r, { target: '/api/v1/voicebiometrics/ws?x=1' })],
      ['@authority', (r: SignedRequest) => Object.assign(r, { authority: 'evil.example.com' })],
      [
        'audiohook-organization-id',
        (r: SignedRequest) => (r.headers['audiohook-organization-id'] = HEADERS['audiohook-session-id']),
      ],
      [
        'audiohook-session-id',
        (r: SignedRequest) => (r.headers['audiohook-session-id'] = HEADERS['audiohook-correlation-id']),
      ],
      [
        'audiohook-correlation-id',
        (r: SignedRequest) => (r.headers['audiohook-correlation-id'] = HEADERS['audiohook-session-id']),
      ],
    ])('fails when %s is tampered with', (_component, tamper) => {
      const request = officialRequest();
      tamper(request);
      expect(failureCode(verifyAt(CREATED, OFFICIAL_INPUT, OFFICIAL_SIGNATURE, request))).toBe('signature-mismatch');
    });

    it('fails when x-api-key is tampered with (keyid no longer matches)', () => {
      const request = officialRequest();
      request.headers['x-api-key'] = 'SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkx';
      expect(failureCode(verifyAt(CREATED, OFFICIAL_INPUT, OFFICIAL_SIGNATURE, request))).toBe('signature-keyid');
    });

    it.each([0, 10, 31])('fails when byte %d of the signature is flipped', (index) => {
      const mac = Buffer.from('NZBwyBHRRyRoeLqy1IzOa9VYBuI8TgMFt2GRDkDuJh4=', 'base64');
      mac[index] = (mac[index] as number) ^ 0x01;
      expect(failureCode(verifyAt(CREATED, OFFICIAL_INPUT, `sig1=:${mac.toString('base64')}:`))).toBe(
        'signature-mismatch',
      );
    });

    it('fails for a MAC of the wrong length', () => {
      expect(failureCode(verifyAt(CREATED, OFFICIAL_INPUT, 'sig1=:NZBwyBHRRyRoeLqy1IzOa9VYBuI8TgMFt2GRDkDu:'))).toBe(
        'signature-mismatch',
      );
    });

    describe('1. both headers, parsed as dictionaries; every label signed; first label verified', () => {
      it.each([
        ['unparsable Signature-Input', 'sig1=("@authority"', OFFICIAL_SIGNATURE],
        ['unparsable Signature', OFFICIAL_INPUT, 'sig1=:not base64!:'],
        ['empty Signature-Input', '', OFFICIAL_SIGNATURE],
        ['Signature-Input member that is not an inner list', 'sig1="x"', OFFICIAL_SIGNATURE],
        ['no Signature member for the label', OFFICIAL_INPUT, 'sig2=:NZBwyBHRRyRoeLqy1IzOa9VYBuI8TgMFt2GRDkDuJh4=:'],
        [
          'Signature member that is not a byte sequence',
          OFFICIAL_INPUT,
          'sig1="NZBwyBHRRyRoeLqy1IzOa9VYBuI8TgMFt2GRDkDuJh4="',
        ],
        ['second label without a signature', `${OFFICIAL_INPUT}, sig2=("x-api-key")`, OFFICIAL_SIGNATURE],
      ])('rejects %s as signature-malformed', (_what, input, signature) => {
        expect(failureCode(verifyAt(CREATED, input, signature))).toBe('signature-malformed');
      });

      it('verifies the first label and ignores the others', () => {
        const input = `${OFFICIAL_INPUT}, sig2=("x-api-key");created=1`;
        expect(verifyAt(CREATED, input, `${OFFICIAL_SIGNATURE}, sig2=:AAAA:`).ok).toBe(true);
        const swapped = `sig2=("x-api-key");created=1, ${OFFICIAL_INPUT}`;
        expect(verifyAt(CREATED, swapped, `${OFFICIAL_SIGNATURE}, sig2=:AAAA:`).ok).toBe(false);
      });
    });

    describe('2. only alg, created, expires, keyid, nonce; created/expires non-negative integers', () => {
      it.each([
        ['an unknown parameter', `${OFFICIAL_INPUT};tag="x"`],
        ['a negative created', OFFICIAL_INPUT.replace('created=1641013200', 'created=-1')],
        ['a decimal created', OFFICIAL_INPUT.replace('created=1641013200', 'created=1641013200.5')],
        ['a string expires', OFFICIAL_INPUT.replace('expires=3282026430', 'expires="3282026430"')],
        ['a token keyid', OFFICIAL_INPUT.replace(`keyid="${API_KEY}"`, `keyid=${API_KEY}`)],
        ['no created', OFFICIAL_INPUT.replace(';created=1641013200', '')],
        ['no expires', OFFICIAL_INPUT.replace(';expires=3282026430', '')],
        ['expires before created', OFFICIAL_INPUT.replace('expires=3282026430', 'expires=1641013199')],
      ])('rejects %s as signature-params', (_what, input) => {
        expect(failureCode(verifyAt(CREATED, input, signInput(input)))).toBe('signature-params');
      });
    });

    describe('3. all six components, no "@signature-params", no component parameters', () => {
      it.each([
        '"@request-target" ',
        '"@authority" ',
        '"audiohook-organization-id" ',
        '"audiohook-session-id" ',
        '"audiohook-correlation-id" ',
        ' "x-api-key"',
      ])('rejects a signature that does not cover %s', (component) => {
        const input = OFFICIAL_INPUT.replace(component, '');
        expect(failureCode(verifyAt(CREATED, input, signInput(input)))).toBe('signature-components');
      });

      it('rejects the older host-covering variant (§9.2)', () => {
        const input = OFFICIAL_INPUT.replace('"@authority"', '"host"');
        const signature = 'sig1=:zupMJUMfd/kMuvKc5zhRyfJPE3jTROuz1S1hn8SCTpE=:';
        expect(failureCode(verifyAt(CREATED, input, signature))).toBe('signature-components');
      });

      it.each([
        ['"@signature-params" listed', OFFICIAL_INPUT.replace('"x-api-key")', '"x-api-key" "@signature-params")')],
        ['a component parameter', OFFICIAL_INPUT.replace('"@authority"', '"@authority";req')],
        ['a component covered twice', OFFICIAL_INPUT.replace('"x-api-key")', '"x-api-key" "x-api-key")')],
        ['an upper-case component', OFFICIAL_INPUT.replace('"x-api-key")', '"x-api-key" "Date")')],
        ['a non-string component', OFFICIAL_INPUT.replace('"x-api-key")', '"x-api-key" date)')],
      ])('rejects %s', (_what, input) => {
        expect(failureCode(verifyAt(CREATED, input, OFFICIAL_SIGNATURE))).toBe('signature-components');
      });

      it('rejects an extra covered header that the request lacks', () => {
        const input = OFFICIAL_INPUT.replace('"x-api-key")', '"x-api-key" "x-extra")');
        expect(failureCode(verifyAt(CREATED, input, OFFICIAL_SIGNATURE))).toBe('signature-components');
      });

      it('accepts an extra covered header that the request has', () => {
        const input = OFFICIAL_INPUT.replace('"x-api-key")', '"x-api-key" "user-agent")');
        const request = officialRequest();
        request.headers['user-agent'] = 'GenesysCloud-AudioHook-Client';
        expect(verifyAt(CREATED, input, signInput(input, request), request).ok).toBe(true);
      });
    });

    describe('4. nonce of at least 22 characters', () => {
      it.each([
        ['missing', OFFICIAL_INPUT.replace(';nonce="VGhpc0lzQVVuaXF1ZU5vbmNl"', '')],
        ['21 characters', OFFICIAL_INPUT.replace('VGhpc0lzQVVuaXF1ZU5vbmNl', 'a'.repeat(21))],
      ])('rejects a nonce that is %s', (_what, input) => {
        expect(failureCode(verifyAt(CREATED, input, signInput(input)))).toBe('signature-nonce');
      });

      it('accepts 22 characters', () => {
        const input = OFFICIAL_INPUT.replace('VGhpc0lzQVVuaXF1ZU5vbmNl', 'a'.repeat(22));
        expect(verifyAt(CREATED, input, signInput(input)).ok).toBe(true);
      });
    });

    describe('5. keyid equals X-API-KEY', () => {
      it('rejects a different keyid', () => {
        const input = OFFICIAL_INPUT.replace(`keyid="${API_KEY}"`, 'keyid="someone-else"');
        expect(failureCode(verifyAt(CREATED, input, signInput(input)))).toBe('signature-keyid');
      });

      it('rejects a missing keyid', () => {
        const input = OFFICIAL_INPUT.replace(`keyid="${API_KEY}";`, '');
        expect(failureCode(verifyAt(CREATED, input, signInput(input)))).toBe('signature-keyid');
      });
    });

    describe('6. time window (defaults: max age 10 s, skew 3 s)', () => {
      const shortLived = OFFICIAL_INPUT.replace('expires=3282026430', `expires=${CREATED + 5}`);
      const shortSig = signInput(shortLived);

      it.each([
        [-3, 'accepted'],
        [-4, 'signature-not-yet-valid'],
        [8, 'accepted'],
        [9, 'signature-expired'],
      ])('with expires = created + 5, at created + (%d s): %s', (offset, code) => {
        expect(failureCode(verifyAt(CREATED + offset, shortLived, shortSig)) ?? 'accepted').toBe(code);
      });

      it.each([
        [13, 'accepted'],
        [13.5, 'signature-expired'],
        [14, 'signature-expired'],
      ])('with a far expires, at created + %d s: %s (age limit)', (offset, code) => {
        expect(failureCode(verifyAt(CREATED + offset, OFFICIAL_INPUT, OFFICIAL_SIGNATURE)) ?? 'accepted').toBe(code);
      });

      it('accepts what the reference would reject (skew applied leniently to expires)', () => {
        // Reference: reject when expires < now + 3. We accept expires down to now − 3.
        expect(verifyAt(CREATED + 4, shortLived, shortSig).ok).toBe(true);
      });

      it('honours custom limits', () => {
        const at = (offset: number) =>
          verifyAudioHookSignature({
            signatureInput: OFFICIAL_INPUT,
            signature: OFFICIAL_SIGNATURE,
            request: officialRequest(),
            secret: SECRET,
            nowMs: (CREATED + offset) * 1000,
            maxSignatureAgeSec: 60,
            clockSkewSec: 0,
          });
        expect(at(60).ok).toBe(true);
        expect(failureCode(at(61))).toBe('signature-expired');
        expect(failureCode(at(-1))).toBe('signature-not-yet-valid');
      });
    });

    describe('7. HMAC-SHA256 keyed by the decoded secret', () => {
      it('fails when keyed by the base64 text instead of its bytes', () => {
        const result = verifyAudioHookSignature({
          signatureInput: OFFICIAL_INPUT,
          signature: OFFICIAL_SIGNATURE,
          request: officialRequest(),
          secret: Buffer.from(SECRET_B64, 'utf8'),
          nowMs: CREATED * 1000,
        });
        expect(failureCode(result)).toBe('signature-mismatch');
      });
    });

    describe('9. alg, when present, is hmac-sha256', () => {
      it('rejects another algorithm', () => {
        const input = OFFICIAL_INPUT.replace('alg="hmac-sha256"', 'alg="rsa-pss-sha512"');
        expect(failureCode(verifyAt(CREATED, input, signInput(input)))).toBe('signature-params');
      });

      it('accepts a signature without alg', () => {
        const input = OFFICIAL_INPUT.replace(';alg="hmac-sha256"', '');
        expect(verifyAt(CREATED, input, signInput(input)).ok).toBe(true);
      });
    });
  });
});

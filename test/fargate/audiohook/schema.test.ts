import { describe, expect, it } from 'vitest';
import { decodeClientText } from '../../../fargate/src/audiohook/schema';

const SESSION = '30b0e395-84d3-4570-ac13-9a62d8f514c0';
const ORG = 'd7934305-0972-4844-938e-9060eef73d05';
const CONV = '5b4f2f6a-2c3e-4a1b-9f0d-7e6c5d4b3a21';
const NIL = '00000000-0000-0000-0000-000000000000';

const STEREO = { type: 'audio', format: 'PCMU', channels: ['external', 'internal'], rate: 8000 };

function envelope(type: string, parameters: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { version: '2', id: SESSION, type, seq: 3, serverseq: 2, position: 'PT1.5S', parameters, ...extra };
}

function openParams(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    organizationId: ORG,
    conversationId: CONV,
    participant: {
      id: '8a7b6c5d-4e3f-4a2b-8c1d-0e9f8a7b6c5d',
      ani: '+15555551234',
      aniName: 'John Doe',
      dnis: '+18005556789',
    },
    media: [STEREO, { ...STEREO, channels: ['external'] }],
    language: 'en-US',
    ...overrides,
  };
}

const decode = (value: unknown) => decodeClientText(typeof value === 'string' ? value : JSON.stringify(value));

function expectOk(value: unknown) {
  const out = decode(value);
  if (!out.ok) throw new Error(`expected ok, got: ${out.reason}`);
  return out.message;
}

function expectFail(value: unknown, reason: RegExp | string) {
  const out = decode(value);
  expect(out.ok).toBe(false);
  if (out.ok) return out;
  if (typeof reason === 'string') expect(out.reason).toBe(reason);
  else expect(out.reason).toMatch(reason);
  expect(out.reason.length).toBeLessThanOrEqual(200);
  return out;
}

describe('decodeClientText', () => {
  describe('frames that are not messages', () => {
    it('refuses text longer than 65 535 characters before parsing it', () => {
      const big = JSON.stringify(envelope('ping', { pad: 'x'.repeat(65_600) }));
      expectFail(big, 'message too large');
      const justFits = JSON.stringify(envelope('ping', { pad: '' }));
      const pad = 'x'.repeat(65_535 - justFits.length);
      expect(expectOk(JSON.stringify(envelope('ping', { pad }))).type).toBe('ping');
    });

    it.each([
      ['{not json', 'malformed JSON'],
      ['', 'malformed JSON'],
      ['[1,2]', 'message is not a JSON object'],
      ['"ping"', 'message is not a JSON object'],
      ['null', 'message is not a JSON object'],
    ])('refuses %j', (text, reason) => {
      expectFail(text, reason);
    });
  });

  describe('envelope', () => {
    it.each([
      ['version "1"', { version: '1' }, /^invalid message: version: /],
      ['numeric version', { version: 2 }, /^invalid message: version: /],
      ['missing id', { id: undefined }, /^invalid message: id: /],
      ['id that is not a UUID', { id: 'abc' }, 'invalid message: id: expected a UUID'],
      ['negative seq', { seq: -1 }, /^invalid message: seq: /],
      ['fractional seq', { seq: 1.5 }, /^invalid message: seq: /],
      ['string serverseq', { serverseq: '2' }, /^invalid message: serverseq: /],
      ['negative position', { position: 'PT-1S' }, 'invalid message: position: expected a duration such as PT1.5S'],
      ['position without PT', { position: '1S' }, /^invalid message: position: /],
      ['absurd position', { position: 'PT99999999999999999S' }, /^invalid message: position: /],
      ['missing parameters', { parameters: undefined }, /^invalid message: parameters: /],
      ['array parameters', { parameters: [] }, /^invalid message: parameters: /],
      ['missing type', { type: undefined }, /^invalid message: type: /],
      ['type with odd characters', { type: 'ping\nINFO forged' }, 'invalid message: type: expected a message type'],
    ])('refuses a %s', (_name, change, reason) => {
      expectFail(envelope('ping', {}, change), reason);
    });

    it('reports the seq of a refused message when it is readable', () => {
      expect(decode(envelope('close', { reason: 42 }, { seq: 9 }))).toMatchObject({ ok: false, seq: 9 });
      expect(decode(envelope('close', {}, { seq: 'x' }))).not.toHaveProperty('seq');
    });

    it('passes an unknown type on as an UnknownClientMessage (forward compatibility)', () => {
      const msg = expectOk(envelope('transcriptionhint', { hint: { a: 1 } }, { future: true }));
      expect(msg).toEqual({
        version: '2',
        id: SESSION,
        type: 'transcriptionhint',
        seq: 3,
        serverseq: 2,
        position: 'PT1.5S',
        parameters: { hint: { a: 1 } },
        unknownType: true,
      });
    });

    it('tolerates and strips unknown fields on known types', () => {
      const msg = expectOk(envelope('paused', { why: 'secure' }, { trace: 'abc' }));
      expect(msg).toEqual({
        version: '2',
        id: SESSION,
        type: 'paused',
        seq: 3,
        serverseq: 2,
        position: 'PT1.5S',
        parameters: {},
      });
    });

    it('does not resolve inherited names as message types', () => {
      expect(expectOk(envelope('constructor', {}))).toMatchObject({ unknownType: true });
      expect(expectOk(envelope('toString', {}))).toMatchObject({ unknownType: true });
    });
  });

  describe('open', () => {
    it('accepts the typical open and keeps the media offer order', () => {
      const msg = expectOk(envelope('open', openParams()));
      expect(msg.type).toBe('open');
      expect(msg.parameters).toEqual(openParams());
    });

    it('accepts every optional field', () => {
      const params = openParams({
        supportedLanguages: true,
        customConfig: { agentassist: true, nested: { x: [1, 2] } },
        continuedSessions: [{ id: CONV, serverseq: 10, clientseq: 12 }],
      });
      expect(expectOk(envelope('open', params)).parameters).toEqual(params);
    });

    it('accepts a connection probe (nil ids, empty strings, no language)', () => {
      const params = openParams({ conversationId: NIL, participant: { id: NIL, ani: '', aniName: '', dnis: '' } });
      delete params.language;
      expect(expectOk(envelope('open', params)).parameters).toEqual(params);
    });

    it('accepts L16 and mono internal offers, and an empty offer list', () => {
      const media = [
        { ...STEREO, format: 'L16' },
        { ...STEREO, channels: ['internal'] },
      ];
      expect(expectOk(envelope('open', openParams({ media }))).parameters).toMatchObject({ media });
      expect(expectOk(envelope('open', openParams({ media: [] }))).parameters).toMatchObject({ media: [] });
    });

    it('does not let __proto__ in customConfig reach the prototype', () => {
      const text = JSON.stringify(envelope('open', openParams({ customConfig: {} }))).replace(
        '"customConfig":{}',
        '"customConfig":{"__proto__":{"polluted":true},"ok":1}',
      );
      const msg = expectOk(text);
      const config = (msg.parameters as { customConfig: Record<string, unknown> }).customConfig;
      expect(config).toEqual({ ok: 1 });
      expect(Object.getPrototypeOf(config)).toBe(Object.prototype);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it.each([
      ['organizationId not a UUID', { organizationId: 'acme' }, 'parameters.organizationId'],
      ['missing conversationId', { conversationId: undefined }, 'parameters.conversationId'],
      ['missing participant', { participant: undefined }, 'parameters.participant'],
      ['numeric ani', { participant: { id: NIL, ani: 5, aniName: '', dnis: '' } }, 'parameters.participant.ani'],
      ['media not an array', { media: STEREO }, 'parameters.media'],
      ['a 36-character language', { language: 'x'.repeat(36) }, 'parameters.language'],
      ['a non-boolean supportedLanguages', { supportedLanguages: 'yes' }, 'parameters.supportedLanguages'],
      ['an array customConfig', { customConfig: [1] }, 'parameters.customConfig'],
      [
        'a bad continued session',
        { continuedSessions: [{ id: CONV, serverseq: -1, clientseq: 0 }] },
        'parameters.continuedSessions.0.serverseq',
      ],
    ])('refuses %s', (_name, change, path) => {
      const out = expectFail(envelope('open', openParams(change)), /^invalid open message: /);
      if (!out.ok) expect(out.reason.startsWith(`invalid open message: ${path}: `)).toBe(true);
    });

    it.each([
      ['a 16 kHz offer', { ...STEREO, rate: 16000 }],
      ['an opus offer', { ...STEREO, format: 'opus' }],
      ['a video offer', { ...STEREO, type: 'video' }],
      ['no channels', { ...STEREO, channels: [] }],
      ['three channels', { ...STEREO, channels: ['external', 'internal', 'external'] }],
      ['a duplicated channel', { ...STEREO, channels: ['internal', 'internal'] }],
      ['an unknown channel', { ...STEREO, channels: ['mixed'] }],
      ['a string', 'PCMU'],
    ])('drops an unusable offer entry (%s) and keeps the usable ones', (_name, bad) => {
      const mono = { ...STEREO, channels: ['external'] };
      expect(expectOk(envelope('open', openParams({ media: [bad, mono] }))).parameters).toMatchObject({
        media: [mono],
      });
      expect(expectOk(envelope('open', openParams({ media: [bad] }))).parameters).toMatchObject({ media: [] });
    });

    it('refuses an offer list longer than any client sends', () => {
      expectFail(envelope('open', openParams({ media: Array(17).fill(STEREO) })), /parameters.media/);
    });

    it('keeps refusal reasons free of the offending input', () => {
      const out = expectFail(envelope('open', openParams({ language: `en-US${'<script>'.repeat(10)}` })), /language/);
      if (!out.ok) expect(out.reason).not.toContain('<script>');
    });
  });

  describe('ping', () => {
    it('accepts a first ping without rtt and a later one with it', () => {
      expect(expectOk(envelope('ping', {})).parameters).toEqual({});
      expect(expectOk(envelope('ping', { rtt: 'PT0.012S' })).parameters).toEqual({ rtt: 'PT0.012S' });
    });

    it('refuses an rtt that is not a duration', () => {
      expectFail(envelope('ping', { rtt: 12 }), /^invalid ping message: parameters.rtt: /);
      expectFail(envelope('ping', { rtt: 'fast' }), /^invalid ping message: parameters.rtt: /);
    });
  });

  describe('close', () => {
    it.each(['end', 'error', 'disconnect', 'reconnect'])('accepts reason %s', (reason) => {
      expect(expectOk(envelope('close', { reason })).parameters).toEqual({ reason });
    });

    it('refuses a missing reason', () => {
      expectFail(envelope('close', {}), /^invalid close message: parameters.reason: /);
      expectFail(envelope('close', { reason: 7 }), /^invalid close message: parameters.reason: /);
    });

    it('reads an unknown reason as error, so the close still gets its closed', () => {
      expect(expectOk(envelope('close', { reason: 'bye' })).parameters).toEqual({ reason: 'error' });
    });
  });

  describe('paused', () => {
    it('accepts empty parameters', () => {
      expect(expectOk(envelope('paused', {}))).toMatchObject({ type: 'paused', parameters: {} });
    });

    it('refuses parameters that are not an object', () => {
      expectFail(envelope('paused', 'now'), /^invalid message: parameters: /);
    });
  });

  describe.each(['resumed', 'discarded'])('%s', (type) => {
    it('accepts start and discarded durations', () => {
      expect(expectOk(envelope(type, { start: 'PT2S', discarded: 'PT10S' })).parameters).toEqual({
        start: 'PT2S',
        discarded: 'PT10S',
      });
    });

    it.each([
      ['missing start', { discarded: 'PT1S' }, 'parameters.start'],
      ['missing discarded', { start: 'PT1S' }, 'parameters.discarded'],
      ['numeric start', { start: 2, discarded: 'PT1S' }, 'parameters.start'],
      ['exponent duration', { start: 'PT1S', discarded: 'PT1e-7S' }, 'parameters.discarded'],
    ])('refuses %s', (_name, params, path) => {
      expectFail(envelope(type, params), new RegExp(`^invalid ${type} message: ${path.replace('.', '\\.')}: `));
    });
  });

  describe('update', () => {
    it('accepts a language', () => {
      expect(expectOk(envelope('update', { language: 'es-419' })).parameters).toEqual({ language: 'es-419' });
    });

    it.each([
      ['missing language', {}],
      ['numeric language', { language: 5 }],
      ['overlong language', { language: 'x'.repeat(36) }],
    ])('refuses %s', (_name, params) => {
      expectFail(envelope('update', params), /^invalid update message: parameters.language: /);
    });
  });

  describe('error', () => {
    it('accepts a code and message, with or without retryAfter', () => {
      expect(expectOk(envelope('error', { code: 408, message: 'Timeout waiting for pong' })).parameters).toEqual({
        code: 408,
        message: 'Timeout waiting for pong',
      });
      expect(expectOk(envelope('error', { code: 429, message: 'slow down', retryAfter: 'PT2.5S' })).parameters).toEqual(
        {
          code: 429,
          message: 'slow down',
          retryAfter: 'PT2.5S',
        },
      );
    });

    it.each([
      ['fractional code', { code: 429.5, message: 'x' }, 'parameters.code'],
      ['string code', { code: '429', message: 'x' }, 'parameters.code'],
      ['missing message', { code: 500 }, 'parameters.message'],
      ['bad retryAfter', { code: 429, message: 'x', retryAfter: '2s' }, 'parameters.retryAfter'],
    ])('refuses %s', (_name, params, path) => {
      expectFail(envelope('error', params), new RegExp(`^invalid error message: ${path.replace('.', '\\.')}: `));
    });
  });
});

import { describe, expect, it } from 'vitest';
import { parseSignatureHeader, signBody, verifySignature } from '../../../core/delivery/signature';

const BODY = '{"type":"transcript","externalConversationId":"c-1"}';
const SECRET = 'whsec-0123456789abcdef';
const T = 1_737_000_000;

describe('webhook signature', () => {
  it('signs t.<body> with HMAC-SHA256 and verifies within the tolerance', () => {
    const header = signBody(SECRET, BODY, T);
    expect(header).toMatch(/^t=1737000000,v1=[0-9a-f]{64}$/);
    expect(verifySignature(header, BODY, SECRET, T + 299)).toEqual({ ok: true, timestampSec: T });
    expect(verifySignature(header, Buffer.from(BODY), SECRET, T - 10)).toEqual({ ok: true, timestampSec: T });
  });

  it('matches an independent computation a receiver would do', async () => {
    const { createHmac } = await import('node:crypto');
    const expected = createHmac('sha256', SECRET).update(`${T}.${BODY}`).digest('hex');
    expect(signBody(SECRET, BODY, T)).toBe(`t=${T},v1=${expected}`);
  });

  it('rejects a changed body, a wrong secret and a replay outside the window', () => {
    const header = signBody(SECRET, BODY, T);
    expect(verifySignature(header, `${BODY} `, SECRET, T)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifySignature(header, BODY, 'another-secret-value', T)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifySignature(header, BODY, SECRET, T + 301)).toEqual({ ok: false, reason: 'stale' });
  });

  it('rejects a re-stamped capture: the timestamp is part of what is signed', () => {
    const header = signBody(SECRET, BODY, T).replace(`t=${T}`, `t=${T + 1000}`);
    expect(verifySignature(header, BODY, SECRET, T + 1000)).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('signs with every secret during a rotation, so either one verifies', () => {
    const header = signBody(['new-secret-0000000', 'old-secret-0000000'], BODY, T);
    expect(parseSignatureHeader(header)?.v1).toHaveLength(2);
    expect(verifySignature(header, BODY, 'old-secret-0000000', T).ok).toBe(true);
    expect(verifySignature(header, BODY, ['x-secret-000000000', 'new-secret-0000000'], T).ok).toBe(true);
  });

  it.each([undefined, '', 't=abc,v1=00', `v1=${'a'.repeat(64)}`, 't=1', 'garbage'])('calls %j malformed', (header) => {
    expect(verifySignature(header, BODY, SECRET, T)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('ignores unknown schemes next to v1', () => {
    const header = `${signBody(SECRET, BODY, T)},v2=whatever`;
    expect(verifySignature(header, BODY, SECRET, T).ok).toBe(true);
  });

  it('refuses to sign without a secret or with a fractional timestamp', () => {
    expect(() => signBody([], BODY, T)).toThrow(RangeError);
    expect(() => signBody(SECRET, BODY, 1.5)).toThrow(RangeError);
  });
});

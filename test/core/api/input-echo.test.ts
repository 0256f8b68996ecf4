/**
 * Start-streaming's `language` is bounded, and no error message copies a caller's value beyond a short,
 * printable excerpt (issue #15 item 7): checked at the rules (core/api/start-stop-rules.ts) and at the
 * Lambda edge's schema (lambdas/shared/schemas.ts), where a body first arrives.
 */
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../../core/api/errors';
import {
  decideStart,
  inputExcerpt,
  MAX_ECHO_CHARS,
  MAX_LANGUAGE_LENGTH,
  type StartPolicy,
  type StartRequest,
} from '../../../core/api/start-stop-rules';
import { parseStartRequest } from '../../../lambdas/shared/schemas';

const POLICY: StartPolicy = {
  supportedLanguages: ['en-US', 'es-US'],
  defaultLanguage: 'en-US',
  redactionEnabled: true,
};
const REQ: StartRequest = { namespace: 'genesysaudiohook', guid: 'g-1', customerId: 'c', agentId: 'a' };
const BODY = { namespace: 'genesysaudiohook', guid: 'g-1', customerId: 'c', agentId: 'a' };

function caught(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected an ApiError');
}

const hasControl = (text: string) => [...text].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);

describe('start-streaming language', () => {
  describe('at the rules', () => {
    it(`refuses a language longer than ${MAX_LANGUAGE_LENGTH} characters without quoting it`, () => {
      const language = `en-${'x'.repeat(MAX_LANGUAGE_LENGTH)}`;
      const err = caught(() => decideStart({ ...REQ, autotranscribeParams: { language } }, POLICY));
      expect(err.code).toBe('400-202');
      expect(err.message).toBe(`language must be at most ${MAX_LANGUAGE_LENGTH} characters`);
    });

    it('still answers "not supported" for an unsupported tag of the maximum length, quoting it whole', () => {
      const language = `zh-${'a'.repeat(MAX_LANGUAGE_LENGTH - 3)}`;
      const err = caught(() => decideStart({ ...REQ, autotranscribeParams: { language } }, POLICY));
      expect(err.code).toBe('400-202');
      expect(err.message).toBe(`language '${language}' is not supported; supported: en-US, es-US`);
    });

    it('never copies control characters of the language into the message', () => {
      const err = caught(() =>
        decideStart({ ...REQ, autotranscribeParams: { language: 'en\nFAKE\u001b[2J' } }, POLICY),
      );
      expect(hasControl(err.message)).toBe(false);
      expect(err.message).toBe("language 'en\\x0aFAKE\\x1b[2J' is not supported; supported: en-US, es-US");
    });
  });

  describe('at the request schema', () => {
    it('answers a 100 kB language with 400-202 and a short message that does not echo it', () => {
      const language = 'A'.repeat(100_000);
      const err = caught(() => parseStartRequest({ ...BODY, autotranscribeParams: { language } }));
      expect(err.code).toBe('400-202');
      expect(err.message).toBe(`autotranscribeParams.language must be at most ${MAX_LANGUAGE_LENGTH} characters`);
    });

    it(`accepts a language of exactly ${MAX_LANGUAGE_LENGTH} characters (the rules then decide)`, () => {
      const language = 'b'.repeat(MAX_LANGUAGE_LENGTH);
      expect(parseStartRequest({ ...BODY, autotranscribeParams: { language } }).autotranscribeParams?.language).toBe(
        language,
      );
    });

    it('no shape error quotes the offending value', () => {
      const marker = 'ZZ\nmarker';
      const bodies: unknown[] = [
        { ...BODY, namespace: marker },
        { ...BODY, guid: `${marker}${'g'.repeat(300)}` },
        { ...BODY, customerId: 7 },
        { ...BODY, autotranscribeParams: { redactionOutput: marker } },
        { ...BODY, autotranscribeParams: { detailedToken: marker } },
      ];
      for (const body of bodies) {
        const err = caught(() => parseStartRequest(body));
        expect(err.message).not.toContain('marker');
        expect(hasControl(err.message)).toBe(false);
      }
    });
  });
});

describe('inputExcerpt', () => {
  it('quotes short printable values as they are', () => {
    expect(inputExcerpt('fr-FR')).toBe("'fr-FR'");
  });

  it(`cuts a long value after ${MAX_ECHO_CHARS} characters and states its length`, () => {
    const excerpt = inputExcerpt('q'.repeat(5000));
    expect(excerpt).toBe(`'${'q'.repeat(MAX_ECHO_CHARS)}…' (5000 characters)`);
  });

  it('escapes C0, DEL, C1 and line separators, counting characters not UTF-16 units', () => {
    expect(inputExcerpt('a\r\u007f\u0085\u2028b')).toBe("'a\\x0d\\x7f\\x85\\u2028b'");
    expect(inputExcerpt('😀'.repeat(3), 2)).toBe("'😀😀…' (3 characters)");
  });
});

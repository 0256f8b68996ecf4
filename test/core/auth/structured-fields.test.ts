import { describe, expect, it } from 'vitest';
import { StructuredFieldError } from '../../../core/auth/errors';
import {
  type InnerList,
  type Item,
  MAX_STRUCTURED_FIELD_LENGTH,
  parseDictionary,
  serializeBareItem,
  serializeDictionary,
  serializeInnerList,
} from '../../../core/auth/structured-fields';

const GENESYS_SIGNATURE_INPUT =
  'sig1=("@request-target" "@authority" "audiohook-organization-id" "audiohook-session-id" "audiohook-correlation-id" "x-api-key");keyid="SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh";nonce="VGhpc0lzQVVuaXF1ZU5vbmNl";alg="hmac-sha256";created=1641013200;expires=3282026430';

function member(input: string, key: string): Item | InnerList {
  const m = parseDictionary(input).get(key);
  if (m === undefined) throw new Error(`no member ${key}`);
  return m;
}

function item(input: string, key = 'a'): Item {
  const m = member(input, key);
  if (m.kind !== 'item') throw new Error('not an item');
  return m;
}

describe('structured fields (RFC 8941 subset)', () => {
  describe('parsing a dictionary', () => {
    it('reads the Genesys Signature-Input as one inner list of strings with typed parameters', () => {
      const sig1 = member(GENESYS_SIGNATURE_INPUT, 'sig1');
      expect(sig1.kind).toBe('inner-list');
      if (sig1.kind !== 'inner-list') return;
      expect(sig1.items.map((i) => i.value)).toEqual([
        { type: 'string', value: '@request-target' },
        { type: 'string', value: '@authority' },
        { type: 'string', value: 'audiohook-organization-id' },
        { type: 'string', value: 'audiohook-session-id' },
        { type: 'string', value: 'audiohook-correlation-id' },
        { type: 'string', value: 'x-api-key' },
      ]);
      expect([...sig1.params]).toEqual([
        ['keyid', { type: 'string', value: 'SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh' }],
        ['nonce', { type: 'string', value: 'VGhpc0lzQVVuaXF1ZU5vbmNl' }],
        ['alg', { type: 'string', value: 'hmac-sha256' }],
        ['created', { type: 'integer', value: 1641013200 }],
        ['expires', { type: 'integer', value: 3282026430 }],
      ]);
    });

    it('reads a byte sequence member', () => {
      const sig = item('sig1=:NZBwyBHRRyRoeLqy1IzOa9VYBuI8TgMFt2GRDkDuJh4=:', 'sig1');
      expect(sig.value.type).toBe('bytes');
      expect(Buffer.from(sig.value.value as Uint8Array).toString('base64')).toBe(
        'NZBwyBHRRyRoeLqy1IzOa9VYBuI8TgMFt2GRDkDuJh4=',
      );
    });

    it.each<[string, Item['value']]>([
      ['a=tok/en:x*', { type: 'token', value: 'tok/en:x*' }],
      ['a=*star', { type: 'token', value: '*star' }],
      ['a=-42', { type: 'integer', value: -42 }],
      ['a=999999999999999', { type: 'integer', value: 999_999_999_999_999 }],
      ['a=1.5', { type: 'decimal', value: 1.5 }],
      ['a=-123456789012.123', { type: 'decimal', value: -123456789012.123 }],
      ['a=?0', { type: 'boolean', value: false }],
      ['a', { type: 'boolean', value: true }],
      ['a="say \\"hi\\" \\\\o/"', { type: 'string', value: 'say "hi" \\o/' }],
      ['a=""', { type: 'string', value: '' }],
      ['a=::', { type: 'bytes', value: new Uint8Array() }],
      ['a=:aGk:', { type: 'bytes', value: new Uint8Array([0x68, 0x69]) }],
    ])('reads %j', (input, expected) => {
      expect(item(input).value).toEqual(expected);
    });

    it('accepts spaces around the value and optional whitespace around commas', () => {
      const dict = parseDictionary('  a=1 ,\tb=2,c=3  ');
      expect([...dict.keys()]).toEqual(['a', 'b', 'c']);
    });

    it('keeps item parameters, bare keys meaning true', () => {
      const a = item('a=1;x;y=?0;z="s"');
      expect([...a.params]).toEqual([
        ['x', { type: 'boolean', value: true }],
        ['y', { type: 'boolean', value: false }],
        ['z', { type: 'string', value: 's' }],
      ]);
    });

    it('lets a repeated key overwrite the value in its original position', () => {
      const dict = parseDictionary('a=1, b=2, a=3');
      expect([...dict.keys()]).toEqual(['a', 'b']);
      expect(item('a=1, b=2, a=3').value).toEqual({ type: 'integer', value: 3 });
    });

    it('reads an empty value as an empty dictionary', () => {
      expect(parseDictionary('').size).toBe(0);
    });

    it.each([
      ['a=', 'missing value'],
      ['a=(', 'unterminated inner list'],
      ['a=("x"', 'unterminated inner list'],
      ['a=("x""y")', 'no space between inner-list items'],
      ['a=(1 2)x', 'garbage after inner list'],
      ['A=1', 'upper-case key'],
      ['1a=1', 'key starting with a digit'],
      ['a=1,', 'trailing comma'],
      ['a=1 b=2', 'missing comma'],
      ['a=1;B=2', 'upper-case parameter key'],
      ['a="\u0001"', 'control character in string'],
      ['a="é"', 'non-ASCII in string'],
      ['a="open', 'unterminated string'],
      ['a="bad\\escape"', 'invalid escape'],
      ['a=:ab$c:', 'invalid base64 character'],
      ['a=:YQ=:', 'padding on a length that is not a multiple of 4'],
      ['a=:YQ===:', 'too much padding'],
      ['a=:Y=Q=:', 'padding in the middle'],
      ['a=:YWJjZ:', 'impossible base64 length'],
      ['a=:YQ==', 'unterminated byte sequence'],
      ['a=?2', 'bad boolean'],
      ['a=-', 'sign without digits'],
      ['a=1.', 'decimal without fraction'],
      ['a=1.1234', 'four fractional digits'],
      ['a=1234567890123.1', 'thirteen integer digits in a decimal'],
      ['a=1234567890123456', 'sixteen-digit integer'],
      ['a=1.2.3', 'two decimal points'],
      ['a=@1659578233', 'RFC 9651 date (not RFC 8941)'],
      ['a=%"x"', 'RFC 9651 display string (not RFC 8941)'],
      ['\ta=1', 'leading tab'],
    ])('rejects %j (%s) with a StructuredFieldError', (input) => {
      expect(() => parseDictionary(input)).toThrow(StructuredFieldError);
    });

    it('reports where parsing stopped', () => {
      try {
        parseDictionary('a=1, b=?x');
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(StructuredFieldError);
        expect((err as StructuredFieldError).offset).toBe(8);
        expect((err as StructuredFieldError).code).toBe('structured-field-invalid');
      }
    });

    it(`refuses values longer than ${MAX_STRUCTURED_FIELD_LENGTH} characters before parsing`, () => {
      const atLimit = `a="${'x'.repeat(MAX_STRUCTURED_FIELD_LENGTH - 4)}"`;
      expect(parseDictionary(atLimit).size).toBe(1);
      expect(() => parseDictionary(`${atLimit} `)).toThrow(/longer than 8192/);
    });

    it('never fails with anything but a StructuredFieldError on random input', () => {
      // Deterministic LCG so a failure is reproducible.
      let seed = 12345;
      const next = () => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed;
      };
      const alphabet = 'abz09=;,()" :?*-.\\/+\t@%\u0000é';
      for (let n = 0; n < 5000; n++) {
        let s = '';
        const len = next() % 40;
        for (let i = 0; i < len; i++) s += alphabet[next() % alphabet.length];
        try {
          parseDictionary(s);
        } catch (err) {
          expect(err).toBeInstanceOf(StructuredFieldError);
        }
      }
    });
  });

  describe('canonical serialization', () => {
    it('reproduces the Genesys Signature-Input byte for byte', () => {
      expect(serializeDictionary(parseDictionary(GENESYS_SIGNATURE_INPUT))).toBe(GENESYS_SIGNATURE_INPUT);
    });

    it('normalizes non-canonical spacing of an inner list (the "@signature-params" value)', () => {
      const list = member('sig1=(  "a"   "b" );created=1; keyid="k"', 'sig1') as InnerList;
      expect(serializeInnerList(list)).toBe('("a" "b");created=1;keyid="k"');
    });

    it('writes true parameters as bare keys and other booleans explicitly', () => {
      expect(serializeDictionary(parseDictionary('a;x=?1;y=?0, b=?0'))).toBe('a;x;y=?0, b=?0');
    });

    it('escapes quotes and backslashes in strings', () => {
      expect(serializeBareItem({ type: 'string', value: 'a"b\\c' })).toBe('"a\\"b\\\\c"');
    });

    it('writes byte sequences as padded base64 between colons', () => {
      expect(serializeBareItem({ type: 'bytes', value: new Uint8Array([0x68, 0x69]) })).toBe(':aGk=:');
    });

    it.each([
      [1.5, '1.5'],
      [2, '2.0'],
      [-0.25, '-0.25'],
      [0.0625, '0.062'],
      [0.1875, '0.188'],
      [123456789012.5, '123456789012.5'],
    ])('writes decimal %d as %s (at most 3 fraction digits, half to even)', (value, text) => {
      expect(serializeBareItem({ type: 'decimal', value })).toBe(text);
    });

    it.each<[string, Item['value']]>([
      ['integer above 15 digits', { type: 'integer', value: 1e15 }],
      ['non-integer integer', { type: 'integer', value: 1.5 }],
      ['decimal above 12 integer digits', { type: 'decimal', value: 1e12 }],
      ['non-finite decimal', { type: 'decimal', value: Number.NaN }],
      ['string with a newline', { type: 'string', value: 'a\nb' }],
      ['string with non-ASCII', { type: 'string', value: 'é' }],
      ['token starting with a digit', { type: 'token', value: '1abc' }],
    ])('refuses to serialize an %s', (_what, value) => {
      expect(() => serializeBareItem(value)).toThrow(StructuredFieldError);
    });
  });
});

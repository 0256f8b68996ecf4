/**
 * The subset of RFC 8941 (Structured Field Values for HTTP) that HTTP Message Signatures need:
 * parsing a Dictionary (`Signature-Input`, `Signature`) and canonically serializing Inner Lists,
 * Items and Dictionaries.
 *
 * Hand-written rather than taken from npm for two reasons: `core/` may only depend on Node built-ins,
 * and draft-11 signature verification needs the *canonical re-serialization* of the parsed inner list
 * for the `"@signature-params"` line (docs/audiohook-protocol.md §1.3), which requires keeping the
 * distinction between strings and tokens and between integers and decimals that generic parsers drop.
 *
 * The parser is strict and bounded: any deviation from the RFC grammar throws a
 * {@link StructuredFieldError} (never a `TypeError` or a crash), and inputs above
 * {@link MAX_STRUCTURED_FIELD_LENGTH} are refused before parsing.
 */
import { StructuredFieldError } from './errors';

/** Longest header value we parse (8 KiB). Genesys' `Signature-Input` is ~300 characters. */
export const MAX_STRUCTURED_FIELD_LENGTH = 8192;

/** A bare item with its RFC 8941 type kept, so it re-serializes byte-for-byte canonically. */
export type BareItem =
  | { type: 'string'; value: string }
  | { type: 'token'; value: string }
  | { type: 'integer'; value: number }
  | { type: 'decimal'; value: number }
  | { type: 'boolean'; value: boolean }
  | { type: 'bytes'; value: Uint8Array };

/** Parameters in order of first appearance (a repeated key overwrites the value in place, RFC 8941 §4.2.3.2). */
export type Parameters = Map<string, BareItem>;

/** An Item: a bare item with parameters. */
export interface Item {
  kind: 'item';
  value: BareItem;
  params: Parameters;
}

/** An Inner List: a parenthesized list of items, with parameters of its own. */
export interface InnerList {
  kind: 'inner-list';
  items: Item[];
  params: Parameters;
}

/** A Dictionary: ordered map of keys to items or inner lists. */
export type Dictionary = Map<string, Item | InnerList>;

const MAX_INTEGER = 999_999_999_999_999;
const KEY_RE = /^[a-z*][a-z0-9_\-.*]*$/;
const TOKEN_RE = /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$/;
const TOKEN_CHAR_RE = /[!#$%&'*+\-.^_`|~0-9A-Za-z:/]/;
const BASE64_CHAR_RE = /[A-Za-z0-9+/=]/;

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

function isLcAlpha(c: string | undefined): boolean {
  return c !== undefined && c >= 'a' && c <= 'z';
}

function isAlpha(c: string | undefined): boolean {
  return c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
}

/** Cursor over the input; each method follows one algorithm of RFC 8941 §4.2. */
class Parser {
  private pos = 0;

  constructor(private readonly input: string) {}

  private fail(reason: string): never {
    throw new StructuredFieldError(`invalid structured field: ${reason}`, this.pos);
  }

  private peek(): string | undefined {
    return this.input[this.pos];
  }

  private atEnd(): boolean {
    return this.pos >= this.input.length;
  }

  private skipSp(): void {
    while (this.peek() === ' ') this.pos++;
  }

  private skipOws(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
  }

  /** §4.2: top-level entry; leading and trailing SP are allowed, nothing else may follow. */
  parseTopLevelDictionary(): Dictionary {
    this.skipSp();
    const dict = this.parseDictionary();
    this.skipSp();
    if (!this.atEnd()) this.fail('unexpected trailing characters');
    return dict;
  }

  /** §4.2.2 */
  private parseDictionary(): Dictionary {
    const dict: Dictionary = new Map();
    while (!this.atEnd()) {
      const key = this.parseKey();
      let member: Item | InnerList;
      if (this.peek() === '=') {
        this.pos++;
        member = this.parseItemOrInnerList();
      } else {
        member = { kind: 'item', value: { type: 'boolean', value: true }, params: this.parseParameters() };
      }
      dict.set(key, member);
      this.skipOws();
      if (this.atEnd()) return dict;
      if (this.peek() !== ',') this.fail('expected "," between dictionary members');
      this.pos++;
      this.skipOws();
      if (this.atEnd()) this.fail('trailing comma');
    }
    return dict;
  }

  /** §4.2.1.1 */
  private parseItemOrInnerList(): Item | InnerList {
    return this.peek() === '(' ? this.parseInnerList() : this.parseItem();
  }

  /** §4.2.1.2 */
  private parseInnerList(): InnerList {
    this.pos++; // '('
    const items: Item[] = [];
    while (!this.atEnd()) {
      this.skipSp();
      if (this.peek() === ')') {
        this.pos++;
        return { kind: 'inner-list', items, params: this.parseParameters() };
      }
      items.push(this.parseItem());
      const c = this.peek();
      if (c !== ' ' && c !== ')') this.fail('expected " " or ")" in inner list');
    }
    return this.fail('unterminated inner list');
  }

  /** §4.2.3 */
  private parseItem(): Item {
    const value = this.parseBareItem();
    return { kind: 'item', value, params: this.parseParameters() };
  }

  /** §4.2.3.1 (RFC 8941 types only; RFC 9651 dates and display strings are refused). */
  private parseBareItem(): BareItem {
    const c = this.peek();
    if (c === '-' || isDigit(c)) return this.parseNumber();
    if (c === '"') return { type: 'string', value: this.parseString() };
    if (c === ':') return { type: 'bytes', value: this.parseByteSequence() };
    if (c === '?') return { type: 'boolean', value: this.parseBoolean() };
    if (c === '*' || isAlpha(c)) return { type: 'token', value: this.parseToken() };
    return this.fail(c === undefined ? 'unexpected end of input' : 'unexpected character for an item');
  }

  /** §4.2.3.2 */
  private parseParameters(): Parameters {
    const params: Parameters = new Map();
    while (this.peek() === ';') {
      this.pos++;
      this.skipSp();
      const key = this.parseKey();
      let value: BareItem = { type: 'boolean', value: true };
      if (this.peek() === '=') {
        this.pos++;
        value = this.parseBareItem();
      }
      params.set(key, value);
    }
    return params;
  }

  /** §4.2.3.3 */
  private parseKey(): string {
    const first = this.peek();
    if (first !== '*' && !isLcAlpha(first)) this.fail('a key must start with a lower-case letter or "*"');
    const start = this.pos;
    this.pos++;
    for (;;) {
      const c = this.peek();
      if (c === undefined || !(isLcAlpha(c) || isDigit(c) || c === '_' || c === '-' || c === '.' || c === '*')) break;
      this.pos++;
    }
    return this.input.slice(start, this.pos);
  }

  /** §4.2.4 */
  private parseNumber(): BareItem {
    let sign = 1;
    if (this.peek() === '-') {
      sign = -1;
      this.pos++;
    }
    if (!isDigit(this.peek())) this.fail('expected a digit');
    const start = this.pos;
    let isDecimal = false;
    for (;;) {
      const c = this.peek();
      if (isDigit(c)) {
        this.pos++;
      } else if (c === '.' && !isDecimal) {
        if (this.pos - start > 12) this.fail('decimal has more than 12 integer digits');
        isDecimal = true;
        this.pos++;
      } else {
        break;
      }
      const len = this.pos - start;
      if (!isDecimal && len > 15) this.fail('integer has more than 15 digits');
      if (isDecimal && len > 16) this.fail('decimal is too long');
    }
    const text = this.input.slice(start, this.pos);
    if (!isDecimal) return { type: 'integer', value: sign * Number.parseInt(text, 10) };
    const fraction = text.length - text.indexOf('.') - 1;
    if (fraction < 1) this.fail('decimal ends with "."');
    if (fraction > 3) this.fail('decimal has more than 3 fractional digits');
    return { type: 'decimal', value: sign * Number.parseFloat(text) };
  }

  /** §4.2.5 */
  private parseString(): string {
    this.pos++; // '"'
    let out = '';
    while (!this.atEnd()) {
      const c = this.input[this.pos++] as string;
      if (c === '\\') {
        const next = this.peek();
        if (next !== '"' && next !== '\\') this.fail('invalid escape in string');
        out += next;
        this.pos++;
      } else if (c === '"') {
        return out;
      } else {
        const code = c.charCodeAt(0);
        if (code < 0x20 || code > 0x7e) {
          this.pos--;
          this.fail('invalid character in string');
        }
        out += c;
      }
    }
    return this.fail('unterminated string');
  }

  /** §4.2.6 */
  private parseToken(): string {
    const start = this.pos;
    this.pos++;
    for (;;) {
      const c = this.peek();
      if (c === undefined || !TOKEN_CHAR_RE.test(c)) break;
      this.pos++;
    }
    return this.input.slice(start, this.pos);
  }

  /** §4.2.7. Strict base64: standard alphabet, "=" only as final padding, no impossible lengths. */
  private parseByteSequence(): Uint8Array {
    this.pos++; // ':'
    const start = this.pos;
    for (;;) {
      const c = this.peek();
      if (c === ':') break;
      if (c === undefined) this.fail('unterminated byte sequence');
      if (!BASE64_CHAR_RE.test(c)) this.fail('invalid character in byte sequence');
      this.pos++;
    }
    const b64 = this.input.slice(start, this.pos);
    this.pos++; // ':'
    const firstPad = b64.indexOf('=');
    const body = firstPad === -1 ? b64 : b64.slice(0, firstPad);
    const padding = b64.length - body.length;
    if (padding > 2 || /[^=]/.test(b64.slice(body.length))) this.fail('misplaced "=" in byte sequence');
    if (padding > 0 && b64.length % 4 !== 0) this.fail('wrong padding in byte sequence');
    if (body.length % 4 === 1) this.fail('impossible base64 length in byte sequence');
    return new Uint8Array(Buffer.from(b64, 'base64'));
  }

  /** §4.2.8 */
  private parseBoolean(): boolean {
    this.pos++; // '?'
    const c = this.peek();
    if (c !== '0' && c !== '1') this.fail('boolean must be ?0 or ?1');
    this.pos++;
    return c === '1';
  }
}

/**
 * Parses a Dictionary header value (RFC 8941 §4.2 with field type "dictionary").
 * Repeated header lines must be joined with ", " by the caller before parsing.
 * @throws {StructuredFieldError} on any syntax error or when the input exceeds {@link MAX_STRUCTURED_FIELD_LENGTH}.
 */
export function parseDictionary(input: string): Dictionary {
  if (typeof input !== 'string') throw new StructuredFieldError('structured field value must be a string');
  if (input.length > MAX_STRUCTURED_FIELD_LENGTH) {
    throw new StructuredFieldError(
      `structured field longer than ${MAX_STRUCTURED_FIELD_LENGTH} characters (${input.length})`,
    );
  }
  return new Parser(input).parseTopLevelDictionary();
}

function serializeError(reason: string): never {
  throw new StructuredFieldError(`cannot serialize structured field: ${reason}`);
}

/** RFC 8941 §4.1.3.1: canonical form of a bare item. @throws {StructuredFieldError} for unrepresentable values. */
export function serializeBareItem(item: BareItem): string {
  switch (item.type) {
    case 'integer':
      if (!Number.isInteger(item.value) || Math.abs(item.value) > MAX_INTEGER) serializeError('integer out of range');
      return String(item.value);
    case 'decimal': {
      // §4.1.5: round to 3 fractional digits (half to even), at most 12 integer digits, at least one fraction digit.
      if (!Number.isFinite(item.value)) serializeError('decimal is not finite');
      const scaled = item.value * 1000;
      let rounded = Math.round(scaled);
      if (Math.abs(scaled % 1) === 0.5 && rounded % 2 !== 0) rounded -= 1;
      const abs = Math.abs(rounded);
      const intPart = Math.floor(abs / 1000);
      if (intPart > 999_999_999_999) serializeError('decimal has more than 12 integer digits');
      const frac = String(abs % 1000)
        .padStart(3, '0')
        .replace(/0+$/, '');
      return `${rounded < 0 ? '-' : ''}${intPart}.${frac === '' ? '0' : frac}`;
    }
    case 'string': {
      let out = '"';
      for (const c of item.value) {
        const code = c.charCodeAt(0);
        if (c.length !== 1 || code < 0x20 || code > 0x7e) serializeError('string contains a non-printable character');
        out += c === '"' || c === '\\' ? `\\${c}` : c;
      }
      return `${out}"`;
    }
    case 'token':
      if (!TOKEN_RE.test(item.value)) serializeError('invalid token');
      return item.value;
    case 'boolean':
      return item.value ? '?1' : '?0';
    case 'bytes':
      return `:${Buffer.from(item.value.buffer, item.value.byteOffset, item.value.byteLength).toString('base64')}:`;
  }
}

/** RFC 8941 §4.1.1.2: `;key=value` for each parameter, `;key` for boolean true. */
export function serializeParameters(params: Parameters): string {
  let out = '';
  for (const [key, value] of params) {
    if (!KEY_RE.test(key)) serializeError('invalid parameter key');
    out += `;${key}`;
    if (!(value.type === 'boolean' && value.value)) out += `=${serializeBareItem(value)}`;
  }
  return out;
}

/** RFC 8941 §4.1.3: an item with its parameters. */
export function serializeItem(item: Item): string {
  return serializeBareItem(item.value) + serializeParameters(item.params);
}

/**
 * RFC 8941 §4.1.1.1: canonical inner list, e.g. `("@authority" "x-api-key");created=1;keyid="k"`.
 * This is the value of the `"@signature-params"` line of a draft-11 signature base.
 */
export function serializeInnerList(list: InnerList): string {
  return `(${list.items.map(serializeItem).join(' ')})${serializeParameters(list.params)}`;
}

/** RFC 8941 §4.1.2: canonical dictionary, members separated by ", ". */
export function serializeDictionary(dict: Dictionary): string {
  const members: string[] = [];
  for (const [key, member] of dict) {
    if (!KEY_RE.test(key)) serializeError('invalid dictionary key');
    if (member.kind === 'inner-list') {
      members.push(`${key}=${serializeInnerList(member)}`);
    } else if (member.value.type === 'boolean' && member.value.value) {
      members.push(key + serializeParameters(member.params));
    } else {
      members.push(`${key}=${serializeItem(member)}`);
    }
  }
  return members.join(', ');
}

/** Shorthand for an item built from a plain string (sf-string) with no parameters. */
export function stringItem(value: string, params: Parameters = new Map()): Item {
  return { kind: 'item', value: { type: 'string', value }, params };
}

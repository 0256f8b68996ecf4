/**
 * The local stack's log formatter keeps every record on one line: control characters a caller put into
 * a logged field (message, field name or value, level, a plain line) are printed escaped (issue #15 item 7).
 */
import { describe, expect, it } from 'vitest';
import { escapeControlCharacters, formatLogLine } from '../../local/log-format';

const AT = Date.UTC(2026, 0, 1, 12, 0, 0);

describe('local log formatter', () => {
  describe('with control characters in a field', () => {
    it('prints a value holding "\\nFAKE LINE" as one line, the newline escaped', () => {
      const line = formatLogLine(
        'gateway',
        JSON.stringify({ level: 30, time: AT, msg: 'hello', guid: 'g\nFAKE LINE' }),
      );
      expect(line.split('\n')).toHaveLength(1);
      expect(line).toBe('12:00:00.000 [gateway]   INFO  hello  guid=g\\nFAKE LINE');
    });

    it('escapes the message, field names, the level and nested values alike', () => {
      const line = formatLogLine(
        'api',
        JSON.stringify({
          level: 'info\r',
          timestamp: '2026-01-01T12:00:00.000Z',
          message: 'a\r\n12:00:00.000 [api]       ERROR forged',
          'k\n': 'v\u001b[2J',
          nested: { x: 'y\nz' },
        }),
      );
      expect([...line].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)).toBe(false);
      expect(line).toBe(
        '12:00:00.000 [api]       INFO\\r a\\r\\n12:00:00.000 [api]       ERROR forged  k\\n=v\\x1b[2J nested={"x":"y\\nz"}',
      );
    });

    it('escapes plain (non-JSON) lines and unparsable JSON too', () => {
      expect(formatLogLine('dynamodb', 'one\rtwo\u001b[31m')).toBe('[dynamodb]  one\\rtwo\\x1b[31m');
      expect(formatLogLine('dynamodb', '{"broken\u0007')).toBe('[dynamodb]  {"broken\\x07');
    });
  });

  describe('escapeControlCharacters', () => {
    it('names \\n \\r \\t, writes other C0/C1 controls and line separators as hex, leaves printable text alone', () => {
      expect(escapeControlCharacters('a\tb\u0000c\u007fd\u0085e\u2028f')).toBe('a\\tb\\x00c\\x7fd\\x85e\\u2028f');
      expect(escapeControlCharacters('é ü → ok "quoted" \\ backslash')).toBe('é ü → ok "quoted" \\ backslash');
    });
  });
});

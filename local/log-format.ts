/**
 * Rendering of component log lines for the local stack's single log stream. Every printed field is made
 * safe for a terminal first: a control character a caller smuggled into a log field (a newline, a carriage
 * return, an ANSI escape) would otherwise start a forged line or rewrite the screen (issue #15 item 7).
 */

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

// C0 controls, DEL, C1 controls and the two Unicode line separators some terminals and viewers honour.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is this pattern's purpose
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` with every control character replaced by a visible escape (`\n`, `\r`, `\t`, else `\xNN` or
 * `\uNNNN`), so whatever a field holds it prints as part of one line and changes no terminal state.
 */
export function escapeControlCharacters(text: string): string {
  return text.replace(CONTROL, (c) => {
    const named = NAMED[c];
    if (named !== undefined) return named;
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/**
 * Renders one JSON log line (pino: `time`/`level`/`msg`; Powertools: `timestamp`/`level`/`message`) as
 * `time [component] LEVEL msg key=value…`; other lines pass through with the prefix. Control characters
 * in any printed part are escaped ({@link escapeControlCharacters}): the result is always one line.
 */
export function formatLogLine(component: string, line: string): string {
  const prefix = escapeControlCharacters(`[${component}]`.padEnd(11));
  if (!line.startsWith('{')) return `${prefix} ${escapeControlCharacters(line)}`;
  try {
    const rec = JSON.parse(line) as Record<string, unknown>;
    const {
      time: pinoTime,
      timestamp,
      level,
      msg: pinoMsg,
      message,
      pid: _pid,
      hostname: _host,
      service: _svc,
      sampling_rate: _sampling,
      ...rest
    } = rec;
    const time = pinoTime ?? timestamp;
    const msg = pinoMsg ?? message;
    const t = typeof time === 'number' || typeof time === 'string' ? new Date(time).toISOString().slice(11, 23) : '';
    const lvl = typeof level === 'number' ? (LEVELS[level] ?? String(level)) : String(level ?? '').toUpperCase();
    // JSON.stringify already escapes controls inside non-string values; keys and string values need it here.
    const fields = Object.entries(rest)
      .map(
        ([k, v]) =>
          `${escapeControlCharacters(k)}=${escapeControlCharacters(typeof v === 'string' ? v : JSON.stringify(v))}`,
      )
      .join(' ');
    return `${t} ${prefix} ${escapeControlCharacters(lvl).padEnd(5)} ${escapeControlCharacters(String(msg ?? ''))}${fields ? `  ${fields}` : ''}`;
  } catch {
    return `${prefix} ${escapeControlCharacters(line)}`;
  }
}

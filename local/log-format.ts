/** Rendering of component log lines for the local stack's single log stream. */

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/**
 * Renders one JSON log line (pino: `time`/`level`/`msg`; Powertools: `timestamp`/`level`/`message`) as
 * `time [component] LEVEL msg key=value…`; other lines pass through with the prefix.
 */
export function formatLogLine(component: string, line: string): string {
  const prefix = `[${component}]`.padEnd(11);
  if (!line.startsWith('{')) return `${prefix} ${line}`;
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
    const fields = Object.entries(rest)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    return `${t} ${prefix} ${lvl.padEnd(5)} ${String(msg ?? '')}${fields ? `  ${fields}` : ''}`;
  } catch {
    return `${prefix} ${line}`;
  }
}

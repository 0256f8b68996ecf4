/**
 * The one test logger: a core `Logger` that records every call (child bindings merged into each entry),
 * so tests can assert on what was, and was not, logged.
 */
import type { Logger } from '../../core/ports';

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg: string;
}

export class CaptureLogger implements Logger {
  constructor(
    readonly entries: LogEntry[] = [],
    private readonly bindings: Record<string, unknown> = {},
  ) {}

  debug(obj: Record<string, unknown>, msg: string): void {
    this.entries.push({ level: 'debug', obj: { ...this.bindings, ...obj }, msg });
  }
  info(obj: Record<string, unknown>, msg: string): void {
    this.entries.push({ level: 'info', obj: { ...this.bindings, ...obj }, msg });
  }
  warn(obj: Record<string, unknown>, msg: string): void {
    this.entries.push({ level: 'warn', obj: { ...this.bindings, ...obj }, msg });
  }
  error(obj: Record<string, unknown>, msg: string): void {
    this.entries.push({ level: 'error', obj: { ...this.bindings, ...obj }, msg });
  }
  child(bindings: Record<string, unknown>): Logger {
    return new CaptureLogger(this.entries, { ...this.bindings, ...bindings });
  }

  /** Every entry serialized, for "never logs X" assertions. */
  text(): string {
    return this.entries.map((e) => JSON.stringify(e)).join('\n');
  }

  find(msg: string | RegExp): LogEntry[] {
    return this.entries.filter((e) => (typeof msg === 'string' ? e.msg === msg : msg.test(e.msg)));
  }

  /** Entries of one level. */
  at(level: LogEntry['level']): LogEntry[] {
    return this.entries.filter((e) => e.level === level);
  }

  /** Entries above debug (what an operator sees at the default level). */
  get lines(): LogEntry[] {
    return this.entries.filter((e) => e.level !== 'debug');
  }

  /** The messages of one level. */
  messages(level: LogEntry['level']): string[] {
    return this.at(level).map((e) => e.msg);
  }
}

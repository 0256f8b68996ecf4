/**
 * The open deadline of one session (docs/audiohook-protocol.md §4.3.1, §4.4). Genesys sends `open` right
 * after the upgrade, so a connection that has sent no valid `open` within a few seconds (nothing at all,
 * only pings, or text the session refused) is not a call; until it ends it holds one of the task's
 * `MAX_SESSIONS` slots. The deadline is armed when the session is created (at the upgrade), disarmed by a
 * valid `open`, and on expiry ends the session with `disconnect{reason:"error"}`.
 */
import type { Logger, TimerHandle } from '../ports';
import { AudioHookSessionError } from './errors';
import type { SessionCounters } from './session-stats';

/** Default time from the upgrade to a valid `open` (the reference client's own open timeout, §4.4). */
export const DEFAULT_OPEN_TIMEOUT_MS = 5000;

/** What the deadline needs from its session. */
export interface OpenDeadlineHost {
  /** A session timer (cancelled with the others when the socket goes). */
  schedule(fn: () => void, ms: number): TimerHandle;
  /** True while no valid `open` arrived and nothing else (close, disconnect, socket loss) is ending it. */
  waitingForOpen(): boolean;
  /** The session's current logger. */
  log(): Logger;
  /** The session's counters, for the log line. */
  readonly counters: Pick<SessionCounters, 'messagesReceived' | 'framesReceived'>;
  /** Ends the session: `disconnect{reason:"error", info}`. */
  end(info: string): void;
  /** Told once the deadline ended the session (a gateway counter). */
  expired(): void;
}

/** One session's countdown from the upgrade to `open`. */
export class OpenDeadline {
  readonly #host: OpenDeadlineHost;
  readonly #timeoutMs: number;
  #timer: TimerHandle | undefined;

  /** @throws AudioHookSessionError `AUDIOHOOK_INVALID_OPTIONS` unless `timeoutMs` is a positive number. */
  constructor(host: OpenDeadlineHost, timeoutMs: number) {
    if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
      throw new AudioHookSessionError(
        'AUDIOHOOK_INVALID_OPTIONS',
        `openTimeoutMs must be a positive number of milliseconds, got ${timeoutMs}`,
      );
    }
    this.#host = host;
    this.#timeoutMs = timeoutMs;
  }

  /** True while the countdown runs. */
  get armed(): boolean {
    return this.#timer !== undefined;
  }

  /** Starts the countdown; a second call while it runs changes nothing. */
  arm(): void {
    if (this.#timer) return;
    this.#timer = this.#host.schedule(() => this.#expire(), this.#timeoutMs);
  }

  /** Stops the countdown (a valid `open` arrived). Idempotent. */
  disarm(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #expire(): void {
    this.#timer = undefined;
    const host = this.#host;
    if (!host.waitingForOpen()) return;
    const { messagesReceived, framesReceived } = host.counters;
    // One INFO line per session ended this way (the `disconnect` and `session ended` lines follow).
    host
      .log()
      .info(
        { code: 'AUDIOHOOK_OPEN_TIMEOUT', timeoutMs: this.#timeoutMs, messagesReceived, framesReceived },
        'audiohook open deadline passed: ending the session',
      );
    host.end(openTimeoutInfo(this.#timeoutMs));
    host.expired();
  }
}

/** The `disconnect.info` of a session the deadline ended: short, for people reading Genesys' logs. */
export function openTimeoutInfo(timeoutMs: number): string {
  return `no open received within ${Number((timeoutMs / 1000).toFixed(3))} s`;
}

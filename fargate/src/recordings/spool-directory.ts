/**
 * The recordings spool directory and whether it is usable. An unusable directory (not creatable or not
 * writable: a root-owned volume, a read-only or full file system) turns recordings off, never the gateway:
 * it is logged once as {@link RECORDINGS_SPOOL_UNAVAILABLE} and tried again periodically and whenever a
 * segment could be recorded, so recordings come back once it is fixed. The first time it is usable, the
 * owner is told once (to pick up recordings an earlier process kept there).
 *
 * Recorded call audio is private: the default directory is a fresh `mkdtemp` one (mode 0700, one per
 * process, never a fixed shared path), and a configured one must belong to this process's user; one that
 * belongs to another user (a shared `/tmp` path someone else created first) is refused as unusable, and
 * one of ours that others may enter is narrowed to 0700 (issue #15 item 7).
 */
import { accessSync, chmodSync, constants, mkdirSync, mkdtempSync, rmdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError, describeError } from '../../../core/errors';
import type { Logger, TimerHandle, Timers } from '../../../core/ports';

/** Log code: the spool directory cannot be created or written, so segments are not recorded (docs/errors.md). */
export const RECORDINGS_SPOOL_UNAVAILABLE = 'RECORDINGS_SPOOL_UNAVAILABLE';
const DEFAULT_SPOOL_RETRY_MS = 60_000;
const DEFAULT_SPOOL_PREFIX = 'audiohook-recordings-';

/** A configured spool directory that another user controls (docs/errors.md `RECORDINGS_SPOOL_UNSAFE`). */
export class SpoolDirectoryUnsafeError extends AppError {
  override readonly name = 'SpoolDirectoryUnsafeError';
  declare readonly code: 'RECORDINGS_SPOOL_UNSAFE';
  constructor(message: string) {
    super('RECORDINGS_SPOOL_UNSAFE', message);
  }
}

/**
 * Makes sure `dir` is a directory only this process's user controls: refuses one owned by another user
 * (who could read, swap or plant recordings; root would not even be stopped by the access check), and
 * removes group/other permissions from our own. @throws {@link SpoolDirectoryUnsafeError}
 */
export function assertPrivateDirectory(dir: string): void {
  const st = statSync(dir);
  if (!st.isDirectory()) throw new SpoolDirectoryUnsafeError(`${dir} is not a directory`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new SpoolDirectoryUnsafeError(
      `${dir} belongs to uid ${st.uid}, not to this process's uid ${uid}: another user could read or replace recordings`,
    );
  }
  if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

/** Options of {@link SpoolDirectory}. */
export interface SpoolDirectoryOptions {
  /**
   * Created if missing (mode 0700); must belong to this process's user, and is narrowed to 0700 if others
   * may enter it. @default a fresh private `<os.tmpdir()>/audiohook-recordings-XXXXXX` (0700, per process)
   */
  readonly dir?: string;
  readonly logger: Logger;
  readonly timers: Timers;
  /** While unusable, how often it is tried again. @default 60000 */
  readonly retryMs?: number;
  /** Called once, the first time the directory is usable, with its path. */
  readonly onFirstUsable?: (dir: string) => void;
}

/** Keeps track of the spool directory's usability. */
export class SpoolDirectory {
  readonly #o: SpoolDirectoryOptions;
  /** The directory once known (configured, or created by `mkdtemp`). */
  #dir: string | undefined;
  /** `#dir` was created here (`mkdtemp`), so it is removed at close when nothing was kept in it. */
  #own = false;
  #available = false;
  /** Whether the unusable directory has been reported (so it is logged once, and its recovery too). */
  #down = false;
  #usedOnce = false;
  #closed = false;
  #retryTimer: TimerHandle | undefined;

  /** Checks the directory at once; never throws. */
  constructor(opts: SpoolDirectoryOptions) {
    this.#o = opts;
    this.#dir = opts.dir;
    this.ensure();
  }

  /** The directory (before a default one could be created: the pattern it will have). */
  get path(): string {
    return this.#dir ?? join(tmpdir(), `${DEFAULT_SPOOL_PREFIX}XXXXXX`);
  }

  get available(): boolean {
    return this.#available;
  }

  /**
   * Makes sure the directory exists and this process can create files in it. On the first failure logs
   * {@link RECORDINGS_SPOOL_UNAVAILABLE} (error) and retries every `retryMs`; logs the recovery.
   */
  ensure(): boolean {
    try {
      if (this.#dir === undefined) {
        this.#dir = mkdtempSync(join(tmpdir(), DEFAULT_SPOOL_PREFIX));
        this.#own = true;
      } else {
        mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
        assertPrivateDirectory(this.#dir);
      }
      accessSync(this.#dir, constants.W_OK | constants.X_OK);
    } catch (err) {
      if (!this.#down) {
        this.#down = true;
        this.#o.logger.error(
          {
            spoolDir: this.path,
            err: describeError(err),
            code: RECORDINGS_SPOOL_UNAVAILABLE,
            retryMs: this.#o.retryMs ?? DEFAULT_SPOOL_RETRY_MS,
          },
          `recordings spool directory ${this.path} cannot be created or written: segment recordings are off ` +
            'until it can (calls are still transcribed; segments with audioRecordingAllowed get no recording); ' +
            'RECORDINGS_SPOOL_DIR must be a directory this user owns and may write',
        );
      }
      this.#available = false;
      this.#armRetry();
      return false;
    }
    if (this.#down) {
      this.#down = false;
      this.#o.logger.info(
        { spoolDir: this.#dir },
        'recordings spool directory is usable again: segment recordings are on',
      );
    }
    this.#available = true;
    this.#retryTimer?.cancel();
    this.#retryTimer = undefined;
    if (!this.#usedOnce) {
      this.#usedOnce = true;
      this.#o.onFirstUsable?.(this.#dir);
    }
    return true;
  }

  /** Stops the periodic retry; removes the directory when it is this process's own and empty. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#retryTimer?.cancel();
    this.#retryTimer = undefined;
    // A default spool directory is this process's own: leave no empty one behind. A recording kept for a
    // later upload keeps it (rmdir refuses a non-empty directory).
    if (this.#own && this.#dir !== undefined) {
      try {
        rmdirSync(this.#dir);
      } catch {
        // not empty (kept recordings) or already gone
      }
    }
  }

  /** Stops the periodic retry only (the directory stays as it is). */
  stopRetrying(): void {
    this.#closed = true;
    this.#retryTimer?.cancel();
    this.#retryTimer = undefined;
  }

  #armRetry(): void {
    if (this.#retryTimer !== undefined || this.#closed) return;
    this.#retryTimer = this.#o.timers.setTimeout(() => {
      this.#retryTimer = undefined;
      if (!this.#closed && !this.#available) this.ensure();
    }, this.#o.retryMs ?? DEFAULT_SPOOL_RETRY_MS);
  }
}

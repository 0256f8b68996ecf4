/**
 * The recordings spool directory is private (issue #15 item 7): the default is a fresh 0700 directory per
 * process, a configured directory that belongs to another user is refused (recordings off, logged once),
 * and our own configured directory is narrowed to 0700.
 */
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Logger, TimerHandle, Timers } from '../../../core/ports';
import {
  assertPrivateDirectory,
  RECORDINGS_SPOOL_UNAVAILABLE,
  SpoolDirectory,
  SpoolDirectoryUnsafeError,
} from '../../../fargate/src/recordings/spool-directory';

interface LogEntry {
  level: string;
  obj: Record<string, unknown>;
  msg: string;
}

function recordingLogger(entries: LogEntry[]): Logger {
  const at =
    (level: string) =>
    (obj: Record<string, unknown>, msg: string): void => {
      entries.push({ level, obj, msg });
    };
  const logger: Logger = {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => logger,
  };
  return logger;
}

/** Timers that only record what was armed (the retry is not under test here). */
const idleTimers: Timers = { setTimeout: (): TimerHandle => ({ cancel() {} }) };

const root = mkdtempSync(join(tmpdir(), 'spool-dir-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const uid = process.getuid?.() ?? 0;

/**
 * A directory another user owns, open to everyone like a shared `/tmp` path someone created first: as
 * root, made and handed to `nobody`; otherwise `/`, which root owns.
 */
function foreignDirectory(name: string): { dir: string; owner: number } {
  if (uid !== 0) return { dir: '/', owner: statSync('/').uid };
  const dir = join(root, name);
  mkdirSync(dir);
  chmodSync(dir, 0o1777);
  chownSync(dir, 65534, 65534);
  return { dir, owner: 65534 };
}

describe('recordings spool directory', () => {
  describe('by default', () => {
    it('is a fresh directory per process, mode 0700, owned by us', () => {
      const a = new SpoolDirectory({ logger: recordingLogger([]), timers: idleTimers });
      const b = new SpoolDirectory({ logger: recordingLogger([]), timers: idleTimers });
      try {
        expect(a.available).toBe(true);
        expect(a.path).not.toBe(b.path);
        for (const dir of [a.path, b.path]) {
          const st = statSync(dir);
          expect(st.mode & 0o777).toBe(0o700);
          expect(st.uid).toBe(uid);
        }
      } finally {
        a.close();
        b.close();
      }
    });
  });

  describe('when configured', () => {
    it('creates a missing directory with mode 0700', () => {
      const dir = join(root, 'fresh', 'spool');
      const spool = new SpoolDirectory({ dir, logger: recordingLogger([]), timers: idleTimers });
      expect(spool.available).toBe(true);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
    });

    it('narrows our own world-writable directory to 0700', () => {
      const dir = join(root, 'ours-open');
      mkdirSync(dir);
      chmodSync(dir, 0o777);
      const spool = new SpoolDirectory({ dir, logger: recordingLogger([]), timers: idleTimers });
      expect(spool.available).toBe(true);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
    });

    it('refuses a directory owned by another user: recordings off, logged once, left unchanged', () => {
      const { dir } = foreignDirectory('theirs');
      const modeBefore = statSync(dir).mode;
      const entries: LogEntry[] = [];
      const spool = new SpoolDirectory({ dir, logger: recordingLogger(entries), timers: idleTimers });
      expect(spool.available).toBe(false);
      expect(spool.ensure()).toBe(false);
      expect(entries).toHaveLength(1);
      expect(entries[0]?.level).toBe('error');
      expect(entries[0]?.obj).toMatchObject({
        code: RECORDINGS_SPOOL_UNAVAILABLE,
        spoolDir: dir,
        err: { name: 'SpoolDirectoryUnsafeError', code: 'RECORDINGS_SPOOL_UNSAFE' },
      });
      // Left as it was: not ours to change.
      expect(statSync(dir).mode).toBe(modeBefore);
    });
  });
});

describe('assertPrivateDirectory', () => {
  it('refuses a path that is not a directory', () => {
    expect(() => assertPrivateDirectory(join(root, 'missing'))).toThrow(/ENOENT/);
    expect(() => assertPrivateDirectory(process.execPath)).toThrow(SpoolDirectoryUnsafeError);
  });

  it("names the owner's and our uid when refusing another user's directory", () => {
    const { dir, owner } = foreignDirectory('theirs-too');
    expect(() => assertPrivateDirectory(dir)).toThrow(
      `${dir} belongs to uid ${owner}, not to this process's uid ${uid}: another user could read or replace recordings`,
    );
  });
});

/** Shared by the recordings tests: temporary spool directories removed after each test, and a fake store. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { RecordingStore, RecordingUpload } from '../../../fargate/src/recordings/recording-store';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Removes `dir` (and what is in it) after the current test. */
export function removeAfterTest(dir: string): void {
  dirs.push(dir);
}

/** A new temporary directory, removed after the current test. */
export function tempDir(prefix = 'rec-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/**
 * A store that keeps what it is given (the file's bytes at put time), fails while `failures` > 0, and notes
 * when it was called on `now`'s clock.
 */
export class FakeStore implements RecordingStore {
  readonly bucket = 'rec-bucket';
  readonly puts: { upload: RecordingUpload; bytes: Buffer }[] = [];
  readonly calledAt: number[] = [];
  failures = 0;
  calls = 0;

  constructor(private readonly now: () => number = () => 0) {}

  async put(upload: RecordingUpload): Promise<void> {
    this.calls++;
    this.calledAt.push(this.now());
    if (this.failures > 0) {
      this.failures--;
      throw Object.assign(new Error('service unavailable'), { name: 'ServiceUnavailable' });
    }
    this.puts.push({ upload, bytes: readFileSync(upload.filePath) });
  }
}

/**
 * The local data directory is private: makePrivateDir creates it 0700 and tightens what an older run
 * left readable (directories 0700, files 0600), without following symbolic links out of the tree.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makePrivateDir } from '../../local/private-files';

const root = mkdtempSync(join(tmpdir(), 'private-files-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const mode = (path: string) => statSync(path).mode & 0o777;

describe('makePrivateDir', () => {
  it('creates missing directories 0700 whatever the umask', () => {
    const previous = process.umask(0o022);
    try {
      const dir = join(root, 'new', 'nested');
      makePrivateDir(dir);
      expect([mode(join(root, 'new')), mode(dir)]).toEqual([0o700, 0o700]);
    } finally {
      process.umask(previous);
    }
  });

  it('tightens an existing tree: directories 0700, files 0600', () => {
    const dir = join(root, 'old');
    mkdirSync(join(dir, 'dynamodb'), { recursive: true });
    mkdirSync(join(dir, 's3', 'bucket'), { recursive: true });
    writeFileSync(join(dir, 'dynamodb', 'shared-local-instance.db'), 'x');
    writeFileSync(join(dir, 's3', 'bucket', 'object'), 'y');
    writeFileSync(join(dir, 'endpoints.json'), '{}');
    for (const d of [dir, join(dir, 'dynamodb'), join(dir, 's3'), join(dir, 's3', 'bucket')]) chmodSync(d, 0o755);
    for (const f of ['dynamodb/shared-local-instance.db', 's3/bucket/object', 'endpoints.json']) {
      chmodSync(join(dir, f), 0o644);
    }
    makePrivateDir(dir);
    expect([dir, 'dynamodb', 's3', 's3/bucket'].map((d) => mode(d === dir ? d : join(dir, d)))).toEqual([
      0o700, 0o700, 0o700, 0o700,
    ]);
    expect(
      ['dynamodb/shared-local-instance.db', 's3/bucket/object', 'endpoints.json'].map((f) => mode(join(dir, f))),
    ).toEqual([0o600, 0o600, 0o600]);
  });

  it('leaves the target of a symbolic link alone', () => {
    const outside = join(root, 'outside.txt');
    writeFileSync(outside, 'z');
    chmodSync(outside, 0o644);
    const dir = join(root, 'with-link');
    mkdirSync(dir);
    symlinkSync(outside, join(dir, 'link'));
    makePrivateDir(dir);
    expect(mode(outside)).toBe(0o644);
    expect(mode(dir)).toBe(0o700);
  });
});

/**
 * Where the simulator CLI takes the client secret from (issue #15 item 7): the environment or a file keep
 * it out of the command line, which every local user can read in `ps`; `--client-secret` still works but
 * warns on stderr.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main, parseCli } from '../../../local/simulator/cli';
import { CLIENT_SECRET_ENV } from '../../../local/simulator/options';

const SECRET = Buffer.from('simulator-client-secret-32bytes!').toString('base64');
const BASE = ['--uri', 'ws://127.0.0.1:1/ws', '--api-key', 'k'];
const dir = mkdtempSync(join(tmpdir(), 'sim-secret-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function secretFile(name: string, content: string, mode: number): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  chmodSync(path, mode);
  return path;
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => err.push(t) } },
    stdout: () => out.join(''),
    stderr: () => err.join(''),
  };
}

describe('simulator client secret', () => {
  it(`is read from ${CLIENT_SECRET_ENV} without a warning`, () => {
    const plan = parseCli(BASE, { [CLIENT_SECRET_ENV]: SECRET });
    expect(plan.clientSecret).toBe(SECRET);
    expect(plan.warnings).toEqual([]);
  });

  it('is read from --client-secret-file (trailing newline trimmed), which wins over the environment', () => {
    const file = secretFile('owner-only', `${SECRET}\n`, 0o600);
    const plan = parseCli([...BASE, '--client-secret-file', file], { [CLIENT_SECRET_ENV]: 'b3RoZXI=' });
    expect(plan.clientSecret).toBe(SECRET);
    expect(plan.warnings).toEqual([]);
  });

  it('warns about a secret file other users can read', () => {
    const file = secretFile('shared', SECRET, 0o644);
    expect(parseCli([...BASE, '--client-secret-file', file]).warnings).toEqual([
      `--client-secret-file ${file} is readable by other users; chmod 600 it`,
    ]);
  });

  it('still accepts --client-secret, with a warning that it is visible to other users', () => {
    const plan = parseCli([...BASE, '--client-secret', SECRET], {});
    expect(plan.clientSecret).toBe(SECRET);
    expect(plan.warnings).toHaveLength(1);
    expect(plan.warnings[0]).toMatch(/other users of this machine can read it \(ps, \/proc\)/);
    expect(plan.warnings[0]).toContain(CLIENT_SECRET_ENV);
  });

  it('prints that warning to stderr when run', async () => {
    const c = capture();
    const code = await main([...BASE, '--client-secret', SECRET, '--wav', join(dir, 'missing.wav')], c.io);
    expect(code).toBe(2);
    expect(c.stderr()).toMatch(/^warning: --client-secret puts the secret on the command line/);
    expect(c.stderr()).not.toContain(SECRET);
  });

  it('is absent (unsigned upgrade) when no source names one', () => {
    const plan = parseCli(BASE, { [CLIENT_SECRET_ENV]: '' });
    expect(plan.clientSecret).toBeUndefined();
    expect(plan.warnings).toEqual([]);
  });

  it('refuses both flags, an unreadable or empty file, and a value that is not base64 (without echoing it)', () => {
    const file = secretFile('empty', '\n', 0o600);
    expect(() => parseCli([...BASE, '--client-secret', SECRET, '--client-secret-file', file])).toThrow(
      'use either --client-secret-file or --client-secret, not both',
    );
    expect(() => parseCli([...BASE, '--client-secret-file', join(dir, 'nope')])).toThrow(
      `cannot read --client-secret-file ${join(dir, 'nope')}: ENOENT`,
    );
    expect(() => parseCli([...BASE, '--client-secret-file', file])).toThrow(`--client-secret-file ${file} is empty`);
    expect(() => parseCli(BASE, { [CLIENT_SECRET_ENV]: 'not base64!' })).toThrow(
      `${CLIENT_SECRET_ENV} must be the base64 secret configured in the Genesys integration`,
    );
  });

  it('--help names the file option and the environment variable', async () => {
    const c = capture();
    expect(await main(['--help'], c.io)).toBe(0);
    expect(c.stdout()).toMatch(/--client-secret-file FILE/);
    expect(c.stdout()).toContain(CLIENT_SECRET_ENV);
  });
});

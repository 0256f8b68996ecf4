import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'dynamodb-stop.ts');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the fixture in its own Node process (so nothing of vitest keeps its event loop alive). */
function runFixture(): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
      cwd: join(import.meta.dirname, '..', '..'),
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('DynamoDB Local stop()', () => {
  it('keeps a script alive until the JVM has exited, so code after `await stop()` runs', async () => {
    const run = await runFixture();
    // stderr is the message when this fails: it says why the fixture could not start DynamoDB Local.
    expect(run.stdout, run.stderr).toMatch(/^started \d+\nstopped \d+\n$/);
    expect(run.code, run.stderr).toBe(0);
    const port = Number(/^stopped (\d+)$/m.exec(run.stdout)?.[1]);
    expect(run.stdout).toContain(`started ${port}\n`);
    // stop() resolved only once DynamoDB Local was gone: nothing listens on its port any more.
    expect(await listening(port)).toBe(false);
  }, 90_000);
});

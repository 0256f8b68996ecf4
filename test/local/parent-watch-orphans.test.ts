/**
 * Integration test of the parent watch (local/parent-watch.ts wired into local/start.ts): the local stack
 * is started under an intermediate parent (as the e2e harness starts it), that parent is SIGKILLed, and
 * start.ts, tsx's CLI and every component must be gone within seconds, though nothing signalled them.
 *
 * Processes are identified through /proc by pid and start time, found as descendants of the intermediate
 * parent this test spawned (the stack's own processes carry this test's LOCAL_DATA_DIR): cleanup never
 * touches anything else.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freeStackPorts, type LocalEndpoints } from '../e2e/harness';
import { descendants, type ProcInfo, stillAlive } from '../helpers/proc-tree';

const ROOT = join(import.meta.dirname, '..', '..');

/**
 * The intermediate parent: spawns the stack, then waits. `file`: the stack writes to a log file, so its
 * last line can be read after this parent is gone and only the parent watch can notice. `pipe`: as the
 * e2e harness does, the stack writes to pipes this parent copies to the log file; they break with it.
 */
const INTERMEDIATE = `
const { spawn } = require('node:child_process');
const { createWriteStream, openSync } = require('node:fs');
const [tsx, log, mode] = process.argv.slice(1);
if (mode === 'file') {
  const out = openSync(log, 'a');
  spawn(tsx, ['local/start.ts'], { stdio: ['ignore', out, out] });
} else {
  const out = createWriteStream(log);
  const stack = spawn(tsx, ['local/start.ts'], { stdio: ['ignore', 'pipe', 'pipe'] });
  stack.stdout.pipe(out);
  stack.stderr.pipe(out);
}
`;

function environOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

describe('local stack (npm start)', () => {
  describe.each(['file', 'pipe'] as const)(
    'when the process that started it dies without a signal (output: %s)',
    (mode) => {
      let work = '';
      let dataDir = '';
      let logFile = '';
      let parent: ChildProcess | undefined;
      let tree = new Map<number, ProcInfo>();

      beforeAll(() => {
        work = mkdtempSync(join(tmpdir(), 'ahx-orphans-'));
        dataDir = join(work, 'data');
        logFile = join(work, 'stack.log');
      });

      afterAll(() => {
        // Only what this test started: the processes seen below its own intermediate parent.
        if (tree.size === 0 && parent?.pid !== undefined) tree = descendants(parent.pid);
        for (const p of stillAlive(tree)) {
          try {
            process.kill(p.pid, 'SIGKILL');
          } catch {
            // gone in the meantime
          }
        }
        if (parent && parent.exitCode === null && parent.signalCode === null) parent.kill('SIGKILL');
        rmSync(work, { recursive: true, force: true });
      });

      it('stops start.ts and every component within 15 s', async () => {
        const ports = await freeStackPorts();
        const started = spawn(
          process.execPath,
          ['-e', INTERMEDIATE, join(ROOT, 'node_modules', '.bin', 'tsx'), logFile, mode],
          {
            cwd: ROOT,
            env: {
              ...process.env,
              ...ports,
              LOCAL_DATA_DIR: dataDir,
            },
            stdio: 'ignore',
          },
        );
        parent = started;
        const parentPid = started.pid as number;
        const log = () => {
          try {
            return readFileSync(logFile, 'utf8');
          } catch {
            return '';
          }
        };
        const endpointsFile = join(dataDir, 'endpoints.json');
        await eventually(
          () => {
            if (started.exitCode !== null) throw new Error(`the intermediate parent exited early; log:\n${log()}`);
            return readdirSync(work).includes('data') && readdirSync(dataDir).includes('endpoints.json');
          },
          90_000,
          'the local stack to be ready',
        );
        const endpoints = JSON.parse(readFileSync(endpointsFile, 'utf8')) as LocalEndpoints;

        tree = descendants(parentPid);
        const pids = new Set(tree.keys());
        // The stack itself (tsx's CLI and start.ts) runs with this test's data directory.
        const stackProcs = [...pids].filter((pid) => environOf(pid).includes(`LOCAL_DATA_DIR=${dataDir}`));
        expect(stackProcs.length).toBeGreaterThanOrEqual(2);
        const components = Object.entries(endpoints.processes ?? {});
        expect(components.map(([name]) => name).sort()).toEqual(
          ['api', 'dynamodb', 'fanout', 'gateway', 'scheduler', 'ui', 'websocket'].sort(),
        );
        for (const [name, pid] of components) expect(pids.has(pid), `${name} (${pid}) below the parent`).toBe(true);

        started.kill('SIGKILL');
        const killedAt = Date.now();
        await eventually(() => stillAlive(tree).length === 0, 15_000, 'every stack process to exit').catch(
          (err: unknown) => {
            const left = stillAlive(tree).map((p) => `${p.pid} (${p.comm})`);
            throw new Error(`${err instanceof Error ? err.message : String(err)}; still running: ${left.join(', ')}`);
          },
        );
        expect(Date.now() - killedAt).toBeLessThan(15_000);
        // With pipes, the line went to a reader that no longer exists.
        if (mode === 'file')
          await eventually(
            () => log().includes('the process that started the local stack has exited: stopping'),
            5000,
            'the parent-watch log line',
          );
      }, 150_000);
    },
  );
});

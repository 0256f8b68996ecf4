/**
 * The local stack's components (local/components.ts) with real child processes: a restartable one comes
 * back with a new pid, any other exit stops the stack, and nothing restarts while the stack is stopping.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Component, startComponent, stopAll, watchComponent } from '../../local/components';

const dir = mkdtempSync(join(tmpdir(), 'ahx-components-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A component that appends one line per start to `log` and exits with code 3 after `ms`. */
function crasher(name: string, ms: number): { script: string; log: string } {
  const log = join(dir, `${name}.log`);
  const script = join(dir, `${name}.mjs`);
  writeFileSync(
    script,
    `import { appendFileSync } from 'node:fs';\nappendFileSync(${JSON.stringify(log)}, 'start\\n');\nsetTimeout(() => process.exit(3), ${ms});\n`,
  );
  return { script, log };
}

const starts = (log: string) => readFileSync(log, 'utf8').split('\n').filter(Boolean).length;

describe('local stack components', () => {
  it('restarts a restartable component that exits, with a new pid each time', async () => {
    const { script, log } = crasher('restarted', 200);
    const comp = startComponent('gateway', [script], {});
    const pids: number[] = [comp.child.pid as number];
    let stopping = false;
    const shutdowns: number[] = [];
    const restarted = new Promise<void>((resolve) => {
      watchComponent(comp, {
        restart: true,
        stopping: () => stopping,
        shutdown: (code) => shutdowns.push(code),
        onRestart: (c: Component) => {
          pids.push(c.child.pid as number);
          if (pids.length === 3) resolve();
        },
      });
    });
    await restarted;
    // The third start is running: wait for it to say so before stopping it.
    for (let i = 0; i < 100 && starts(log) < 3; i++) await new Promise((r) => setTimeout(r, 50));
    stopping = true;
    await stopAll([comp]);
    expect(shutdowns).toEqual([]);
    expect(new Set(pids).size).toBe(3);
    expect(starts(log)).toBe(3);
  });

  it('stops the stack when a component that is not restartable exits', async () => {
    const { script, log } = crasher('fatal', 100);
    const comp = startComponent('api', [script], {});
    const code = await new Promise<number>((resolve) => {
      watchComponent(comp, { restart: false, stopping: () => false, shutdown: resolve });
    });
    expect(code).toBe(1);
    expect(starts(log)).toBe(1);
  });

  it('does not restart a component while the stack is stopping', async () => {
    const { script, log } = crasher('stopping', 60_000);
    const comp = startComponent('fanout', [script], {});
    let restarts = 0;
    let stopping = false;
    watchComponent(comp, {
      restart: true,
      stopping: () => stopping,
      shutdown: () => undefined,
      onRestart: () => restarts++,
    });
    // Wait until it really runs (its first line in the log), however loaded the machine is.
    for (let waited = 0; !existsSync(log) && waited < 30_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    stopping = true;
    await stopAll([comp]);
    await new Promise((r) => setTimeout(r, 800));
    expect(restarts).toBe(0);
    expect(starts(log)).toBe(1);
  });
});

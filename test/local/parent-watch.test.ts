/**
 * Unit tests of local/parent-watch.ts: when the watch stops the stack (once, only when the parent is
 * gone, never after), and how the default check reads the process table, tsx's CLI wrapper included.
 */
import { describe, expect, it } from 'vitest';
import {
  isTsxCommandLine,
  PARENT_CHECK_INTERVAL_MS,
  type ProcessView,
  processParentCheck,
  type RepeatingTimer,
  watchParent,
} from '../../local/parent-watch';

/** A timer driven by hand: `tick()` runs the scheduled callback, as the interval would. */
function manualTimer() {
  let tick: (() => void) | undefined;
  const intervals: number[] = [];
  let cancels = 0;
  const timer: RepeatingTimer = {
    every(ms, fn) {
      intervals.push(ms);
      tick = fn;
      return () => {
        cancels += 1;
        tick = undefined;
      };
    },
  };
  return {
    timer,
    intervals,
    cancels: () => cancels,
    running: () => tick !== undefined,
    tick: () => tick?.(),
  };
}

/** A scripted check: answers from `answers` in turn, counting calls. */
function scriptedCheck(answers: Array<string | undefined>) {
  let calls = 0;
  return {
    check: () => answers[calls++ % answers.length],
    calls: () => calls,
  };
}

describe('parent watch', () => {
  describe('watchParent', () => {
    it('checks every second by default and never stops while the parent lives', () => {
      const t = manualTimer();
      const c = scriptedCheck([undefined]);
      const gone: string[] = [];
      watchParent({ onGone: (r) => gone.push(r), check: c.check, timer: t.timer });
      for (let i = 0; i < 5; i++) t.tick();
      expect(t.intervals).toEqual([PARENT_CHECK_INTERVAL_MS]);
      expect(c.calls()).toBe(5);
      expect(gone).toEqual([]);
      expect(t.running()).toBe(true);
    });

    it('calls onGone once, with the reason, when the check says the parent is gone, then stops checking', () => {
      const t = manualTimer();
      const c = scriptedCheck([undefined, undefined, 'parent process 42 exited']);
      const gone: string[] = [];
      watchParent({ onGone: (r) => gone.push(r), check: c.check, timer: t.timer, intervalMs: 250 });
      for (let i = 0; i < 3; i++) t.tick();
      expect(gone).toEqual(['parent process 42 exited']);
      expect(t.cancels()).toBe(1);
      expect(t.running()).toBe(false);
      t.tick();
      expect(c.calls()).toBe(3);
      expect(gone).toHaveLength(1);
      expect(t.intervals).toEqual([250]);
    });

    it('stops checking after stop() and ignores a tick that was already due', () => {
      const t = manualTimer();
      let due: (() => void) | undefined;
      const timer: RepeatingTimer = {
        every(ms, fn) {
          due = fn;
          return t.timer.every(ms, fn);
        },
      };
      const c = scriptedCheck(['gone']);
      const gone: string[] = [];
      const watch = watchParent({ onGone: (r) => gone.push(r), check: c.check, timer });
      watch.stop();
      watch.stop();
      due?.();
      expect(c.calls()).toBe(0);
      expect(gone).toEqual([]);
      expect(t.cancels()).toBe(1);
    });

    it('refuses an interval that is not a positive number, naming the value', () => {
      const t = manualTimer();
      for (const intervalMs of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
        expect(() =>
          watchParent({ onGone: () => undefined, check: () => undefined, timer: t.timer, intervalMs }),
        ).toThrow(new RegExp(`positive number of milliseconds, got ${intervalMs}`));
      }
      expect(t.intervals).toEqual([]);
    });

    it('uses an unref-ed interval by default, so the watch alone does not keep a process alive', () => {
      const watch = watchParent({ onGone: () => undefined, check: () => undefined });
      const active = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
      watch.stop();
      // An unref-ed timer is not listed as an active resource.
      expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBe(active);
    });
  });

  describe('processParentCheck', () => {
    /** A mutable process table: pid → { ppid, argv }, plus this process's parent. */
    function table(self: number, procs: Record<number, { ppid: number; argv: string[] }>) {
      const state = { self, procs };
      const view: ProcessView = {
        ppid: () => state.self,
        alive: (pid) => pid in state.procs,
        parentOf: (pid) => state.procs[pid]?.ppid,
        commandLine: (pid) => state.procs[pid]?.argv,
      };
      return { state, view };
    }

    it('says nothing while the direct parent lives, and names it once this process is re-parented', () => {
      const t = table(100, { 1: { ppid: 0, argv: ['init'] }, 100: { ppid: 50, argv: ['node', 'harness.js'] } });
      const check = processParentCheck(t.view);
      expect(check()).toBeUndefined();
      t.state.self = 1;
      expect(check()).toBe('parent process 100 exited');
    });

    it('notices a parent that no longer exists even before the re-parenting is visible', () => {
      const t = table(100, { 100: { ppid: 50, argv: ['node', 'harness.js'] } });
      const check = processParentCheck(t.view);
      delete t.state.procs[100];
      expect(check()).toBe('parent process 100 exited');
    });

    it('watches the process that started tsx when the parent is the tsx CLI', () => {
      const t = table(200, {
        150: { ppid: 10, argv: ['node', 'harness.js'] },
        200: { ppid: 150, argv: ['node', '/repo/node_modules/.bin/tsx', 'local/start.ts'] },
      });
      const check = processParentCheck(t.view);
      expect(check()).toBeUndefined();
      // The harness is SIGKILLed: tsx's CLI lives on, re-parented to init.
      delete t.state.procs[150];
      t.state.procs[200] = { ppid: 1, argv: ['node', '/repo/node_modules/.bin/tsx', 'local/start.ts'] };
      expect(check()).toBe('process 150, which started tsx (200), exited');
    });

    it('does not look past a parent that is not tsx', () => {
      const t = table(300, {
        250: { ppid: 10, argv: ['sh'] },
        300: { ppid: 250, argv: ['node', 'scripts/run.mjs'] },
      });
      const check = processParentCheck(t.view);
      delete t.state.procs[250];
      expect(check()).toBeUndefined();
    });

    it('recognizes the tsx CLI by its script path only', () => {
      expect(isTsxCommandLine(['node', '/r/node_modules/.bin/tsx', 'local/start.ts'])).toBe(true);
      expect(isTsxCommandLine(['/usr/bin/node', '/r/node_modules/tsx/dist/cli.mjs', 'x.ts'])).toBe(true);
      expect(isTsxCommandLine(['tsx', 'x.ts'])).toBe(true);
      expect(isTsxCommandLine(['node', 'local/start.ts', 'tsx'])).toBe(false);
      expect(isTsxCommandLine(['node', '/r/not-tsx/cli.mjs'])).toBe(false);
      expect(isTsxCommandLine([])).toBe(false);
    });
  });
});

/**
 * Keeps `slots` calls running for the length of a soak: each slot plays calls one after another, each of
 * a seeded length, and starts no call that could not finish before the run ends. Slots start a little
 * apart so their calls do not all open in the same second.
 */
import { randomUUID } from 'node:crypto';
import { CallDriver, type CallDriverDeps, type CallPlan } from './call-driver';
import { sleep } from './control';
import { between, type Rng } from './random';

export interface RunCallsOptions {
  slots: number;
  runMs: number;
  /** Call length range in seconds. */
  callSec: [number, number];
  rng: Rng;
  plan(conversationId: string, durationMs: number): CallPlan;
  deps: CallDriverDeps;
  /** Before a call starts (e.g. subscribe to it). */
  onStart(driver: CallDriver): Promise<void>;
  onEnd(driver: CallDriver): void;
  log(msg: string): void;
}

/** Runs the calls; resolves with every call's driver once the last has ended. */
export async function runCalls(o: RunCallsOptions): Promise<CallDriver[]> {
  const endAt = Date.now() + o.runMs;
  const minMs = o.callSec[0] * 1000;
  const all: CallDriver[] = [];
  await Promise.all(
    Array.from({ length: o.slots }, async (_, slot) => {
      await sleep(slot * 2000);
      while (endAt - Date.now() >= Math.min(minMs, o.runMs / 2)) {
        const durationMs = Math.min(Math.round(between(o.rng, o.callSec[0], o.callSec[1]) * 1000), endAt - Date.now());
        const driver = new CallDriver(o.plan(randomUUID(), durationMs), o.deps);
        all.push(driver);
        await o.onStart(driver);
        o.log(`slot ${slot}: call ${driver.conversationId.slice(0, 8)} for ${Math.round(durationMs / 1000)} s`);
        try {
          await driver.run();
        } catch (err) {
          o.log(`slot ${slot}: call ${driver.conversationId.slice(0, 8)} failed: ${String(err)}`);
        } finally {
          o.onEnd(driver);
        }
      }
    }),
  );
  return all;
}

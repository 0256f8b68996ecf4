import { afterEach, describe, expect, it } from 'vitest';
import { toneSource } from '../../../local/simulator/audio-source';
import { type ManySessionsProgress, percentile, runManySessions } from '../../../local/simulator/multi';
import type { SimulatedSessionOptions } from '../../../local/simulator/options';
import { type ScriptedServer, type ScriptedServerOptions, startScriptedServer } from './scripted-server';

let server: ScriptedServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(opts: ScriptedServerOptions = {}): Promise<ScriptedServer> {
  server = await startScriptedServer(opts);
  return server;
}

// 400 ms of audio at speed 4: each session streams for ~100 ms.
const audio = toneSource({ format: 'PCMU', channels: 2, durationMs: 400 });
const sessionOptions =
  (url: string) =>
  (i: number): SimulatedSessionOptions => ({ uri: url, apiKey: `key-${i}`, audio, speed: 4, record: 'text' });

describe('many simulated sessions', () => {
  it('runs 20 sessions on an even ramp within the concurrency limit and summarizes them', async () => {
    let open = 0;
    let maxOpen = 0;
    const s = await serve({
      onConnection: (conn) => {
        open++;
        maxOpen = Math.max(maxOpen, open);
        void conn.closed.then(() => open--);
      },
    });
    const progress: ManySessionsProgress[] = [];
    const { results, summary } = await runManySessions({
      sessions: 20,
      rampPerSec: 50,
      concurrencyLimit: 5,
      makeOptions: sessionOptions(s.url),
      onProgress: (p) => progress.push(p),
    });

    expect(results).toHaveLength(20);
    expect(results.every((r) => r?.outcome === 'closed')).toBe(true);
    expect(summary).toMatchObject({
      sessions: 20,
      started: 20,
      closedCleanly: 20,
      byOutcome: { closed: 20, disconnected: 0, rejected: 0, 'protocol-error': 0, timeout: 0, 'socket-error': 0 },
      audioMsSent: 20 * 400,
      protocolErrors: 0,
    });
    const l = summary.openLatencyMs;
    expect(l.count).toBe(20);
    expect(l.p50).toBeGreaterThan(0);
    expect(l.p50).toBeLessThanOrEqual(l.p99);
    expect(l.p99).toBeLessThanOrEqual(l.max);

    // Session i may not start before i/50 s: 19 gaps of 20 ms.
    const keys = s.connections.map((c) => Number(String(c.headers['x-api-key']).slice(4)));
    expect(keys).toEqual([...keys].sort((a, b) => a - b));
    expect(summary.durationMs).toBeGreaterThanOrEqual(380);
    expect(maxOpen).toBeLessThanOrEqual(5);
    expect(progress.at(-1)).toMatchObject({ started: 20, finished: 20, active: 0 });
    expect(Math.max(...progress.map((p) => p.active))).toBeLessThanOrEqual(5);
  });

  it('counts every outcome and never rejects because of one session', async () => {
    const s = await serve({
      onUpgrade: (headers) => (headers['x-api-key'] === 'key-1' ? { status: 401, body: 'no' } : undefined),
    });
    const { results, summary } = await runManySessions({
      sessions: 3,
      rampPerSec: Number.POSITIVE_INFINITY,
      makeOptions: (i) => {
        if (i === 2) throw new Error('bad options for session 2');
        return sessionOptions(s.url)(i);
      },
    });
    expect(results.map((r) => r?.outcome)).toEqual(['closed', 'rejected', 'socket-error']);
    expect(results[2]?.failure).toMatch(/bad options for session 2/);
    expect(summary.byOutcome).toMatchObject({ closed: 1, rejected: 1, 'socket-error': 1 });
    expect(summary.openLatencyMs.count).toBe(1);
  });

  it('stops starting sessions when aborted', async () => {
    const s = await serve();
    const controller = new AbortController();
    const run = runManySessions({
      sessions: 50,
      rampPerSec: 20,
      makeOptions: (i) => ({ ...sessionOptions(s.url)(i), signal: controller.signal }),
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 120);
    const { results, summary } = await run;
    expect(summary.started).toBeGreaterThan(0);
    expect(summary.started).toBeLessThan(10);
    expect(results.filter((r) => r === undefined)).toHaveLength(50 - summary.started);
  });

  it('validates its own options', async () => {
    const makeOptions = () => {
      throw new Error('unused');
    };
    await expect(runManySessions({ sessions: 1, rampPerSec: 0, makeOptions })).rejects.toThrow(RangeError);
    await expect(runManySessions({ sessions: -1, rampPerSec: 1, makeOptions })).rejects.toThrow(RangeError);
  });

  it('uses nearest-rank percentiles', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBe(0);
  });
});

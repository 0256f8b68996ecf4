/**
 * `npm run demo`: the synthesised call (layout, stereo µ-law WAV with each party on its own channel,
 * the cache) and the clear failure when no local stack is running. The full run against the stack is
 * exercised by hand and by the e2e suite's page test, which plays the same kind of call.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMulaw } from '../../core/audio/mulaw';
import { parseWav } from '../../core/audio/wav';
import {
  type DemoCall,
  DemoError,
  encodeCallWav,
  formatOffset,
  layoutCall,
  main,
  prepareDemoCall,
  readEndpoints,
} from '../../local/demo';

let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'demo-test-'));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** Channel `ch` of a stereo µ-law WAV, decoded. */
function channel(wav: Uint8Array, ch: 0 | 1): Int16Array {
  const info = parseWav(wav);
  const all = decodeMulaw(info.data);
  return all.filter((_, i) => i % 2 === ch);
}

function rms(samples: Int16Array, fromMs: number, toMs: number): number {
  const a = Math.round((fromMs * 8000) / 1000);
  const b = Math.round((toMs * 8000) / 1000);
  let sum = 0;
  for (let i = a; i < b; i++) sum += (samples[i] ?? 0) ** 2;
  return Math.sqrt(sum / Math.max(1, b - a));
}

describe('demo call', () => {
  describe('layout', () => {
    it('puts each line on its speaker channel, one after another, with the gaps and silence around', () => {
      const tone = (n: number, v: number) => new Int16Array(n).fill(v);
      const call = layoutCall(
        [
          { role: 'agent', text: 'hello', samples: tone(800, 1000) },
          { role: 'customer', text: 'hi', samples: tone(1600, -2000) },
        ],
        { leadMs: 100, gapMs: 50, tailMs: 200 },
      );
      expect(call.segments).toEqual([
        { role: 'agent', text: 'hello', startMs: 100, endMs: 200 },
        { role: 'customer', text: 'hi', startMs: 250, endMs: 450 },
      ]);
      expect(call.customer).toHaveLength(800 + 800 + 400 + 1600 + 1600);
      expect(call.agent).toHaveLength(call.customer.length);
      expect(call.agent.slice(800, 1600).every((s) => s === 1000)).toBe(true);
      expect(call.customer.slice(2000, 3600).every((s) => s === -2000)).toBe(true);
      // Each party is silent while the other speaks, and both are silent in the gaps.
      expect(call.customer.slice(0, 2000).every((s) => s === 0)).toBe(true);
      expect(call.agent.slice(1600).every((s) => s === 0)).toBe(true);
    });

    it('encodes customer on the first channel and agent on the second, 8 kHz stereo µ-law', () => {
      const customer = Int16Array.from([1000, 0, 1000]);
      const agent = Int16Array.from([0, -3000, 0]);
      const wav = encodeCallWav({ customer, agent });
      const info = parseWav(wav);
      expect(info).toMatchObject({ format: 'PCMU', channels: 2, sampleRate: 8000, durationSamples: 3 });
      const [c0, c1] = [channel(wav, 0), channel(wav, 1)];
      expect(c0[1]).toBe(0);
      expect(Math.abs((c0[0] as number) - 1000)).toBeLessThan(40);
      expect(c1[0]).toBe(0);
      expect(Math.abs((c1[1] as number) + 3000)).toBeLessThan(120);
    });
  });

  describe('synthesis with flite', () => {
    let call: DemoCall;
    const script = [
      { role: 'customer', text: 'hello there' },
      { role: 'agent', text: 'good morning' },
    ] as const;

    beforeAll(() => {
      call = prepareDemoCall({ cacheDir: join(work, 'cache'), script });
    });

    it('speaks the customer only on the customer channel and the agent only on the agent channel', () => {
      const wav = new Uint8Array(readFileSync(call.path));
      expect(parseWav(wav)).toMatchObject({ format: 'PCMU', channels: 2, sampleRate: 8000 });
      const [customer, agent] = [channel(wav, 0), channel(wav, 1)];
      const [said, replied] = call.segments;
      expect(said).toMatchObject({ role: 'customer', text: 'hello there' });
      expect(replied).toMatchObject({ role: 'agent', text: 'good morning' });
      if (!said || !replied) return;
      expect(rms(customer, said.startMs, said.endMs)).toBeGreaterThan(300);
      expect(rms(agent, said.startMs, said.endMs)).toBe(0);
      expect(rms(agent, replied.startMs, replied.endMs)).toBeGreaterThan(300);
      expect(rms(customer, replied.startMs, replied.endMs)).toBe(0);
      expect(replied.startMs).toBeGreaterThan(said.endMs);
      expect(call.durationMs).toBeGreaterThan(replied.endMs);
      expect(call.cached).toBe(false);
    });

    it('reuses the cached WAV for the same script, and makes a new one for another', () => {
      const mtime = statSync(call.path).mtimeMs;
      const again = prepareDemoCall({ cacheDir: join(work, 'cache'), script });
      expect(again).toEqual({ ...call, cached: true });
      expect(statSync(again.path).mtimeMs).toBe(mtime);
      const other = prepareDemoCall({
        cacheDir: join(work, 'cache'),
        script: [{ role: 'agent', text: 'goodbye' }],
      });
      expect(other.path).not.toBe(call.path);
      expect(other.cached).toBe(false);
    });
  });

  describe('without a running stack', () => {
    it('says to run npm start when the endpoints file is missing', () => {
      let caught: unknown;
      try {
        readEndpoints(join(work, 'nope', 'endpoints.json'));
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(DemoError);
      expect((caught as DemoError).code).toBe('DEMO_STACK_NOT_RUNNING');
      expect((caught as DemoError).message).toContain('npm start');
    });

    it('refuses an endpoints file without the api section', () => {
      const file = join(work, 'partial.json');
      writeFileSync(file, JSON.stringify({ gateway: { url: 'ws://x' } }));
      expect(() => readEndpoints(file)).toThrow(/lacks gateway, api or websocket/);
    });

    it('exits non-zero with one clear line', async () => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(
        [],
        { LOCAL_DATA_DIR: join(work, 'empty') },
        { out: (l) => out.push(l), err: (l) => err.push(l) },
      );
      expect(code).toBe(1);
      expect(out).toEqual([]);
      expect(err).toHaveLength(1);
      expect(err[0]).toMatch(/^demo failed \(DEMO_STACK_NOT_RUNNING\): .*endpoints\.json is missing: .*npm start/);
    });

    it('exits non-zero when the endpoints file outlived its stack', async () => {
      const dir = join(work, 'stale');
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, 'endpoints.json'),
        JSON.stringify({
          gateway: { url: 'ws://127.0.0.1:9/ws', apiKey: 'k', clientSecret: 'c2VjcmV0' },
          api: { url: 'http://127.0.0.1:9', apiId: 'a', apiSecret: 's' },
          websocket: { url: 'ws://127.0.0.1:9' },
        }),
      );
      const err: string[] = [];
      const code = await main([], { LOCAL_DATA_DIR: dir }, { out: () => {}, err: (l) => err.push(l) });
      expect(code).toBe(1);
      expect(err[0]).toContain('is not answering: is `npm start` still running?');
    });

    it('refuses a bad --speed', async () => {
      const err: string[] = [];
      expect(await main(['--speed', '0'], {}, { out: () => {}, err: (l) => err.push(l) })).toBe(1);
      expect(err[0]).toContain('DEMO_USAGE');
    });
  });

  it('formats offsets as m:ss.s', () => {
    expect(formatOffset(0)).toBe('0:00.0');
    expect(formatOffset(3250)).toBe('0:03.3');
    expect(formatOffset(61_040)).toBe('1:01.0');
  });
});

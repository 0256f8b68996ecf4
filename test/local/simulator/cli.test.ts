import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { main, parseCli, UsageError } from '../../../local/simulator/cli';
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

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => err.push(t) } },
    stdout: () => out.join(''),
    stderr: () => err.join(''),
  };
}

function spawnCli(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('node_modules/.bin/tsx', ['local/simulator/cli.ts', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('simulate CLI', () => {
  it('exits 2 with a helpful message for an unknown flag', async () => {
    const { code, stderr } = await spawnCli(['--bogus']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--bogus/);
    expect(stderr).toMatch(/--help/);
  });

  it.each([
    [['--api-key', 'k'], /--uri is required/],
    [['--uri', 'http://x', '--api-key', 'k'], /ws:\/\/ or wss:\/\//],
    [['--uri', 'ws://x'], /--api-key is required/],
    [['--uri', 'ws://x', '--api-key', 'k', '--speed', 'fast'], /--speed/],
    [['--uri', 'ws://x', '--api-key', 'k', '--format', 'OPUS'], /PCMU or L16/],
    [['--uri', 'ws://x', '--api-key', 'k', '--discard-at', '1000'], /MS:LEN/],
    [['--uri', 'ws://x', '--api-key', 'k', '--wav', 'a.wav', '--tone-sec', '3'], /either --wav or --tone-sec/],
    [['--uri', 'ws://x', '--api-key', 'k', '--frame-ms', '0'], /--frame-ms/],
  ])('refuses %j', async (argv, message) => {
    expect(() => parseCli(argv)).toThrow(UsageError);
    const c = capture();
    expect(await main(argv, c.io)).toBe(2);
    expect(c.stderr()).toMatch(message);
  });

  it('exits 2 when the WAV file cannot be used', async () => {
    const c = capture();
    expect(await main(['--uri', 'ws://x', '--api-key', 'k', '--wav', '/nonexistent/call.wav'], c.io)).toBe(2);
    expect(c.stderr()).toMatch(/nonexistent/);
  });

  it('turns the script flags into timeline actions', () => {
    const plan = parseCli([
      '--uri',
      'ws://h/ws',
      '--api-key',
      'k',
      '--pause-at',
      '1000',
      '--resume-at',
      '3000',
      '--pause-at',
      '5000',
      '--discard-at',
      '6000:400',
      '--update-at',
      '7000:fr-CA',
      '--close-at',
      '9000',
      '--inverted',
      '--mono',
      '--format',
      'l16',
      '--speed',
      '0',
      '--frame-ms',
      '100',
    ]);
    expect(plan.actions).toEqual([
      { atMs: 1000, action: 'pause' },
      { atMs: 5000, action: 'pause' },
      { atMs: 3000, action: 'resume' },
      { atMs: 6000, action: 'discard', ms: 400 },
      { atMs: 7000, action: 'update', language: 'fr-CA' },
      { atMs: 9000, action: 'close' },
    ]);
    expect(plan).toMatchObject({ channelOrder: ['internal'], format: 'L16', speed: 0, frameMs: 100, mono: true });
  });

  it('prints --help and exits 0', async () => {
    const c = capture();
    expect(await main(['--help'], c.io)).toBe(0);
    expect(c.stdout()).toMatch(/--discard-at MS:LEN/);
  });

  it('runs sessions, prints one line each and a summary, and exits 0 when all closed cleanly', async () => {
    const s = await serve();
    const c = capture();
    const code = await main(
      [
        '--uri',
        s.url,
        '--api-key',
        'k',
        '--client-secret',
        'c2VjcmV0',
        '--tone-sec',
        '0.4',
        '--speed',
        '4',
        '--sessions',
        '3',
        '--ramp',
        '100',
      ],
      c.io,
    );
    expect(code).toBe(0);
    const lines = c.stdout().trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines.slice(0, 3).every((l) => /^#\d closed /.test(l))).toBe(true);
    expect(lines[3]).toMatch(/^3\/3 sessions .*closed=3; open latency p50=/);
    expect(s.connections[0]?.headers.signature).toMatch(/^sig1=:/);
  });

  it('prints JSON with --json and exits 1 when a session does not close cleanly', async () => {
    const s = await serve({ onUpgrade: () => ({ status: 401, body: 'nope' }) });
    const c = capture();
    const code = await main(['--uri', s.url, '--api-key', 'k', '--tone-sec', '1', '--json'], c.io);
    expect(code).toBe(1);
    const json = JSON.parse(c.stdout());
    expect(json.summary.byOutcome.rejected).toBe(1);
    expect(json.results[0]).toMatchObject({ outcome: 'rejected', httpStatus: 401, httpBody: 'nope' });
  });

  it('runs a probe with --probe', async () => {
    const s = await serve();
    const c = capture();
    expect(await main(['--uri', s.url, '--api-key', 'k', '--probe', '--quiet'], c.io)).toBe(0);
    expect(c.stdout().trim().split('\n')).toHaveLength(1);
    expect(s.connections[0]?.texts().map((m) => m.type)).toEqual(['open', 'close']);
  });
});

/**
 * The CLI's `--transcription-connector` flag against the scripted test server, which answers the client's
 * `close` with the transcript events recorded from the real gateway (connector-events.fixture.json) before
 * `closed`: what the flag puts in `open`, what it prints and when, and the exit code.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { main, parseCli } from '../../../local/simulator/cli';
import fixture from './connector-events.fixture.json';
import { type ScriptedServer, startScriptedServer, type WireMessage } from './scripted-server';

let server: ScriptedServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A server that sends these entity lists, one `event` each, when the client closes, then `closed`. */
async function serveEvents(events: unknown[][]): Promise<ScriptedServer> {
  server = await startScriptedServer({
    onMessage: (conn, msg) => {
      if (msg.type !== 'close') return false;
      for (const entities of events) conn.send('event', { entities });
      conn.send('closed');
      return true;
    },
  });
  return server;
}

const recorded = (): unknown[][] => fixture.events.map((e) => structuredClone(e.parameters.entities));

async function run(s: ScriptedServer, extra: string[]) {
  const out: string[] = [];
  const io = { stdout: { write: (t: string) => out.push(t) }, stderr: { write: () => {} } };
  const code = await main(['--uri', s.url, '--api-key', 'k', '--tone-sec', '7', '--speed', '0', ...extra], io);
  return { code, lines: out.join('').trim().split('\n') };
}

describe('simulate --transcription-connector', () => {
  it('is off by default and documented in --help', async () => {
    expect(parseCli(['--uri', 'ws://h/ws', '--api-key', 'k']).transcriptionConnector).toBe(false);
    expect(parseCli(['--uri', 'ws://h/ws', '--api-key', 'k', '--transcription-connector']).transcriptionConnector).toBe(
      true,
    );
    const out: string[] = [];
    await main(['--help'], { stdout: { write: (t: string) => out.push(t) }, stderr: { write: () => {} } });
    expect(out.join('')).toMatch(/--transcription-connector +ask for transcripts back \(customConfig/);
  });

  it('asks for transcripts in open.customConfig, prints each before the session line, and exits 0', async () => {
    const s = await serveEvents(recorded());
    const { code, lines } = await run(s, ['--transcription-connector']);
    const open = s.connections[0]?.texts('open')[0] as WireMessage;
    expect(open.parameters.customConfig).toEqual({ transcriptionConnector: true });
    expect(lines[0]).toMatch(/^#1 \+\d+\.\d\ds ch1 internal\/agent +final +0\.74s–3\.39s .*\(after close\)$/);
    expect(lines[1]).toMatch(/^#1 \+\d+\.\d\ds ch0 external\/customer final +4\.18s–6\.56s /);
    expect(lines[2]).toMatch(/^#1 closed /);
    expect(lines[4]).toMatch(/^transcription connector: 2 transcripts .*; 0 violations$/);
    expect(lines).toHaveLength(5);
    expect(code).toBe(0);
  });

  it('prints a transcript as it arrives, while the call is still streaming', async () => {
    const entities = recorded()[0] as Array<{ data: Record<string, unknown> }>;
    const first = entities[0] as { data: Record<string, unknown> };
    first.data = { ...first.data, offset: 'PT0S', duration: 'PT0S' }; // nothing streamed yet: a zero span
    server = await startScriptedServer({
      onMessage: (conn, msg) => {
        if (msg.type !== 'open') return false;
        conn.send('opened', { startPaused: false, media: [msg.parameters.media[0]] });
        conn.send('event', { entities });
        return true;
      },
    });
    const s = server;
    const closesWhenPrinted: number[] = [];
    const io = {
      stdout: {
        write: (t: string) => {
          if (t.startsWith('#1 +')) closesWhenPrinted.push(s.connections[0]?.texts('close').length ?? -1);
        },
      },
      stderr: { write: () => {} },
    };
    const argv = ['--uri', s.url, '--api-key', 'k', '--tone-sec', '1', '--speed', '2', '--transcription-connector'];
    expect(await main(argv, io)).toBe(0);
    // The line was written before the client had sent `close`: it did not wait for the session's end.
    expect(closesWhenPrinted).toEqual([0]);
  });

  it('exits 1 and lists the violation when a transcript would fail the suite', async () => {
    const events = recorded() as Array<Array<{ data: { channelId: number } }>>;
    const customer = events[1]?.[0];
    if (customer) customer.data.channelId = 2;
    const s = await serveEvents(events);
    const { code, lines } = await run(s, ['--transcription-connector', '--quiet']);
    expect(code).toBe(1);
    // --quiet: no live lines, but the summary still names the violation.
    expect(lines).toEqual([
      expect.stringMatching(/^1\/1 sessions /),
      expect.stringMatching(/^transcription connector: 2 transcripts .*; 1 violation$/),
      '  ✗ #1 transcript 2: channelId is 2; it must index the 2 negotiated channel(s) (0 or 1)',
    ]);
  });

  it('puts the events, violations and summary in --json', async () => {
    const s = await serveEvents(recorded());
    const { code, lines } = await run(s, ['--transcription-connector', '--json']);
    expect(code).toBe(0);
    const json = JSON.parse(lines.join('\n'));
    expect(json.connector.transcripts.map((t: { channel: string }) => t.channel)).toEqual(['internal', 'external']);
    expect(json.connector.summary).toMatchObject({ transcripts: 2, finals: 2, violations: 0 });
    expect(json.results[0].transcripts).toHaveLength(2);
  });

  it('without the flag sends no customConfig and prints no connector lines', async () => {
    const s = await serveEvents(recorded());
    const { code, lines } = await run(s, []);
    expect(s.connections[0]?.texts('open')[0]?.parameters.customConfig).toBeUndefined();
    expect(lines).toEqual([expect.stringMatching(/^#1 closed /), expect.stringMatching(/^1\/1 sessions /)]);
    expect(code).toBe(0);
  });
});

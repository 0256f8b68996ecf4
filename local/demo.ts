/**
 * `npm run demo`: a two-party call through the running local stack (`npm start`), end to end.
 *
 * 1. Synthesises a short call with flite: customer and agent alternate, each voice on its own channel
 *    of a stereo 8 kHz µ-law WAV (channel 1 `external` = customer, channel 2 `internal` = agent, as
 *    Genesys sends it), cached under `.local/demo/`;
 * 2. subscribes to a fresh conversation id over the WebSocket API with a token from the REST API's
 *    token route, and starts transcription through the REST API;
 * 3. plays the call through the AudioHook simulator in real time, printing each utterance pushed over
 *    the WebSocket as it arrives (role, offset in the call, text);
 * 4. stops transcription and prints the stop summary, then the final transcript from
 *    `GET /conversation/v1/conversation/messages`, and the transcript page's URL.
 *
 * Exits 0 when the call was transcribed; non-zero with one clear message otherwise.
 */

import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import type { Role } from '../core/audio/roles';
import { loadLocalConfig } from './config';
import { type DemoCall, prepareDemoCall } from './demo-call';
import { DemoError } from './demo-error';
import { loadWavFile } from './simulator/audio-source';
import { runSimulatedSession } from './simulator/client';

export {
  type CallAudio,
  type CallLayout,
  type CallSegment,
  DEMO_SCRIPT,
  DEMO_VOICES,
  type DemoCall,
  type DemoLine,
  encodeCallWav,
  type FliteVoice,
  layoutCall,
  type PrepareDemoCallOptions,
  prepareDemoCall,
  synthesizeSpeech,
} from './demo-call';
export { DemoError, type DemoErrorCode } from './demo-error';

const ROOT = join(import.meta.dirname, '..');

/** What the demo reads from `.local/endpoints.json`. */
export interface DemoEndpoints {
  gateway: { url: string; apiKey: string; clientSecret: string };
  api: { url: string; apiId: string; apiSecret: string };
  websocket: { url: string };
  ui?: { url: string };
}

const START_HINT =
  'start the local stack first: `npm start` in another terminal, wait for its banner, then `npm run demo`';

/** Reads the endpoints file `npm start` writes when it is ready. */
export function readEndpoints(file: string): DemoEndpoints {
  if (!existsSync(file)) throw new DemoError('DEMO_STACK_NOT_RUNNING', `${file} is missing: ${START_HINT}`);
  let parsed: Partial<DemoEndpoints>;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<DemoEndpoints>;
  } catch (err) {
    throw new DemoError('DEMO_STACK_NOT_RUNNING', `${file} is not valid JSON: ${START_HINT}`, { cause: err });
  }
  if (!parsed.gateway?.url || !parsed.api?.url || !parsed.api.apiId || !parsed.websocket?.url) {
    throw new DemoError('DEMO_STACK_NOT_RUNNING', `${file} lacks gateway, api or websocket: ${START_HINT}`);
  }
  return parsed as DemoEndpoints;
}

/** `m:ss.s` */
export function formatOffset(ms: number): string {
  const tenths = Math.max(0, Math.round(ms / 100));
  return `${Math.floor(tenths / 600)}:${((tenths % 600) / 10).toFixed(1).padStart(4, '0')}`;
}

/** One utterance pushed over the WebSocket API (docs/realtime.md §5). */
export interface LiveUtterance {
  utteranceId: string;
  role: string;
  startMs: number;
  text: string;
}

/** One message of `GET /conversation/v1/conversation/messages`. */
export interface DemoMessage {
  text: string;
  sender: { role: string; externalId?: string | null };
  messageId: string;
  clientTimestamp: string;
}

interface RoleSummary {
  totalAudioBytes?: number;
  audioDurationMs?: number;
  streamingSeconds?: number;
  transcripts?: number;
}

/** What a demo run produced. */
export interface DemoResult {
  conversationId: string;
  live: LiveUtterance[];
  messages: DemoMessage[];
  summary: Partial<Record<Role, RoleSummary>>;
  pageUrl?: string;
}

/** Options of {@link runDemo}. */
export interface RunDemoOptions {
  endpoints: DemoEndpoints;
  call: DemoCall;
  out: (line: string) => void;
  /** @default - random UUID */
  conversationId?: string;
  /** Playback speed of the simulator (1 = real time). @default 1 */
  speed?: number;
  /** Ends the call early (Ctrl-C): transcription is still stopped and the transcript printed. */
  signal?: AbortSignal;
  /** How long to wait for late WebSocket frames after the messages are read. @default 5000 */
  settleMs?: number;
  /** How long to wait after stop-streaming for the gateway to close the segment. @default 20000 */
  closeWaitMs?: number;
}

function parseLive(raw: string): LiveUtterance | undefined {
  let f: Record<string, unknown>;
  try {
    f = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (f.type !== 'transcript') return undefined;
  const response = f.autotranscribeResponse as { start?: unknown; utterance?: Array<{ text?: unknown }> } | undefined;
  const text = response?.utterance?.[0]?.text;
  if (typeof text !== 'string') return undefined;
  const sender = f.sender as { role?: unknown } | undefined;
  return {
    utteranceId: typeof f.utteranceId === 'string' ? f.utteranceId : `${String(f.streamId)}/${String(response?.start)}`,
    role: typeof sender?.role === 'string' ? sender.role : '?',
    startMs: typeof response?.start === 'number' ? response.start : 0,
    text,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A segment of the status route (`GET /mg-autotranscribe/v1/conversations/{guid}/status`). */
interface StatusSegment {
  state?: string;
  customer?: { summary?: RoleSummary };
  agent?: { summary?: RoleSummary };
}

/** Polls the status route until the latest segment is closed; undefined when it is not within `timeoutMs`. */
async function waitForSegmentClose(
  status: () => Promise<unknown>,
  timeoutMs: number,
): Promise<StatusSegment | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const last = ((await status()) as { segments?: StatusSegment[] } | undefined)?.segments?.at(-1);
    if (last?.state === 'closed') return last;
    if (Date.now() >= deadline) return undefined;
    await sleep(250);
  }
}

/**
 * Fails early and clearly when the endpoints file outlived its stack (`npm start` does not remove it).
 * @throws {@link DemoError} `DEMO_STACK_NOT_RUNNING`
 */
export async function checkStack(endpoints: DemoEndpoints): Promise<void> {
  try {
    const res = await fetch(`${endpoints.api.url}/health`, { signal: AbortSignal.timeout(5000) });
    await res.body?.cancel();
  } catch (err) {
    throw new DemoError(
      'DEMO_STACK_NOT_RUNNING',
      `the REST API at ${endpoints.api.url} is not answering: is \`npm start\` still running?`,
      { cause: err },
    );
  }
}

/** Runs the demo call against a running local stack. */
export async function runDemo(opts: RunDemoOptions): Promise<DemoResult> {
  const { endpoints, call, out } = opts;
  const conversationId = opts.conversationId ?? randomUUID();
  const apiHeaders = {
    'content-type': 'application/json',
    'asapp-api-id': endpoints.api.apiId,
    'asapp-api-secret': endpoints.api.apiSecret,
  };
  const api = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> => {
    let res: Response;
    try {
      res = await fetch(`${endpoints.api.url}${path}`, {
        method,
        headers: apiHeaders,
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new DemoError(
        'DEMO_STACK_NOT_RUNNING',
        `the REST API at ${endpoints.api.url} is not answering: is \`npm start\` still running?`,
        { cause: err },
      );
    }
    const text = await res.text();
    if (!res.ok) throw new DemoError('DEMO_API_FAILED', `${method} ${path} answered HTTP ${res.status}: ${text}`);
    return text === '' ? undefined : JSON.parse(text);
  };

  const statusPath = `/mg-autotranscribe/v1/conversations/${encodeURIComponent(conversationId)}/status`;
  const pageUrl = endpoints.ui
    ? `${endpoints.ui.url}/?conversationId=${encodeURIComponent(conversationId)}`
    : undefined;
  out(`Conversation ${conversationId}`);
  if (pageUrl) out(`Watch it live: ${pageUrl}`);
  out(
    `Call: ${call.segments.length} lines, ${(call.durationMs / 1000).toFixed(1)} s (${call.cached ? 'cached' : 'synthesised'}: ${call.path})`,
  );

  // Subscribe before anything is transcribed, with a token as a browser would.
  const { token } = (await api('POST', '/realtime/v1/token', { conversationId })) as { token: string };
  const live: LiveUtterance[] = [];
  const seen = new Set<string>();
  const ws = new WebSocket(`${endpoints.websocket.url}/?token=${encodeURIComponent(token)}`);
  try {
    await new Promise<void>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error('no answer within 5 s')), 5000);
      ws.once('unexpected-response', (_req, res) => fail(new Error(`handshake refused with HTTP ${res.statusCode}`)));
      ws.on('error', fail);
      ws.on('message', (data) => {
        const raw = String(data);
        const u = parseLive(raw);
        if (u) {
          if (seen.has(u.utteranceId)) return;
          seen.add(u.utteranceId);
          live.push(u);
          out(`  live  ${formatOffset(u.startMs).padStart(7)}  ${u.role.padEnd(8)}  ${u.text}`);
          return;
        }
        let frame: { type?: string; code?: string; message?: string };
        try {
          frame = JSON.parse(raw) as typeof frame;
        } catch {
          return;
        }
        if (frame.type === 'subscribed') {
          clearTimeout(timer);
          ok();
        } else if (frame.type === 'error') {
          fail(new Error(`subscription refused: ${frame.code} ${frame.message ?? ''}`));
        }
      });
      ws.once('open', () => ws.send(JSON.stringify({ action: 'subscribe', conversationId, id: 'demo' })));
    });
  } catch (err) {
    ws.terminate();
    throw new DemoError(
      'DEMO_WEBSOCKET_FAILED',
      `the WebSocket API at ${endpoints.websocket.url}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }

  try {
    const started = (await api('POST', '/mg-autotranscribe/v1/start-streaming', {
      namespace: 'genesysaudiohook',
      guid: conversationId,
      customerId: 'demo-customer',
      agentId: 'demo-agent',
    })) as { isOk?: boolean; errorMessage?: string };
    if (started?.isOk !== true) {
      throw new DemoError('DEMO_API_FAILED', `start-streaming did not start: ${started?.errorMessage ?? 'isOk false'}`);
    }
    out('Transcription started (redaction on, the default: spoken numbers come back as ###). Playing the call…');

    const session = await runSimulatedSession({
      uri: endpoints.gateway.url,
      apiKey: endpoints.gateway.apiKey,
      clientSecret: endpoints.gateway.clientSecret,
      conversationId,
      audio: await loadWavFile(call.path),
      speed: opts.speed ?? 1,
      record: 'none',
      ...(opts.signal && { signal: opts.signal }),
    });
    if (session.outcome !== 'closed') {
      throw new DemoError(
        'DEMO_CALL_FAILED',
        `the AudioHook session ended with ${session.outcome}: ${session.failure ?? 'no detail'} (gateway ${endpoints.gateway.url})`,
      );
    }

    const stopped = (await api('POST', '/mg-autotranscribe/v1/stop-streaming', {
      namespace: 'genesysaudiohook',
      guid: conversationId,
    })) as { autotranscribeResponse?: Partial<Record<Role, { summary?: RoleSummary }>> };
    // stop-streaming answers once the gateway confirms, or with the counters so far when that takes
    // longer (a recognizer still finishing on a busy machine). Wait for the segment to close, so the
    // transcript read next is complete and the summary final.
    const closed = await waitForSegmentClose(() => api('GET', statusPath), opts.closeWaitMs ?? 20_000);
    const summary: Partial<Record<Role, RoleSummary>> = {};
    out(closed ? 'Transcription stopped:' : 'Transcription stopped (the gateway is still finishing; counters so far):');
    for (const role of ['customer', 'agent'] as const) {
      const s = closed?.[role]?.summary ?? stopped.autotranscribeResponse?.[role]?.summary;
      if (!s) continue;
      summary[role] = s;
      out(
        `  ${role.padEnd(8)}  ${((s.audioDurationMs ?? 0) / 1000).toFixed(1)} s of audio, ${s.totalAudioBytes ?? 0} bytes, ${s.transcripts ?? 0} utterances`,
      );
    }

    const { items: messages } = (await api(
      'GET',
      `/conversation/v1/conversation/messages?externalId=${encodeURIComponent(conversationId)}`,
    )) as { items: DemoMessage[] };
    // The fan-out pushes within a second of storage: give the last frames a moment to arrive.
    const deadline = Date.now() + (opts.settleMs ?? 5000);
    while (live.length < messages.length && Date.now() < deadline) await sleep(100);

    out(`Final transcript (${messages.length} messages from GET /conversation/v1/conversation/messages):`);
    for (const m of messages) out(`  ${m.clientTimestamp.slice(11, 21)}  ${m.sender.role.padEnd(8)}  ${m.text}`);
    if (messages.length === 0) {
      throw new DemoError(
        'DEMO_NO_TRANSCRIPT',
        'the call was played but nothing was transcribed: check the [transcribe] and [gateway] lines of `npm start`',
      );
    }
    if (pageUrl) out(`Transcript page: ${pageUrl}`);
    return { conversationId, live, messages, summary, ...(pageUrl && { pageUrl }) };
  } finally {
    ws.close();
  }
}

/** Where the demo finds the stack and caches its audio. */
export interface DemoConfig {
  endpointsFile: string;
  cacheDir: string;
}

/** Reads the local stack's data directory (LOCAL_DATA_DIR, default `.local`). */
export function loadDemoConfig(env: NodeJS.ProcessEnv, root: string = ROOT): DemoConfig {
  const { dataDir } = loadLocalConfig(env, root);
  return { endpointsFile: join(dataDir, 'endpoints.json'), cacheDir: join(dataDir, 'demo') };
}

/** Output of {@link main}. */
export interface DemoIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** `npm run demo [-- --speed N] [--conversation <id>]`; resolves to the exit code. */
export async function main(argv: string[], env: NodeJS.ProcessEnv, io: DemoIo, signal?: AbortSignal): Promise<number> {
  try {
    let values: { speed?: string; conversation?: string };
    try {
      ({ values } = parseArgs({
        args: argv,
        options: { speed: { type: 'string' }, conversation: { type: 'string' } },
        strict: true,
      }));
    } catch (err) {
      throw new DemoError(
        'DEMO_USAGE',
        `${(err as Error).message}\nusage: npm run demo [-- --speed N] [--conversation <id>]`,
      );
    }
    const speed = values.speed === undefined ? 1 : Number(values.speed);
    if (!Number.isFinite(speed) || speed <= 0) throw new DemoError('DEMO_USAGE', '--speed must be a positive number');
    const cfg = loadDemoConfig(env);
    const endpoints = readEndpoints(cfg.endpointsFile);
    await checkStack(endpoints);
    const call = prepareDemoCall({ cacheDir: cfg.cacheDir });
    await runDemo({
      endpoints,
      call,
      out: io.out,
      speed,
      ...(values.conversation && { conversationId: values.conversation }),
      ...(signal && { signal }),
    });
    return signal?.aborted ? 130 : 0;
  } catch (err) {
    io.err(err instanceof DemoError ? `demo failed (${err.code}): ${err.message}` : `demo failed: ${String(err)}`);
    return 1;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  // First Ctrl-C ends the call gracefully (transcription is still stopped and printed); a second one quits.
  const abort = new AbortController();
  process.on('SIGINT', () => {
    if (abort.signal.aborted) process.exit(130);
    abort.abort();
  });
  main(
    process.argv.slice(2),
    process.env,
    { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) },
    abort.signal,
  ).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`demo failed: ${String(err)}\n`);
      process.exit(1);
    },
  );
}

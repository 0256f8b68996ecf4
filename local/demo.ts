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

import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { encodeMulaw } from '../core/audio/mulaw';
import type { Role } from '../core/audio/roles';
import { encodeWav, parseWav } from '../core/audio/wav';
import { AppError, type AppErrorOptions } from '../core/errors';
import { loadLocalConfig } from './config';
import { loadWavFile } from './simulator/audio-source';
import { runSimulatedSession } from './simulator/client';

const ROOT = join(import.meta.dirname, '..');
const SAMPLE_RATE = 8000;

/** Stable codes of {@link DemoError} (listed in docs/errors.md). */
export type DemoErrorCode =
  | 'DEMO_STACK_NOT_RUNNING'
  | 'DEMO_SYNTHESIS_FAILED'
  | 'DEMO_API_FAILED'
  | 'DEMO_WEBSOCKET_FAILED'
  | 'DEMO_CALL_FAILED'
  | 'DEMO_NO_TRANSCRIPT'
  | 'DEMO_USAGE';

/** Why the demo could not complete; the message says what to do. */
export class DemoError extends AppError {
  override readonly name = 'DemoError';
  declare readonly code: DemoErrorCode;
  constructor(code: DemoErrorCode, message: string, options?: AppErrorOptions) {
    super(code, message, options);
  }
}

/** flite's built-in voices. */
export type FliteVoice = 'kal' | 'awb' | 'rms' | 'slt';

/** One line of the call. */
export interface DemoLine {
  role: Role;
  text: string;
}

/** The call: the agent answers, the customer asks, turn by turn. Plain words recognise best offline. */
export const DEMO_SCRIPT: readonly DemoLine[] = [
  { role: 'agent', text: 'thank you for calling how can i help you today' },
  { role: 'customer', text: 'i would like to check my order status' },
  { role: 'agent', text: 'what is your order number please' },
  { role: 'customer', text: 'yes my order number is four five six seven' },
  { role: 'agent', text: 'thank you your order will arrive tomorrow' },
  { role: 'customer', text: 'thank you very much goodbye' },
];

/** One flite voice per party (the pair pocketsphinx recognises best in the speech fixtures). */
export const DEMO_VOICES: Readonly<Record<Role, FliteVoice>> = { customer: 'rms', agent: 'kal' };

/** Silence around and between the lines. */
export interface CallLayout {
  /** @default 500 */
  leadMs?: number;
  /** Pause between one party's line and the other's reply. @default 700 */
  gapMs?: number;
  /** @default 1500 (lets the recognizer close the last utterance before the call ends) */
  tailMs?: number;
}

/** Where a line sits in the call. */
export interface CallSegment {
  role: Role;
  text: string;
  startMs: number;
  endMs: number;
}

/** The two channels of a call, 16-bit PCM at 8 kHz, of equal length. */
export interface CallAudio {
  customer: Int16Array;
  agent: Int16Array;
  segments: CallSegment[];
}

/** A synthesised call on disk. */
export interface DemoCall {
  path: string;
  durationMs: number;
  segments: CallSegment[];
  /** True when it came from the cache. */
  cached: boolean;
}

const msToSamples = (ms: number) => Math.round((ms * SAMPLE_RATE) / 1000);
const samplesToMs = (n: number) => Math.round((n * 1000) / SAMPLE_RATE);

/**
 * Lays the lines out one after another, each on its speaker's channel; the other channel is silent
 * meanwhile (digital silence: each party is recorded on its own leg).
 */
export function layoutCall(
  lines: ReadonlyArray<DemoLine & { samples: Int16Array }>,
  layout: CallLayout = {},
): CallAudio {
  const lead = msToSamples(layout.leadMs ?? 500);
  const gap = msToSamples(layout.gapMs ?? 700);
  const tail = msToSamples(layout.tailMs ?? 1500);
  const total = lead + lines.reduce((n, l) => n + l.samples.length, 0) + gap * Math.max(0, lines.length - 1) + tail;
  const customer = new Int16Array(total);
  const agent = new Int16Array(total);
  const segments: CallSegment[] = [];
  let at = lead;
  for (const [i, line] of lines.entries()) {
    if (i > 0) at += gap;
    (line.role === 'customer' ? customer : agent).set(line.samples, at);
    segments.push({
      role: line.role,
      text: line.text,
      startMs: samplesToMs(at),
      endMs: samplesToMs(at + line.samples.length),
    });
    at += line.samples.length;
  }
  return { customer, agent, segments };
}

/** A stereo µ-law WAV: channel 1 = `external` (customer), channel 2 = `internal` (agent), as Genesys sends. */
export function encodeCallWav(call: Pick<CallAudio, 'customer' | 'agent'>): Uint8Array {
  const n = Math.min(call.customer.length, call.agent.length);
  const interleaved = new Int16Array(n * 2);
  for (let i = 0; i < n; i++) {
    interleaved[2 * i] = call.customer[i] as number;
    interleaved[2 * i + 1] = call.agent[i] as number;
  }
  return encodeWav({ format: 'PCMU', channels: 2, sampleRate: SAMPLE_RATE, data: encodeMulaw(interleaved) });
}

function run(tool: string, args: string[]): void {
  try {
    execFileSync(tool, args, { stdio: 'pipe' });
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new DemoError(
      'DEMO_SYNTHESIS_FAILED',
      missing
        ? `${tool} is not installed: run \`npm run bootstrap\` as root, or \`sudo apt-get install -y flite sox\``
        : `${tool} failed: ${(err as { stderr?: Buffer }).stderr?.toString().trim() || String(err)}`,
      { cause: err },
    );
  }
}

/** Speaks `text` with flite and converts it to 8 kHz 16-bit mono with sox. */
export function synthesizeSpeech(text: string, voice: FliteVoice): Int16Array {
  const work = mkdtempSync(join(tmpdir(), 'demo-line-'));
  try {
    const raw = join(work, 'flite.wav');
    const out = join(work, 'line.wav');
    run('flite', ['-voice', voice, '-t', text, '-o', raw]);
    // `-D`: no dither, so a cached call is bit-identical to a fresh one.
    run('sox', ['-D', raw, '-r', String(SAMPLE_RATE), '-b', '16', '-c', '1', '-e', 'signed-integer', out]);
    const wav = parseWav(readFileSync(out));
    const view = new DataView(wav.data.buffer, wav.data.byteOffset, wav.data.byteLength);
    const samples = new Int16Array(wav.durationSamples);
    for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(i * 2, true);
    return samples;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Options of {@link prepareDemoCall}. */
export interface PrepareDemoCallOptions {
  cacheDir: string;
  /** @default DEMO_SCRIPT */
  script?: readonly DemoLine[];
  /** @default DEMO_VOICES */
  voices?: Readonly<Record<Role, FliteVoice>>;
  layout?: CallLayout;
}

/** The call's WAV, synthesised once per script/voices/layout and then taken from `cacheDir`. */
export function prepareDemoCall(opts: PrepareDemoCallOptions): DemoCall {
  const script = opts.script ?? DEMO_SCRIPT;
  const voices = opts.voices ?? DEMO_VOICES;
  const layout = opts.layout ?? {};
  const key = createHash('sha256')
    .update(JSON.stringify({ v: 1, script, voices, layout }))
    .digest('hex')
    .slice(0, 12);
  const path = join(opts.cacheDir, `call-${key}.wav`);
  const metaPath = join(opts.cacheDir, `call-${key}.json`);
  if (existsSync(path) && existsSync(metaPath)) {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as { durationMs: number; segments: CallSegment[] };
    return { path, durationMs: meta.durationMs, segments: meta.segments, cached: true };
  }
  const lines = script.map((l) => ({ ...l, samples: synthesizeSpeech(l.text, voices[l.role]) }));
  const call = layoutCall(lines, layout);
  mkdirSync(opts.cacheDir, { recursive: true });
  const durationMs = samplesToMs(call.customer.length);
  writeFileSync(path, encodeCallWav(call));
  writeFileSync(metaPath, `${JSON.stringify({ durationMs, segments: call.segments }, null, 2)}\n`);
  return { path, durationMs, segments: call.segments, cached: false };
}

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

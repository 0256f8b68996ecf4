/**
 * A real AudioHook gateway on 127.0.0.1 port 0, wired the way `fargate/src/main.ts` wires it (static API
 * keys, Authenticator with its replay cache, a null sink per session, real clock and timers), for
 * integration tests that drive it with the simulator. Each session's sink records everything it was given
 * (PCM included) so tests can compare it with the audio the simulator sent.
 *
 * Also: helpers to read the simulator's exchange log as protocol messages, and a raw HTTP upgrade for
 * assertions on status lines and headers the simulator does not expose (`Retry-After`).
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeFrame } from '../../core/audio/pcm';
import type { ChannelName, Role } from '../../core/audio/roles';
import type { TimelineGap } from '../../core/audio/timeline';
import type { MediaParameter } from '../../core/audiohook/messages';
import type { AudioFrame, SessionHooks, SessionOptions, SinkStartInfo } from '../../core/audiohook/ports';
import { Authenticator } from '../../core/auth/authenticator';
import { NonceCache } from '../../core/auth/nonce-cache';
import { type Logger, silentLogger, systemClock, systemTimers } from '../../core/ports';
import { createGateway, type Gateway } from '../../fargate/src/gateway';
import { StaticKeySource } from '../../fargate/src/secrets';
import { NullSink } from '../../fargate/src/sinks/null-sink';
import type { AudioSource } from '../../local/simulator/audio-source';
import type { SimulatedSessionResult } from '../../local/simulator/options';
import { pcmByRole } from './audio-frames';

/** The AudioHook path the test gateway serves (the configuration default). */
export const AUDIOHOOK_PATH = '/api/v1/audiohook/ws';

/** API keys the test gateway knows: one with a client secret (signed upgrades), one without. */
export const TEST_KEYS = {
  signed: {
    apiKey: 'signed-itest-key-0001',
    clientSecret: Buffer.from('integration-test-client-secret!!').toString('base64'),
  },
  unsigned: { apiKey: 'unsigned-itest-key-02' },
} as const;

/** Supported languages the test gateway advertises. */
export const TEST_LANGUAGES = ['en-US', 'es-US'] as const;

/** Everything a {@link RecordingSink} was told, in order. */
export type SinkEvent =
  | { kind: 'start'; info: SinkStartInfo }
  | { kind: 'frame'; position: number; samples: number; pcm: Partial<Record<Role, Int16Array>> }
  | { kind: 'gap'; gap: TimelineGap }
  | { kind: 'language'; language: string }
  | { kind: 'end'; reason: 'close' | 'disconnect' | 'transport-closed' };

/** The null sink main.ts uses, plus a log of every call (PCM decoded and split by role) for assertions. */
export class RecordingSink extends NullSink {
  readonly events: SinkEvent[] = [];

  constructor(readonly sessionId: string) {
    super();
  }

  override start(info: SinkStartInfo): void {
    this.events.push({ kind: 'start', info });
    super.start(info);
  }

  override write(frame: AudioFrame): void {
    // Split by the roles the session started the sink with (channel c carries roles[c]): copies, by role.
    const pcm = pcmByRole(frame, this.info?.roles ?? []);
    this.events.push({ kind: 'frame', position: frame.position, samples: frame.samples, pcm });
    super.write(frame);
  }

  override gap(gap: TimelineGap): void {
    this.events.push({ kind: 'gap', gap: { ...gap } });
    super.gap(gap);
  }

  override languageChanged(language: string): void {
    this.events.push({ kind: 'language', language });
    super.languageChanged(language);
  }

  override end(reason: 'close' | 'disconnect' | 'transport-closed'): Promise<void> {
    this.events.push({ kind: 'end', reason });
    return super.end(reason);
  }

  /** The audio frames received, in order. */
  frames(): Array<Extract<SinkEvent, { kind: 'frame' }>> {
    return this.events.filter((e): e is Extract<SinkEvent, { kind: 'frame' }> => e.kind === 'frame');
  }

  /** The timeline gaps received, in order. */
  gaps(): TimelineGap[] {
    return this.events.filter((e): e is Extract<SinkEvent, { kind: 'gap' }> => e.kind === 'gap').map((e) => e.gap);
  }

  /** All PCM of one role, concatenated in arrival order. */
  pcm(role: Role): Int16Array {
    const parts = this.frames().flatMap((f) => (f.pcm[role] ? [f.pcm[role]] : []));
    const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  /**
   * The timeline as the sink saw it: `[start, end)` spans of audio (`frame`) and gaps, in order.
   * Tests check it is contiguous from 0 and where its pieces lie.
   */
  timeline(): Array<{ kind: 'frame' | TimelineGap['kind']; start: number; end: number }> {
    const spans: Array<{ kind: 'frame' | TimelineGap['kind']; start: number; end: number }> = [];
    for (const e of this.events) {
      if (e.kind === 'frame') spans.push({ kind: 'frame', start: e.position, end: e.position + e.samples });
      else if (e.kind === 'gap') spans.push({ kind: e.gap.kind, start: e.gap.start, end: e.gap.start + e.gap.length });
    }
    return spans;
  }
}

/**
 * Holes and overlaps in what a sink saw: frames and gaps must tile the timeline from 0 to `end` (the
 * client's final position) without a sample missing or counted twice. Empty when they do.
 */
export function timelineProblems(sink: RecordingSink, end: number): string[] {
  const problems: string[] = [];
  let at = 0;
  for (const span of sink.timeline()) {
    if (span.start !== at) problems.push(`${span.kind} [${span.start}, ${span.end}) does not start at ${at}`);
    at = span.end;
  }
  if (at !== end) problems.push(`the timeline ends at ${at}, not ${end}`);
  return problems;
}

/** What `hooks.onEnd` reported for a session. */
export type SessionEndSummary = Parameters<NonNullable<SessionHooks['onEnd']>>[0];

/** Options of {@link startTestGateway}. */
export interface TestGatewayOptions {
  sessionOptions?: Partial<SessionOptions>;
  /** @default 1000 */
  maxSessions?: number;
  /** @default 5 (the gateway's default) */
  retryAfterSec?: number;
  /** @default silentLogger */
  logger?: Logger;
}

/** A listening gateway and what its sessions did. */
export interface TestGateway {
  readonly gateway: Gateway;
  /** `ws://127.0.0.1:<port>/api/v1/audiohook/ws` */
  readonly url: string;
  /** `http://127.0.0.1:<port>` */
  readonly httpUrl: string;
  /** Sinks by AudioHook session id, created at upgrade. */
  readonly sinks: Map<string, RecordingSink>;
  /** `hooks.onEnd` summaries by session id. */
  readonly ends: Map<string, SessionEndSummary>;
  /** `hooks.onClientPauseChanged` calls by session id. */
  readonly clientPauses: Map<string, boolean[]>;
  /** The sink of a session; throws when the gateway never created one. */
  sink(sessionId: string): RecordingSink;
  /** Disconnects what is left and stops listening. */
  close(): Promise<void>;
}

/** Starts a gateway wired like `fargate/src/main.ts` on 127.0.0.1, port 0. */
export async function startTestGateway(opts: TestGatewayOptions = {}): Promise<TestGateway> {
  const keySource = new StaticKeySource({
    [TEST_KEYS.signed.apiKey]: TEST_KEYS.signed.clientSecret,
    [TEST_KEYS.unsigned.apiKey]: '',
  });
  const maxSignatureAgeSec = 10;
  const clockSkewSec = 3;
  const authenticator = new Authenticator({
    keys: keySource.store,
    clock: systemClock,
    nonceCache: new NonceCache({ clock: systemClock, windowSec: maxSignatureAgeSec + 2 * clockSkewSec }),
    maxSignatureAgeSec,
    clockSkewSec,
  });
  const sinks = new Map<string, RecordingSink>();
  const ends = new Map<string, SessionEndSummary>();
  const clientPauses = new Map<string, boolean[]>();
  const gateway = createGateway({
    paths: [AUDIOHOOK_PATH],
    maxSessions: opts.maxSessions ?? 1000,
    authenticator,
    sinkFactory: ({ sessionId }) => {
      const sink = new RecordingSink(sessionId);
      sinks.set(sessionId, sink);
      return sink;
    },
    // Observers only: no onOpen, so sessions open exactly as in main.ts (which passes no hooks).
    hooksFactory: ({ sessionId }) => ({
      onEnd: (summary) => {
        ends.set(sessionId, summary);
      },
      onClientPauseChanged: (paused) => {
        const list = clientPauses.get(sessionId) ?? [];
        list.push(paused);
        clientPauses.set(sessionId, list);
      },
    }),
    sessionOptions: { supportedLanguages: [...TEST_LANGUAGES], ...opts.sessionOptions },
    onUnknownApiKey: () => keySource.refreshIfStale(),
    clock: systemClock,
    timers: systemTimers,
    logger: opts.logger ?? silentLogger,
    ...(opts.retryAfterSec !== undefined && { retryAfterSec: opts.retryAfterSec }),
  });
  await new Promise<void>((resolve, reject) => {
    gateway.server.once('error', reject);
    gateway.server.listen({ port: 0, host: '127.0.0.1', backlog: 2048 }, () => {
      gateway.server.off('error', reject);
      resolve();
    });
  });
  const { port } = gateway.server.address() as AddressInfo;
  let closed = false;
  return {
    gateway,
    url: `ws://127.0.0.1:${port}${AUDIOHOOK_PATH}`,
    httpUrl: `http://127.0.0.1:${port}`,
    sinks,
    ends,
    clientPauses,
    sink(sessionId) {
      const sink = sinks.get(sessionId);
      if (!sink) throw new Error(`the gateway created no sink for session ${sessionId}`);
      return sink;
    },
    async close() {
      if (closed) return;
      closed = true;
      await gateway.closeAll('test over');
      await new Promise<void>((resolve) => {
        gateway.server.close(() => resolve());
        gateway.server.closeAllConnections();
      });
      keySource.close();
    },
  };
}

/** Polls `condition` every few milliseconds until it holds; rejects after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

// ---- the simulator's exchange log as protocol messages ---------------------------------------------

/** One text message of the exchange, with its envelope. */
export interface WireMessage {
  dir: 'out' | 'in';
  atMs: number;
  type: string;
  seq: number;
  /** `serverseq` of a client message, `clientseq` of a server message. */
  ack: number;
  position?: string;
  parameters: Record<string, unknown>;
  envelope: Record<string, unknown>;
}

/** The parsed text messages of a run, both directions, in the order the client saw them. */
export function wireMessages(result: SimulatedSessionResult): WireMessage[] {
  const out: WireMessage[] = [];
  for (const e of result.exchange) {
    if (e.kind !== 'text' || e.message === undefined) continue;
    const m = e.message as Record<string, unknown>;
    out.push({
      dir: e.dir,
      atMs: e.atMs,
      type: String(m.type),
      seq: Number(m.seq),
      ack: Number(e.dir === 'out' ? m.serverseq : m.clientseq),
      ...(typeof m.position === 'string' && { position: m.position }),
      parameters: (m.parameters ?? {}) as Record<string, unknown>,
      envelope: m,
    });
  }
  return out;
}

/** `out open seq=1 serverseq=0` / `in opened seq=1 clientseq=1`: a compact line per message. */
export function describeMessage(m: WireMessage): string {
  return `${m.dir} ${m.type} seq=${m.seq} ${m.dir === 'out' ? 'serverseq' : 'clientseq'}=${m.ack}`;
}

/** The exchange as {@link describeMessage} lines. */
export function transcript(result: SimulatedSessionResult): string[] {
  return wireMessages(result).map(describeMessage);
}

/** Message types of one direction, optionally leaving pings and pongs out (their timing is the client's). */
export function typesOf(result: SimulatedSessionResult, dir: 'out' | 'in', withPings = true): string[] {
  return wireMessages(result)
    .filter((m) => m.dir === dir && (withPings || (m.type !== 'ping' && m.type !== 'pong')))
    .map((m) => m.type);
}

/** The first message of a type in a direction; throws when there is none. */
export function messageOf(result: SimulatedSessionResult, dir: 'out' | 'in', type: string, nth = 0): WireMessage {
  const m = wireMessages(result).filter((x) => x.dir === dir && x.type === type)[nth];
  if (!m) throw new Error(`no ${dir} '${type}' #${nth} in the exchange:\n${transcript(result).join('\n')}`);
  return m;
}

/**
 * Protocol-level invariants of any exchange (§2.2, §2.3), returned as a list of violations so a test can
 * `expect(...).toEqual([])` and see them all:
 * - server messages carry version "2", the session id, no `position`, and seq 1, 2, 3…;
 * - every `pong` answers the ping before it (`pong.clientseq === ping.seq`), nothing else answers a ping;
 * - `opened` answers `open` and `closed` answers `close` (clientseq = the request's seq);
 * - no server `clientseq` is ahead of what the client had sent;
 * - unless `clientSeqGap` is set, client messages carry seq 1, 2, 3… and serverseq = last server seq seen.
 */
export function sequencingViolations(result: SimulatedSessionResult, opts: { clientSeqGap?: boolean } = {}): string[] {
  const problems: string[] = [];
  let lastOut = 0;
  let lastIn = 0;
  let outstandingPing: number | undefined;
  for (const m of wireMessages(result)) {
    const where = describeMessage(m);
    if (m.dir === 'out') {
      if (!opts.clientSeqGap && m.seq !== lastOut + 1) problems.push(`${where}: client seq not ${lastOut + 1}`);
      if (m.ack !== lastIn) problems.push(`${where}: serverseq not ${lastIn}`);
      lastOut = m.seq;
      if (m.type === 'ping') outstandingPing = m.seq;
      continue;
    }
    const env = m.envelope;
    if (env.version !== '2') problems.push(`${where}: version ${JSON.stringify(env.version)}`);
    if (env.id !== result.sessionId) problems.push(`${where}: id ${JSON.stringify(env.id)}`);
    if ('position' in env) problems.push(`${where}: carries a position`);
    if (m.seq !== lastIn + 1) problems.push(`${where}: server seq not ${lastIn + 1}`);
    if (m.ack > lastOut) problems.push(`${where}: clientseq ahead of the client's ${lastOut}`);
    lastIn = m.seq;
    if (m.type === 'pong') {
      if (outstandingPing === undefined) problems.push(`${where}: pong without a ping`);
      else if (m.ack !== outstandingPing) problems.push(`${where}: pong does not answer ping ${outstandingPing}`);
      outstandingPing = undefined;
    }
    if (m.type === 'opened' || m.type === 'closed') {
      const request = m.type === 'opened' ? 'open' : 'close';
      const req = wireMessages(result).find((x) => x.dir === 'out' && x.type === request);
      if (!req) problems.push(`${where}: no ${request} before it`);
      else if (m.ack !== req.seq) problems.push(`${where}: clientseq is not the ${request}'s seq ${req.seq}`);
    }
  }
  return problems;
}

/** Byte counts of the binary frames the client sent, in order. */
export function audioSent(result: SimulatedSessionResult): number[] {
  return result.exchange.filter((e) => e.dir === 'out' && e.kind === 'binary').map((e) => e.bytes ?? 0);
}

// ---- audio --------------------------------------------------------------------------------------

/**
 * What the sink must have received for the audio the simulator read at `[position, position + samples)`:
 * the source decoded in the source's own channel order.
 */
export function expectedPcm(
  source: AudioSource,
  sourceMedia: MediaParameter,
  position: number,
  samples: number,
): Int16Array[] {
  const decoded = decodeFrame(sourceMedia, source.read(position, samples));
  if (!decoded.ok) throw new Error(decoded.error);
  return decoded.channels;
}

/**
 * Compares every frame a sink received with the source audio at the frame's timeline position, channel
 * by channel through the negotiated roles (`external` = customer). Returns the first few differences:
 * an empty list means the sink got exactly the source's audio, in the right place, for the right role.
 */
export function pcmMismatches(
  sink: RecordingSink,
  source: AudioSource,
  sourceChannels: readonly ChannelName[],
  maxReported = 5,
): string[] {
  const problems: string[] = [];
  const info = sink.info;
  if (!info) return ['the sink was never started'];
  const sourceMedia: MediaParameter = {
    type: 'audio',
    format: source.format,
    channels: [...sourceChannels],
    rate: 8000,
  };
  for (const frame of sink.frames()) {
    if (problems.length >= maxReported) break;
    const expected = expectedPcm(source, sourceMedia, frame.position, frame.samples);
    const roles = Object.keys(frame.pcm).sort();
    if (roles.join() !== [...info.roles].sort().join()) {
      problems.push(`frame @${frame.position}: roles ${roles.join()} instead of ${info.roles.join()}`);
      continue;
    }
    info.channels.forEach((name, i) => {
      const role = info.roles[i] as Role;
      const actual = frame.pcm[role] as Int16Array;
      const want = expected[sourceChannels.indexOf(name)];
      if (!want) {
        problems.push(`frame @${frame.position}: the source has no ${name} channel`);
        return;
      }
      if (actual.length !== want.length) {
        problems.push(`frame @${frame.position} ${role}: ${actual.length} samples, source has ${want.length}`);
        return;
      }
      const at = actual.findIndex((v, k) => v !== want[k]);
      if (at >= 0) {
        problems.push(
          `frame @${frame.position} ${role} (${name}): sample ${at} is ${actual[at]}, source has ${want[at]}`,
        );
      }
    });
  }
  return problems;
}

/** Sign changes of a signal (zeros skipped): about 2 × frequency × seconds for a pure tone. */
export function zeroCrossings(pcm: Int16Array): number {
  let crossings = 0;
  let last = 0;
  for (const s of pcm) {
    if (s === 0) continue;
    const sign = s > 0 ? 1 : -1;
    if (last !== 0 && sign !== last) crossings++;
    last = sign;
  }
  return crossings;
}

// ---- raw HTTP ---------------------------------------------------------------------------------------

/** The answer to a raw WebSocket upgrade request. */
export interface RawUpgradeAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  elapsedMs: number;
}

/** Sends one WebSocket upgrade request with the given headers; a 101 socket is closed at once. */
export function rawUpgrade(httpUrl: string, path: string, headers: Record<string, string>): Promise<RawUpgradeAnswer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(`${httpUrl}${path}`, {
      headers: {
        ...headers,
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '', elapsedMs: performance.now() - started });
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, elapsedMs: performance.now() - started }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** GET a path of the gateway's HTTP listener. */
export async function httpGet(httpUrl: string, path: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${httpUrl}${path}`);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body };
}

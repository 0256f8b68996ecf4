/**
 * The simulator's options and results: what a caller asks of one simulated AudioHook session, what it
 * gets back, and the checks and defaults that turn the options into a normalized plan; and where the CLI
 * finds the client secret ({@link resolveClientSecret}: never only on the command line, visible in `ps`).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { SAMPLE_RATE } from '../../core/audio/format';
import type { ChannelName } from '../../core/audio/roles';
import {
  type CloseReason,
  type MediaParameter,
  NIL_UUID,
  type OpenedParameters,
  type OpenParameters,
  type Participant,
  type TranscriptEntityData,
} from '../../core/audiohook/messages';
import { AppError, type AppErrorOptions } from '../../core/errors';
import type { AudioSource } from './audio-source';

/** How a simulated session ended. */
export type SessionOutcome = 'closed' | 'disconnected' | 'rejected' | 'protocol-error' | 'timeout' | 'socket-error';

/** Something to do at a point of the audio timeline (`atMs` from the start of the stream). */
export type SimulatedAction =
  | { atMs: number; action: 'pause' }
  | { atMs: number; action: 'resume' }
  | { atMs: number; action: 'discard'; ms: number }
  | { atMs: number; action: 'update'; language: string }
  | { atMs: number; action: 'error'; code: number; message?: string; retryAfterMs?: number }
  | { atMs: number; action: 'close'; reason?: CloseReason };

/** Test overrides of the upgrade request (§1.2–§1.3). */
export interface SigningOverrides {
  /** @default - random */
  nonce?: string;
  /** UNIX seconds. @default - now */
  created?: number;
  /** UNIX seconds. @default - created + 30 (the reference signer's lifetime) */
  expires?: number;
  /** Flip one byte of the MAC so verification must fail. */
  tamperSignature?: boolean;
  /** Sign the `host` header instead of `"@authority"` (older reference form, §9.2). */
  coverHostInsteadOfAuthority?: boolean;
  /** Sign this authority instead of the URI's (what a Host-rewriting proxy does to the server's view). */
  authority?: string;
  /** Header names (any case) to leave out of the request, e.g. `['signature']` or `['x-api-key']`. */
  omitHeaders?: string[];
  /** Extra or replacement headers. */
  extraHeaders?: Record<string, string>;
}

/** Deliberate client-side protocol violations for negative tests. Indices count client text messages from 1. */
export interface SimulatedFaults {
  /** That message skips one `seq` number. */
  seqGapAt?: number;
  /** That message is sent as truncated JSON. */
  malformedJsonAt?: number;
  /** That message is padded beyond 65 535 characters. */
  oversizedMessageAt?: number;
  /** A binary frame goes out right after the upgrade, before `open`. */
  binaryBeforeOpen?: boolean;
  /** That message carries a different session `id`. */
  wrongSessionIdAt?: number;
}

/** Options of {@link runSimulatedSession}. */
export interface SimulatedSessionOptions {
  /** `ws://` or `wss://` URI of the AudioHook server. */
  uri: string;
  apiKey: string;
  /** Base64 client secret. @default - none: the upgrade is unsigned */
  clientSecret?: string;
  /** @default - random UUID */
  organizationId?: string;
  /** @default - random UUID (nil UUID for a probe) */
  conversationId?: string;
  /** @default - random id and sample numbers (nil id and empty strings for a probe) */
  participant?: Partial<Participant>;
  /** @default - random UUID */
  sessionId?: string;
  /** @default - random UUID */
  correlationId?: string;
  audio: AudioSource;
  /** Names of the source's channels in interleaving order. @default ['external','internal'] (mono: ['external']) */
  channelOrder?: ChannelName[];
  /** @default - like Genesys: stereo in `channelOrder`, then each mono (mono sources offer their one channel) */
  offer?: MediaParameter[];
  /** 1 = real time, N = N× faster, 0 = as fast as possible (paused time then runs in real time). @default 1 */
  speed?: number;
  /** @default 200 (the reference client's frame) */
  frameMs?: number;
  /** Regular ping interval before `speed` scaling. @default 5000 */
  pingIntervalMs?: number;
  language?: string;
  supportedLanguages?: boolean;
  customConfig?: Record<string, unknown>;
  /** Connection probe (§6.2): nil ids, empty strings, `close` right after `opened`, no audio. */
  probe?: boolean;
  actions?: SimulatedAction[];
  /** Limit for the HTTP upgrade, and separately for `open` → `opened` (§4.4). @default 5000 */
  openTimeoutMs?: number;
  /** `close` → `closed` limit. @default 10000 */
  closeTimeoutMs?: number;
  signing?: SigningOverrides;
  faults?: SimulatedFaults;
  /** What to keep in `exchange`: everything, text messages only, or nothing. @default 'all' */
  record?: 'all' | 'text' | 'none';
  /** Aborting ends the session gracefully (`close{end}`), or drops the connection attempt. */
  signal?: AbortSignal;
  /**
   * Called for every `event` message as it arrives, before `closed` (Transcription Connector, §5.2), with
   * its entities as received (not validated). Must not throw.
   */
  onEvent?: (event: ReceivedEvent) => void;
  /**
   * Called once when audio streaming starts after `opened`: position 0 is due at `at`, a
   * `performance.now()` of this process (benchmarks measure latency from it). Must not throw.
   */
  onStreamStart?: (at: number) => void;
}

/** An `event` message as the simulated client received it, with where the session was at that moment. */
export interface ReceivedEvent {
  sessionId: string;
  /** Milliseconds since the session run started. */
  atMs: number;
  /** Milliseconds since `opened` arrived (`undefined` before it). */
  sinceOpenedMs: number | undefined;
  /** Stream position of the client when the event arrived, in ms of audio timeline. */
  positionMs: number;
  /** True when the client had already sent `close`. */
  afterClose: boolean;
  /** The negotiated channels (`opened.media[0].channels`): `channelId` indexes this. */
  channels: readonly ChannelName[] | undefined;
  /** `parameters.entities` as received (`undefined` when it is not an array). */
  entities: unknown[] | undefined;
}

/** One recorded WebSocket message. */
export interface ExchangeEntry {
  dir: 'out' | 'in';
  /** Milliseconds since the session run started. */
  atMs: number;
  kind: 'text' | 'binary';
  /** Parsed JSON (text messages that parsed). */
  message?: object;
  /** Raw text of a text message that did not parse (truncated to 1 KiB). */
  raw?: string;
  bytes?: number;
}

/** What happened in a simulated session. */
export interface SimulatedSessionResult {
  outcome: SessionOutcome;
  sessionId: string;
  /** Human-readable cause when the outcome is not `closed`. */
  failure?: string;
  httpStatus?: number;
  httpBody?: string;
  opened?: OpenedParameters;
  openLatencyMs?: number;
  disconnect?: { reason: string; info?: string };
  serverMessages: object[];
  /**
   * `data` of every `transcript` entity received in `event` messages before `closed`, in arrival order
   * (Transcription Connector, §5.3). Shapes are as received, not validated. Always set by a session that
   * ran; absent on results of sessions that never started (e.g. `runMany`'s failed entries).
   */
  transcripts?: TranscriptEntityData[];
  exchange: ExchangeEntry[];
  audioBytesSent: number;
  audioMsSent: number;
  /** Stream position when the session ended, in ms. */
  positionMs: number;
  /** Protocol violations the server committed (fatal and non-fatal). */
  protocolErrors: string[];
  closeCode?: number;
  durationMs: number;
}

/** Stable code of {@link SimulatorOptionsError}. */
export type SimulatorErrorCode = 'SIM_INVALID_OPTIONS';

/** Invalid simulator options (a mistake of the caller, not of the server under test). */
export class SimulatorOptionsError extends AppError {
  override readonly name = 'SimulatorOptionsError';
  declare readonly code: SimulatorErrorCode;
  constructor(message: string, options?: AppErrorOptions) {
    super('SIM_INVALID_OPTIONS', message, options);
  }
}

/** Options after {@link normalize}: every default applied, every value checked. */
export interface Normalized {
  uri: URL;
  apiKey: string;
  clientSecret: string | undefined;
  sessionId: string;
  correlationId: string;
  open: OpenParameters;
  audio: AudioSource;
  channelOrder: ChannelName[];
  speed: number;
  frameSamples: number;
  frameMs: number;
  pingIntervalMs: number;
  probe: boolean;
  actions: SimulatedAction[];
  openTimeoutMs: number;
  closeTimeoutMs: number;
  signing: SigningOverrides;
  faults: SimulatedFaults;
  record: 'all' | 'text' | 'none';
  signal: AbortSignal | undefined;
  onEvent: ((event: ReceivedEvent) => void) | undefined;
  onStreamStart: ((at: number) => void) | undefined;
}

function invalid(message: string): never {
  throw new SimulatorOptionsError(message);
}

function positiveNumber(value: number | undefined, fallback: number, name: string, allowZero = false): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    invalid(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${value}`);
  }
  return value;
}

/** Environment variable holding the base64 client secret (kept out of the command line). */
export const CLIENT_SECRET_ENV = 'AUDIOHOOK_CLIENT_SECRET';

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** Where the CLI may find the client secret. */
export interface ClientSecretSources {
  /** `--client-secret` (the secret itself, visible in `ps`). */
  readonly flag?: string | undefined;
  /** `--client-secret-file` (a path). */
  readonly file?: string | undefined;
  /** Read for {@link CLIENT_SECRET_ENV}. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/**
 * The client secret and warnings about how it was given: `file`, else `flag` (warned: any local user can
 * read a command line in `ps` or `/proc/<pid>/cmdline`), else {@link CLIENT_SECRET_ENV}; the two flags are
 * exclusive. @throws {@link SimulatorOptionsError} for an unreadable or empty file, both flags, or a
 * secret that is not base64 (the message names the source, never the value)
 */
export function resolveClientSecret(sources: ClientSecretSources): { secret?: string; warnings: string[] } {
  const { flag, file, env } = sources;
  const warnings: string[] = [];
  if (flag !== undefined && file !== undefined) invalid('use either --client-secret-file or --client-secret, not both');
  let secret: string | undefined;
  let source: string;
  if (file !== undefined) {
    source = '--client-secret-file';
    try {
      secret = readFileSync(file, 'utf8').trim();
      // Owner-only is what a secret file should be; say so rather than refuse (a CI runner may differ).
      if (process.platform !== 'win32' && (statSync(file).mode & 0o077) !== 0) {
        warnings.push(`--client-secret-file ${file} is readable by other users; chmod 600 it`);
      }
    } catch (err) {
      invalid(`cannot read --client-secret-file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    if (secret === '') invalid(`--client-secret-file ${file} is empty`);
  } else if (flag !== undefined) {
    source = '--client-secret';
    secret = flag;
    warnings.push(
      '--client-secret puts the secret on the command line, where other users of this machine can read it ' +
        `(ps, /proc); use ${CLIENT_SECRET_ENV} or --client-secret-file instead`,
    );
  } else {
    source = CLIENT_SECRET_ENV;
    secret = env[CLIENT_SECRET_ENV] || undefined;
  }
  if (secret !== undefined && !BASE64.test(secret)) {
    invalid(`${source} must be the base64 secret configured in the Genesys integration`);
  }
  return { ...(secret !== undefined && { secret }), warnings };
}

/** The offer Genesys makes: stereo first, then each mono (§3.2), all in the source's format. */

export function defaultOffer(
  audio: Pick<AudioSource, 'format' | 'channels'>,
  channelOrder: ChannelName[],
): MediaParameter[] {
  const media = (channels: ChannelName[]): MediaParameter => ({
    type: 'audio',
    format: audio.format,
    channels,
    rate: SAMPLE_RATE,
  });
  if (channelOrder.length === 1) return [media([...channelOrder])];
  return [media([...channelOrder]), ...channelOrder.map((c) => media([c]))];
}

/** Checks the options and applies the defaults. @throws {@link SimulatorOptionsError} */
export function normalize(opts: SimulatedSessionOptions): Normalized {
  let uri: URL;
  try {
    uri = new URL(opts.uri);
  } catch {
    invalid(`uri ${JSON.stringify(opts.uri)} is not a URL`);
  }
  if (uri.protocol !== 'ws:' && uri.protocol !== 'wss:') invalid(`uri must be ws:// or wss://, got ${uri.protocol}`);
  if (typeof opts.apiKey !== 'string' || opts.apiKey.length === 0) invalid('apiKey is required');
  if (opts.clientSecret !== undefined && !/^[A-Za-z0-9+/_-]+={0,2}$/.test(opts.clientSecret)) {
    invalid('clientSecret must be base64');
  }
  const audio = opts.audio;
  if (!audio || typeof audio.read !== 'function') invalid('audio must be an AudioSource');
  const channelOrder =
    opts.channelOrder ?? (audio.channels === 2 ? (['external', 'internal'] as ChannelName[]) : ['external']);
  if (channelOrder.length !== audio.channels || new Set(channelOrder).size !== channelOrder.length) {
    invalid(`channelOrder ${JSON.stringify(channelOrder)} does not name the ${audio.channels} source channel(s)`);
  }
  const frameMs = positiveNumber(opts.frameMs, 200, 'frameMs');
  const frameSamples = (frameMs * SAMPLE_RATE) / 1000;
  if (!Number.isInteger(frameSamples) || frameMs > 1000) {
    invalid(`frameMs must be a whole number of 8 kHz samples and at most 1000, got ${frameMs}`);
  }
  const probe = opts.probe === true;
  const offer = opts.offer ?? defaultOffer(audio, channelOrder);
  const participant: Participant = probe
    ? { id: NIL_UUID, ani: '', aniName: '', dnis: '' }
    : {
        id: opts.participant?.id ?? randomUUID(),
        ani: opts.participant?.ani ?? '+15555551234',
        aniName: opts.participant?.aniName ?? 'Simulated Caller',
        dnis: opts.participant?.dnis ?? '+18005556789',
      };
  const open: OpenParameters = {
    organizationId: opts.organizationId ?? randomUUID(),
    conversationId: probe ? NIL_UUID : (opts.conversationId ?? randomUUID()),
    participant,
    media: offer,
  };
  if (opts.language !== undefined) open.language = opts.language;
  if (opts.supportedLanguages !== undefined) open.supportedLanguages = opts.supportedLanguages;
  if (opts.customConfig !== undefined) open.customConfig = opts.customConfig;
  const actions = [...(opts.actions ?? [])];
  for (const a of actions) {
    if (!Number.isFinite(a.atMs) || a.atMs < 0) invalid(`action ${a.action} has an invalid atMs ${a.atMs}`);
    if (a.action === 'discard' && !(a.ms > 0)) invalid(`discard at ${a.atMs} ms needs a positive ms`);
  }
  // Stable sort: actions at the same instant run in the order given.
  actions.sort((a, b) => a.atMs - b.atMs);
  return {
    uri,
    apiKey: opts.apiKey,
    clientSecret: opts.clientSecret,
    sessionId: opts.sessionId ?? randomUUID(),
    correlationId: opts.correlationId ?? randomUUID(),
    open,
    audio,
    channelOrder,
    speed: positiveNumber(opts.speed, 1, 'speed', true),
    frameSamples,
    frameMs,
    pingIntervalMs: positiveNumber(opts.pingIntervalMs, 5000, 'pingIntervalMs'),
    probe,
    actions,
    openTimeoutMs: positiveNumber(opts.openTimeoutMs, 5000, 'openTimeoutMs'),
    closeTimeoutMs: positiveNumber(opts.closeTimeoutMs, 10_000, 'closeTimeoutMs'),
    signing: opts.signing ?? {},
    faults: opts.faults ?? {},
    record: opts.record ?? 'all',
    signal: opts.signal,
    onEvent: opts.onEvent,
    onStreamStart: opts.onStreamStart,
  };
}

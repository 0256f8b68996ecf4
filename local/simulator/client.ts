/**
 * One simulated AudioHook session, played the way Genesys Cloud's client does
 * (docs/audiohook-protocol.md §1.2–§1.3 upgrade and signing, §2 framing, §4 the client side of each
 * transaction, §6.2 probes). It drives a real WebSocket against any AudioHook server and reports
 * everything it saw: server misbehaviour never throws, it ends up in the result.
 *
 * Timeline model: the position clock starts at `opened` and advances one frame (`frameMs`) per tick,
 * paced in real time divided by `speed`, whether or not audio is sent — paused time keeps counting and is
 * reported in `resumed`, like the reference tone source (§2.4). Ticks are scheduled on absolute times so
 * timer lateness never accumulates into drift.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { msToDuration, msToSamples, parseDurationSamples, samplesToDuration } from '../../core/audiohook/duration';
import {
  type ChannelName,
  type CloseReason,
  type DisconnectReason,
  MAX_TEXT_MESSAGE_CHARS,
  type MediaParameter,
  NIL_UUID,
  type OpenedParameters,
  type OpenParameters,
  type Participant,
  PROTOCOL_VERSION,
  SAMPLE_RATE,
  type TranscriptEntityData,
} from '../../core/audiohook/messages';
import { signAudioHookRequest } from '../../core/auth/signature';
import { type AudioSource, createFrameReader } from './audio-source';

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
export class SimulatorOptionsError extends Error {
  override readonly name = 'SimulatorOptionsError';
  readonly code: SimulatorErrorCode = 'SIM_INVALID_OPTIONS';
}

/** Upgrade request headers Genesys sends, before signing (§1.2). */
const USER_AGENT = 'GenesysCloud-AudioHook-Client';
/** The reference signer's signature lifetime (§4.4). */
const SIGNATURE_LIFETIME_SEC = 30;
/** Above this much unsent data at speed 0 the client waits for the socket to drain. */
const MAX_BUFFERED_BYTES = 1 << 20;
/** How long to wait for the server's TCP close after our close frame. */
const SOCKET_CLOSE_GRACE_MS = 2000;
const MAX_HTTP_BODY_CHARS = 4096;
const FIRST_PING_DELAY_MS = 1000;

type State = 'connecting' | 'opening' | 'open' | 'closing' | 'closed' | 'done';

interface Normalized {
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

function normalize(opts: SimulatedSessionOptions): Normalized {
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
  };
}

/** Builds the upgrade headers Genesys sends (§1.2), signed when a client secret is configured (§1.3). */
export function buildUpgradeHeaders(
  o: Pick<Normalized, 'uri' | 'apiKey' | 'clientSecret' | 'sessionId' | 'correlationId' | 'signing'> & {
    organizationId: string;
  },
  nowMs = Date.now(),
): Record<string, string> {
  const headers: Record<string, string> = {
    'User-Agent': USER_AGENT,
    'Audiohook-Organization-Id': o.organizationId,
    'Audiohook-Correlation-Id': o.correlationId,
    'Audiohook-Session-Id': o.sessionId,
    'X-API-KEY': o.apiKey,
  };
  if (o.clientSecret !== undefined) {
    const created = o.signing.created ?? Math.floor(nowMs / 1000);
    const signed = signAudioHookRequest({
      apiKey: o.apiKey,
      clientSecretBase64: o.clientSecret,
      target: `${o.uri.pathname}${o.uri.search}`,
      authority: o.signing.authority ?? o.uri.host,
      organizationId: o.organizationId,
      sessionId: o.sessionId,
      correlationId: o.correlationId,
      created,
      expires: o.signing.expires ?? created + SIGNATURE_LIFETIME_SEC,
      ...(o.signing.nonce !== undefined ? { nonce: o.signing.nonce } : {}),
      ...(o.signing.coverHostInsteadOfAuthority ? { coverHostInsteadOfAuthority: true } : {}),
    });
    headers.Signature = o.signing.tamperSignature ? tamper(signed.signature) : signed.signature;
    headers['Signature-Input'] = signed.signatureInput;
  }
  Object.assign(headers, o.signing.extraHeaders ?? {});
  const omit = new Set((o.signing.omitHeaders ?? []).map((h) => h.toLowerCase()));
  for (const name of Object.keys(headers)) if (omit.has(name.toLowerCase())) delete headers[name];
  return headers;
}

/** Flips the first MAC byte inside `label=:<base64>:` while keeping the header well-formed. */
function tamper(signature: string): string {
  const m = /^([^=]+)=:([^:]*):(.*)$/.exec(signature);
  if (!m) return `${signature}x`;
  const mac = Buffer.from(m[2] as string, 'base64');
  mac[0] = (mac[0] ?? 0) ^ 0xff;
  return `${m[1]}=:${mac.toString('base64')}:${m[3]}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function sameMedia(a: MediaParameter, b: unknown): boolean {
  if (!isObject(b) || !Array.isArray(b.channels)) return false;
  return (
    a.type === b.type &&
    a.format === b.format &&
    a.rate === b.rate &&
    a.channels.length === b.channels.length &&
    a.channels.every((c, i) => c === (b.channels as unknown[])[i])
  );
}

const DISCONNECT_REASONS: readonly DisconnectReason[] = ['completed', 'unauthorized', 'error'];

type ServerMessage = Record<string, unknown> & {
  type: string;
  seq: number;
  clientseq: number;
  parameters: Record<string, unknown>;
};

/** A fatal server error: the client reports it and closes with reason `error` (§3.4). */
class Fatal {
  constructor(
    readonly code: number,
    readonly message: string,
  ) {}
}

class SimulatedSession {
  readonly #o: Normalized;
  readonly #started = performance.now();
  #state: State = 'connecting';
  #ws: WebSocket | undefined;
  #resolve: (r: SimulatedSessionResult) => void = () => {};
  readonly #done: Promise<SimulatedSessionResult>;

  // Sequencing (§2.3).
  #seq = 0;
  #sentTexts = 0;
  #lastServerSeq = 0;

  // Timeline in samples (§2.4).
  #pos = 0;
  #samplesSent = 0;
  #audioBytesSent = 0;
  #reader: ((start: number, count: number) => Uint8Array) | undefined;
  #serverPaused = false;
  #clientPaused = false;
  #pauseStart = 0;
  #nextAction = 0;
  #ticks = 0;
  #anchorWall = 0;
  #anchorTick = 0;
  #anchorInterval = -1;

  // Pings (§4.3.2).
  #outstandingPing: { seq: number; sentAt: number } | undefined;
  #pongs = 0;
  #rttMs: number | undefined;

  // Timers: at most one of each kind is pending at any time.
  #tickTimer: NodeJS.Timeout | undefined;
  #tickImmediate: NodeJS.Immediate | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  #openTimer: NodeJS.Timeout | undefined;
  #closeTimer: NodeJS.Timeout | undefined;
  #graceTimer: NodeJS.Timeout | undefined;

  // Result.
  #openSentAt = 0;
  #openLatencyMs: number | undefined;
  #opened: OpenedParameters | undefined;
  #disconnect: { reason: string; info?: string } | undefined;
  #closedReceived = false;
  #cause: { outcome: SessionOutcome; failure: string } | undefined;
  #httpStatus: number | undefined;
  #httpBody: string | undefined;
  #closeCode: number | undefined;
  #socketError: string | undefined;
  readonly #serverMessages: object[] = [];
  readonly #transcripts: TranscriptEntityData[] = [];
  readonly #exchange: ExchangeEntry[] = [];
  readonly #protocolErrors: string[] = [];
  readonly #onAbort = () => this.#abort();

  constructor(o: Normalized) {
    this.#o = o;
    this.#done = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  run(): Promise<SimulatedSessionResult> {
    const { signal } = this.#o;
    if (signal?.aborted) {
      this.#setCause('socket-error', 'aborted before connecting');
      this.#finish();
      return this.#done;
    }
    signal?.addEventListener('abort', this.#onAbort, { once: true });
    this.#connect();
    return this.#done;
  }

  #now(): number {
    return performance.now() - this.#started;
  }

  #setCause(outcome: SessionOutcome, failure: string): void {
    this.#cause ??= { outcome, failure };
  }

  #record(entry: Omit<ExchangeEntry, 'atMs'>): void {
    if (this.#o.record === 'none' || (this.#o.record === 'text' && entry.kind === 'binary')) return;
    this.#exchange.push({ ...entry, atMs: Math.round(this.#now() * 1000) / 1000 });
  }

  #connect(): void {
    const o = this.#o;
    let headers: Record<string, string>;
    try {
      headers = buildUpgradeHeaders({ ...o, organizationId: o.open.organizationId });
    } catch (err) {
      this.#setCause('socket-error', `cannot sign the upgrade request: ${(err as Error).message}`);
      this.#finish();
      return;
    }
    const ws = new WebSocket(o.uri, {
      headers,
      perMessageDeflate: false,
      followRedirects: false,
      handshakeTimeout: o.openTimeoutMs,
      // Larger than the protocol limit so an oversized server message is seen and reported as 413 (§6.1).
      maxPayload: 16 * MAX_TEXT_MESSAGE_CHARS * 4,
    });
    this.#ws = ws;
    ws.on('unexpected-response', (req, res) => {
      this.#httpStatus = res.statusCode;
      this.#setCause('rejected', `upgrade answered HTTP ${res.statusCode}`);
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < MAX_HTTP_BODY_CHARS) body += chunk;
      });
      const end = () => {
        this.#httpBody = body.slice(0, MAX_HTTP_BODY_CHARS);
        req.destroy();
        this.#finish();
      };
      res.on('end', end);
      res.on('error', end);
      res.on('close', end);
    });
    ws.on('open', () => this.#onOpen());
    ws.on('message', (data, isBinary) => this.#onMessage(data as Buffer, isBinary));
    ws.on('error', (err) => {
      this.#socketError ??= err.message;
      if (/handshake has timed out/i.test(err.message)) this.#setCause('timeout', err.message);
      // ws emits 'close' after 'error'; the grace timer only covers a missing one.
      this.#armGrace();
    });
    ws.on('close', (code) => {
      this.#closeCode = code;
      this.#finish();
    });
  }

  #onOpen(): void {
    if (this.#state !== 'connecting') return;
    this.#state = 'opening';
    const ws = this.#ws as WebSocket;
    if (this.#o.faults.binaryBeforeOpen) {
      const bytes = this.#o.audio.read(0, this.#o.frameSamples);
      ws.send(bytes, { binary: true });
      this.#record({ dir: 'out', kind: 'binary', bytes: bytes.byteLength });
    }
    this.#openSentAt = this.#now();
    this.#send('open', this.#o.open as unknown as Record<string, unknown>);
    this.#openTimer = setTimeout(() => {
      this.#openTimer = undefined;
      if (this.#state !== 'opening') return;
      this.#setCause('timeout', `no opened within ${this.#o.openTimeoutMs} ms`);
      this.#send('error', { code: 408, message: 'Open transaction timeout' });
      this.#beginClose('error');
    }, this.#o.openTimeoutMs);
  }

  // ---- sending -------------------------------------------------------------------------------------

  #send(type: string, parameters: Record<string, unknown>): void {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const f = this.#o.faults;
    this.#sentTexts += 1;
    const index = this.#sentTexts;
    if (f.seqGapAt === index) this.#seq += 1;
    this.#seq += 1;
    const message: Record<string, unknown> = {
      version: PROTOCOL_VERSION,
      id: f.wrongSessionIdAt === index ? randomUUID() : this.#o.sessionId,
      type,
      seq: this.#seq,
      serverseq: this.#lastServerSeq,
      position: samplesToDuration(this.#pos),
      parameters,
    };
    if (f.oversizedMessageAt === index) message.padding = 'x'.repeat(MAX_TEXT_MESSAGE_CHARS + 1);
    let text = JSON.stringify(message);
    if (f.malformedJsonAt === index) text = text.slice(0, -1);
    ws.send(text);
    if (f.malformedJsonAt === index) this.#record({ dir: 'out', kind: 'text', raw: text.slice(0, 1024) });
    else this.#record({ dir: 'out', kind: 'text', message });
  }

  #sendAudio(bytes: Uint8Array, samples: number): void {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || bytes.byteLength === 0) return;
    ws.send(bytes, { binary: true });
    this.#audioBytesSent += bytes.byteLength;
    this.#samplesSent += samples;
    this.#record({ dir: 'out', kind: 'binary', bytes: bytes.byteLength });
  }

  // ---- receiving -----------------------------------------------------------------------------------

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (this.#state === 'done') return;
    if (isBinary) {
      this.#record({ dir: 'in', kind: 'binary', bytes: data.byteLength });
      this.#fatal(new Fatal(415, `server sent a binary frame of ${data.byteLength} bytes`));
      return;
    }
    const text = data.toString('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    this.#record(
      isObject(parsed)
        ? { dir: 'in', kind: 'text', message: parsed }
        : { dir: 'in', kind: 'text', raw: text.slice(0, 1024) },
    );
    if (this.#state === 'closed') return; // after `closed` nothing more is expected; the socket is going down
    try {
      if (text.length > MAX_TEXT_MESSAGE_CHARS) {
        throw new Fatal(413, `server message of ${text.length} characters exceeds ${MAX_TEXT_MESSAGE_CHARS}`);
      }
      const msg = this.#checkEnvelope(parsed);
      this.#serverMessages.push(msg);
      const handler = Object.hasOwn(this.#handlers, msg.type) ? this.#handlers[msg.type] : undefined;
      if (handler) handler(msg);
      else this.#complain(400, `'${msg.type}' is not a server message`);
    } catch (err) {
      if (err instanceof Fatal) this.#fatal(err);
      else throw err;
    }
  }

  /**
   * Common fields and sequencing of a server message (§2.2–§2.3); violations are fatal. A message with a
   * usable `seq` still moves the server sequence on, so one bad message is reported once instead of
   * cascading into a gap on every later message (and a lost `closed`).
   */
  #checkEnvelope(parsed: unknown): ServerMessage {
    if (!isObject(parsed)) throw new Fatal(400, 'Message is malformed: not a JSON object');
    const { version, id, type, seq, clientseq, parameters } = parsed;
    const name = typeof type === 'string' && type.length > 0 ? `'${type}'` : 'message';
    if (!isCount(seq)) throw new Fatal(400, `${name} has an invalid seq ${JSON.stringify(seq)}`);
    const expected = this.#lastServerSeq + 1;
    this.#lastServerSeq = seq;
    if (seq !== expected) throw new Fatal(500, `${name} has seq ${seq}, expected ${expected}`);
    if (version !== PROTOCOL_VERSION) throw new Fatal(400, `${name} has version ${JSON.stringify(version)}`);
    if (typeof type !== 'string' || type.length === 0) throw new Fatal(400, 'Message has no type');
    if (id !== this.#o.sessionId) throw new Fatal(400, `${name} carries id ${JSON.stringify(id)}, not the session id`);
    if (!isCount(clientseq)) throw new Fatal(400, `${name} has an invalid clientseq ${JSON.stringify(clientseq)}`);
    if (!isObject(parameters)) throw new Fatal(400, `${name} has no parameters object`);
    if (clientseq > this.#seq) {
      this.#complain(400, `${name} has clientseq ${clientseq} but the client only sent up to ${this.#seq}`);
    }
    return parsed as ServerMessage;
  }

  /** One handler per server message type (§3.3); anything else is answered with error 400. */
  readonly #handlers: Readonly<Record<string, (msg: ServerMessage) => void>> = {
    opened: (m) => this.#onOpened(m),
    pong: (m) => this.#onPong(m),
    pause: () => this.#onPause(),
    resume: () => this.#onResume(),
    disconnect: (m) => this.#onDisconnect(m),
    closed: () => this.#onClosed(),
    event: (m) => this.#onEvent(m),
    // The reference client accepts `updated` silently and only logs `reconnect` (§4.3.7, §4.3.8).
    updated: () => {},
    reconnect: () => {},
  };

  #onOpened(msg: ServerMessage): void {
    if (this.#state === 'closing') return; // late `opened` after our open timeout: dropped (§4.5)
    if (this.#state !== 'opening') {
      this.#complain(409, `unexpected 'opened' in state ${this.#state}`);
      return;
    }
    const p = msg.parameters;
    if (!Array.isArray(p.media)) throw new Fatal(400, "'opened' has no media array");
    const media: unknown[] = p.media;
    if (media.length > 1) throw new Fatal(400, `'opened' selects ${media.length} media; at most one is allowed`);
    // Exactly one entry taken verbatim from the offer, channel order included (§3.3).
    const selected = media.length === 0 ? undefined : this.#o.open.media.find((m) => sameMedia(m, media[0]));
    if (media.length === 1 && !selected) {
      throw new Fatal(400, `'opened' selects media that was not offered: ${JSON.stringify(media[0])}`);
    }
    if (p.startPaused !== undefined && typeof p.startPaused !== 'boolean') {
      throw new Fatal(400, "'opened' startPaused is not a boolean");
    }
    const discardTo = p.discardTo === undefined ? undefined : parseDurationSamples(String(p.discardTo));
    if (discardTo === null || (p.discardTo !== undefined && typeof p.discardTo !== 'string')) {
      throw new Fatal(400, `'opened' discardTo ${JSON.stringify(p.discardTo)} is not a duration`);
    }
    if (
      p.supportedLanguages !== undefined &&
      !(Array.isArray(p.supportedLanguages) && p.supportedLanguages.every((l) => typeof l === 'string'))
    ) {
      throw new Fatal(400, "'opened' supportedLanguages is not an array of strings");
    }
    if (this.#o.open.supportedLanguages === true && p.supportedLanguages === undefined) {
      this.#complain(400, "'opened' lacks supportedLanguages although the client asked for them");
    }
    clearTimeout(this.#openTimer);
    this.#openTimer = undefined;
    this.#opened = p as unknown as OpenedParameters;
    this.#openLatencyMs = this.#now() - this.#openSentAt;
    this.#state = 'open';
    if (this.#o.probe) {
      this.#beginClose('end');
      return;
    }
    if (selected) this.#reader = createFrameReader(this.#o.audio, this.#o.channelOrder, selected);
    if (discardTo !== undefined) {
      // The reference client discards whole frames: round the target down to its frame grid (§4.3.1).
      const F = this.#o.frameSamples;
      const target = Math.min(Math.floor(discardTo / F) * F, this.#o.audio.durationSamples);
      if (target > this.#pos) {
        const start = this.#pos;
        this.#pos = target;
        this.#send('discarded', { start: samplesToDuration(start), discarded: samplesToDuration(target - start) });
      }
    }
    if (p.startPaused === true) {
      this.#serverPaused = true;
      this.#pauseStart = this.#pos;
      this.#send('paused', {});
    }
    this.#runDueActions();
    if (this.#state !== 'open') return;
    // The position clock starts now; anchor it after startPaused/actions decided whether we stream.
    this.#anchorInterval = -1;
    this.#reanchorIfNeeded();
    this.#pingTimer = setTimeout(() => this.#ping(), this.#scaled(FIRST_PING_DELAY_MS));
    this.#scheduleTick();
  }

  #onPong(msg: ServerMessage): void {
    const ping = this.#outstandingPing;
    if (!ping) {
      this.#complain(409, "'pong' without an outstanding ping");
      return;
    }
    if (msg.clientseq !== ping.seq) {
      // Like the reference client the pong is rejected and the ping stays outstanding (§2.3).
      this.#complain(400, `'pong' has clientseq ${msg.clientseq}, expected the ping's seq ${ping.seq}`);
      return;
    }
    this.#rttMs = this.#now() - ping.sentAt;
    this.#outstandingPing = undefined;
    this.#pongs += 1;
    // A second ping right after the first pong gives the server an rtt early (§4.3.2).
    if (this.#pongs === 1 && this.#state === 'open') this.#ping();
  }

  #onPause(): void {
    if (this.#state === 'closing') return;
    if (this.#state !== 'open') {
      this.#complain(409, `unexpected 'pause' in state ${this.#state}`);
      return;
    }
    if (this.#streaming()) this.#pauseStart = this.#pos;
    this.#serverPaused = true;
    this.#send('paused', {});
    this.#reanchorIfNeeded();
  }

  #onResume(): void {
    if (this.#state === 'closing') return;
    if (this.#state !== 'open') {
      this.#complain(409, `unexpected 'resume' in state ${this.#state}`);
      return;
    }
    const wasPaused = this.#serverPaused || this.#clientPaused;
    this.#serverPaused = false;
    if (this.#clientPaused) {
      // Our own (e.g. secure) pause still holds: say so instead of resuming (§4.3.3).
      this.#send('paused', {});
      return;
    }
    const start = wasPaused ? this.#pauseStart : this.#pos;
    this.#send('resumed', { start: samplesToDuration(start), discarded: samplesToDuration(this.#pos - start) });
    this.#reanchorIfNeeded();
  }

  #onDisconnect(msg: ServerMessage): void {
    const { reason, info } = msg.parameters;
    if (this.#disconnect) {
      this.#complain(409, "second 'disconnect'");
      return;
    }
    this.#disconnect = { reason: String(reason), ...(typeof info === 'string' ? { info } : {}) };
    if (typeof reason !== 'string' || !DISCONNECT_REASONS.includes(reason as DisconnectReason)) {
      this.#complain(400, `'disconnect' has an invalid reason ${JSON.stringify(reason)}`);
    }
    if (this.#state === 'opening' || this.#state === 'open') this.#beginClose('disconnect');
  }

  #onClosed(): void {
    if (this.#state !== 'closing') {
      this.#complain(409, `'closed' without a close (state ${this.#state})`);
      this.#setCause('protocol-error', "server sent 'closed' without a close");
    }
    this.#closedReceived = true;
    this.#state = 'closed';
    this.#stopTimers();
    // The reference client closes the socket right after `closed` (§4.3.6).
    this.#ws?.close(1000);
    this.#armGrace();
  }

  #onEvent(msg: ServerMessage): void {
    const entities: unknown = msg.parameters.entities;
    if (!Array.isArray(entities)) {
      this.#complain(400, "'event' has no entities array");
      return;
    }
    for (const entity of entities) {
      if (isObject(entity) && entity.type === 'transcript' && isObject(entity.data)) {
        this.#transcripts.push(entity.data as unknown as TranscriptEntityData);
      }
    }
  }

  // ---- errors --------------------------------------------------------------------------------------

  /** A non-fatal violation: recorded and reported with an `error` message; the session goes on. */
  #complain(code: number, message: string): void {
    this.#protocolErrors.push(message);
    if (this.#state === 'opening' || this.#state === 'open' || this.#state === 'closing') {
      this.#send('error', { code, message });
    }
  }

  /** A fatal violation: recorded, reported, and the session is closed with reason `error`. */
  #fatal(err: Fatal): void {
    this.#protocolErrors.push(err.message);
    this.#setCause('protocol-error', err.message);
    if (this.#state === 'opening' || this.#state === 'open') {
      this.#send('error', { code: err.code, message: err.message });
      this.#beginClose('error');
    }
  }

  // ---- timeline ------------------------------------------------------------------------------------

  #streaming(): boolean {
    return this.#reader !== undefined && !this.#serverPaused && !this.#clientPaused;
  }

  #scaled(ms: number): number {
    return this.#o.speed > 0 ? ms / this.#o.speed : ms;
  }

  /** Wall milliseconds per frame tick: paused time runs in real time at speed 0 so a server can resume. */
  #tickInterval(): number {
    if (this.#o.speed > 0) return this.#o.frameMs / this.#o.speed;
    return this.#streaming() ? 0 : this.#o.frameMs;
  }

  #reanchorIfNeeded(): void {
    const interval = this.#tickInterval();
    if (interval === this.#anchorInterval) return;
    this.#anchorInterval = interval;
    this.#anchorWall = performance.now();
    this.#anchorTick = this.#ticks;
    if (this.#tickTimer !== undefined || this.#tickImmediate !== undefined) {
      this.#clearTick();
      this.#scheduleTick();
    }
  }

  #clearTick(): void {
    clearTimeout(this.#tickTimer);
    if (this.#tickImmediate !== undefined) clearImmediate(this.#tickImmediate);
    this.#tickTimer = undefined;
    this.#tickImmediate = undefined;
  }

  #scheduleTick(): void {
    const interval = this.#anchorInterval;
    if (interval === 0) {
      const ws = this.#ws;
      if (ws && ws.bufferedAmount > MAX_BUFFERED_BYTES) this.#tickTimer = setTimeout(() => this.#scheduleTick(), 5);
      else this.#tickImmediate = setImmediate(() => this.#tick());
      return;
    }
    // Absolute schedule: tick k fires at anchor + k·interval however late earlier ticks ran.
    const due = this.#anchorWall + (this.#ticks + 1 - this.#anchorTick) * interval;
    this.#tickTimer = setTimeout(() => this.#tick(), Math.max(0, due - performance.now()));
  }

  #tick(): void {
    this.#tickTimer = undefined;
    this.#tickImmediate = undefined;
    if (this.#state !== 'open') return;
    const duration = this.#o.audio.durationSamples;
    const count = Math.min(this.#o.frameSamples, duration - this.#pos);
    if (count > 0) {
      if (this.#streaming() && this.#reader) this.#sendAudio(this.#reader(this.#pos, count), count);
      this.#pos += count;
    }
    this.#ticks += 1;
    this.#runDueActions();
    if (this.#state !== 'open') return;
    if (this.#pos >= duration) {
      this.#beginClose('end');
      return;
    }
    this.#reanchorIfNeeded();
    this.#scheduleTick();
  }

  #runDueActions(): void {
    const { actions } = this.#o;
    while (this.#state === 'open') {
      const a = actions[this.#nextAction];
      if (!a || msToSamples(a.atMs) > this.#pos) return;
      this.#nextAction += 1;
      this.#act(a);
    }
  }

  #act(a: SimulatedAction): void {
    switch (a.action) {
      case 'pause':
        if (this.#clientPaused) return;
        if (this.#streaming()) this.#pauseStart = this.#pos;
        this.#clientPaused = true;
        this.#send('paused', {});
        this.#reanchorIfNeeded();
        return;
      case 'resume':
        if (!this.#clientPaused) return;
        this.#clientPaused = false;
        // With the server's pause still in force nothing resumes; `resumed` follows its `resume`.
        if (this.#serverPaused) return;
        this.#send('resumed', {
          start: samplesToDuration(this.#pauseStart),
          discarded: samplesToDuration(this.#pos - this.#pauseStart),
        });
        this.#reanchorIfNeeded();
        return;
      case 'discard': {
        // While paused the gap is already accounted for by the pause.
        if (!this.#streaming()) return;
        const n = Math.min(msToSamples(a.ms), this.#o.audio.durationSamples - this.#pos);
        if (n <= 0) return;
        const start = this.#pos;
        this.#pos += n;
        this.#send('discarded', { start: samplesToDuration(start), discarded: samplesToDuration(n) });
        return;
      }
      case 'update':
        this.#send('update', { language: a.language });
        return;
      case 'error':
        this.#send('error', {
          code: a.code,
          message: a.message ?? `Simulated client error ${a.code}`,
          ...(a.retryAfterMs !== undefined ? { retryAfter: msToDuration(a.retryAfterMs) } : {}),
        });
        return;
      case 'close':
        this.#beginClose(a.reason ?? 'end');
        return;
    }
  }

  // ---- pings ---------------------------------------------------------------------------------------

  #ping(): void {
    clearTimeout(this.#pingTimer);
    this.#pingTimer = undefined;
    if (this.#state !== 'open') return;
    if (this.#outstandingPing) {
      this.#setCause('timeout', 'no pong before the next ping was due');
      this.#send('error', { code: 408, message: 'Timeout waiting for pong' });
      this.#beginClose('error');
      return;
    }
    const rtt = this.#rttMs;
    this.#send('ping', rtt === undefined ? {} : { rtt: msToDuration(Math.round(rtt * 1000) / 1000) });
    this.#outstandingPing = { seq: this.#seq, sentAt: this.#now() };
    this.#pingTimer = setTimeout(() => this.#ping(), this.#scaled(this.#o.pingIntervalMs));
  }

  // ---- closing -------------------------------------------------------------------------------------

  #beginClose(reason: CloseReason): void {
    if (this.#state !== 'opening' && this.#state !== 'open') return;
    this.#stopTimers();
    this.#state = 'closing';
    this.#send('close', { reason });
    this.#closeTimer = setTimeout(() => {
      this.#closeTimer = undefined;
      if (this.#state !== 'closing') return;
      this.#setCause('timeout', `no closed within ${this.#o.closeTimeoutMs} ms`);
      this.#send('error', { code: 408, message: 'Close transaction timeout' });
      this.#state = 'closed';
      this.#ws?.close(1000);
      this.#armGrace();
    }, this.#o.closeTimeoutMs);
  }

  #abort(): void {
    if (this.#state === 'connecting') {
      this.#setCause('socket-error', 'aborted before the session opened');
      this.#ws?.terminate();
      this.#armGrace();
    } else {
      this.#beginClose('end');
    }
  }

  #stopTimers(): void {
    this.#clearTick();
    clearTimeout(this.#pingTimer);
    clearTimeout(this.#openTimer);
    clearTimeout(this.#closeTimer);
    this.#pingTimer = undefined;
    this.#openTimer = undefined;
    this.#closeTimer = undefined;
  }

  /** Guards against a socket that never reports `close` (a peer that ignores our close frame). */
  #armGrace(): void {
    if (this.#graceTimer !== undefined || this.#state === 'done') return;
    this.#graceTimer = setTimeout(() => {
      this.#ws?.terminate();
      this.#finish();
    }, SOCKET_CLOSE_GRACE_MS);
  }

  #outcome(): { outcome: SessionOutcome; failure?: string } {
    if (this.#cause) return this.#cause;
    if (this.#disconnect) {
      const d = this.#disconnect;
      return { outcome: 'disconnected', failure: `server disconnected: ${d.reason}${d.info ? ` (${d.info})` : ''}` };
    }
    if (this.#closedReceived) {
      if (this.#protocolErrors.length > 0) {
        return { outcome: 'protocol-error', failure: this.#protocolErrors[0] as string };
      }
      return { outcome: 'closed' };
    }
    const why = this.#socketError ?? `socket closed${this.#closeCode ? ` with code ${this.#closeCode}` : ''}`;
    return { outcome: 'socket-error', failure: `${why} before the session was closed` };
  }

  #finish(): void {
    if (this.#state === 'done') return;
    this.#stopTimers();
    clearTimeout(this.#graceTimer);
    this.#state = 'done';
    this.#o.signal?.removeEventListener('abort', this.#onAbort);
    const ws = this.#ws;
    if (ws && ws.readyState !== WebSocket.CLOSED) ws.terminate();
    const { outcome, failure } = this.#outcome();
    const result: SimulatedSessionResult = {
      outcome,
      sessionId: this.#o.sessionId,
      serverMessages: this.#serverMessages,
      transcripts: this.#transcripts,
      exchange: this.#exchange,
      audioBytesSent: this.#audioBytesSent,
      audioMsSent: (this.#samplesSent * 1000) / SAMPLE_RATE,
      positionMs: (this.#pos * 1000) / SAMPLE_RATE,
      protocolErrors: this.#protocolErrors,
      durationMs: this.#now(),
    };
    if (failure !== undefined) result.failure = failure;
    if (this.#httpStatus !== undefined) result.httpStatus = this.#httpStatus;
    if (this.#httpBody !== undefined) result.httpBody = this.#httpBody;
    if (this.#opened) result.opened = this.#opened;
    if (this.#openLatencyMs !== undefined) result.openLatencyMs = this.#openLatencyMs;
    if (this.#disconnect) result.disconnect = this.#disconnect;
    if (this.#closeCode !== undefined) result.closeCode = this.#closeCode;
    this.#resolve(result);
  }
}

/**
 * Plays one AudioHook session against a server, as Genesys Cloud would, and reports what happened.
 * Resolves for every server behaviour (rejection, timeouts, protocol violations, dropped sockets).
 * @throws {@link SimulatorOptionsError} (as a rejected promise) for invalid options
 */
export async function runSimulatedSession(opts: SimulatedSessionOptions): Promise<SimulatedSessionResult> {
  return new SimulatedSession(normalize(opts)).run();
}

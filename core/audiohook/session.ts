/**
 * The AudioHook session state machine (docs/audiohook-protocol.md §2–§4, §8 "Messages"), apart from any
 * socket: the gateway feeds it validated messages and binary frames and gives it a {@link SessionTransport}
 * to write to. Incoming messages are dispatched through one table per state (§4.2 handling matrix, REC
 * column); nothing here throws into the caller — violations are answered in protocol terms.
 */
import { decodeFrame, samplesInFrame } from '../audio/pcm';
import { type Role, rolesOf } from '../audio/roles';
import { StreamTimeline } from '../audio/timeline';
import type { Clock, Logger, TimerHandle, Timers } from '../ports';
import { parseDurationSamples, parseDurationSeconds, samplesToDuration, samplesToMs } from './duration';
import { AudioHookProtocolError, type AudioHookProtocolErrorCode, describeError } from './errors';
import { selectMedia } from './media';
import {
  type ClientMessage,
  type ClientMessageType,
  type CloseReason,
  type DisconnectReason,
  type EventEntity,
  isConnectionProbe,
  MAX_TEXT_MESSAGE_CHARS,
  type MediaParameter,
  type OpenedParameters,
  type OpenMessage,
  PROTOCOL_VERSION,
  type ServerMessageType,
  type UnknownClientMessage,
} from './messages';
import type {
  AudioFrame,
  AudioSink,
  ConnectionInfo,
  OpenDecision,
  OpenInfo,
  SessionControl,
  SessionHooks,
  SessionStats,
  SessionTransport,
  TimelineGap,
} from './ports';
import { EventHold } from './session-events';
import { maxSerializedLength, type ServerParams, serializeServerMessage } from './session-wire';

/** Server-side session states (§4.1 naming; `finalized` = the socket is gone). */
export type SessionState =
  | 'preparing'
  | 'opening'
  | 'active'
  | 'paused'
  | 'closing'
  | 'closed'
  | 'unauthorized'
  | 'signaled-error'
  | 'finalized';

/** Behaviour knobs of a session. */
export interface SessionOptions {
  /** Languages advertised in `opened` iff `open.parameters.supportedLanguages === true` (§4.3.1). */
  supportedLanguages: readonly string[];
  /** Answer `update` with `updated` (§4.3.7). @default false - the reference server never sends it */
  sendUpdated?: boolean;
  /**
   * How long `opened` may wait for `hooks.onOpen`. When exceeded, `opened` goes out with
   * `startPaused: true` and the decision is applied (a `resume`) when it arrives. @default 800
   */
  openDecisionBudgetMs?: number;
  /** Longest wait for `sink.end()` (and held events) before `closed` is sent anyway. @default 3000 */
  flushBudgetMs?: number;
  /** Close the socket ourselves when the client has not done so this long after `closed`. @default 10000 */
  closeSocketAfterClosedMs?: number;
  /** After our `disconnect`, close the socket when no `close` arrives within this time. @default 10000 */
  disconnectCloseTimeoutMs?: number;
}

/** Everything a session needs; all collaborators are injected (no globals, no wall clock). */
export interface SessionDeps {
  connection: ConnectionInfo;
  transport: SessionTransport;
  sink: AudioSink;
  hooks?: SessionHooks;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  options: SessionOptions;
}

/** One AudioHook session, driven by the transport adapter and controlled by the transcription layer. */
export interface AudioHookSession extends SessionControl {
  readonly state: SessionState;
  /** From `open`; `undefined` before it. */
  readonly conversationId: string | undefined;
  /** True once an `open` identified a connection probe (§6.2 item 1). */
  readonly isProbe: boolean;
  /** One text message, already validated by the edge decoder. Replies (e.g. `pong`) are sent synchronously. */
  handleMessage(msg: ClientMessage | UnknownClientMessage): void;
  /** A text or binary frame the edge could not accept (malformed JSON, schema failure, too large). */
  handleInvalid(reason: string): void;
  /** One binary (audio) frame. */
  handleAudio(data: Uint8Array): void;
  /** The socket is gone (any state): ends the sink and calls `hooks.onEnd` once. */
  handleTransportClosed(code: number, reason: string): void;
}

/** Creates a session in state `preparing`; it does nothing until the first message arrives. */
export function createSession(deps: SessionDeps): AudioHookSession {
  return new Session(deps);
}

const DEFAULTS = {
  openDecisionBudgetMs: 800,
  flushBudgetMs: 3000,
  closeSocketAfterClosedMs: 10_000,
  disconnectCloseTimeoutMs: 10_000,
} as const;

/** Events held during a 429 back-off beyond this are refused: a stuck client must not grow memory. */
const MAX_HELD_EVENTS = 256;
/** Straggler audio is logged at debug per frame, and at warn at most this often. */
const DROP_WARN_INTERVAL_MS = 10_000;
/** `disconnect.info` is for humans reading Genesys logs; keep it short. */
const MAX_DISCONNECT_INFO_CHARS = 256;
const MAX_LOGGED_CLIENT_TEXT = 200;
/** Each unknown message type is logged at info once; the set is bounded against a client inventing types. */
const MAX_UNKNOWN_TYPES_TRACKED = 16;

type MessageOf<T extends ClientMessageType> = Extract<ClientMessage, { type: T }>;
type Handler<T extends ClientMessageType> = (session: Session, msg: MessageOf<T>) => void;
/** One row of the §4.2 matrix: what a state does with each client message type. */
type MessageTable = { readonly [T in ClientMessageType]: Handler<T> };

/** Where the open transaction stands (§4.3.1). */
type OpenPhase =
  /** No real-call open is in progress. */
  | 'idle'
  /** `hooks.onOpen` is pending and `opened` has not been sent. */
  | 'deciding'
  /** The budget ran out: `opened` went out paused, the decision is still pending. */
  | 'late'
  /** The decision was applied. */
  | 'done'
  /** Close, disconnect or socket loss overtook a pending decision; it is ignored when it lands. */
  | 'abandoned';

type DropCause =
  | 'before-open'
  | 'no-media'
  | 'probe'
  | 'server-paused'
  | 'client-paused'
  | 'after-close'
  | 'after-disconnect';

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** A duration as a safe integer sample count, or `null`. */
function samplesOf(duration: string | undefined): number | null {
  if (duration === undefined) return null;
  const n = parseDurationSamples(duration);
  return n !== null && Number.isSafeInteger(n) && n >= 0 ? n : null;
}

function isDecision(value: unknown): value is OpenDecision {
  if (typeof value !== 'object' || value === null) return false;
  const d = value as { startPaused?: unknown; discardToSamples?: unknown };
  return (
    typeof d.startPaused === 'boolean' &&
    (d.discardToSamples === undefined ||
      (typeof d.discardToSamples === 'number' && Number.isSafeInteger(d.discardToSamples)))
  );
}

// --- §4.2 handling matrix, one table per state --------------------------------------------------------

const ignore = (s: Session, msg: ClientMessage): void => s.logIgnored(msg.type, 'debug');
const ignoreAndLog = (s: Session, msg: ClientMessage): void => s.logIgnored(msg.type, 'info');
const answerPing: Handler<'ping'> = (s, msg) => s.onPing(msg);
const clientError: Handler<'error'> = (s, msg) => s.onClientError(msg);
const recordDiscarded: Handler<'discarded'> = (s, msg) => s.onDiscarded(msg);
const closeSession: Handler<'close'> = (s, msg) => s.onClose(msg);
const ignoreDuplicateClose: Handler<'close'> = (s) => s.logIgnored('close', 'debug', 'duplicate close');
const applyUpdate: Handler<'update'> = (s, msg) => s.onUpdate(msg);

const PREPARING: MessageTable = {
  open: (s, msg) => s.onOpen(msg),
  ping: answerPing,
  close: closeSession,
  paused: ignoreAndLog,
  resumed: ignoreAndLog,
  discarded: recordDiscarded,
  update: ignore,
  error: clientError,
};

const OPENING: MessageTable = {
  open: ignoreAndLog,
  ping: answerPing,
  // The pending decision is abandoned: no `opened` ever goes out, only `closed` (§4.3.1).
  close: closeSession,
  paused: ignoreAndLog,
  resumed: ignoreAndLog,
  discarded: recordDiscarded,
  update: ignore,
  error: clientError,
};

const ACTIVE: MessageTable = {
  open: ignoreAndLog,
  ping: answerPing,
  close: closeSession,
  paused: (s, msg) => s.onClientPaused(msg),
  resumed: ignoreAndLog,
  discarded: recordDiscarded,
  update: applyUpdate,
  error: clientError,
};

const PAUSED: MessageTable = {
  open: ignoreAndLog,
  ping: answerPing,
  close: closeSession,
  // The compliance client sends `paused` twice (§6.2 item 4); a `resume` answered by `paused` lands here too.
  paused: (s) => s.logIgnored('paused', 'debug', 'already paused'),
  resumed: (s, msg) => s.onClientResumed(msg),
  discarded: recordDiscarded,
  update: applyUpdate,
  error: clientError,
};

const CLOSING: MessageTable = {
  open: ignore,
  ping: answerPing,
  close: ignoreDuplicateClose,
  paused: ignore,
  resumed: ignore,
  discarded: recordDiscarded,
  update: ignore,
  error: clientError,
};

/** `unauthorized` and `signaled-error`: we sent `disconnect`; only `ping` and `close` still matter. */
const DISCONNECTING: MessageTable = {
  open: ignore,
  ping: answerPing,
  close: closeSession,
  paused: ignore,
  resumed: ignore,
  discarded: ignore,
  update: ignore,
  error: clientError,
};

const FINALIZED: MessageTable = {
  open: ignore,
  ping: ignore,
  close: ignore,
  paused: ignore,
  resumed: ignore,
  discarded: ignore,
  update: ignore,
  error: ignore,
};

const TABLES: Readonly<Record<SessionState, MessageTable>> = {
  preparing: PREPARING,
  opening: OPENING,
  active: ACTIVE,
  paused: PAUSED,
  closing: CLOSING,
  closed: CLOSING,
  unauthorized: DISCONNECTING,
  'signaled-error': DISCONNECTING,
  finalized: FINALIZED,
};

// --- the session -----------------------------------------------------------------------------------------

class Session implements AudioHookSession {
  readonly #connection: ConnectionInfo;
  readonly #transport: SessionTransport;
  readonly #sink: AudioSink;
  readonly #hooks: SessionHooks | undefined;
  readonly #clock: Clock;
  readonly #timers: Timers;
  readonly #options: Required<SessionOptions>;
  #log: Logger;

  #state: SessionState = 'preparing';
  #lastClientSeq = 0;
  #lastServerSeq = 0;

  #open: OpenMessage | undefined;
  #probe = false;
  #media: MediaParameter | undefined;
  #roles: Role[] = [];
  #language: string | undefined;
  #openReceivedAt = 0;
  #openPhase: OpenPhase = 'idle';
  #openBudgetTimer: TimerHandle | undefined;
  #openedSent = false;

  /** What the transcription layer wants (pause()/resume(), or the open decision). */
  #desiredPaused = false;
  /** pause()/resume() was called: explicit control beats an open decision that lands later. */
  #desiredExplicit = false;
  /** Our last word to the client was `pause` (or `startPaused: true`): audio from now on is unwanted. */
  #serverPauseRequested = false;
  /** The client reported `paused` and has not `resumed`. */
  #clientPaused = false;

  #closeReceived = false;
  #closeReason: CloseReason | undefined;
  #closedSent = false;
  #disconnectSent: DisconnectReason | undefined;

  readonly #timeline = new StreamTimeline();
  #sinkStarted = false;
  #sinkEnd: Promise<void> | undefined;
  /** Straggler audio dropped after our `pause`, coalesced into one `server-paused` gap for the sink. */
  #dropGap: { start: number; length: number } | undefined;
  #lastDropWarnAt = Number.NEGATIVE_INFINITY;
  #dropsSinceWarn = 0;
  readonly #failedCalls = new Set<string>();
  readonly #unknownTypesSeen = new Set<string>();

  readonly #events: EventHold;
  readonly #pendingTimers = new Set<TimerHandle>();
  #ended = false;

  readonly #stats: Omit<SessionStats, 'position'> = {
    audioBytesReceived: 0,
    samplesAccepted: 0,
    samplesDropped: 0,
    framesReceived: 0,
    pausedSamples: 0,
    discardedSamples: 0,
    messagesReceived: 0,
    messagesSent: 0,
  };

  constructor(deps: SessionDeps) {
    this.#connection = deps.connection;
    this.#transport = deps.transport;
    this.#sink = deps.sink;
    this.#hooks = deps.hooks;
    this.#clock = deps.clock;
    this.#timers = deps.timers;
    this.#options = {
      supportedLanguages: deps.options.supportedLanguages,
      sendUpdated: deps.options.sendUpdated ?? false,
      openDecisionBudgetMs: deps.options.openDecisionBudgetMs ?? DEFAULTS.openDecisionBudgetMs,
      flushBudgetMs: deps.options.flushBudgetMs ?? DEFAULTS.flushBudgetMs,
      closeSocketAfterClosedMs: deps.options.closeSocketAfterClosedMs ?? DEFAULTS.closeSocketAfterClosedMs,
      disconnectCloseTimeoutMs: deps.options.disconnectCloseTimeoutMs ?? DEFAULTS.disconnectCloseTimeoutMs,
    };
    this.#log = deps.logger.child({
      sessionId: deps.connection.sessionId,
      correlationId: deps.connection.correlationId,
    });
    this.#events = new EventHold({
      clock: deps.clock,
      timers: { setTimeout: (fn, ms) => this.#schedule(fn, ms) },
      maxQueued: MAX_HELD_EVENTS,
      release: (json) => this.#releaseHeldEvent(json),
    });
  }

  get sessionId(): string {
    return this.#connection.sessionId;
  }

  get state(): SessionState {
    return this.#state;
  }

  get conversationId(): string | undefined {
    return this.#open?.parameters.conversationId;
  }

  get isProbe(): boolean {
    return this.#probe;
  }

  // --- inputs from the transport -------------------------------------------------------------------------

  handleMessage(msg: ClientMessage | UnknownClientMessage): void {
    this.#guard('handleMessage', () => {
      if (this.#state === 'finalized') {
        this.#log.debug({ type: msg.type }, 'audiohook message after socket closed ignored');
        return;
      }
      this.#stats.messagesReceived++;
      const violation = this.#checkEnvelope(msg);
      // Adopt the client's numbering even after a violation, so the `pong`/`closed` we still owe carry a
      // `clientseq` the client recognizes (§2.3).
      if (Number.isSafeInteger(msg.seq) && msg.seq > this.#lastClientSeq) this.#lastClientSeq = msg.seq;
      if (violation) {
        this.#protocolViolation(violation);
        // After an integrity failure only liveness and the close transaction are honoured (§4.5).
        if (msg.type !== 'ping' && msg.type !== 'close') return;
      } else {
        this.#resyncTo(msg.position);
      }
      if ('unknownType' in msg) {
        // Forward compatibility (§4.5 REC): the protocol evolves; an unknown type is not a violation.
        const first = !this.#unknownTypesSeen.has(msg.type) && this.#unknownTypesSeen.size < MAX_UNKNOWN_TYPES_TRACKED;
        if (first) this.#unknownTypesSeen.add(msg.type);
        this.#log[first ? 'info' : 'debug'](
          { type: truncate(msg.type, 64) },
          'audiohook unknown client message type ignored',
        );
        return;
      }
      const handler = TABLES[this.#state][msg.type] as Handler<typeof msg.type>;
      handler(this, msg);
    });
  }

  handleInvalid(reason: string): void {
    this.#guard('handleInvalid', () => {
      if (this.#state === 'finalized') return;
      this.#protocolViolation(new AudioHookProtocolError('AUDIOHOOK_INVALID_MESSAGE', reason));
    });
  }

  handleAudio(data: Uint8Array): void {
    this.#guard('handleAudio', () => {
      if (this.#state === 'finalized') return;
      this.#stats.framesReceived++;
      this.#stats.audioBytesReceived += data.byteLength;
      const media = this.#media;
      const cause = this.#dropCause();
      if (cause !== undefined || media === undefined) {
        this.#dropAudio(data, cause ?? 'no-media');
        return;
      }
      const decoded = decodeFrame(media, data);
      if (!decoded.ok) {
        this.#log.warn(
          { bytes: data.byteLength, format: media.format, channels: media.channels.length },
          decoded.error,
        );
        this.#protocolViolation(new AudioHookProtocolError('AUDIOHOOK_BAD_AUDIO_FRAME', 'invalid audio frame length'));
        return;
      }
      if (decoded.samples === 0) return;
      this.#flushDropGap();
      const pcm: AudioFrame['pcm'] = {};
      decoded.channels.forEach((samples, i) => {
        const role = this.#roles[i];
        if (role !== undefined) pcm[role] = samples;
      });
      const position = this.#timeline.advance(decoded.samples);
      this.#stats.samplesAccepted += decoded.samples;
      this.#callSink('write', () => this.#sink.write({ position, samples: decoded.samples, pcm }));
    });
  }

  handleTransportClosed(code: number, reason: string): void {
    this.#guard('handleTransportClosed', () => {
      if (this.#state === 'finalized') return;
      this.#state = 'finalized';
      this.#abandonOpen();
      const heldEvents = this.#events.clear();
      for (const t of this.#pendingTimers) t.cancel();
      this.#pendingTimers.clear();
      const summary = this.#closedSent ? 'closed' : this.#disconnectSent ? 'disconnected' : 'transport-closed';
      this.#log.info(
        {
          wsCode: code,
          wsReason: truncate(reason, 123),
          end: summary,
          closeReason: this.#closeReason,
          disconnect: this.#disconnectSent,
          heldEventsDropped: heldEvents || undefined,
          ...this.#statsForLog(),
        },
        'audiohook session ended',
      );
      // Probes never reach the transcription layer (§6.2 item 1): no hooks, no sink.
      if (this.#probe) return;
      if (!this.#sinkStarted) {
        this.#callOnEnd(summary);
        return;
      }
      this.#boundedWait(this.#endSink('transport-closed'), this.#options.flushBudgetMs, (timedOut) => {
        if (timedOut) this.#log.warn({ budgetMs: this.#options.flushBudgetMs }, 'audiohook sink end exceeded budget');
        this.#callOnEnd(summary);
      });
    });
  }

  // --- control surface (transcription layer) ---------------------------------------------------------------

  pause(): void {
    this.#guard('pause', () => this.#control(true));
  }

  resume(): void {
    this.#guard('resume', () => this.#control(false));
  }

  sendEvent(entities: EventEntity[]): boolean {
    let sent = false;
    this.#guard('sendEvent', () => {
      sent = this.#sendEvent(entities);
    });
    return sent;
  }

  disconnect(reason: DisconnectReason, info?: string): void {
    this.#guard('disconnect', () => this.#disconnect(reason, info));
  }

  stats(): SessionStats {
    const rtt = this.#stats.rttMs;
    return { ...this.#stats, ...(rtt ? { rttMs: { ...rtt } } : {}), position: this.#timeline.position };
  }

  // --- message handlers (called from the tables) -----------------------------------------------------------

  /** @internal */
  logIgnored(type: ClientMessageType, level: 'debug' | 'info', why?: string): void {
    this.#log[level]({ type, state: this.#state }, `audiohook ${why ?? 'out-of-state message'} ignored`);
  }

  /** @internal */
  onPing(msg: MessageOf<'ping'>): void {
    // Synchronous so that `pong.clientseq === ping.seq` (§2.3).
    this.#send('pong', {});
    const rttSeconds = msg.parameters.rtt === undefined ? null : parseDurationSeconds(msg.parameters.rtt);
    if (rttSeconds === null) return;
    const ms = rttSeconds * 1000;
    const prev = this.#stats.rttMs;
    this.#stats.rttMs = prev
      ? { last: ms, min: Math.min(prev.min, ms), max: Math.max(prev.max, ms), count: prev.count + 1 }
      : { last: ms, min: ms, max: ms, count: 1 };
  }

  /** @internal */
  onOpen(msg: OpenMessage): void {
    this.#state = 'opening';
    this.#open = msg;
    this.#openReceivedAt = this.#clock.monotonic();
    const p = msg.parameters;
    this.#probe = isConnectionProbe(p);
    this.#language = p.language ? p.language : undefined;
    this.#log = this.#log.child({ conversationId: p.conversationId });
    this.#log.info(
      {
        probe: this.#probe || undefined,
        offers: p.media.length,
        language: this.#language,
        supportedLanguagesRequested: p.supportedLanguages === true || undefined,
        continuedSessions: p.continuedSessions?.map((c) => c.id),
      },
      'audiohook open received',
    );

    const org = p.organizationId.toLowerCase();
    const allowed = this.#connection.allowedOrganizationIds;
    let orgError: AudioHookProtocolErrorCode | undefined;
    if (org !== this.#connection.organizationId.toLowerCase()) orgError = 'AUDIOHOOK_ORG_MISMATCH';
    else if (allowed && allowed.length > 0 && !allowed.some((a) => a.toLowerCase() === org)) {
      orgError = 'AUDIOHOOK_ORG_NOT_ALLOWED';
    }
    if (orgError) {
      // One generic text on the wire for both cases (§1.4: never leak details); the code goes to the log.
      this.#log.warn({ code: orgError }, 'audiohook open refused: organization');
      this.#disconnect('unauthorized', 'organization not authorized');
      return;
    }

    const media = selectMedia(p.media);
    this.#media = media;
    this.#roles = media ? rolesOf(media.channels) : [];
    if (this.#probe) {
      this.#sendOpened(false, undefined);
      return;
    }
    if (media === undefined) {
      this.#protocolViolation(new AudioHookProtocolError('AUDIOHOOK_NO_SUPPORTED_MEDIA', 'no supported media offered'));
      return;
    }
    this.#decideOpen(msg, media);
  }

  /** @internal */
  onClose(msg: MessageOf<'close'>): void {
    const wasDeciding = this.#openPhase === 'deciding';
    this.#closeReceived = true;
    this.#closeReason = msg.parameters.reason;
    this.#state = 'closing';
    this.#abandonOpen();
    this.#log.info(
      { reason: msg.parameters.reason, openPending: wasDeciding || undefined },
      'audiohook close received',
    );
    const waits: Promise<void>[] = [];
    if (this.#sinkStarted) waits.push(this.#endSink('close'));
    if (this.#events.size > 0) waits.push(this.#events.drained());
    if (waits.length === 0) {
      this.#sendClosed();
      return;
    }
    // Final transcripts must go out as events before `closed` (§4.3.6), but the client gives up after 10 s.
    this.#boundedWait(Promise.all(waits), this.#options.flushBudgetMs, (timedOut) => {
      if (timedOut) this.#log.warn({ budgetMs: this.#options.flushBudgetMs }, 'audiohook flush exceeded budget');
      this.#sendClosed();
    });
  }

  /** @internal */
  onClientPaused(_msg: MessageOf<'paused'>): void {
    this.#state = 'paused';
    this.#clientPaused = true;
    this.#log.info({ requested: this.#serverPauseRequested }, 'audiohook client paused');
    this.#notifyClientPause(true);
  }

  /** @internal */
  onClientResumed(msg: MessageOf<'resumed'>): void {
    const start = samplesOf(msg.parameters.start);
    const length = samplesOf(msg.parameters.discarded);
    if (start === null || length === null) {
      this.#protocolViolation(new AudioHookProtocolError('AUDIOHOOK_INVALID_MESSAGE', 'invalid resumed parameters'));
      return;
    }
    this.#state = 'active';
    this.#clientPaused = false;
    this.#stats.pausedSamples += length;
    const gap = this.#timeline.gap(start, length, 'paused');
    this.#resyncAfterGap(msg.position);
    this.#log.info({ pausedMs: Math.round(samplesToMs(length)) }, 'audiohook client resumed');
    this.#sinkGap(gap);
    this.#notifyClientPause(false);
  }

  /** @internal */
  onDiscarded(msg: MessageOf<'discarded'>): void {
    const start = samplesOf(msg.parameters.start);
    const length = samplesOf(msg.parameters.discarded);
    if (start === null || length === null) {
      this.#protocolViolation(new AudioHookProtocolError('AUDIOHOOK_INVALID_MESSAGE', 'invalid discarded parameters'));
      return;
    }
    this.#stats.discardedSamples += length;
    const gap = this.#timeline.gap(start, length, 'discarded');
    this.#resyncAfterGap(msg.position);
    this.#log.debug({ start, length }, 'audiohook client discarded audio');
    this.#sinkGap(gap);
  }

  /** @internal */
  onUpdate(msg: MessageOf<'update'>): void {
    const language = msg.parameters.language;
    this.#language = language;
    this.#log.info({ language }, 'audiohook language update');
    if (this.#sinkLive()) {
      this.#flushDropGap();
      this.#callSink('languageChanged', () => this.#sink.languageChanged?.(language));
    }
    if (this.#options.sendUpdated) this.#send('updated', {});
  }

  /** @internal */
  onClientError(msg: MessageOf<'error'>): void {
    const { code, message, retryAfter } = msg.parameters;
    this.#log.warn(
      { code, clientMessage: truncate(message, MAX_LOGGED_CLIENT_TEXT), retryAfter, state: this.#state },
      'audiohook client error',
    );
    if (code !== 429 || retryAfter === undefined) return;
    const seconds = parseDurationSeconds(retryAfter);
    if (seconds === null) return;
    this.#events.holdFor(seconds * 1000);
  }

  // --- open transaction ------------------------------------------------------------------------------------

  #decideOpen(msg: OpenMessage, media: MediaParameter): void {
    const onOpen = this.#hooks?.onOpen;
    if (onOpen === undefined) {
      this.#completeOpen({ startPaused: this.#desiredPaused });
      return;
    }
    const p = msg.parameters;
    const info: OpenInfo = {
      sessionId: this.sessionId,
      organizationId: p.organizationId,
      conversationId: p.conversationId,
      participantId: p.participant.id,
      media,
      roles: [...this.#roles],
      position: this.#timeline.position,
      ...(this.#language !== undefined ? { language: this.#language } : {}),
      ...(p.customConfig !== undefined ? { customConfig: p.customConfig } : {}),
    };
    let result: OpenDecision | Promise<OpenDecision>;
    try {
      result = onOpen.call(this.#hooks, info);
    } catch (err) {
      this.#log.error(
        { code: 'AUDIOHOOK_HOOK_FAILED', ...describeError(err) },
        'audiohook onOpen failed; opening paused',
      );
      this.#completeOpen(undefined);
      return;
    }
    if (!isPromiseLike(result)) {
      this.#completeOpen(this.#validDecision(result));
      return;
    }
    this.#openPhase = 'deciding';
    this.#openBudgetTimer = this.#schedule(() => this.#openBudgetExpired(), this.#options.openDecisionBudgetMs);
    Promise.resolve(result).then(
      (decision) => this.#guard('openDecision', () => this.#openDecided(this.#validDecision(decision))),
      (err: unknown) => this.#guard('openDecision', () => this.#openDecisionFailed(err)),
    );
  }

  #validDecision(value: unknown): OpenDecision | undefined {
    if (isDecision(value)) return value;
    this.#log.error({ code: 'AUDIOHOOK_HOOK_FAILED' }, 'audiohook onOpen returned an invalid decision; opening paused');
    return undefined;
  }

  #openDecided(decision: OpenDecision | undefined): void {
    if (this.#openPhase === 'deciding') {
      this.#openBudgetTimer?.cancel();
      this.#completeOpen(decision);
    } else if (this.#openPhase === 'late') {
      this.#openPhase = 'done';
      this.#applyLateDecision(decision);
    } else {
      this.#log.debug({ phase: this.#openPhase }, 'audiohook open decision after the open was abandoned ignored');
    }
  }

  #openDecisionFailed(err: unknown): void {
    this.#log.error(
      { code: 'AUDIOHOOK_HOOK_FAILED', ...describeError(err) },
      'audiohook onOpen rejected; opening paused',
    );
    if (this.#openPhase === 'deciding') {
      this.#openBudgetTimer?.cancel();
      this.#completeOpen(undefined);
    } else if (this.#openPhase === 'late') {
      this.#openPhase = 'done';
    }
  }

  #openBudgetExpired(): void {
    if (this.#openPhase !== 'deciding') return;
    this.#openPhase = 'late';
    this.#log.warn(
      { budgetMs: this.#options.openDecisionBudgetMs },
      'audiohook open decision exceeded budget; opening paused',
    );
    // Never hold `opened` hostage to downstream setup (§4.4): open paused, resume when the decision lands.
    this.#sendOpened(this.#desiredExplicit ? this.#desiredPaused : true, undefined);
  }

  /** `decision === undefined`: the hook failed, so open paused (safe: nothing streams unasked). */
  #completeOpen(decision: OpenDecision | undefined): void {
    this.#openPhase = 'done';
    const startPaused = this.#desiredExplicit ? this.#desiredPaused : (decision?.startPaused ?? true);
    const discardTo = decision?.discardToSamples;
    this.#sendOpened(
      startPaused,
      discardTo !== undefined && discardTo > this.#timeline.position ? samplesToDuration(discardTo) : undefined,
    );
  }

  #applyLateDecision(decision: OpenDecision | undefined): void {
    if (this.#closeReceived || this.#disconnectSent || decision === undefined) return;
    if (this.#desiredExplicit) {
      this.#log.debug({}, 'audiohook late open decision superseded by pause()/resume()');
      return;
    }
    if (decision.discardToSamples !== undefined) {
      this.#log.debug({}, 'audiohook late open decision: discardTo can only be sent in opened; ignored');
    }
    this.#desiredPaused = decision.startPaused;
    if (!decision.startPaused) this.#sendControl(false);
  }

  #abandonOpen(): void {
    if (this.#openPhase === 'deciding' || this.#openPhase === 'late') {
      this.#openBudgetTimer?.cancel();
      this.#openPhase = 'abandoned';
    }
  }

  #sendOpened(startPaused: boolean, discardTo: string | undefined): void {
    const media = this.#media;
    const params: OpenedParameters = { startPaused, media: media ? [media] : [] };
    if (discardTo !== undefined) params.discardTo = discardTo;
    if (this.#open?.parameters.supportedLanguages === true) {
      params.supportedLanguages = [...this.#options.supportedLanguages];
    }
    if (!this.#send('opened', params)) return;
    this.#openedSent = true;
    this.#state = 'active';
    this.#serverPauseRequested = startPaused;
    this.#desiredPaused = startPaused;
    this.#stats.openLatencyMs = this.#clock.monotonic() - this.#openReceivedAt;
    this.#log.info(
      {
        probe: this.#probe || undefined,
        format: media?.format,
        channels: media?.channels,
        startPaused,
        discardTo,
        openLatencyMs: this.#stats.openLatencyMs,
      },
      this.#probe ? 'audiohook connection probe opened' : 'audiohook session opened',
    );
    if (this.#probe || media === undefined || this.#open === undefined) return;
    const p = this.#open.parameters;
    this.#sinkStarted = true;
    this.#callSink('start', () =>
      this.#sink.start({
        sessionId: this.sessionId,
        conversationId: p.conversationId,
        media,
        roles: [...this.#roles],
        channels: [...media.channels],
        ...(this.#language !== undefined ? { language: this.#language } : {}),
      }),
    );
  }

  // --- server-initiated pause/resume, disconnect, events ----------------------------------------------------

  #control(paused: boolean): void {
    if (this.#closeReceived || this.#disconnectSent || this.#state === 'finalized') {
      this.#log.debug({ paused, state: this.#state }, 'audiohook pause/resume after the session ended ignored');
      return;
    }
    this.#desiredPaused = paused;
    this.#desiredExplicit = true;
    // Before `opened` the wish only changes `startPaused` (§4.3.3: pause/resume only after opened).
    if (!this.#openedSent) return;
    if (this.#probe || !this.#sinkStarted) return;
    this.#sendControl(paused);
  }

  /** Sends `pause`/`resume`. Re-sending in the same state is allowed: it interrogates the client (§3.3). */
  #sendControl(paused: boolean): void {
    if (!this.#send(paused ? 'pause' : 'resume', {})) return;
    this.#serverPauseRequested = paused;
    this.#log.info({}, paused ? 'audiohook pause sent' : 'audiohook resume sent');
  }

  #disconnect(reason: DisconnectReason, info: string | undefined): void {
    if (this.#state === 'finalized') return;
    if (this.#disconnectSent !== undefined || this.#closeReceived) {
      // At most once, and never after `close` (§3.3): the close transaction is already the way out.
      this.#log.debug({ reason, already: this.#disconnectSent }, 'audiohook disconnect suppressed');
      return;
    }
    const params: ServerParams<'disconnect'> = { reason };
    if (info !== undefined && info.length > 0) params.info = truncate(info, MAX_DISCONNECT_INFO_CHARS);
    if (!this.#send('disconnect', params)) return;
    this.#disconnectSent = reason;
    this.#state = reason === 'unauthorized' ? 'unauthorized' : 'signaled-error';
    this.#log.info({ reason, info: params.info }, 'audiohook disconnect sent');
    this.#abandonOpen();
    const dropped = this.#events.clear();
    if (dropped > 0) this.#log.warn({ dropped }, 'audiohook held events dropped on disconnect');
    if (this.#sinkStarted) void this.#endSink('disconnect');
    this.#schedule(() => {
      if (this.#closeReceived) return;
      this.#log.info({ timeoutMs: this.#options.disconnectCloseTimeoutMs }, 'audiohook no close after disconnect');
      this.#closeTransport(reason === 'unauthorized' ? 1008 : 1000, 'no close after disconnect');
    }, this.#options.disconnectCloseTimeoutMs);
  }

  #sendEvent(entities: EventEntity[]): boolean {
    const allowed =
      (this.#state === 'active' || this.#state === 'paused' || this.#state === 'closing') &&
      !this.#closedSent &&
      this.#disconnectSent === undefined;
    if (!allowed) {
      this.#log.debug({ state: this.#state }, 'audiohook event refused in this state');
      return false;
    }
    let json: string | undefined;
    try {
      json = JSON.stringify({ entities });
    } catch (err) {
      this.#log.error(
        { code: 'AUDIOHOOK_MESSAGE_TOO_LARGE', ...describeError(err) },
        'audiohook event not serializable',
      );
      return false;
    }
    if (typeof json !== 'string') return false;
    if (maxSerializedLength(this.sessionId, 'event', json) > MAX_TEXT_MESSAGE_CHARS) {
      // The client treats > 65 535 characters as fatal (413, §2.1).
      this.#log.warn({ code: 'AUDIOHOOK_MESSAGE_TOO_LARGE', chars: json.length }, 'audiohook event too large; refused');
      return false;
    }
    if (this.#events.isHolding()) {
      const queued = this.#events.enqueue(json);
      if (!queued) this.#log.warn({ held: this.#events.size }, 'audiohook event hold queue full; event refused');
      return queued;
    }
    return this.#sendRaw('event', json);
  }

  #releaseHeldEvent(json: string): void {
    if (this.#closedSent || this.#disconnectSent || this.#state === 'finalized') return;
    this.#sendRaw('event', json);
  }

  // --- close transaction -----------------------------------------------------------------------------------

  #sendClosed(): void {
    if (this.#closedSent || this.#state === 'finalized') return;
    const dropped = this.#events.clear();
    if (dropped > 0) this.#log.warn({ dropped }, 'audiohook held events dropped at close');
    if (!this.#send('closed', {})) return;
    this.#closedSent = true;
    this.#state = 'closed';
    this.#log.info({ closeReason: this.#closeReason, ...this.#statsForLog() }, 'audiohook session closed');
    // The client is expected to close the socket (§4.3.6); don't keep a dead session forever if it doesn't.
    this.#schedule(() => {
      this.#log.info(
        { timeoutMs: this.#options.closeSocketAfterClosedMs },
        'audiohook client kept socket open after closed',
      );
      this.#closeTransport(1000, 'session closed');
    }, this.#options.closeSocketAfterClosedMs);
  }

  #closeTransport(code: number, reason: string): void {
    if (this.#state === 'finalized') return;
    try {
      this.#transport.close(code, reason);
    } catch (err) {
      this.#log.warn({ code: 'AUDIOHOOK_TRANSPORT_FAILED', ...describeError(err) }, 'audiohook transport close failed');
    }
  }

  // --- envelope, timeline, audio ---------------------------------------------------------------------------

  #checkEnvelope(msg: ClientMessage | UnknownClientMessage): AudioHookProtocolError | undefined {
    if (msg.version !== PROTOCOL_VERSION) {
      return new AudioHookProtocolError('AUDIOHOOK_BAD_VERSION', 'unsupported protocol version');
    }
    if (msg.id !== this.#connection.sessionId) {
      return new AudioHookProtocolError('AUDIOHOOK_ID_MISMATCH', 'session id mismatch');
    }
    if (msg.seq !== this.#lastClientSeq + 1) {
      return new AudioHookProtocolError(
        'AUDIOHOOK_SEQ_GAP',
        `unexpected seq ${msg.seq} (expected ${this.#lastClientSeq + 1})`,
      );
    }
    if (!Number.isSafeInteger(msg.serverseq) || msg.serverseq > this.#lastServerSeq) {
      return new AudioHookProtocolError(
        'AUDIOHOOK_SERVERSEQ_AHEAD',
        `serverseq ${msg.serverseq} ahead of last sent seq ${this.#lastServerSeq}`,
      );
    }
    if (samplesOf(msg.position) === null) {
      return new AudioHookProtocolError('AUDIOHOOK_BAD_POSITION', 'invalid position');
    }
    return undefined;
  }

  #protocolViolation(err: AudioHookProtocolError): void {
    this.#log.warn({ code: err.code, info: err.info, state: this.#state }, 'audiohook protocol violation');
    this.#disconnect('error', err.info);
  }

  /** The client's `position` is authoritative on every text message (§2.4 server timeline algorithm). */
  #resyncTo(position: string): void {
    const samples = samplesOf(position);
    if (samples === null) return;
    const drift = this.#timeline.resync(samples);
    if (drift !== 0) this.#log.debug({ drift }, 'audiohook timeline resynced to client position');
  }

  /**
   * By definition the next audio sample is at `start + discarded` (§2.4); a `position` behind that (a
   * client stamping the pre-gap position) must not pull the timeline back over the gap, one ahead wins.
   */
  #resyncAfterGap(position: string): void {
    const samples = samplesOf(position);
    if (samples !== null && samples > this.#timeline.position) this.#timeline.resync(samples);
  }

  #dropCause(): DropCause | undefined {
    if (this.#closeReceived) return 'after-close';
    if (this.#disconnectSent) return 'after-disconnect';
    if (!this.#openedSent || this.#state === 'opening' || this.#state === 'preparing') return 'before-open';
    if (this.#probe) return 'probe';
    if (!this.#sinkStarted) return 'no-media';
    if (this.#clientPaused || this.#state !== 'active') return 'client-paused';
    if (this.#serverPauseRequested) return 'server-paused';
    return undefined;
  }

  /** Stragglers are benign (§4.5 REC, §6.2 item 7): count and drop, never disconnect. */
  #dropAudio(data: Uint8Array, cause: DropCause): void {
    const samples = this.#media ? (samplesInFrame(this.#media, data.byteLength) ?? 0) : 0;
    this.#stats.samplesDropped += samples;
    if (cause === 'server-paused' && samples > 0) {
      // These samples are on the client's timeline; the sink learns they are missing as one gap.
      const start = this.#timeline.advance(samples);
      const gap = this.#dropGap;
      if (gap && gap.start + gap.length === start) gap.length += samples;
      else {
        this.#flushDropGap();
        this.#dropGap = { start, length: samples };
      }
    }
    this.#dropsSinceWarn++;
    this.#log.debug({ cause, bytes: data.byteLength }, 'audiohook audio frame dropped');
    const now = this.#clock.monotonic();
    if (now - this.#lastDropWarnAt >= DROP_WARN_INTERVAL_MS) {
      this.#log.warn(
        { cause, framesDropped: this.#dropsSinceWarn, samplesDropped: this.#stats.samplesDropped },
        'audiohook audio dropped outside streaming state',
      );
      this.#lastDropWarnAt = now;
      this.#dropsSinceWarn = 0;
    }
  }

  // --- sink and hooks (never let them break the session) ---------------------------------------------------

  #sinkLive(): boolean {
    return this.#sinkStarted && this.#sinkEnd === undefined;
  }

  #flushDropGap(): void {
    const gap = this.#dropGap;
    if (gap === undefined) return;
    this.#dropGap = undefined;
    if (!this.#sinkLive()) return;
    const g: TimelineGap = { kind: 'server-paused', start: gap.start, length: gap.length };
    this.#callSink('gap', () => this.#sink.gap(g));
  }

  #sinkGap(gap: TimelineGap): void {
    if (!this.#sinkLive() || gap.length === 0) return;
    this.#flushDropGap();
    this.#callSink('gap', () => this.#sink.gap(gap));
  }

  /** Ends the sink once; every later caller awaits the same promise, which never rejects. */
  #endSink(reason: 'close' | 'disconnect' | 'transport-closed'): Promise<void> {
    if (this.#sinkEnd) return this.#sinkEnd;
    this.#flushDropGap();
    let result: Promise<void>;
    try {
      result = Promise.resolve(this.#sink.end(reason));
    } catch (err) {
      result = Promise.reject(err);
    }
    this.#sinkEnd = result.then(
      () => undefined,
      (err: unknown) => {
        this.#log.error(
          { code: 'AUDIOHOOK_SINK_FAILED', method: 'end', ...describeError(err) },
          'audiohook sink failed',
        );
      },
    );
    return this.#sinkEnd;
  }

  #callSink(method: string, call: () => unknown): void {
    this.#callSafe(`sink.${method}`, call);
  }

  #notifyClientPause(paused: boolean): void {
    if (this.#probe) return;
    const hook = this.#hooks?.onClientPauseChanged;
    if (hook) this.#callSafe('hooks.onClientPauseChanged', () => hook.call(this.#hooks, paused));
  }

  #callOnEnd(reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    const hook = this.#hooks?.onEnd;
    if (!hook) return;
    const summary = {
      reason,
      stats: this.stats(),
      ...(this.#closeReason !== undefined ? { closeReason: this.#closeReason } : {}),
      ...(this.#disconnectSent !== undefined ? { disconnect: this.#disconnectSent } : {}),
    };
    this.#callSafe('hooks.onEnd', () => hook.call(this.#hooks, summary));
  }

  /** Runs a collaborator call; the first failure per call site is an error log, repeats are debug. */
  #callSafe(what: string, call: () => unknown): void {
    const fail = (err: unknown) => {
      const first = !this.#failedCalls.has(what);
      this.#failedCalls.add(what);
      const code = what.startsWith('sink.') ? 'AUDIOHOOK_SINK_FAILED' : 'AUDIOHOOK_HOOK_FAILED';
      this.#log[first ? 'error' : 'debug'](
        { code, call: what, ...describeError(err) },
        'audiohook collaborator failed',
      );
    };
    try {
      const result = call();
      if (isPromiseLike(result)) Promise.resolve(result).catch(fail);
    } catch (err) {
      fail(err);
    }
  }

  // --- plumbing --------------------------------------------------------------------------------------------

  #send<T extends ServerMessageType>(type: T, parameters: ServerParams<T>): boolean {
    return this.#sendRaw(type, JSON.stringify(parameters));
  }

  #sendRaw(type: ServerMessageType, parametersJson: string): boolean {
    if (this.#state === 'finalized') return false;
    const seq = this.#lastServerSeq + 1;
    const text = serializeServerMessage(this.sessionId, type, seq, this.#lastClientSeq, parametersJson);
    if (text.length > MAX_TEXT_MESSAGE_CHARS) {
      this.#log.error({ code: 'AUDIOHOOK_MESSAGE_TOO_LARGE', type, chars: text.length }, 'audiohook message too large');
      return false;
    }
    try {
      this.#transport.sendText(text);
    } catch (err) {
      // Not numbered: a `seq` the client never saw would look like a gap to it (§2.3).
      this.#log.warn({ code: 'AUDIOHOOK_TRANSPORT_FAILED', type, ...describeError(err) }, 'audiohook send failed');
      return false;
    }
    this.#lastServerSeq = seq;
    this.#stats.messagesSent++;
    return true;
  }

  #schedule(fn: () => void, ms: number): TimerHandle {
    const handle = this.#timers.setTimeout(() => {
      this.#pendingTimers.delete(handle);
      this.#guard('timer', fn);
    }, ms);
    this.#pendingTimers.add(handle);
    return {
      cancel: () => {
        this.#pendingTimers.delete(handle);
        handle.cancel();
      },
    };
  }

  /** Resolves `then` once: when `p` settles or after `ms`, whichever comes first. */
  #boundedWait(p: Promise<unknown>, ms: number, then: (timedOut: boolean) => void): void {
    let done = false;
    const finish = (timedOut: boolean) => {
      if (done) return;
      done = true;
      timer.cancel();
      this.#guard('boundedWait', () => then(timedOut));
    };
    // Scheduled outside the session's timer set when finalized: onEnd must still be bounded then.
    const timer =
      this.#state === 'finalized'
        ? this.#timers.setTimeout(() => finish(true), ms)
        : this.#schedule(() => finish(true), ms);
    p.then(
      () => finish(false),
      () => finish(false),
    );
  }

  #statsForLog(): Record<string, unknown> {
    const s = this.#stats;
    return {
      framesReceived: s.framesReceived,
      samplesAccepted: s.samplesAccepted,
      samplesDropped: s.samplesDropped,
      messagesReceived: s.messagesReceived,
      messagesSent: s.messagesSent,
      rttMs: s.rttMs?.last,
    };
  }

  #guard(where: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error({ code: 'AUDIOHOOK_INTERNAL', where, ...describeError(err) }, 'audiohook session internal error');
    }
  }
}

/**
 * The AudioHook session state machine (docs/audiohook-protocol.md §2–§4, §8 "Messages"), apart from any
 * socket: the gateway feeds it validated messages and binary frames and gives it a `SessionTransport`
 * to write to. Nothing here throws into the caller — violations are answered in protocol terms.
 *
 * This file holds the state and what each message does to it; the parts live beside it:
 * - session-tables.ts: the §4.2 matrix, one table per state, naming the handler of each client message;
 * - open-transaction.ts: `open` → `opened` (media, roles, language, the transcription layer's decision);
 * - flow-control.ts: pause/resume as one state, what we asked crossed with what the client reported;
 * - audio-intake.ts: binary frames, the stream timeline, gaps and dropped audio (the hot path);
 * - session-ending.ts: `close` → `closed`, our `disconnect`, the socket going away;
 * - session-outbox.ts, session-wire.ts: numbering, envelope checks, serialization, held events;
 * - session-open-deadline.ts, session-options.ts: the deadline for `open`; the options' defaults;
 * - session-sink.ts, session-timers.ts, session-stats.ts: guarded collaborators, timers, counters.
 * The session's surface and its collaborators' ports are declared in ports.ts.
 */
import { describeError } from '../errors';
import type { Clock, Logger, TimerHandle } from '../ports';
import { AudioIntake, type DropCause } from './audio-intake';
import { parseDurationSeconds, sampleCountOf, samplesToMs } from './duration';
import { AudioHookProtocolError } from './errors';
import { afterClientReport, afterServerRequest, type FlowState, isClientPaused, wantsPause } from './flow-control';
import type {
  ClientMessage,
  ClientMessageType,
  DisconnectReason,
  Duration,
  EventEntity,
  OpenedParameters,
  OpenMessage,
  ServerMessageType,
  UnknownClientMessage,
} from './messages';
import { OpenTransaction, organizationRefusal } from './open-transaction';
import type {
  AudioHookSession,
  ConnectionInfo,
  SessionDeps,
  SessionHooks,
  SessionOptions,
  SessionStats,
} from './ports';
import { SessionEnding } from './session-ending';
import { OpenDeadline } from './session-open-deadline';
import { resolveSessionOptions } from './session-options';
import { SessionOutbox } from './session-outbox';
import { SafeCalls, SessionSink } from './session-sink';
import { newSessionCounters, recordRtt, statsSnapshot } from './session-stats';
import { dispatch, type MessageHandlers, type MessageOf, type SessionState } from './session-tables';
import { SessionTimers } from './session-timers';
import { checkClientEnvelope, type ServerParams, truncate } from './session-wire';

/** Creates a session in state `preparing`, its open deadline armed; nothing else happens until input arrives. */
export function createSession(deps: SessionDeps): AudioHookSession {
  return new Session(deps);
}

const MAX_LOGGED_CLIENT_TEXT = 200;
/** Each unknown message type is logged at info once; the set is bounded against a client inventing types. */
const MAX_UNKNOWN_TYPES_TRACKED = 16;

// --- the session -----------------------------------------------------------------------------------------

class Session implements AudioHookSession, MessageHandlers {
  readonly #connection: ConnectionInfo;
  readonly #hooks: SessionHooks | undefined;
  readonly #clock: Clock;
  readonly #options: Required<SessionOptions>;
  #log: Logger;

  #state: SessionState = 'preparing';
  readonly #out: SessionOutbox;
  readonly #timers: SessionTimers;

  readonly #open: OpenTransaction;
  readonly #openDeadline: OpenDeadline;
  #openedSent = false;
  /** Flow control: what we last told the client crossed with what it last reported. */
  #flow: FlowState = 'streaming';

  readonly #end: SessionEnding;

  readonly #calls: SafeCalls;
  readonly #sink: SessionSink;
  readonly #audio: AudioIntake;
  readonly #unknownTypesSeen = new Set<string>();

  readonly #stats = newSessionCounters();

  constructor(deps: SessionDeps) {
    this.#connection = deps.connection;
    this.#hooks = deps.hooks;
    this.#clock = deps.clock;
    this.#options = resolveSessionOptions(deps.options);
    this.#log = deps.logger.child({
      sessionId: deps.connection.sessionId,
      correlationId: deps.connection.correlationId,
    });
    const log = () => this.#log;
    this.#timers = new SessionTimers(deps.timers, (where, fn) => this.#guard(where, fn));
    this.#out = new SessionOutbox({
      sessionId: deps.connection.sessionId,
      transport: deps.transport,
      stats: this.#stats,
      clock: deps.clock,
      schedule: (fn, ms) => this.#schedule(fn, ms),
      log,
      connected: () => this.#state !== 'finalized',
      eventsWanted: () =>
        !this.#end.closedSent && this.#end.disconnectSent === undefined && this.#state !== 'finalized',
    });
    this.#calls = new SafeCalls(log);
    this.#sink = new SessionSink(deps.sink, this.#calls, log);
    this.#audio = new AudioIntake({ sink: this.#sink, stats: this.#stats, clock: deps.clock, log });
    this.#open = new OpenTransaction(
      {
        sessionId: deps.connection.sessionId,
        log,
        schedule: (fn, ms) => this.#schedule(fn, ms),
        guard: (where, fn) => this.#guard(where, fn),
        position: () => this.#audio.position,
        sendOpened: (startPaused, discardTo) => this.#sendOpened(startPaused, discardTo),
        ending: () => this.#end.ending,
        resumeClient: () => this.#sendControl(false),
      },
      deps.hooks,
      this.#options.openDecisionBudgetMs,
    );
    this.#end = new SessionEnding({
      open: this.#open,
      out: this.#out,
      sink: this.#sink,
      timers: this.#timers,
      hooks: deps.hooks,
      calls: this.#calls,
      counters: this.#stats,
      options: this.#options,
      log,
      state: () => this.#state,
      setState: (state) => {
        this.#state = state;
      },
      stats: () => this.stats(),
    });
    this.#openDeadline = new OpenDeadline(
      {
        schedule: (fn, ms) => this.#schedule(fn, ms),
        waitingForOpen: () => this.#state === 'preparing',
        log,
        counters: this.#stats,
        end: (info) => this.#end.disconnect('error', info),
        expired: () => this.#calls.run('options.onOpenTimeout', () => this.#options.onOpenTimeout()),
      },
      this.#options.openTimeoutMs,
    );
    this.#openDeadline.arm();
  }

  get sessionId(): string {
    return this.#connection.sessionId;
  }

  get state(): SessionState {
    return this.#state;
  }

  get conversationId(): string | undefined {
    return this.#open.parameters?.conversationId;
  }

  get isProbe(): boolean {
    return this.#open.isProbe;
  }

  // --- inputs from the transport -------------------------------------------------------------------------

  handleMessage(msg: ClientMessage | UnknownClientMessage): void {
    this.#guard('handleMessage', () => {
      if (this.#state === 'finalized') {
        this.#log.debug({ type: msg.type }, 'audiohook message after socket closed ignored');
        return;
      }
      this.#stats.messagesReceived++;
      const violation = checkClientEnvelope(msg, this.#connection.sessionId, this.#out);
      // Adopt the client's numbering even after a violation, so the `pong`/`closed` we still owe carry a
      // `clientseq` the client recognizes (§2.3).
      this.#out.noteClientSeq(msg.seq);
      if (violation) {
        this.#protocolViolation(violation);
        // After an integrity failure only liveness and the close transaction are honoured (§4.5).
        if (msg.type !== 'ping' && msg.type !== 'close') return;
      } else {
        this.#audio.resyncTo(msg.position);
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
      dispatch(this.#state, this, msg);
    });
  }

  handleInvalid(reason: string): void {
    this.#guard('handleInvalid', () => {
      if (this.#state === 'finalized') return;
      this.#protocolViolation(new AudioHookProtocolError('AUDIOHOOK_INVALID_MESSAGE', reason));
    });
  }

  handleAudio(data: Uint8Array): void {
    // The per-frame path: the guard is inline (no closure per frame).
    try {
      if (this.#state === 'finalized') return;
      const outcome = this.#audio.receive(data, this.#open.media, this.#dropCause());
      if (outcome === 'malformed') {
        this.#protocolViolation(new AudioHookProtocolError('AUDIOHOOK_BAD_AUDIO_FRAME', 'invalid audio frame length'));
      } else if (this.#state === 'preparing') {
        // No straggler (§4.3.1: no audio before `opened`): ended now, as the open deadline would later.
        this.#protocolViolation(
          new AudioHookProtocolError('AUDIOHOOK_AUDIO_BEFORE_OPEN', 'audio received before open'),
        );
      }
    } catch (err) {
      this.#internalError('handleAudio', err);
    }
  }

  handleTransportClosed(code: number, reason: string): void {
    this.#guard('handleTransportClosed', () => this.#end.transportClosed(code, reason));
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
    this.#guard('disconnect', () => this.#end.disconnect(reason, info));
  }

  stats(): SessionStats {
    return statsSnapshot(this.#stats, this.#audio.position);
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
    recordRtt(this.#stats, rttSeconds * 1000);
  }

  /** @internal */
  onOpen(msg: OpenMessage): void {
    this.#openDeadline.disarm();
    this.#state = 'opening';
    const open = this.#open;
    open.receive(msg, this.#clock.monotonic());
    const p = msg.parameters;
    this.#log = this.#log.child({ conversationId: p.conversationId });
    this.#log.info(
      {
        probe: open.isProbe || undefined,
        offers: p.media.length,
        language: open.language,
        supportedLanguagesRequested: p.supportedLanguages === true || undefined,
        continuedSessions: p.continuedSessions?.map((c) => c.id),
      },
      'audiohook open received',
    );

    const orgError = organizationRefusal(this.#connection, p.organizationId);
    if (orgError) {
      // One generic text on the wire for both cases (§1.4: never leak details); the code goes to the log.
      this.#log.warn({ code: orgError }, 'audiohook open refused: organization');
      this.#end.disconnect('unauthorized', 'organization not authorized');
      return;
    }

    const media = open.negotiate(p.media);
    if (open.isProbe) {
      this.#sendOpened(false, undefined);
      return;
    }
    if (media === undefined) {
      this.#protocolViolation(new AudioHookProtocolError('AUDIOHOOK_NO_SUPPORTED_MEDIA', 'no supported media offered'));
      return;
    }
    open.decide(media);
  }

  /** @internal */
  onClose(msg: MessageOf<'close'>): void {
    this.#end.close(msg.parameters.reason, this.#open.deciding);
  }

  /** @internal */
  onClientPaused(_msg: MessageOf<'paused'>): void {
    this.#state = 'paused';
    this.#flow = afterClientReport(this.#flow, true);
    this.#log.info({ requested: wantsPause(this.#flow) }, 'audiohook client paused');
    this.#notifyClientPause(true);
  }

  /** @internal */
  onClientResumed(msg: MessageOf<'resumed'>): void {
    const start = sampleCountOf(msg.parameters.start);
    const length = sampleCountOf(msg.parameters.discarded);
    if (start === null || length === null) {
      this.#protocolViolation(new AudioHookProtocolError('AUDIOHOOK_INVALID_MESSAGE', 'invalid resumed parameters'));
      return;
    }
    this.#state = 'active';
    this.#flow = afterClientReport(this.#flow, false);
    const gap = this.#audio.clientGap('paused', start, length, msg.position);
    this.#log.info({ pausedMs: Math.round(samplesToMs(length)) }, 'audiohook client resumed');
    this.#sink.gap(gap);
    this.#notifyClientPause(false);
  }

  /** @internal */
  onDiscarded(msg: MessageOf<'discarded'>): void {
    const start = sampleCountOf(msg.parameters.start);
    const length = sampleCountOf(msg.parameters.discarded);
    if (start === null || length === null) {
      this.#protocolViolation(new AudioHookProtocolError('AUDIOHOOK_INVALID_MESSAGE', 'invalid discarded parameters'));
      return;
    }
    const gap = this.#audio.clientGap('discarded', start, length, msg.position);
    this.#log.debug({ start, length }, 'audiohook client discarded audio');
    this.#sink.gap(gap);
  }

  /** @internal */
  onUpdate(msg: MessageOf<'update'>): void {
    const language = msg.parameters.language;
    this.#open.language = language;
    this.#log.info({ language }, 'audiohook language update');
    this.#sink.languageChanged(language);
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
    this.#out.holdEvents(seconds * 1000);
  }

  // --- opened, server-initiated pause/resume, disconnect, events --------------------------------------------

  #sendOpened(startPaused: boolean, discardTo: Duration | undefined): void {
    const open = this.#open;
    const media = open.media;
    const params: OpenedParameters = { startPaused, media: media ? [media] : [] };
    if (discardTo !== undefined) params.discardTo = discardTo;
    if (open.parameters?.supportedLanguages === true) {
      params.supportedLanguages = [...this.#options.supportedLanguages];
    }
    if (!this.#send('opened', params)) return;
    this.#openedSent = true;
    this.#state = 'active';
    this.#flow = afterServerRequest(this.#flow, startPaused);
    this.#stats.openLatencyMs = this.#clock.monotonic() - open.receivedAt;
    this.#log.info(
      {
        probe: open.isProbe || undefined,
        format: media?.format,
        channels: media?.channels,
        startPaused,
        discardTo,
        openLatencyMs: this.#stats.openLatencyMs,
      },
      open.isProbe ? 'audiohook connection probe opened' : 'audiohook session opened',
    );
    const p = open.parameters;
    if (open.isProbe || media === undefined || p === undefined) return;
    this.#sink.start({
      sessionId: this.sessionId,
      conversationId: p.conversationId,
      media,
      roles: [...open.roles],
      channels: [...media.channels],
      ...(open.language !== undefined ? { language: open.language } : {}),
    });
  }

  #control(paused: boolean): void {
    if (this.#end.ending || this.#state === 'finalized') {
      this.#log.debug({ paused, state: this.#state }, 'audiohook pause/resume after the session ended ignored');
      return;
    }
    this.#open.noteControl(paused);
    // Before `opened` the wish only changes `startPaused` (§4.3.3: pause/resume only after opened).
    if (!this.#openedSent) return;
    if (this.#open.isProbe || !this.#sink.started) return;
    this.#sendControl(paused);
  }

  /** Sends `pause`/`resume`. Re-sending in the same state is allowed: it interrogates the client (§3.3). */
  #sendControl(paused: boolean): void {
    if (!this.#send(paused ? 'pause' : 'resume', {})) return;
    this.#flow = afterServerRequest(this.#flow, paused);
    this.#log.info({}, paused ? 'audiohook pause sent' : 'audiohook resume sent');
  }

  #sendEvent(entities: EventEntity[]): boolean {
    const allowed =
      (this.#state === 'active' || this.#state === 'paused' || this.#state === 'closing') &&
      !this.#end.closedSent &&
      this.#end.disconnectSent === undefined;
    if (!allowed) {
      this.#log.debug({ state: this.#state }, 'audiohook event refused in this state');
      return false;
    }
    return this.#out.sendEvent(entities);
  }

  // --- envelope and audio admission ------------------------------------------------------------------------

  #protocolViolation(err: AudioHookProtocolError): void {
    this.#log.warn({ code: err.code, info: err.info, state: this.#state }, 'audiohook protocol violation');
    this.#end.disconnect('error', err.info);
  }

  /** Why an audio frame arriving now is not wanted; `undefined` when it is streamed to the sink. */
  #dropCause(): DropCause | undefined {
    if (this.#end.closeReceived) return 'after-close';
    if (this.#end.disconnectSent) return 'after-disconnect';
    if (!this.#openedSent || this.#state === 'opening' || this.#state === 'preparing') return 'before-open';
    if (this.#open.isProbe) return 'probe';
    if (!this.#sink.started) return 'no-media';
    if (isClientPaused(this.#flow) || this.#state !== 'active') return 'client-paused';
    if (wantsPause(this.#flow)) return 'server-paused';
    return undefined;
  }

  // --- hooks (never let them break the session) ------------------------------------------------------------

  #notifyClientPause(paused: boolean): void {
    if (this.#open.isProbe) return;
    const hook = this.#hooks?.onClientPauseChanged;
    if (hook) this.#calls.run('hooks.onClientPauseChanged', () => hook.call(this.#hooks, paused));
  }

  // --- plumbing --------------------------------------------------------------------------------------------

  #send<T extends ServerMessageType>(type: T, parameters: ServerParams<T>): boolean {
    return this.#out.send(type, parameters);
  }

  #schedule(fn: () => void, ms: number): TimerHandle {
    return this.#timers.schedule(fn, ms);
  }

  #guard(where: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#internalError(where, err);
    }
  }

  #internalError(where: string, err: unknown): void {
    this.#log.error({ code: 'AUDIOHOOK_INTERNAL', where, err: describeError(err) }, 'audiohook session internal error');
  }
}

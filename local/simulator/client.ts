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

import WebSocket from 'ws';
import { SAMPLE_RATE } from '../../core/audio/format';
import type { ChannelName } from '../../core/audio/roles';
import {
  type CloseReason,
  type DisconnectReason,
  MAX_TEXT_MESSAGE_CHARS,
  type OpenedParameters,
  type TranscriptEntityData,
} from '../../core/audiohook/messages';
import { createFrameReader } from './audio-source';
import { FramePacer } from './frame-pacer';
import { Observations } from './observations';
import { type Normalized, normalize, type SimulatedSessionOptions, type SimulatedSessionResult } from './options';
import { Pinger } from './pinger';
import { ScriptedActions } from './scripted-actions';
import { MessageSender } from './sender';
import {
  checkEnvelope,
  checkOpened,
  DISCONNECT_REASONS,
  Fatal,
  isObject,
  type ServerMessage,
  type ServerSequence,
} from './server-messages';
import { StreamTimeline } from './timeline';
import { buildUpgradeHeaders, connectSocket } from './upgrade';

/** How long to wait for the server's TCP close after our close frame. */
const SOCKET_CLOSE_GRACE_MS = 2000;

type State = 'connecting' | 'opening' | 'open' | 'closing' | 'closed' | 'done';

class SimulatedSession {
  readonly #o: Normalized;
  readonly #started = performance.now();
  #state: State = 'connecting';
  #ws: WebSocket | undefined;
  #resolve: (r: SimulatedSessionResult) => void = () => {};
  readonly #done: Promise<SimulatedSessionResult>;

  // Sequencing (§2.3).
  readonly #server: ServerSequence = { last: 0 };

  // Timeline in samples (§2.4), paced by frame ticks.
  readonly #timeline: StreamTimeline;
  readonly #pacer: FramePacer;
  readonly #sender: MessageSender;
  readonly #actions: ScriptedActions;

  readonly #pinger: Pinger;

  // Timers: at most one of each kind is pending at any time.
  #openTimer: NodeJS.Timeout | undefined;
  #closeTimer: NodeJS.Timeout | undefined;
  #graceTimer: NodeJS.Timeout | undefined;

  // What the session saw, for its result.
  readonly #seen: Observations;
  #openSentAt = 0;
  #openedAt = 0;
  /** Channels of the media the server selected (what a transcript's `channelId` indexes). */
  #channels: ChannelName[] | undefined;
  readonly #onAbort = () => this.#abort();

  constructor(o: Normalized) {
    this.#o = o;
    this.#seen = new Observations(o, () => this.#now());
    this.#timeline = new StreamTimeline(o.audio.durationSamples);
    this.#pacer = new FramePacer({
      speed: o.speed,
      frameMs: o.frameMs,
      streaming: () => this.#timeline.streaming(),
      backlogBytes: () => this.#ws?.bufferedAmount ?? 0,
      onTick: () => this.#tick(),
    });
    this.#sender = new MessageSender(o, {
      socket: () => this.#ws,
      position: () => this.#timeline.pos,
      server: this.#server,
      record: (entry) => this.#seen.record(entry),
    });
    this.#pinger = new Pinger(o, {
      isOpen: () => this.#state === 'open',
      send: (type, parameters) => this.#send(type, parameters),
      seq: () => this.#sender.seq,
      now: () => this.#now(),
      complain: (code, message) => this.#complain(code, message),
      timedOut: () => {
        this.#seen.setCause('timeout', 'no pong before the next ping was due');
        this.#send('error', { code: 408, message: 'Timeout waiting for pong' });
        this.#beginClose('error');
      },
    });
    this.#actions = new ScriptedActions(o.actions, {
      isOpen: () => this.#state === 'open',
      timeline: this.#timeline,
      send: (type, parameters) => this.#send(type, parameters),
      paceChanged: () => this.#pacer.reanchorIfNeeded(),
      close: (reason) => this.#beginClose(reason),
    });
    this.#done = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  run(): Promise<SimulatedSessionResult> {
    const { signal } = this.#o;
    if (signal?.aborted) {
      this.#seen.setCause('socket-error', 'aborted before connecting');
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

  #connect(): void {
    const o = this.#o;
    let headers: Record<string, string>;
    try {
      headers = buildUpgradeHeaders({ ...o, organizationId: o.open.organizationId });
    } catch (err) {
      this.#seen.setCause('socket-error', `cannot sign the upgrade request: ${(err as Error).message}`);
      this.#finish();
      return;
    }
    this.#ws = connectSocket(o, headers, {
      rejected: (status) => {
        this.#seen.httpStatus = status;
        this.#seen.setCause('rejected', `upgrade answered HTTP ${status}`);
      },
      rejectedBody: (body) => {
        this.#seen.httpBody = body;
        this.#finish();
      },
      open: () => this.#onOpen(),
      message: (data, isBinary) => this.#onMessage(data, isBinary),
      error: (err) => {
        this.#seen.socketError ??= err.message;
        if (/handshake has timed out/i.test(err.message)) this.#seen.setCause('timeout', err.message);
        // ws emits 'close' after 'error'; the grace timer only covers a missing one.
        this.#armGrace();
      },
      close: (code) => {
        this.#seen.closeCode = code;
        this.#finish();
      },
    });
  }

  #onOpen(): void {
    if (this.#state !== 'connecting') return;
    this.#state = 'opening';
    const ws = this.#ws as WebSocket;
    if (this.#o.faults.binaryBeforeOpen) {
      const bytes = this.#o.audio.read(0, this.#o.frameSamples);
      ws.send(bytes, { binary: true });
      this.#seen.record({ dir: 'out', kind: 'binary', bytes: bytes.byteLength });
    }
    this.#openSentAt = this.#now();
    this.#send('open', this.#o.open as unknown as Record<string, unknown>);
    this.#openTimer = setTimeout(() => {
      this.#openTimer = undefined;
      if (this.#state !== 'opening') return;
      this.#seen.setCause('timeout', `no opened within ${this.#o.openTimeoutMs} ms`);
      this.#send('error', { code: 408, message: 'Open transaction timeout' });
      this.#beginClose('error');
    }, this.#o.openTimeoutMs);
  }

  #send(type: string, parameters: Record<string, unknown>): void {
    this.#sender.send(type, parameters);
  }

  // ---- receiving -----------------------------------------------------------------------------------

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (this.#state === 'done') return;
    if (isBinary) {
      this.#seen.record({ dir: 'in', kind: 'binary', bytes: data.byteLength });
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
    this.#seen.record(
      isObject(parsed)
        ? { dir: 'in', kind: 'text', message: parsed }
        : { dir: 'in', kind: 'text', raw: text.slice(0, 1024) },
    );
    if (this.#state === 'closed') return; // after `closed` nothing more is expected; the socket is going down
    try {
      if (text.length > MAX_TEXT_MESSAGE_CHARS) {
        throw new Fatal(413, `server message of ${text.length} characters exceeds ${MAX_TEXT_MESSAGE_CHARS}`);
      }
      const msg = checkEnvelope(parsed, this.#o.sessionId, this.#server);
      if (msg.clientseq > this.#sender.seq) {
        this.#complain(
          400,
          `'${msg.type}' has clientseq ${msg.clientseq} but the client only sent up to ${this.#sender.seq}`,
        );
      }
      this.#seen.serverMessages.push(msg);
      const handler = Object.hasOwn(this.#handlers, msg.type) ? this.#handlers[msg.type] : undefined;
      if (handler) handler(msg);
      else this.#complain(400, `'${msg.type}' is not a server message`);
    } catch (err) {
      if (err instanceof Fatal) this.#fatal(err);
      else throw err;
    }
  }

  /** One handler per server message type (§3.3); anything else is answered with error 400. */
  readonly #handlers: Readonly<Record<string, (msg: ServerMessage) => void>> = {
    opened: (m) => this.#onOpened(m),
    pong: (m) => this.#pinger.pong(m.clientseq),
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
    const { selected, discardTo } = checkOpened(p, this.#o.open.media);
    if (this.#o.open.supportedLanguages === true && p.supportedLanguages === undefined) {
      this.#complain(400, "'opened' lacks supportedLanguages although the client asked for them");
    }
    clearTimeout(this.#openTimer);
    this.#openTimer = undefined;
    this.#seen.opened = p as unknown as OpenedParameters;
    this.#openedAt = this.#now();
    this.#seen.openLatencyMs = this.#openedAt - this.#openSentAt;
    if (selected) this.#channels = [...selected.channels];
    this.#state = 'open';
    if (this.#o.probe) {
      this.#beginClose('end');
      return;
    }
    if (selected) this.#timeline.reader = createFrameReader(this.#o.audio, this.#o.channelOrder, selected);
    if (discardTo !== undefined) {
      // The reference client discards whole frames: round the target down to its frame grid (§4.3.1).
      const F = this.#o.frameSamples;
      const discarded = this.#timeline.discardTo(
        Math.min(Math.floor(discardTo / F) * F, this.#o.audio.durationSamples),
      );
      if (discarded) this.#send('discarded', discarded);
    }
    if (p.startPaused === true) {
      this.#timeline.startPaused();
      this.#send('paused', {});
    }
    this.#actions.runDue();
    if (this.#state !== 'open') return;
    // The position clock starts now; anchor it after startPaused/actions decided whether we stream.
    this.#pacer.resetAnchor();
    this.#pacer.reanchorIfNeeded();
    this.#o.onStreamStart?.(performance.now());
    this.#pinger.start();
    this.#pacer.schedule();
  }

  #onPause(): void {
    if (this.#state === 'closing') return;
    if (this.#state !== 'open') {
      this.#complain(409, `unexpected 'pause' in state ${this.#state}`);
      return;
    }
    this.#timeline.serverPause();
    this.#send('paused', {});
    this.#pacer.reanchorIfNeeded();
  }

  #onResume(): void {
    if (this.#state === 'closing') return;
    if (this.#state !== 'open') {
      this.#complain(409, `unexpected 'resume' in state ${this.#state}`);
      return;
    }
    const resumed = this.#timeline.serverResume();
    if (!resumed) {
      // Our own (e.g. secure) pause still holds: say so instead of resuming (§4.3.3).
      this.#send('paused', {});
      return;
    }
    this.#send('resumed', resumed);
    this.#pacer.reanchorIfNeeded();
  }

  #onDisconnect(msg: ServerMessage): void {
    const { reason, info } = msg.parameters;
    if (this.#seen.disconnect) {
      this.#complain(409, "second 'disconnect'");
      return;
    }
    this.#seen.disconnect = { reason: String(reason), ...(typeof info === 'string' ? { info } : {}) };
    if (typeof reason !== 'string' || !DISCONNECT_REASONS.includes(reason as DisconnectReason)) {
      this.#complain(400, `'disconnect' has an invalid reason ${JSON.stringify(reason)}`);
    }
    if (this.#state === 'opening' || this.#state === 'open') this.#beginClose('disconnect');
  }

  #onClosed(): void {
    if (this.#state !== 'closing') {
      this.#complain(409, `'closed' without a close (state ${this.#state})`);
      this.#seen.setCause('protocol-error', "server sent 'closed' without a close");
    }
    this.#seen.closedReceived = true;
    this.#state = 'closed';
    this.#stopTimers();
    // The reference client closes the socket right after `closed` (§4.3.6).
    this.#ws?.close(1000);
    this.#armGrace();
  }

  #onEvent(msg: ServerMessage): void {
    const entities: unknown = msg.parameters.entities;
    this.#o.onEvent?.({
      sessionId: this.#o.sessionId,
      atMs: this.#now(),
      sinceOpenedMs: this.#seen.openLatencyMs === undefined ? undefined : this.#now() - this.#openedAt,
      positionMs: (this.#timeline.pos * 1000) / SAMPLE_RATE,
      afterClose: this.#state === 'closing',
      channels: this.#channels,
      entities: Array.isArray(entities) ? entities : undefined,
    });
    if (!Array.isArray(entities)) {
      this.#complain(400, "'event' has no entities array");
      return;
    }
    for (const entity of entities) {
      if (isObject(entity) && entity.type === 'transcript' && isObject(entity.data)) {
        this.#seen.transcripts.push(entity.data as unknown as TranscriptEntityData);
      }
    }
  }

  // ---- errors --------------------------------------------------------------------------------------

  /** A non-fatal violation: recorded and reported with an `error` message; the session goes on. */
  #complain(code: number, message: string): void {
    this.#seen.protocolErrors.push(message);
    if (this.#state === 'opening' || this.#state === 'open' || this.#state === 'closing') {
      this.#send('error', { code, message });
    }
  }

  /** A fatal violation: recorded, reported, and the session is closed with reason `error`. */
  #fatal(err: Fatal): void {
    this.#seen.protocolErrors.push(err.message);
    this.#seen.setCause('protocol-error', err.message);
    if (this.#state === 'opening' || this.#state === 'open') {
      this.#send('error', { code: err.code, message: err.message });
      this.#beginClose('error');
    }
  }

  // ---- timeline ------------------------------------------------------------------------------------

  #tick(): void {
    if (this.#state !== 'open') return;
    const t = this.#timeline;
    const duration = this.#o.audio.durationSamples;
    const count = Math.min(this.#o.frameSamples, duration - t.pos);
    if (count > 0) {
      if (t.streaming() && t.reader) this.#sender.sendAudio(t.reader(t.pos, count), count);
      t.pos += count;
    }
    this.#pacer.countTick();
    this.#actions.runDue();
    if (this.#state !== 'open') return;
    if (t.pos >= duration) {
      this.#beginClose('end');
      return;
    }
    this.#pacer.reanchorIfNeeded();
    this.#pacer.schedule();
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
      this.#seen.setCause('timeout', `no closed within ${this.#o.closeTimeoutMs} ms`);
      this.#send('error', { code: 408, message: 'Close transaction timeout' });
      this.#state = 'closed';
      this.#ws?.close(1000);
      this.#armGrace();
    }, this.#o.closeTimeoutMs);
  }

  #abort(): void {
    if (this.#state === 'connecting') {
      this.#seen.setCause('socket-error', 'aborted before the session opened');
      this.#ws?.terminate();
      this.#armGrace();
    } else {
      this.#beginClose('end');
    }
  }

  #stopTimers(): void {
    this.#pacer.clear();
    this.#pinger.stop();
    clearTimeout(this.#openTimer);
    clearTimeout(this.#closeTimer);
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

  #finish(): void {
    if (this.#state === 'done') return;
    this.#stopTimers();
    clearTimeout(this.#graceTimer);
    this.#state = 'done';
    this.#o.signal?.removeEventListener('abort', this.#onAbort);
    const ws = this.#ws;
    if (ws && ws.readyState !== WebSocket.CLOSED) ws.terminate();
    this.#resolve(
      this.#seen.result({
        audioBytesSent: this.#sender.audioBytesSent,
        audioMsSent: (this.#sender.samplesSent * 1000) / SAMPLE_RATE,
        positionMs: (this.#timeline.pos * 1000) / SAMPLE_RATE,
        durationMs: this.#now(),
      }),
    );
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

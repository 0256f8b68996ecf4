/**
 * The sending side of one session (docs/audiohook-protocol.md §2.2–§2.3, §3.4, §6.1): numbering
 * (`seq`, and `clientseq` = the last client `seq` seen), size limits, the transport, and the hold that
 * queues `event`s while the client asked us to back off. A message the transport refused is not
 * numbered: a `seq` the client never saw would look like a gap to it.
 */
import { describeError } from '../errors';
import type { Clock, Logger, TimerHandle } from '../ports';
import { type EventEntity, MAX_TEXT_MESSAGE_CHARS, type ServerMessageType } from './messages';
import type { SessionTransport } from './ports';
import { EventHold } from './session-events';
import { maxSerializedLength, type ServerParams, serializeServerMessage } from './session-wire';

/** Events held during a 429 back-off beyond this are refused: a stuck client must not grow memory. */
const MAX_HELD_EVENTS = 256;

/** Collaborators of a {@link SessionOutbox}. */
export interface SessionOutboxDeps {
  sessionId: string;
  transport: SessionTransport;
  /** The session's counters; the outbox counts what it sent. */
  stats: { messagesSent: number };
  clock: Clock;
  /** A session timer (cancelled when the socket goes). */
  schedule(fn: () => void, ms: number): TimerHandle;
  /** The session's current logger. */
  log(): Logger;
  /** False once the socket is gone: nothing is sent or closed any more. */
  connected(): boolean;
  /** False once held events may no longer go out (`closed` or `disconnect` sent, socket gone). */
  eventsWanted(): boolean;
}

/** Numbers, checks and writes server messages for one session. */
export class SessionOutbox {
  readonly #deps: SessionOutboxDeps;
  readonly #events: EventHold;
  #lastServerSeq = 0;
  #lastClientSeq = 0;

  constructor(deps: SessionOutboxDeps) {
    this.#deps = deps;
    this.#events = new EventHold({
      clock: deps.clock,
      timers: { setTimeout: (fn, ms) => deps.schedule(fn, ms) },
      maxQueued: MAX_HELD_EVENTS,
      release: (json) => {
        if (this.#deps.eventsWanted()) this.sendRaw('event', json);
      },
    });
  }

  /** `seq` of the last message the client received from us (a client `serverseq` may not exceed it). */
  get lastServerSeq(): number {
    return this.#lastServerSeq;
  }

  /** The last client `seq` seen: the `clientseq` of everything we send. */
  get lastClientSeq(): number {
    return this.#lastClientSeq;
  }

  /** Adopts a client `seq` (only ever forwards). */
  noteClientSeq(seq: number): void {
    if (Number.isSafeInteger(seq) && seq > this.#lastClientSeq) this.#lastClientSeq = seq;
  }

  send<T extends ServerMessageType>(type: T, parameters: ServerParams<T>): boolean {
    return this.sendRaw(type, JSON.stringify(parameters));
  }

  sendRaw(type: ServerMessageType, parametersJson: string): boolean {
    if (!this.#deps.connected()) return false;
    const log = this.#deps.log;
    const seq = this.#lastServerSeq + 1;
    const text = serializeServerMessage(this.#deps.sessionId, type, seq, this.#lastClientSeq, parametersJson);
    if (text.length > MAX_TEXT_MESSAGE_CHARS) {
      log().error({ code: 'AUDIOHOOK_MESSAGE_TOO_LARGE', type, chars: text.length }, 'audiohook message too large');
      return false;
    }
    try {
      this.#deps.transport.sendText(text);
    } catch (err) {
      // Not numbered: a `seq` the client never saw would look like a gap to it (§2.3).
      log().warn({ code: 'AUDIOHOOK_TRANSPORT_FAILED', type, err: describeError(err) }, 'audiohook send failed');
      return false;
    }
    this.#lastServerSeq = seq;
    this.#deps.stats.messagesSent++;
    return true;
  }

  /**
   * Sends an `event` now, or queues it behind a running back-off. Refused (`false`) when it cannot be
   * serialized, would exceed the client's text limit once numbered, or the hold queue is full.
   */
  sendEvent(entities: EventEntity[]): boolean {
    const log = this.#deps.log();
    let json: string | undefined;
    try {
      json = JSON.stringify({ entities });
    } catch (err) {
      log.error({ code: 'AUDIOHOOK_MESSAGE_TOO_LARGE', err: describeError(err) }, 'audiohook event not serializable');
      return false;
    }
    if (typeof json !== 'string') return false;
    if (maxSerializedLength(this.#deps.sessionId, 'event', json) > MAX_TEXT_MESSAGE_CHARS) {
      // The client treats > 65 535 characters as fatal (413, §2.1).
      log.warn({ code: 'AUDIOHOOK_MESSAGE_TOO_LARGE', chars: json.length }, 'audiohook event too large; refused');
      return false;
    }
    if (this.#events.isHolding()) {
      const queued = this.#events.enqueue(json);
      if (!queued) log.warn({ held: this.#events.size }, 'audiohook event hold queue full; event refused');
      return queued;
    }
    return this.sendRaw('event', json);
  }

  /** The client asked us to back off (`error` 429 with `retryAfter`): hold events for `ms`. */
  holdEvents(ms: number): void {
    this.#events.holdFor(ms);
  }

  /** Events currently held. */
  get heldEvents(): number {
    return this.#events.size;
  }

  /** Resolves once no event is held. */
  eventsDrained(): Promise<void> {
    return this.#events.drained();
  }

  /** Drops every held event. @returns how many were dropped. */
  dropHeldEvents(): number {
    return this.#events.clear();
  }

  /** Closes the WebSocket (code per §4.6); a transport that throws is logged. */
  closeTransport(code: number, reason: string): void {
    if (!this.#deps.connected()) return;
    try {
      this.#deps.transport.close(code, reason);
    } catch (err) {
      this.#deps
        .log()
        .warn({ code: 'AUDIOHOOK_TRANSPORT_FAILED', err: describeError(err) }, 'audiohook transport close failed');
    }
  }
}

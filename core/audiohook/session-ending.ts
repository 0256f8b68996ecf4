/**
 * The ways out of a session (docs/audiohook-protocol.md §3.3, §4.3.6, §4.6): the close transaction
 * (`close` → flush → `closed`), our `disconnect`, and the loss of the socket, which ends the sink and
 * tells the transcription layer exactly once. Each way out is bounded in time: a client that never
 * closes the socket, or a sink that never finishes, cannot keep a session alive.
 */
import type { Logger } from '../ports';
import type { CloseReason, DisconnectReason } from './messages';
import type { OpenTransaction } from './open-transaction';
import type { SessionHooks, SessionStats } from './ports';
import type { SessionOutbox } from './session-outbox';
import type { SafeCalls, SessionSink } from './session-sink';
import { type SessionCounters, statsForLog } from './session-stats';
import type { SessionState } from './session-tables';
import type { SessionTimers } from './session-timers';
import { type ServerParams, truncate } from './session-wire';

/** `disconnect.info` is for humans reading Genesys logs; keep it short. */
const MAX_DISCONNECT_INFO_CHARS = 256;

/** Collaborators of a {@link SessionEnding}: the session's parts, and its state. */
export interface SessionEndingDeps {
  open: OpenTransaction;
  out: SessionOutbox;
  sink: SessionSink;
  timers: SessionTimers;
  hooks: SessionHooks | undefined;
  calls: SafeCalls;
  counters: SessionCounters;
  options: { flushBudgetMs: number; closeSocketAfterClosedMs: number; disconnectCloseTimeoutMs: number };
  log(): Logger;
  state(): SessionState;
  setState(state: SessionState): void;
  stats(): SessionStats;
}

/** How one session ends, and what is known about it. */
export class SessionEnding {
  readonly #deps: SessionEndingDeps;
  #closeReceived = false;
  #closeReason: CloseReason | undefined;
  #closedSent = false;
  #disconnectSent: DisconnectReason | undefined;
  #ended = false;

  constructor(deps: SessionEndingDeps) {
    this.#deps = deps;
  }

  /** The client sent `close`. */
  get closeReceived(): boolean {
    return this.#closeReceived;
  }

  /** We sent `closed`. */
  get closedSent(): boolean {
    return this.#closedSent;
  }

  /** The reason of the `disconnect` we sent, if we sent one. */
  get disconnectSent(): DisconnectReason | undefined {
    return this.#disconnectSent;
  }

  /** True once the session is on its way out (close received or disconnect sent). */
  get ending(): boolean {
    return this.#closeReceived || this.#disconnectSent !== undefined;
  }

  /** The client's `close`: end the sink, let held events out, then `closed` (bounded). */
  close(reason: CloseReason, openPending: boolean): void {
    const { open, out, sink, options } = this.#deps;
    this.#closeReceived = true;
    this.#closeReason = reason;
    this.#deps.setState('closing');
    open.abandon();
    this.#deps.log().info({ reason, openPending: openPending || undefined }, 'audiohook close received');
    const waits: Promise<void>[] = [];
    if (sink.started) waits.push(sink.end('close'));
    if (out.heldEvents > 0) waits.push(out.eventsDrained());
    if (waits.length === 0) {
      this.#sendClosed();
      return;
    }
    // Final transcripts must go out as events before `closed` (§4.3.6), but the client gives up after 10 s.
    this.#boundedWait(Promise.all(waits), options.flushBudgetMs, (timedOut) => {
      if (timedOut) this.#deps.log().warn({ budgetMs: options.flushBudgetMs }, 'audiohook flush exceeded budget');
      this.#sendClosed();
    });
  }

  /** Server-initiated end: `disconnect`, then close the socket if the client does not `close` in time. */
  disconnect(reason: DisconnectReason, info: string | undefined): void {
    const { open, out, sink, options } = this.#deps;
    const log = this.#deps.log();
    if (this.#deps.state() === 'finalized') return;
    if (this.#disconnectSent !== undefined || this.#closeReceived) {
      // At most once, and never after `close` (§3.3): the close transaction is already the way out.
      log.debug({ reason, already: this.#disconnectSent }, 'audiohook disconnect suppressed');
      return;
    }
    const params: ServerParams<'disconnect'> = { reason };
    if (info !== undefined && info.length > 0) params.info = truncate(info, MAX_DISCONNECT_INFO_CHARS);
    if (!out.send('disconnect', params)) return;
    this.#disconnectSent = reason;
    this.#deps.setState(reason === 'unauthorized' ? 'unauthorized' : 'signaled-error');
    log.info({ reason, info: params.info }, 'audiohook disconnect sent');
    open.abandon();
    const dropped = out.dropHeldEvents();
    if (dropped > 0) log.warn({ dropped }, 'audiohook held events dropped on disconnect');
    if (sink.started) void sink.end('disconnect');
    this.#deps.timers.schedule(() => {
      if (this.#closeReceived) return;
      this.#deps.log().info({ timeoutMs: options.disconnectCloseTimeoutMs }, 'audiohook no close after disconnect');
      out.closeTransport(reason === 'unauthorized' ? 1008 : 1000, 'no close after disconnect');
    }, options.disconnectCloseTimeoutMs);
  }

  /** The socket is gone (any state): cancel everything, end the sink (bounded), then `hooks.onEnd` once. */
  transportClosed(code: number, reason: string): void {
    const { open, out, sink, timers, options } = this.#deps;
    if (this.#deps.state() === 'finalized') return;
    this.#deps.setState('finalized');
    open.abandon();
    const heldEvents = out.dropHeldEvents();
    timers.cancelAll();
    const summary = this.#closedSent ? 'closed' : this.#disconnectSent ? 'disconnected' : 'transport-closed';
    this.#deps.log().info(
      {
        wsCode: code,
        wsReason: truncate(reason, 123),
        end: summary,
        closeReason: this.#closeReason,
        disconnect: this.#disconnectSent,
        heldEventsDropped: heldEvents || undefined,
        ...statsForLog(this.#deps.counters),
      },
      'audiohook session ended',
    );
    // Probes never reach the transcription layer (§6.2 item 1): no hooks, no sink.
    if (open.isProbe) return;
    if (!sink.started) {
      this.#callOnEnd(summary);
      return;
    }
    this.#boundedWait(sink.end('transport-closed'), options.flushBudgetMs, (timedOut) => {
      if (timedOut) this.#deps.log().warn({ budgetMs: options.flushBudgetMs }, 'audiohook sink end exceeded budget');
      this.#callOnEnd(summary);
    });
  }

  #sendClosed(): void {
    const { out, options } = this.#deps;
    if (this.#closedSent || this.#deps.state() === 'finalized') return;
    const dropped = out.dropHeldEvents();
    if (dropped > 0) this.#deps.log().warn({ dropped }, 'audiohook held events dropped at close');
    if (!out.send('closed', {})) return;
    this.#closedSent = true;
    this.#deps.setState('closed');
    this.#deps
      .log()
      .info({ closeReason: this.#closeReason, ...statsForLog(this.#deps.counters) }, 'audiohook session closed');
    // The client is expected to close the socket (§4.3.6); don't keep a dead session forever if it doesn't.
    this.#deps.timers.schedule(() => {
      this.#deps
        .log()
        .info({ timeoutMs: options.closeSocketAfterClosedMs }, 'audiohook client kept socket open after closed');
      out.closeTransport(1000, 'session closed');
    }, options.closeSocketAfterClosedMs);
  }

  #callOnEnd(reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    const hooks = this.#deps.hooks;
    const hook = hooks?.onEnd;
    if (!hook) return;
    const summary = {
      reason,
      stats: this.#deps.stats(),
      ...(this.#closeReason !== undefined ? { closeReason: this.#closeReason } : {}),
      ...(this.#disconnectSent !== undefined ? { disconnect: this.#disconnectSent } : {}),
    };
    this.#deps.calls.run('hooks.onEnd', () => hook.call(hooks, summary));
  }

  /** Calls `then` once `p` settles or after `ms`. */
  #boundedWait(p: Promise<unknown>, ms: number, then: (timedOut: boolean) => void): void {
    // Scheduled outside the session's timer set when finalized: onEnd must still be bounded then.
    this.#deps.timers.boundedWait(p, ms, then, this.#deps.state() === 'finalized');
  }
}

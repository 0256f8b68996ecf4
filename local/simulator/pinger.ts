/**
 * The client's pings (docs/audiohook-protocol.md §4.3.2): a first ping a second after `opened`, a second
 * one right after the first pong (so the server learns the rtt early), then one every `pingIntervalMs`;
 * each carries the last measured rtt. A ping still unanswered when the next one is due ends the session.
 */
import { msToDuration } from '../../core/audiohook/duration';
import { scaledMs } from './frame-pacer';

const FIRST_PING_DELAY_MS = 1000;

/** What the pinger needs from its session. */
export interface PingTarget {
  isOpen(): boolean;
  send(type: string, parameters: Record<string, unknown>): void;
  /** The client `seq` of the message just sent. */
  seq(): number;
  /** Milliseconds since the session started. */
  now(): number;
  /** A non-fatal violation by the server. */
  complain(code: number, message: string): void;
  /** No pong in time: the session reports it and closes. */
  timedOut(): void;
}

/** Pings the server and checks its pongs. */
export class Pinger {
  readonly #o: { speed: number; pingIntervalMs: number };
  readonly #target: PingTarget;
  #outstanding: { seq: number; sentAt: number } | undefined;
  #pongs = 0;
  #rttMs: number | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(o: { speed: number; pingIntervalMs: number }, target: PingTarget) {
    this.#o = o;
    this.#target = target;
  }

  /** Schedules the first ping (at `opened`). */
  start(): void {
    this.#timer = setTimeout(() => this.#ping(), scaledMs(FIRST_PING_DELAY_MS, this.#o.speed));
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The server's `pong`, answering the ping whose `seq` is `clientseq`. */
  pong(clientseq: number): void {
    const ping = this.#outstanding;
    if (!ping) {
      this.#target.complain(409, "'pong' without an outstanding ping");
      return;
    }
    if (clientseq !== ping.seq) {
      // Like the reference client the pong is rejected and the ping stays outstanding (§2.3).
      this.#target.complain(400, `'pong' has clientseq ${clientseq}, expected the ping's seq ${ping.seq}`);
      return;
    }
    this.#rttMs = this.#target.now() - ping.sentAt;
    this.#outstanding = undefined;
    this.#pongs += 1;
    // A second ping right after the first pong gives the server an rtt early (§4.3.2).
    if (this.#pongs === 1 && this.#target.isOpen()) this.#ping();
  }

  #ping(): void {
    this.stop();
    const t = this.#target;
    if (!t.isOpen()) return;
    if (this.#outstanding) {
      t.timedOut();
      return;
    }
    const rtt = this.#rttMs;
    t.send('ping', rtt === undefined ? {} : { rtt: msToDuration(Math.round(rtt * 1000) / 1000) });
    this.#outstanding = { seq: t.seq(), sentAt: t.now() };
    this.#timer = setTimeout(() => this.#ping(), scaledMs(this.#o.pingIntervalMs, this.#o.speed));
  }
}

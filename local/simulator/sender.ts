/**
 * The sending side of a simulated session: client messages with their sequencing (§2.2–§2.3) and the
 * position (§2.4), audio frames, and the faults a test asks for (a `seq` gap, a wrong session id, an
 * oversized or malformed message at the n-th text message).
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { samplesToDuration } from '../../core/audiohook/duration';
import { MAX_TEXT_MESSAGE_CHARS, PROTOCOL_VERSION } from '../../core/audiohook/messages';
import type { ExchangeEntry, Normalized } from './options';
import type { ServerSequence } from './server-messages';

/** Where the sender finds its socket and the state it stamps on each message. */
export interface SenderContext {
  socket(): WebSocket | undefined;
  /** The stream position, in samples. */
  position(): number;
  /** The last server `seq` seen (`serverseq`). */
  readonly server: ServerSequence;
  /** Keeps an exchange entry (the session stamps the time). */
  record(entry: Omit<ExchangeEntry, 'atMs'>): void;
}

/** Sends a session's messages and audio, counting what went out. */
export class MessageSender {
  readonly #o: Pick<Normalized, 'faults' | 'sessionId'>;
  readonly #ctx: SenderContext;
  #sentTexts = 0;
  /** The client's `seq` of the last text message sent. */
  seq = 0;
  audioBytesSent = 0;
  samplesSent = 0;

  constructor(o: Pick<Normalized, 'faults' | 'sessionId'>, ctx: SenderContext) {
    this.#o = o;
    this.#ctx = ctx;
  }

  /** Sends one client message, if the socket is open. */
  send(type: string, parameters: Record<string, unknown>): void {
    const ws = this.#ctx.socket();
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const f = this.#o.faults;
    this.#sentTexts += 1;
    const index = this.#sentTexts;
    if (f.seqGapAt === index) this.seq += 1;
    this.seq += 1;
    const message: Record<string, unknown> = {
      version: PROTOCOL_VERSION,
      id: f.wrongSessionIdAt === index ? randomUUID() : this.#o.sessionId,
      type,
      seq: this.seq,
      serverseq: this.#ctx.server.last,
      position: samplesToDuration(this.#ctx.position()),
      parameters,
    };
    if (f.oversizedMessageAt === index) message.padding = 'x'.repeat(MAX_TEXT_MESSAGE_CHARS + 1);
    let text = JSON.stringify(message);
    if (f.malformedJsonAt === index) text = text.slice(0, -1);
    ws.send(text);
    if (f.malformedJsonAt === index) this.#ctx.record({ dir: 'out', kind: 'text', raw: text.slice(0, 1024) });
    else this.#ctx.record({ dir: 'out', kind: 'text', message });
  }

  /** Sends one audio frame of `samples` samples, if the socket is open. */
  sendAudio(bytes: Uint8Array, samples: number): void {
    const ws = this.#ctx.socket();
    if (!ws || ws.readyState !== WebSocket.OPEN || bytes.byteLength === 0) return;
    ws.send(bytes, { binary: true });
    this.audioBytesSent += bytes.byteLength;
    this.samplesSent += samples;
    this.#ctx.record({ dir: 'out', kind: 'binary', bytes: bytes.byteLength });
  }
}

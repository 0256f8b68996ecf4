/**
 * What one simulated session saw, kept as it happens (the server's answers, the exchange log, the first
 * failure, the socket's end), and the {@link SimulatedSessionResult} built from it once the session is done.
 * The session decides what happened; this only keeps the record.
 */
import type { OpenedParameters, TranscriptEntityData } from '../../core/audiohook/messages';
import type { ExchangeEntry, Normalized, SessionOutcome, SimulatedSessionResult } from './options';
import { sessionOutcome } from './outcome';

/** The session's own measurements, taken when it is done. */
export interface FinalMeasures {
  audioBytesSent: number;
  audioMsSent: number;
  positionMs: number;
  durationMs: number;
}

/** The record of one session's observations. */
export class Observations {
  readonly #o: Pick<Normalized, 'record' | 'sessionId'>;
  /** Milliseconds since the session started. */
  readonly #now: () => number;

  openLatencyMs: number | undefined;
  opened: OpenedParameters | undefined;
  disconnect: { reason: string; info?: string } | undefined;
  closedReceived = false;
  #cause: { outcome: SessionOutcome; failure: string } | undefined;
  httpStatus: number | undefined;
  httpBody: string | undefined;
  closeCode: number | undefined;
  socketError: string | undefined;
  readonly serverMessages: object[] = [];
  readonly transcripts: TranscriptEntityData[] = [];
  readonly exchange: ExchangeEntry[] = [];
  readonly protocolErrors: string[] = [];

  constructor(o: Pick<Normalized, 'record' | 'sessionId'>, now: () => number) {
    this.#o = o;
    this.#now = now;
  }

  /** The first failure the client itself detected; later ones do not replace it. */
  setCause(outcome: SessionOutcome, failure: string): void {
    this.#cause ??= { outcome, failure };
  }

  /** Keeps an exchange entry, stamped with the session time, as far as the `record` option asks. */
  record(entry: Omit<ExchangeEntry, 'atMs'>): void {
    if (this.#o.record === 'none' || (this.#o.record === 'text' && entry.kind === 'binary')) return;
    this.exchange.push({ ...entry, atMs: Math.round(this.#now() * 1000) / 1000 });
  }

  /** The session's result: its outcome decided from what it saw, plus its final measures. */
  result(measures: FinalMeasures): SimulatedSessionResult {
    const { outcome, failure } = sessionOutcome({
      cause: this.#cause,
      disconnect: this.disconnect,
      closedReceived: this.closedReceived,
      protocolErrors: this.protocolErrors,
      socketError: this.socketError,
      closeCode: this.closeCode,
    });
    const result: SimulatedSessionResult = {
      outcome,
      sessionId: this.#o.sessionId,
      serverMessages: this.serverMessages,
      transcripts: this.transcripts,
      exchange: this.exchange,
      audioBytesSent: measures.audioBytesSent,
      audioMsSent: measures.audioMsSent,
      positionMs: measures.positionMs,
      protocolErrors: this.protocolErrors,
      durationMs: measures.durationMs,
    };
    if (failure !== undefined) result.failure = failure;
    if (this.httpStatus !== undefined) result.httpStatus = this.httpStatus;
    if (this.httpBody !== undefined) result.httpBody = this.httpBody;
    if (this.opened) result.opened = this.opened;
    if (this.openLatencyMs !== undefined) result.openLatencyMs = this.openLatencyMs;
    if (this.disconnect) result.disconnect = this.disconnect;
    if (this.closeCode !== undefined) result.closeCode = this.closeCode;
    return result;
  }
}

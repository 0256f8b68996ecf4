/**
 * One-shot faults for tests of Transcribe clients: each armed fault applies to the next stream that can
 * take it, once, and is logged when it fires.
 */
import type { Logger } from '../../core/ports';
import type { StreamExceptionType } from './event-stream';

/** Errors `failNextStart` can answer with, and their default HTTP status (the service's). */
export const START_FAILURE_STATUS = {
  BadRequestException: 400,
  LimitExceededException: 429,
  ServiceUnavailableException: 503,
  InternalFailureException: 500,
  ConflictException: 409,
} as const satisfies Record<StreamExceptionType, number>;

/** An HTTP error for the next `StartStreamTranscription`. */
export interface StartFailure {
  type: keyof typeof START_FAILURE_STATUS;
  /** @default the service's status for `type` */
  status?: number;
  /** @default a message in the service's words */
  message?: string;
}

/** An in-stream exception after some time or some audio. */
export type MidStreamError = ({ afterMs: number } | { afterAudioMs: number }) & {
  type: StreamExceptionType;
  message?: string;
};

/** How a dropped connection is cut. */
export interface DropConnection {
  afterMs: number;
  /** `stream` resets the HTTP/2 stream (RST_STREAM); `session` destroys the whole connection. @default 'session' */
  scope?: 'stream' | 'session';
}

/** The faults a stream took when it started. */
export interface StreamFaults {
  midStream?: MidStreamError;
  drop?: DropConnection;
  silenceTimeoutMs?: number;
}

/** Default messages, close to the service's. */
export const DEFAULT_FAULT_MESSAGES: Record<StreamExceptionType, string> = {
  BadRequestException: 'A client error occurred when the stream was created.',
  LimitExceededException: 'You have reached your limit of concurrent streams.',
  InternalFailureException: 'A problem occurred while processing the audio. Amazon Transcribe terminated processing.',
  ConflictException: 'A new stream started with the same session ID. The current stream has been terminated.',
  ServiceUnavailableException: 'Service unavailable. Try your request later.',
};

/** Arms one-shot faults; the endpoint consumes them. */
export class FaultInjector {
  private start: StartFailure | undefined;
  private midStream: MidStreamError | undefined;
  private drop: DropConnection | undefined;
  private silenceMs: number | undefined;

  constructor(private readonly logger: Logger) {}

  /** The next request is answered with an HTTP error instead of a stream. */
  failNextStart(failure: StartFailure): void {
    this.start = failure;
  }

  /** The next accepted stream gets an in-stream exception and ends. */
  errorMidStream(error: MidStreamError): void {
    this.midStream = error;
  }

  /** The next accepted stream's connection is cut without a response end. */
  dropConnection(drop: DropConnection): void {
    this.drop = drop;
  }

  /** The next accepted stream uses this no-audio timeout instead of the endpoint's. */
  silenceTimeout(ms: number): void {
    this.silenceMs = ms;
  }

  /** Disarms everything. */
  clear(): void {
    this.start = undefined;
    this.midStream = undefined;
    this.drop = undefined;
    this.silenceMs = undefined;
  }

  /** @internal Consumed by the endpoint when a request arrives. */
  takeStartFailure(): (Required<Omit<StartFailure, 'message'>> & { message: string }) | undefined {
    const f = this.start;
    if (!f) return undefined;
    this.start = undefined;
    const out = {
      type: f.type,
      status: f.status ?? START_FAILURE_STATUS[f.type],
      message: f.message ?? DEFAULT_FAULT_MESSAGES[f.type],
    };
    this.logger.info({ fault: 'failNextStart', ...out }, 'fault injected: failing stream start');
    return out;
  }

  /** @internal Consumed by the endpoint when a stream is accepted. */
  takeStreamFaults(): StreamFaults {
    const out: StreamFaults = {};
    if (this.midStream) out.midStream = this.midStream;
    if (this.drop) out.drop = this.drop;
    if (this.silenceMs !== undefined) out.silenceTimeoutMs = this.silenceMs;
    this.midStream = undefined;
    this.drop = undefined;
    this.silenceMs = undefined;
    return out;
  }
}

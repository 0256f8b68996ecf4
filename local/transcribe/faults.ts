/**
 * Faults for tests of Transcribe clients. One-shot faults are armed for the next stream that can take
 * them and logged when they fire; open-stream faults hit streams that are open now (a soak's long-lived
 * streams), chosen oldest, newest or at (seedable) random, and are logged and counted when applied.
 */
import { AppError } from '../../core/errors';
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

/** The kinds of {@link OpenStreamFault}, as counted in the endpoint's stats. */
export const OPEN_STREAM_FAULT_KINDS = ['drop', 'error', 'delayResults', 'silenceTimeout'] as const;
export type OpenStreamFaultKind = (typeof OPEN_STREAM_FAULT_KINDS)[number];

/** What an open-stream fault does to each stream it hits. */
export type OpenStreamFaultAction =
  /** Cut the stream now, as {@link DropConnection} does (`scope` @default 'session'). */
  | { fault: 'drop'; scope?: 'stream' | 'session' }
  /** An in-stream exception now; the stream ends and results not yet sent are dropped. */
  | { fault: 'error'; type: StreamExceptionType; message?: string }
  /**
   * Results produced during the next `forMs` are held and sent `ms` late, in order. A stream whose audio
   * ends while results are held sends them before its response ends; a stream that is aborted (exception,
   * drop, client gone) drops them, as the service drops results it has not sent.
   */
  | { fault: 'delayResults'; ms: number; forMs: number }
  /** The stream's no-audio timeout becomes `ms`, counted from now (and from each later audio event). */
  | { fault: 'silenceTimeout'; ms: number };

/** Which open streams a fault hits. */
export interface OpenStreamTargeting {
  /** @default 'random' (the injector's random source, seedable) */
  pick?: 'random' | 'oldest' | 'newest';
  /** At most this many streams (fewer when fewer are open). @default 1 */
  count?: number;
}

/** A fault applied now to streams that are open now. */
export type OpenStreamFault = OpenStreamFaultAction & OpenStreamTargeting;

/** What the injector needs of an open stream. */
export interface OpenStreamTarget {
  readonly sessionId: string;
  /** True while the stream still takes audio (its request body has not ended). */
  readonly open: boolean;
  applyFault(action: OpenStreamFaultAction): void;
}

/** The streams an open-stream fault hit (none when no stream was open: not an error). */
export interface OpenStreamFaultResult {
  applied: number;
  sessionIds: string[];
}

/** An open-stream fault that cannot be applied (code `LOCAL_FAULT_INVALID`). */
export class FaultControlError extends AppError {
  constructor(message: string) {
    super('LOCAL_FAULT_INVALID', message);
    this.name = 'FaultControlError';
  }
}

/** The longest delay or timeout a fault may ask for (a Node timer's limit is ~24.8 days; an hour is plenty). */
export const MAX_FAULT_MS = 3_600_000;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isDuration = (v: unknown): v is number =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= MAX_FAULT_MS;
const FIELDS: Record<OpenStreamFaultKind, readonly string[]> = {
  drop: ['scope'],
  error: ['type', 'message'],
  delayResults: ['ms', 'forMs'],
  silenceTimeout: ['ms'],
};

/** Why `value` is not an {@link OpenStreamFault}, in words naming the field (`openStream.…`), or undefined. */
export function openStreamFaultProblem(value: unknown): string | undefined {
  if (!isRecord(value)) return 'openStream must be an object';
  const kind = value.fault;
  if (typeof kind !== 'string' || !Object.hasOwn(FIELDS, kind)) {
    return `openStream.fault must be one of ${OPEN_STREAM_FAULT_KINDS.join(', ')}`;
  }
  const known = ['fault', 'pick', 'count', ...(FIELDS[kind as OpenStreamFaultKind] ?? [])];
  const unknown = Object.keys(value).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    return `openStream has fields that fault '${kind}' does not take: ${unknown.join(', ')} (it takes: ${known.join(', ')})`;
  }
  const { pick, count } = value;
  if (pick !== undefined && pick !== 'random' && pick !== 'oldest' && pick !== 'newest') {
    return "openStream.pick must be 'random', 'oldest' or 'newest'";
  }
  if (count !== undefined && !(Number.isInteger(count) && (count as number) >= 1)) {
    return 'openStream.count must be a whole number of at least 1';
  }
  const ms = `must be a number of milliseconds from 0 to ${MAX_FAULT_MS}`;
  switch (kind as OpenStreamFaultKind) {
    case 'drop':
      if (value.scope !== undefined && value.scope !== 'stream' && value.scope !== 'session') {
        return "openStream.scope must be 'stream' or 'session'";
      }
      return undefined;
    case 'error':
      if (typeof value.type !== 'string' || !Object.hasOwn(DEFAULT_FAULT_MESSAGES, value.type)) {
        return `openStream.type must be one of ${Object.keys(DEFAULT_FAULT_MESSAGES).join(', ')}`;
      }
      if (value.message !== undefined && typeof value.message !== 'string')
        return 'openStream.message must be a string';
      return undefined;
    case 'delayResults':
      if (!isDuration(value.ms)) return `openStream.ms ${ms}`;
      if (!isDuration(value.forMs)) return `openStream.forMs ${ms}`;
      return undefined;
    case 'silenceTimeout':
      if (!isDuration(value.ms)) return `openStream.ms ${ms}`;
      return undefined;
  }
}

/**
 * Up to `count` of `open` (listed oldest first): the first ones, the last ones (newest first), or a
 * uniform random choice drawn with `random` (values in [0, 1)), in the order drawn.
 */
export function pickOpenStreams<T>(
  open: readonly T[],
  pick: NonNullable<OpenStreamTargeting['pick']>,
  count: number,
  random: () => number,
): T[] {
  const n = Math.min(count, open.length);
  if (pick === 'oldest') return open.slice(0, n);
  if (pick === 'newest') return open.slice(open.length - n).reverse();
  const pool = [...open];
  const out: T[] = [];
  for (let i = 0; i < n; i++) {
    const at = Math.min(pool.length - 1, Math.floor(random() * pool.length));
    out.push(...pool.splice(at, 1));
  }
  return out;
}

/**
 * A deterministic source of numbers in [0, 1) for a seed (any integer): xorshift on 32 bits, enough to make
 * a soak's target choice repeatable, not for anything statistical.
 */
export function seededRandom(seed: number): () => number {
  // Zero is xorshift's one fixed point: fold the seed into a non-zero state.
  let state = (Math.trunc(seed) ^ 0x9e3779b9) >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
}

/** Options of {@link FaultInjector}. */
export interface FaultInjectorOptions {
  /** The streams open now, oldest first (the endpoint's registry). @default none: open-stream faults hit nothing */
  openStreams?: () => readonly OpenStreamTarget[];
  /** Draws `pick: 'random'` targets. @default Math.random */
  random?: () => number;
  /** Told of each stream an open-stream fault hit (the endpoint counts them). */
  onOpenStreamFault?: (kind: OpenStreamFaultKind) => void;
}

/** Arms one-shot faults (the endpoint consumes them) and applies open-stream faults at once. */
export class FaultInjector {
  private start: StartFailure | undefined;
  private midStream: MidStreamError | undefined;
  private drop: DropConnection | undefined;
  private silenceMs: number | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly opts: FaultInjectorOptions = {},
  ) {}

  /**
   * Applies `fault` now to up to `count` streams that are open now, picked as asked. Throws
   * {@link FaultControlError} when the fault is malformed.
   */
  hitOpenStreams(fault: OpenStreamFault): OpenStreamFaultResult {
    const problem = openStreamFaultProblem(fault);
    if (problem !== undefined) throw new FaultControlError(problem);
    const { pick = 'random', count = 1 } = fault;
    const open = (this.opts.openStreams?.() ?? []).filter((s) => s.open);
    const targets = pickOpenStreams(open, pick, count, this.opts.random ?? Math.random);
    for (const target of targets) {
      this.logger.info(
        { ...fault, fault: `openStream.${fault.fault}`, sessionId: target.sessionId, pick, openStreams: open.length },
        `fault injected: ${fault.fault} on an open stream`,
      );
      target.applyFault(fault);
      this.opts.onOpenStreamFault?.(fault.fault);
    }
    return { applied: targets.length, sessionIds: targets.map((t) => t.sessionId) };
  }

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

/**
 * Retry pacing and error triage for Transcribe streams.
 *
 * Backoff is exponential with *full jitter* (a uniformly random delay between 0 and the exponential
 * ceiling): when a regional hiccup drops many streams at once, their reopen attempts spread out instead of
 * arriving together and tripping the concurrent-stream quota again.
 */
import { errorFields } from '../../../core/errors';

/** An exponential backoff policy. */
export interface BackoffPolicy {
  /** Ceiling of the first retry's delay, ms. */
  readonly baseMs: number;
  /** Largest ceiling, ms. */
  readonly capMs: number;
}

/** Transient service and network errors: retry soon, never wait more than ~5 s (audio is buffering). */
export const TRANSIENT_BACKOFF: BackoffPolicy = { baseMs: 100, capMs: 5_000 };

/**
 * The concurrent-stream quota (LimitExceededException): retrying fast only keeps the quota exhausted, so
 * start at 1 s and allow up to 30 s.
 */
export const THROTTLE_BACKOFF: BackoffPolicy = { baseMs: 1_000, capMs: 30_000 };

/**
 * The delay before retry number `attempt` (0 for the first retry).
 * @param random - a uniform [0, 1) source (injectable for tests)
 */
export function fullJitterDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, Math.min(attempt, 30)));
  return Math.floor(random() * ceiling);
}

/**
 * How a stream failure is handled:
 * - `no-audio-timeout`: Transcribe closed an idle stream (15 s without audio); reopen on the next audio.
 * - `throttled`: the concurrent-stream quota; back off long ({@link THROTTLE_BACKOFF}) and count it.
 * - `transient`: service or network trouble; reopen soon ({@link TRANSIENT_BACKOFF}) and re-send.
 * - `fatal`: the request itself is wrong (bad parameters, credentials, permissions); retrying cannot help.
 */
export type FailureKind = 'no-audio-timeout' | 'throttled' | 'transient' | 'fatal';

/** Recognizes Transcribe's idle-stream error ("…no new audio was received for 15 seconds…"). */
function isNoAudioTimeout(message: string): boolean {
  return /no new audio|timed out/i.test(message);
}

/** Classifies an error thrown by `StartStreamTranscription` or by its result stream. */
export function classifyFailure(err: unknown): FailureKind {
  const e = errorFields(err);
  const name = typeof e.name === 'string' ? e.name : '';
  const message = typeof e.message === 'string' ? e.message : '';
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  switch (name) {
    case 'BadRequestException':
      return isNoAudioTimeout(message) ? 'no-audio-timeout' : 'fatal';
    case 'LimitExceededException':
    case 'ThrottlingException':
    case 'TooManyRequestsException':
      return 'throttled';
    case 'InternalFailureException':
    case 'ServiceUnavailableException':
    case 'ConflictException':
      return 'transient';
    case 'UnrecognizedClientException':
    case 'AccessDeniedException':
    case 'InvalidSignatureException':
    case 'ResourceNotFoundException':
    case 'ValidationException':
      return 'fatal';
    default:
      break;
  }
  if (status === 429) return 'throttled';
  if (status !== undefined && status >= 400 && status < 500 && status !== 408) return 'fatal';
  // Network errors (ECONNRESET, ERR_HTTP2_*, socket hang up, a stream that ended without a result
  // stream), 5xx and anything unknown: worth a bounded number of retries.
  return 'transient';
}

/** What to do after a failed underlying stream. */
export type RetryDecision =
  | { readonly action: 'reopen'; readonly delayMs: number /** 1-based, for logs. */; readonly attempt: number }
  | { readonly action: 'give-up'; readonly why: string };

/** The settings {@link StreamRetries} follows (a streamer config fits). */
export interface RetrySettings {
  readonly transientBackoff: BackoffPolicy;
  readonly throttleBackoff: BackoffPolicy;
  /** Consecutive transient failures (no result in between) before giving up. */
  readonly maxConsecutiveFailures: number;
}

/**
 * The retry state of one logical stream: transient failures are bounded (`maxConsecutiveFailures` in a
 * row), throttling is not (the quota frees up eventually; audio buffers meanwhile) but is paced longer, a
 * no-audio timeout reopens at once (on the next audio), a fatal error gives up. Any progress — a result,
 * or a stream that completed — resets both counts.
 */
export class StreamRetries {
  readonly #settings: RetrySettings;
  readonly #random: () => number;
  #transient = 0;
  #throttled = 0;

  constructor(settings: RetrySettings, random: () => number = Math.random) {
    this.#settings = settings;
    this.#random = random;
  }

  /** The stream made progress: the next failure starts a fresh count. */
  progressed(): void {
    this.#transient = 0;
    this.#throttled = 0;
  }

  /** Decides, and counts, the retry after a failure of `kind`. */
  after(kind: FailureKind): RetryDecision {
    const s = this.#settings;
    switch (kind) {
      case 'no-audio-timeout':
        return { action: 'reopen', delayMs: 0, attempt: 1 };
      case 'throttled': {
        const delayMs = fullJitterDelay(s.throttleBackoff, this.#throttled, this.#random);
        return { action: 'reopen', delayMs, attempt: ++this.#throttled };
      }
      case 'transient': {
        if (this.#transient + 1 >= s.maxConsecutiveFailures) {
          return { action: 'give-up', why: `${this.#transient + 1} consecutive stream failures` };
        }
        const delayMs = fullJitterDelay(s.transientBackoff, this.#transient, this.#random);
        return { action: 'reopen', delayMs, attempt: ++this.#transient };
      }
      case 'fatal':
        return { action: 'give-up', why: 'the request was rejected' };
    }
  }
}

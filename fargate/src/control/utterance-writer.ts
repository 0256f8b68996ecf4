/**
 * The gateway's {@link UtteranceSink}: stores each final utterance with `UtterancesRepository.putFinal`
 * (idempotent on the deterministic utterance key). It is only ever awaited by the streamer's own delivery
 * chain, never by the audio path, so a slow or failing store delays stored transcripts but never audio
 * to Transcribe.
 *
 * An utterance the gateway has accepted is not given up while the store is only unavailable (throttling,
 * a stalled or restarting DynamoDB): it is held in memory and its put retried with full-jitter backoff
 * (capped) until it is stored, in order behind the segment's earlier utterances. What bounds the memory is
 * the task-wide number of held utterances (`maxHeld`); past it, and for an error retrying cannot fix (the
 * store rejected the request), the utterance is logged at error with its id (never its text), counted
 * (`UtterancePutFailures`, alarmed) and rejected with {@link UtteranceStoreError}, so the segment's
 * `transcripts` counter only counts what was stored. Held utterances live in the process: a task killed
 * during an outage loses them (a durable spool is not built yet).
 */

import type { Role } from '../../../core/audio/roles';
import { AppError, type AppErrorOptions, describeError } from '../../../core/errors';
import type { Logger, Timers } from '../../../core/ports';
import type { Utterance, UtteranceSink } from '../../../core/transcript/utterance';
import { StoreError } from '../../../store/errors';
import type { FinalUtteranceInput, PutFinalResult } from '../../../store/utterances';
import { type BackoffPolicy, fullJitterDelay } from '../transcribe/backoff';
import type { PipelineStats } from './metrics';

/** The slice of `UtterancesRepository` the writer uses. */
export interface UtterancePutPort {
  putFinal(input: FinalUtteranceInput): Promise<PutFinalResult>;
}

/** Stable code of {@link UtteranceStoreError}. */
export type UtteranceStoreErrorCode = 'PIPELINE_UTTERANCE_NOT_STORED';

/** An utterance could not be stored (after retries, or at once for a non-retryable store error). */
export class UtteranceStoreError extends AppError {
  override readonly name = 'UtteranceStoreError';
  declare readonly code: UtteranceStoreErrorCode;
  constructor(
    readonly utteranceId: string,
    readonly attempts: number,
    options?: AppErrorOptions,
  ) {
    // The message names the utterance, never its text (it reaches logs).
    super('PIPELINE_UTTERANCE_NOT_STORED', `utterance ${utteranceId} not stored after ${attempts} attempt(s)`, options);
  }
}

/** Retry settings of {@link UtteranceWriter}. */
export interface UtteranceRetryPolicy extends BackoffPolicy {
  /**
   * Utterances the task holds for retrying at most (all sessions together); a put that fails while this
   * many are held is given up instead of held.
   */
  readonly maxHeld: number;
  /** A held utterance is reported at warn once it has failed this many times. */
  readonly warnAfterAttempts: number;
}

/**
 * Default: delays drawn from [0, 100·2ⁿ] ms capped at 3 s (a retry at least every ~3 s while DynamoDB is
 * away), up to 10,000 held utterances per task (a few MB: an outage of minutes at full load), a warning per
 * utterance after 6 failed attempts (~6 s).
 */
export const DEFAULT_UTTERANCE_RETRY: UtteranceRetryPolicy = {
  baseMs: 100,
  capMs: 3_000,
  maxHeld: 10_000,
  warnAfterAttempts: 6,
};

/** Options of {@link UtteranceWriter}. */
export interface UtteranceWriterOptions {
  repository: UtterancePutPort;
  /** The sender external id (`customerId`/`agentId` from start-streaming) of a role in a segment. */
  senderOf?: (utterance: Utterance) => string | undefined;
  retry?: Partial<UtteranceRetryPolicy>;
  stats: PipelineStats;
  timers: Timers;
  logger: Logger;
  /** @default Math.random */
  random?: () => number;
  /**
   * When the utterance's last audio reached the gateway (monotonic ms; see `ArrivalClock`), to observe
   * `utteranceLatencyMs` once it is stored. With `monotonicNow`. @default - not observed
   */
  spokenAt?: (utterance: Utterance) => number | undefined;
  monotonicNow?: () => number;
}

/** Stores final utterances, holding them through store outages (bounded per task). */
export class UtteranceWriter implements UtteranceSink {
  readonly #o: UtteranceWriterOptions;
  readonly #retry: UtteranceRetryPolicy;
  readonly #random: () => number;

  constructor(opts: UtteranceWriterOptions) {
    this.#o = opts;
    this.#retry = { ...DEFAULT_UTTERANCE_RETRY, ...opts.retry };
    this.#random = opts.random ?? Math.random;
  }

  async put(utterance: Utterance): Promise<void> {
    const sender = this.#o.senderOf?.(utterance);
    const input: FinalUtteranceInput = sender ? { ...utterance, senderExternalId: sender } : { ...utterance };
    const { stats } = this.#o;
    let held = false;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const result = await this.#o.repository.putFinal(input);
          stats.count(result.outcome === 'created' ? 'utterancesStored' : 'utterancesDuplicate');
          if (result.outcome === 'created') this.#observeLatency(utterance);
          if (attempt > this.#retry.warnAfterAttempts) {
            this.#o.logger.info(
              { conversationId: utterance.conversationId, utteranceId: utterance.utteranceId, attempts: attempt },
              'held utterance stored',
            );
          }
          return;
        } catch (err) {
          const retryable = err instanceof StoreError && err.retryable;
          if (!held && retryable && stats.utterancesHeld < this.#retry.maxHeld) {
            held = true;
            stats.utterancesHeld++;
          }
          if (!retryable || !held)
            throw this.#notStored(utterance, attempt, err, retryable ? 'held-limit' : 'rejected');
          if (attempt === this.#retry.warnAfterAttempts) {
            this.#o.logger.warn(
              {
                code: 'PIPELINE_UTTERANCE_HELD',
                conversationId: utterance.conversationId,
                segment: utterance.segment,
                utteranceId: utterance.utteranceId,
                attempts: attempt,
                held: stats.utterancesHeld,
                err: describeError(err),
              },
              'utterance not stored yet: the store is unavailable; holding it and retrying until it is stored',
            );
          }
          stats.count('utterancePutRetries');
          await this.#sleep(fullJitterDelay(this.#retry, attempt - 1, this.#random));
        }
      }
    } finally {
      if (held) stats.utterancesHeld--;
    }
  }

  /** Logs, counts and builds the error of an utterance given up (never its text). */
  #notStored(
    utterance: Utterance,
    attempts: number,
    err: unknown,
    why: 'held-limit' | 'rejected',
  ): UtteranceStoreError {
    this.#o.stats.count('utterancePutFailures');
    this.#o.logger.error(
      {
        code: 'PIPELINE_UTTERANCE_NOT_STORED',
        conversationId: utterance.conversationId,
        segment: utterance.segment,
        role: utterance.role satisfies Role,
        utteranceId: utterance.utteranceId,
        startMs: utterance.startMs,
        attempts,
        why,
        ...(why === 'held-limit' && { maxHeld: this.#retry.maxHeld }),
        err: describeError(err),
      },
      why === 'held-limit'
        ? 'utterance not stored: the store is unavailable and the task already holds maxHeld utterances; it is missing from the messages API, the webhook and the export'
        : 'utterance not stored: the store rejected it; it is missing from the messages API, the webhook and the export',
    );
    return new UtteranceStoreError(utterance.utteranceId, attempts, { cause: err });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#o.timers.setTimeout(resolve, ms));
  }

  #observeLatency(utterance: Utterance): void {
    const { spokenAt, monotonicNow } = this.#o;
    if (spokenAt === undefined || monotonicNow === undefined) return;
    const at = spokenAt(utterance);
    if (at !== undefined) this.#o.stats.observe('utteranceLatencyMs', Math.max(0, monotonicNow() - at));
  }
}

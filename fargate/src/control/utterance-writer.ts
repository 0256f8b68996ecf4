/**
 * The gateway's {@link UtteranceSink}: stores each final utterance with `UtterancesRepository.putFinal`
 * (idempotent on the deterministic utterance key), retrying with full-jitter backoff while DynamoDB is
 * throttling or briefly unavailable. It is only ever awaited by the streamer's own delivery chain, never
 * by the audio path, so a slow or failing store delays stored transcripts but never audio to Transcribe.
 *
 * A write that still fails after every attempt is logged at error with the utterance id (never its text)
 * and counted, then rejected with {@link UtteranceStoreError} so the segment's `transcripts` counter only
 * counts what was stored.
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
  /** Attempts in total (first try included). */
  readonly maxAttempts: number;
}

/**
 * Default: 6 attempts, delays drawn from [0, 100·2ⁿ] ms capped at 3 s, i.e. up to ~6 s in the worst case,
 * which rides out DynamoDB throttling on a hot partition without keeping a segment's end waiting long.
 */
export const DEFAULT_UTTERANCE_RETRY: UtteranceRetryPolicy = { maxAttempts: 6, baseMs: 100, capMs: 3_000 };

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

/** Stores final utterances with bounded retries. */
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
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.#o.repository.putFinal(input);
        stats.count(result.outcome === 'created' ? 'utterancesStored' : 'utterancesDuplicate');
        if (result.outcome === 'created') this.#observeLatency(utterance);
        return;
      } catch (err) {
        const retryable = err instanceof StoreError && err.retryable;
        if (!retryable || attempt >= this.#retry.maxAttempts) {
          stats.count('utterancePutFailures');
          this.#o.logger.error(
            {
              code: 'PIPELINE_UTTERANCE_NOT_STORED',
              conversationId: utterance.conversationId,
              segment: utterance.segment,
              role: utterance.role satisfies Role,
              utteranceId: utterance.utteranceId,
              startMs: utterance.startMs,
              attempts: attempt,
              err: describeError(err),
            },
            'utterance not stored: it is missing from the messages API, the webhook and the export',
          );
          throw new UtteranceStoreError(utterance.utteranceId, attempt, { cause: err });
        }
        stats.count('utterancePutRetries');
        await this.#sleep(fullJitterDelay(this.#retry, attempt - 1, this.#random));
      }
    }
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

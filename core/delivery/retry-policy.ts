/**
 * When to try a webhook again, when to hand the record back to the stream, and when to give up into the
 * dead-letter store (api-contract.md §3.1 REC: retries with backoff and jitter, then a DLQ; nothing is
 * silently dropped).
 *
 * Two loops cooperate. Inside one invocation the fan-out retries a failing POST with exponential backoff
 * and full jitter, a few times, within the invocation's time budget. When that is not enough it reports
 * the record as a batch item failure (it is *deferred*): the event source mapping hands it back, in
 * order, on the next invocation, and the loop starts again. A record is dead-lettered only when the
 * receiver refused it for good (a 4xx that retrying cannot fix) or when it has been failing for longer
 * than `maxRetryAgeMs` since it was stored: the age is read from the record itself, so the decision
 * needs no attempt counter anywhere.
 */

/** Settings of the retry policy (units in the names). */
export interface RetryPolicy {
  /** Attempts per record and target within one invocation before deferring to the next. */
  readonly maxAttemptsPerRun: number;
  /** First backoff ceiling; doubles per attempt. */
  readonly baseDelayMs: number;
  /** Largest backoff ceiling. */
  readonly maxDelayMs: number;
  /** How long after being stored a record may keep failing before it is dead-lettered. */
  readonly maxRetryAgeMs: number;
  /** Per-request timeout (connect + response). */
  readonly requestTimeoutMs: number;
}

/** The defaults: 5 s requests (§3.1 REC), 4 attempts per run, backoff 250 ms → 8 s, give up after 15 min. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttemptsPerRun: 4,
  baseDelayMs: 250,
  maxDelayMs: 8000,
  maxRetryAgeMs: 15 * 60 * 1000,
  requestTimeoutMs: 5000,
};

/** What one POST came to. */
export type AttemptOutcome =
  | { kind: 'delivered'; status: number }
  | { kind: 'retryable'; code: string; status?: number; retryAfterMs?: number }
  | { kind: 'permanent'; code: string; status?: number };

/**
 * How a receiver's status is read: any 2xx is delivered (§3.1 REC), and so is 409, which the contract's
 * own retry guidance reads as "already stored" (a receiver that dedupes may answer it to a retry); 408,
 * 425, 429 and 5xx are worth retrying; any other status (400, 401, 403, 404, 413, 422…) will not change
 * by retrying and goes to the dead-letter store at once, where an operator can redrive it after a fix.
 */
export function classifyStatus(status: number): 'delivered' | 'retryable' | 'permanent' {
  if ((status >= 200 && status < 300) || status === 409) return 'delivered';
  if (status === 408 || status === 425 || status === 429 || status >= 500) return 'retryable';
  return 'permanent';
}

/** `Retry-After` (seconds or an HTTP date) as milliseconds from `nowMs`; undefined when absent or invalid. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : undefined;
}

/**
 * Backoff before attempt `attempt + 1`, after `attempt` (1-based) failed: full jitter over an exponential
 * ceiling, `random() × min(maxDelayMs, baseDelayMs × 2^(attempt−1))`, so many records failing together do
 * not retry in lockstep. A receiver's `Retry-After` is honoured as a floor, capped at `maxDelayMs`.
 */
export function backoffDelayMs(
  attempt: number,
  policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>,
  random: () => number,
  retryAfterMs?: number,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.floor(random() * ceiling);
  if (retryAfterMs === undefined) return jittered;
  return Math.max(jittered, Math.min(retryAfterMs, policy.maxDelayMs));
}

/** What to do after a failed attempt. */
export type NextStep =
  | { action: 'retry'; delayMs: number }
  /** Stop for this invocation; report the record as a batch item failure so it comes back in order. */
  | { action: 'defer' }
  /** Give up: write it to the dead-letter store and let the stream move on. */
  | { action: 'dead-letter'; reason: 'permanent' | 'expired' };

/** Inputs of {@link nextStep}. */
export interface NextStepInput {
  outcome: Exclude<AttemptOutcome, { kind: 'delivered' }>;
  /** Attempts made in this invocation so far (≥ 1). */
  attempt: number;
  /** Milliseconds since the utterance was stored. */
  ageMs: number;
  /** Milliseconds left before this invocation must return. */
  remainingMs: number;
  policy: RetryPolicy;
  random: () => number;
}

/** The retry decision table (see the module comment). */
export function nextStep(input: NextStepInput): NextStep {
  const { outcome, attempt, ageMs, remainingMs, policy } = input;
  if (outcome.kind === 'permanent') return { action: 'dead-letter', reason: 'permanent' };
  if (ageMs >= policy.maxRetryAgeMs) return { action: 'dead-letter', reason: 'expired' };
  if (attempt >= policy.maxAttemptsPerRun) return { action: 'defer' };
  const delayMs = backoffDelayMs(attempt, policy, input.random, outcome.retryAfterMs);
  // Never sleep past the point where the next attempt could not finish within this invocation.
  if (delayMs + policy.requestTimeoutMs > remainingMs) return { action: 'defer' };
  return { action: 'retry', delayMs };
}

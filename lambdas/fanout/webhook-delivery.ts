/**
 * Webhook delivery of one record to one target: retries with exponential backoff and full jitter inside
 * the invocation, then defers to the next invocation; dead-letters a record the receiver refused for good
 * (4xx) or that kept failing past `maxRetryAgeMs` (core/delivery/retry-policy.ts). Receivers dedupe on
 * `Idempotency-Key` (the utterance id): delivery is at least once.
 */
import { WEBHOOK_METRIC_NAMES } from '../../contract/metrics';
import { nextStep } from '../../core/delivery/retry-policy';
import { describeError } from '../../core/errors';
import type { DeadLetter } from '../../store/subscriptions';
import { DeliveryMemory } from './delivery-memory';
import type { FanoutDeps, WebhookSender } from './deps';
import type { ParsedRecord } from './stream-records';

/** How a record ended for one target in this invocation. */
export type TargetResult = 'delivered' | 'dead-lettered' | 'deferred';

/** Delivers records to webhook targets, remembering per container what went through. */
export class WebhookDelivery {
  readonly #deps: FanoutDeps;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;
  readonly #delivered = new DeliveryMemory<true>();
  readonly #attempts = new DeliveryMemory<number>();

  constructor(deps: FanoutDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    this.#sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    this.#random = deps.random ?? Math.random;
  }

  /**
   * Delivers `body` (the record's `transcript` message) to one target before `deadline`. `tripped` holds
   * the targets that already failed in this invocation.
   */
  async deliver(
    r: ParsedRecord,
    sender: WebhookSender,
    body: string,
    deadline: number,
    tripped: Set<string>,
  ): Promise<TargetResult> {
    const deps = this.#deps;
    const now = this.#now;
    const targetId = sender.target.id;
    const key = `${targetId}\u0000${r.utterance.utteranceId}`;
    if (this.#delivered.get(key)) return 'delivered';
    const ids = {
      targetId,
      externalConversationId: r.conversationId,
      streamId: r.utterance.streamId,
      utteranceId: r.utterance.utteranceId,
      sequenceNumber: r.sequenceNumber,
    };
    // A target that already failed in this invocation gets one probe per record, not a full backoff run.
    const policy = tripped.has(targetId) ? { ...deps.retry, maxAttemptsPerRun: 1 } : deps.retry;
    for (let attempt = 1; ; attempt++) {
      const total = (this.#attempts.get(key) ?? 0) + 1;
      this.#attempts.set(key, total);
      const outcome = await sender.post(body, { idempotencyKey: r.utterance.utteranceId, attempt: total });
      if (outcome.kind === 'delivered') {
        this.#delivered.set(key, true);
        deps.metrics.addMetric('WebhookDelivered', 'Count', 1);
        deps.metrics.addMetric('StoredToWebhookMs', 'Milliseconds', Math.max(0, now() - r.storedAtMs));
        if (total > 1) deps.logger.info('webhook delivered after retries', { ...ids, attempts: total });
        return 'delivered';
      }
      const step = nextStep({
        outcome,
        attempt,
        ageMs: now() - r.storedAtMs,
        remainingMs: deadline - now(),
        policy,
        random: this.#random,
      });
      const failure = {
        ...ids,
        attempt: total,
        code: outcome.code,
        ...(outcome.status !== undefined && { status: outcome.status }),
      };
      if (step.action === 'retry') {
        deps.metrics.addMetric(WEBHOOK_METRIC_NAMES.retried, 'Count', 1);
        deps.logger.info('webhook attempt failed; retrying', { ...failure, delayMs: step.delayMs });
        await this.#sleep(step.delayMs);
        continue;
      }
      if (step.action === 'defer') {
        tripped.add(targetId);
        deps.metrics.addMetric('WebhookDeferred', 'Count', 1);
        deps.logger.warn('webhook delivery deferred to the next invocation', failure);
        return 'deferred';
      }
      const letter: DeadLetter = {
        targetId,
        utteranceId: r.utterance.utteranceId,
        conversationId: r.conversationId,
        startMs: r.utterance.startMs,
        body,
        reason: step.reason,
        code: outcome.code,
        ...(outcome.status !== undefined && { status: outcome.status }),
        attempts: total,
        storedAt: r.utterance.createdAt,
        deadLetteredAt: new Date(now()).toISOString(),
        sequenceNumber: r.sequenceNumber,
      };
      try {
        await deps.deadLetters.put(letter, now());
      } catch (err) {
        // The dead letter could not be kept: keep the record in the stream instead of losing it.
        deps.logger.error('dead letter write failed; deferring', { ...failure, err: describeError(err) });
        return 'deferred';
      }
      this.#delivered.set(key, true);
      deps.metrics.addMetric(WEBHOOK_METRIC_NAMES.deadLettered, 'Count', 1);
      deps.logger.error('webhook delivery dead-lettered', { ...failure, reason: step.reason });
      return 'dead-lettered';
    }
  }
}

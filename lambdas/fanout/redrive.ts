/** Re-sending the fan-out's dead letters, invoked as `{"action":"redrive"}` by an operator. */
import { DeliveryError } from '../../core/delivery/errors';
import type { StoredDeadLetter } from '../../store/subscriptions';
import type { FanoutDeps } from './deps';

/** The event that asks the fan-out function to redrive dead letters. */
export interface RedriveEvent {
  action: 'redrive';
  /** Only this target. @default every configured target */
  targetId?: string;
  /** Most dead letters re-sent per target. @default 1000 */
  limit?: number;
}

/** What {@link redrive} did, per target. */
export interface RedriveReport {
  targets: { targetId: string; redriven: number; failed: number; stoppedEarly: boolean }[];
}

/** Whether a fan-out invocation is a redrive request rather than a stream batch. */
export function isRedrive(event: unknown): event is RedriveEvent {
  return typeof event === 'object' && event !== null && (event as { action?: unknown }).action === 'redrive';
}

/**
 * Re-sends dead letters, oldest stored utterance first, one POST each (same body bytes, same
 * `Idempotency-Key`, `X-Delivery-Redrive: 1`). A delivered one is deleted; the first failure of a target
 * is counted on its dead letter and stops that target's redrive (the receiver is still unwell: retrying
 * the rest now would only reorder and hammer it). Run it again once the receiver is fixed.
 */
export async function redrive(
  deps: Pick<FanoutDeps, 'webhooks' | 'deadLetters' | 'logger' | 'now'>,
  options: { targetId?: string; limit?: number } = {},
): Promise<RedriveReport> {
  const now = deps.now ?? Date.now;
  const limit = options.limit ?? 1000;
  const senders = deps.webhooks.filter((s) => options.targetId === undefined || s.target.id === options.targetId);
  if (options.targetId !== undefined && senders.length === 0) {
    throw new DeliveryError('DELIVERY_INVALID_TARGET', `no configured webhook target ${options.targetId}`);
  }
  const report: RedriveReport = { targets: [] };
  for (const sender of senders) {
    const targetId = sender.target.id;
    const entry = { targetId, redriven: 0, failed: 0, stoppedEarly: false };
    report.targets.push(entry);
    let startAfter: string | undefined;
    outer: while (entry.redriven < limit) {
      const page = await deps.deadLetters.list(targetId, {
        limit: Math.min(100, limit - entry.redriven),
        ...(startAfter !== undefined && { startAfter }),
      });
      for (const letter of page.items as StoredDeadLetter[]) {
        const outcome = await sender.post(letter.body, {
          idempotencyKey: letter.utteranceId,
          attempt: letter.attempts + (letter.redriveFailures ?? 0) + 1,
          redrive: true,
        });
        if (outcome.kind !== 'delivered') {
          await deps.deadLetters.markRedriveFailed(letter, now());
          entry.failed++;
          entry.stoppedEarly = true;
          deps.logger.warn('redrive failed; stopping for this target', {
            targetId,
            utteranceId: letter.utteranceId,
            code: outcome.code,
            ...(outcome.status !== undefined && { status: outcome.status }),
          });
          break outer;
        }
        await deps.deadLetters.delete(targetId, letter.sk);
        entry.redriven++;
      }
      if (page.next === undefined) break;
      startAfter = page.next;
    }
    deps.logger.info('redrive finished', entry);
  }
  return report;
}

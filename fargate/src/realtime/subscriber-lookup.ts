/**
 * The live partials publisher's subscriber lookup over the Subscriptions table: a conversation's own
 * subscribers ∪ the "all conversations" (supervisor) ones. The supervisor list is the same for every
 * conversation, so it is read once per `cacheMs` for the whole task rather than once per conversation:
 * with many calls speaking at once that halves the reads the partials cost.
 */
import type { Clock } from '../../../core/ports';
import { ALL_CONVERSATIONS, type SubscriptionsRepository } from '../../../store/subscriptions';

/** Options of {@link subscriberLookup}. */
export interface SubscriberLookupOptions {
  clock: Pick<Clock, 'monotonic'>;
  /** How long the "all conversations" list is reused. @default 1000 */
  cacheMs?: number;
}

/**
 * `(conversationId, nowMs) → connection ids` without duplicates. A failed read of the supervisor list is
 * not cached (the next call reads again); a read in flight is shared.
 */
export function subscriberLookup(
  subscriptions: Pick<SubscriptionsRepository, 'connectionsOf'>,
  options: SubscriberLookupOptions,
): (conversationId: string, nowMs: number) => Promise<string[]> {
  const cacheMs = options.cacheMs ?? 1000;
  let supervisors: { read: Promise<string[]>; at: number } | undefined;
  const supervisorsAt = (nowMs: number): Promise<string[]> => {
    const at = options.clock.monotonic();
    if (supervisors !== undefined && at - supervisors.at < cacheMs) return supervisors.read;
    const entry = { read: subscriptions.connectionsOf(ALL_CONVERSATIONS, nowMs), at };
    supervisors = entry;
    entry.read.catch(() => {
      if (supervisors === entry) supervisors = undefined;
    });
    return entry.read;
  };
  return async (conversationId, nowMs) => {
    const [direct, all] = await Promise.all([subscriptions.connectionsOf(conversationId, nowMs), supervisorsAt(nowMs)]);
    return [...new Set([...direct, ...all])];
  };
}

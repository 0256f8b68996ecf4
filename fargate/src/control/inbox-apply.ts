/**
 * Applying one control inbox item: the conversation's local sessions converge to META as it is now
 * (re-read, strongly consistent), not to the item, which makes redelivery and reordering harmless. The
 * poller acks with the item's version, so a newer notification is never deleted by an older apply.
 */

import type { ConversationMeta } from '../../../core/conversation/conversation';
import type { InboxItem } from '../../../store/control-inbox';
import type { ControlContext } from './controller-ports';
import type { SegmentControl } from './segment-control';

/** Converges the item's conversation (when this task holds a session of it) and logs the lag. */
export async function applyInboxItem(ctx: ControlContext, segments: SegmentControl, item: InboxItem): Promise<void> {
  const entry = ctx.queue.get(item.conversationId);
  const local = entry !== undefined && entry.sessions.size > 0;
  const created = Date.parse(item.createdAt);
  let lagMs: number | undefined;
  // Lag = written → acted upon (the converge starts), not → finished: a stop's flush takes its own time.
  const pickedUp = () => {
    lagMs = Number.isFinite(created) ? Math.max(0, ctx.options.clock.now() - created) : undefined;
    if (lagMs !== undefined) ctx.stats.observe('inboxLagMs', lagMs);
  };
  let meta: ConversationMeta | undefined;
  if (local) {
    meta = await ctx.queue.enqueue(item.conversationId, () => {
      pickedUp();
      return segments.converge(item.conversationId);
    });
  } else {
    pickedUp();
  }
  ctx.stats.count('inboxItemsApplied');
  ctx.log.info(
    {
      conversationId: item.conversationId,
      version: item.version,
      desired: meta?.desired ?? item.desired,
      metaVersion: meta?.desiredVersion,
      localSessions: entry?.sessions.size ?? 0,
      lagMs,
    },
    local ? 'control applied' : 'control item for a conversation without local sessions acknowledged',
  );
}

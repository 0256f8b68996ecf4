/**
 * Key layout of the Conversations table (generic `pk`/`sk`; diagram in docs/data-model.md). Kept in one
 * place so the repositories, the tests and the docs spell every key the same way.
 */

/** Partition of one conversation: its META, segments and sessions. */
export function conversationPk(conversationId: string): string {
  return `CONV#${conversationId}`;
}

/** Sort key of a conversation's desired-state item. */
export const META_SK = 'META';

/** Sort-key prefix of segment items. */
export const SEGMENT_PREFIX = 'SEG#';

/** Sort-key prefix of AudioHook session items. */
export const SESSION_PREFIX = 'SES#';

/** Segment numbers are zero-padded so the items sort numerically (up to 999,999 segments). */
export function segmentSk(segment: number): string {
  return `${SEGMENT_PREFIX}${String(segment).padStart(6, '0')}`;
}

/** Sort key of one AudioHook session bound to the conversation. */
export function sessionSk(sessionId: string): string {
  return `${SESSION_PREFIX}${sessionId}`;
}

/** Partition of one gateway task's control inbox. */
export function taskPk(taskId: string): string {
  return `TASK#${taskId}`;
}

/** Sort key of a conversation's entry in a task inbox. */
export function inboxSk(conversationId: string): string {
  return `CONV#${conversationId}`;
}

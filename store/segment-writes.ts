/**
 * The segment lifecycle's writes to the Conversations table, by the gateway (open, renew, count,
 * heartbeat, close) and by the stop Lambda (abandon a lost holder's segment, wait for the close). Each
 * write is conditional on the state it moves from; a lost condition re-reads and names what it found,
 * using the pure rules of core/conversation/rules.ts.
 */
import { TransactWriteCommand, UpdateCommand, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import type { Role } from '../core/audio/roles';
import { type ConversationMeta, ROLES } from '../core/conversation/conversation';
import { mayRenewSegment, openSegmentContention, planRenewal } from '../core/conversation/rules';
import { type RoleSummary, type SegmentHolder, type SegmentRecord, SUMMARY_FIELDS } from '../core/conversation/segment';
import {
  type ConversationTable,
  counterAttribute,
  type Item,
  iso,
  readMeta,
  readSegment,
  requireId,
  requireSegment,
  segmentItem,
} from './conversation-items';
import { isConditionalCheckFailed, isTransactionContention, ttlAfter } from './dynamo';
import { InvalidArgumentError, NotFoundError, toStoreError } from './errors';
import { conversationPk, META_SK, segmentSk } from './keys';

/** Result of opening a segment (see `ConversationsRepository.openSegment`). */
export type OpenSegmentResult =
  | { outcome: 'opened' | 'already-open'; segment: SegmentRecord }
  /** Another session/task already streams this segment. */
  | { outcome: 'taken'; segment: SegmentRecord }
  /** The segment was stopped or superseded (or never existed): do not stream. */
  | { outcome: 'stale'; segment: SegmentRecord | undefined };

/** Result of renewing a segment (see `ConversationsRepository.startNextSegment`). */
export type NextSegmentResult =
  /** The caller now holds segment `fromSegment + 1` (state `active`); META points at it with fresh streamIds. */
  | { outcome: 'opened'; meta: ConversationMeta; segment: SegmentRecord }
  /**
   * Nothing changed: transcription is off, META moved past `fromSegment`, or `fromSegment` is not closed
   * (another session still holds it, or a stop is being applied). Re-read META and decide again.
   */
  | { outcome: 'stale'; meta: ConversationMeta | undefined };

/** Result of closing a segment (see `ConversationsRepository.closeSegment`). */
export type CloseSegmentOutcome = 'closed' | 'already-closed' | 'not-open';

function missing(conversationId: string, segment: number): NotFoundError {
  return new NotFoundError(`segment ${segment} of conversation ${conversationId} does not exist`);
}

/**
 * Sends one conditional UpdateItem to the item of segment `segment`: `true` when it applied, `false` when
 * its condition failed (the caller re-reads to name what it found). Any other failure is thrown as the
 * store error of `operation`.
 */
async function updateSegmentIf(
  t: ConversationTable,
  conversationId: string,
  segment: number,
  operation: string,
  update: Omit<UpdateCommandInput, 'TableName' | 'Key'>,
): Promise<boolean> {
  try {
    await t.doc.send(
      new UpdateCommand({
        TableName: t.table,
        Key: { pk: conversationPk(conversationId), sk: segmentSk(segment) },
        ...update,
      }),
    );
    return true;
  } catch (err) {
    if (!isConditionalCheckFailed(err)) throw toStoreError(err, operation);
    return false;
  }
}

/**
 * After a close lost its condition: `already-closed` when the segment is closed (a retry, or someone else
 * closed it), else `otherwise`. Throws {@link NotFoundError} when it does not exist.
 */
async function closedOr<T extends string>(
  t: ConversationTable,
  conversationId: string,
  segment: number,
  otherwise: T,
): Promise<'already-closed' | T> {
  const seen = await readSegment(t, conversationId, segment);
  if (!seen) throw missing(conversationId, segment);
  return seen.state === 'closed' ? 'already-closed' : otherwise;
}

/** Claims a `pending` segment for `holder` and marks the conversation `transcribing`. */
export async function writeOpenSegment(
  t: ConversationTable,
  conversationId: string,
  segment: number,
  holder: SegmentHolder,
  now: number,
): Promise<OpenSegmentResult> {
  requireId(conversationId, 'conversationId');
  requireSegment(segment);
  const at = iso(now);
  try {
    await t.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: t.table,
              Key: { pk: conversationPk(conversationId), sk: segmentSk(segment) },
              UpdateExpression: 'SET #state = :active, openedAt = :now, taskId = :task, sessionId = :sid',
              ConditionExpression: '#state = :pending',
              ExpressionAttributeNames: { '#state': 'state' },
              ExpressionAttributeValues: {
                ':active': 'active',
                ':pending': 'pending',
                ':now': at,
                ':task': holder.taskId,
                ':sid': holder.sessionId,
              },
            },
          },
          {
            Update: {
              TableName: t.table,
              Key: { pk: conversationPk(conversationId), sk: META_SK },
              UpdateExpression: 'SET #status = :transcribing, updatedAt = :now',
              ConditionExpression: 'desired = :on AND currentSegment = :seg',
              ExpressionAttributeNames: { '#status': 'status' },
              ExpressionAttributeValues: {
                ':transcribing': 'transcribing',
                ':now': at,
                ':on': 'on',
                ':seg': segment,
              },
            },
          },
        ],
      }),
    );
  } catch (err) {
    if (!isTransactionContention(err)) throw toStoreError(err, 'conversations.openSegment');
    const seen = await readSegment(t, conversationId, segment);
    const outcome = openSegmentContention(seen, holder);
    return outcome === 'stale' ? { outcome, segment: seen } : { outcome, segment: seen as SegmentRecord };
  }
  const opened = await readSegment(t, conversationId, segment);
  if (!opened) throw new NotFoundError(`segment ${segment} of ${conversationId} vanished after opening`);
  return { outcome: 'opened', segment: opened };
}

/** Renews transcription after segment `fromSegment` closed with its session (one winner per `fromSegment`). */
export async function writeNextSegment(
  t: ConversationTable,
  conversationId: string,
  fromSegment: number,
  holder: SegmentHolder,
  now: number,
): Promise<NextSegmentResult> {
  requireId(conversationId, 'conversationId');
  requireSegment(fromSegment);
  requireId(holder.taskId, 'taskId');
  requireId(holder.sessionId, 'sessionId');
  const meta = await readMeta(t, conversationId);
  if (!mayRenewSegment(meta, fromSegment)) return { outcome: 'stale', meta };
  requireSegment(fromSegment + 1);
  const plan = planRenewal({
    meta,
    fromSegment,
    holder,
    newStreamIds: () => ({ customer: t.newStreamId(), agent: t.newStreamId() }),
    at: iso(now),
    ttl: ttlAfter(now, t.retentionSeconds),
  });
  const next = plan.meta;
  try {
    await t.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: t.table,
              Key: { pk: conversationPk(conversationId), sk: META_SK },
              UpdateExpression:
                'SET desiredVersion = :v, #status = :transcribing, currentSegment = :seg, streamIds = :ids, ' +
                'updatedAt = :now, #ttl = :ttl',
              ConditionExpression: 'desiredVersion = :from AND desired = :on AND currentSegment = :prev',
              ExpressionAttributeNames: { '#status': 'status', '#ttl': 'ttl' },
              ExpressionAttributeValues: {
                ':v': next.desiredVersion,
                ':transcribing': 'transcribing',
                ':seg': next.currentSegment,
                ':ids': next.streamIds,
                ':now': next.updatedAt,
                ':ttl': next.ttl,
                ':from': meta.desiredVersion,
                ':on': 'on',
                ':prev': fromSegment,
              },
            },
          },
          {
            ConditionCheck: {
              TableName: t.table,
              Key: { pk: conversationPk(conversationId), sk: segmentSk(fromSegment) },
              ConditionExpression: '#state = :closed',
              ExpressionAttributeNames: { '#state': 'state' },
              ExpressionAttributeValues: { ':closed': 'closed' },
            },
          },
          {
            Put: {
              TableName: t.table,
              Item: segmentItem(plan.segment),
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
        ],
      }),
    );
  } catch (err) {
    if (!isTransactionContention(err)) throw toStoreError(err, 'conversations.startNextSegment');
    return { outcome: 'stale', meta: await readMeta(t, conversationId) };
  }
  return { outcome: 'opened', meta: next, segment: plan.segment };
}

/** Closes an `active`/`closing` segment, replacing the counters of the roles `summary` names. */
export async function writeCloseSegment(
  t: ConversationTable,
  conversationId: string,
  segment: number,
  now: number,
  summary?: Partial<Record<Role, RoleSummary>>,
): Promise<CloseSegmentOutcome> {
  requireId(conversationId, 'conversationId');
  requireSegment(segment);
  const sets = ['#state = :closed', 'endedAt = :now', '#ttl = :ttl'];
  const values: Item = {
    ':closed': 'closed',
    ':active': 'active',
    ':closing': 'closing',
    ':now': iso(now),
    ':ttl': ttlAfter(now, t.retentionSeconds),
  };
  for (const role of ROLES) {
    const s = summary?.[role];
    if (!s) continue;
    for (const field of SUMMARY_FIELDS) {
      const name = counterAttribute(role, field);
      sets.push(`${name} = :${name}`);
      values[`:${name}`] = s[field];
    }
  }
  const closed = await updateSegmentIf(t, conversationId, segment, 'conversations.closeSegment', {
    UpdateExpression: `SET ${sets.join(', ')}`,
    ConditionExpression: '#state IN (:active, :closing)',
    ExpressionAttributeNames: { '#state': 'state', '#ttl': 'ttl' },
    ExpressionAttributeValues: values,
  });
  return closed ? 'closed' : closedOr(t, conversationId, segment, 'not-open');
}

/** The `ADD` clauses and values of per-role counter deltas (0 and absent fields are skipped). */
function counterAdds(deltas: Partial<Record<Role, Partial<RoleSummary>>>): { adds: string[]; values: Item } {
  const adds: string[] = [];
  const values: Item = {};
  for (const role of ROLES) {
    const delta = deltas[role];
    if (delta === undefined) continue;
    for (const field of SUMMARY_FIELDS) {
      const v = delta[field];
      if (v === undefined || v === 0) continue;
      if (!Number.isFinite(v)) throw new InvalidArgumentError(`${field} must be a finite number`);
      const name = counterAttribute(role, field);
      adds.push(`${name} :${name}`);
      values[`:${name}`] = v;
    }
  }
  return { adds, values };
}

/** Adds to one role's counters with one atomic ADD (0 and absent fields are skipped). */
export async function writeCounters(
  t: ConversationTable,
  conversationId: string,
  segment: number,
  role: Role,
  delta: Partial<RoleSummary>,
): Promise<void> {
  requireId(conversationId, 'conversationId');
  requireSegment(segment);
  await addCounters(t, conversationId, segment, counterAdds({ [role]: delta }));
}

/** ADDs counters to the segment item whatever its state; throws {@link NotFoundError} when it does not exist. */
async function addCounters(
  t: ConversationTable,
  conversationId: string,
  segment: number,
  { adds, values }: { adds: string[]; values: Item },
): Promise<void> {
  if (adds.length === 0) return;
  const added = await updateSegmentIf(t, conversationId, segment, 'conversations.addSegmentCounters', {
    UpdateExpression: `ADD ${adds.join(', ')}`,
    ConditionExpression: 'attribute_exists(pk)',
    ExpressionAttributeValues: values,
  });
  if (!added) throw missing(conversationId, segment);
}

/**
 * The holder's periodic write: every role's counter deltas and its sign of life (`heartbeatAt`) in one
 * conditional UpdateItem — one request per flush period instead of one per role plus a heartbeat. When
 * the segment is no longer `active`/`closing` the counters are still added (they are the segment's,
 * whoever closed it) and the answer is `not-open`.
 */
export async function writeFlush(
  t: ConversationTable,
  conversationId: string,
  segment: number,
  deltas: Partial<Record<Role, Partial<RoleSummary>>>,
  now: number,
): Promise<'ok' | 'not-open'> {
  requireId(conversationId, 'conversationId');
  requireSegment(segment);
  const counters = counterAdds(deltas);
  const add = counters.adds.length > 0 ? ` ADD ${counters.adds.join(', ')}` : '';
  const beat = await updateSegmentIf(t, conversationId, segment, 'conversations.flushSegment', {
    UpdateExpression: `SET heartbeatAt = :now${add}`,
    ConditionExpression: '#state IN (:active, :closing)',
    ExpressionAttributeNames: { '#state': 'state' },
    ExpressionAttributeValues: { ...counters.values, ':now': iso(now), ':active': 'active', ':closing': 'closing' },
  });
  if (beat) return 'ok';
  if (counters.adds.length > 0) await addCounters(t, conversationId, segment, counters);
  else if (!(await readSegment(t, conversationId, segment))) throw missing(conversationId, segment);
  return 'not-open';
}

/** Records the holder's sign of life (`heartbeatAt`) on an `active`/`closing` segment. */
export async function writeHeartbeat(
  t: ConversationTable,
  conversationId: string,
  segment: number,
  now: number,
): Promise<'ok' | 'not-open'> {
  requireId(conversationId, 'conversationId');
  requireSegment(segment);
  const beat = await updateSegmentIf(t, conversationId, segment, 'conversations.heartbeatSegment', {
    UpdateExpression: 'SET heartbeatAt = :now',
    ConditionExpression: '#state IN (:active, :closing)',
    ExpressionAttributeNames: { '#state': 'state' },
    ExpressionAttributeValues: { ':now': iso(now), ':active': 'active', ':closing': 'closing' },
  });
  if (beat) return 'ok';
  if (!(await readSegment(t, conversationId, segment))) throw missing(conversationId, segment);
  return 'not-open';
}

/** Closes a segment as `holder-lost` if its holder has been silent since `silentSince` (conditional). */
export async function writeAbandon(
  t: ConversationTable,
  conversationId: string,
  segment: number,
  now: number,
  silentSince: number,
): Promise<'closed' | 'already-closed' | 'alive'> {
  requireId(conversationId, 'conversationId');
  requireSegment(segment);
  const closed = await updateSegmentIf(t, conversationId, segment, 'conversations.abandonSegment', {
    UpdateExpression: 'SET #state = :closed, endedAt = :now, closeReason = :reason, #ttl = :ttl',
    // The holder-lost rule (core/conversation/rules.ts isHolderSilent) as a condition, so the decision
    // and the write are one atomic step. ISO-8601 UTC timestamps of one format compare correctly as strings.
    ConditionExpression:
      '#state IN (:active, :closing) AND (heartbeatAt < :cut OR (attribute_not_exists(heartbeatAt) AND openedAt < :cut))',
    ExpressionAttributeNames: { '#state': 'state', '#ttl': 'ttl' },
    ExpressionAttributeValues: {
      ':closed': 'closed',
      ':active': 'active',
      ':closing': 'closing',
      ':now': iso(now),
      ':reason': 'holder-lost',
      ':cut': iso(silentSince),
      ':ttl': ttlAfter(now, t.retentionSeconds),
    },
  });
  return closed ? 'closed' : closedOr(t, conversationId, segment, 'alive');
}

/** Polls the segment (strongly consistent) until it is `closed` or `timeoutMs` passes. */
export async function waitClosed(
  t: ConversationTable,
  conversationId: string,
  segment: number,
  options: { timeoutMs: number; pollMs?: number },
): Promise<{ closed: boolean; segment: SegmentRecord | undefined }> {
  const pollMs = options.pollMs ?? 100;
  const deadline = t.now() + options.timeoutMs;
  for (;;) {
    const seen = await readSegment(t, conversationId, segment);
    if (seen?.state === 'closed') return { closed: true, segment: seen };
    if (t.now() >= deadline) return { closed: false, segment: seen };
    await t.sleep(Math.min(pollMs, Math.max(0, deadline - t.now())));
  }
}

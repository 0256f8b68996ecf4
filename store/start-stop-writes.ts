/**
 * The start/stop Lambdas' writes to the Conversations table: one transaction each, conditional on the
 * META version that was read; a lost race re-reads and decides again (bounded by `maxAttempts`), so
 * concurrent start/stop requests never lose an update. What to write is decided by the pure rules in
 * core/conversation/rules.ts; this module only turns a plan into conditional writes.
 */
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { ConversationMeta, StartParams, StreamIds } from '../core/conversation/conversation';
import { planStart, segmentStopTransition, stoppedMeta, stopRefusal } from '../core/conversation/rules';
import type { SegmentState } from '../core/conversation/segment';
import {
  backoff,
  type ConversationTable,
  iso,
  readMeta,
  readSegment,
  requireId,
  segmentItem,
} from './conversation-items';
import { isTransactionContention, ttlAfter } from './dynamo';
import { toStoreError } from './errors';
import { conversationPk, META_SK, segmentSk } from './keys';

/** Result of a start (see `ConversationsRepository.requestStart`). */
export type StartResult =
  | { outcome: 'started' | 'already-active'; meta: ConversationMeta; segment: number; streamIds: StreamIds }
  /** Lost the optimistic race `maxAttempts` times in a row (maps to `409-202`). */
  | { outcome: 'conflict'; meta: ConversationMeta | undefined };

/** Result of a stop (see `ConversationsRepository.requestStop`). */
export type StopResult =
  | {
      outcome: 'stopped';
      meta: ConversationMeta;
      segment: number;
      /** Segment state right after the stop: `closed` when nothing was streaming, else `closing`/`closed`. */
      segmentState: SegmentState;
    }
  | { outcome: 'already-stopped'; meta: ConversationMeta; segment: number }
  /** A session is known but no start was ever accepted. */
  | { outcome: 'not-started'; meta: ConversationMeta }
  /** Neither started nor seen. */
  | { outcome: 'unknown' }
  | { outcome: 'conflict'; meta: ConversationMeta | undefined };

type TransactItems = NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>;

/**
 * When a start or stop happens: a time (ms) or a clock read at each attempt. A clock makes an attempt that
 * retries after losing a race stamp the time it is applied, so a stop retried after a concurrent start
 * never records `stopRequestedAt` before that segment's `startedAt`.
 */
export type RequestClock = number | (() => number);

function timeOf(clock: RequestClock): number {
  return typeof clock === 'function' ? clock() : clock;
}

/** Records a start: the running segment again (idempotent), or a new `pending` one with META in one transaction. */
export async function writeStart(
  t: ConversationTable,
  conversationId: string,
  params: StartParams,
  clock: RequestClock,
): Promise<StartResult> {
  requireId(conversationId, 'conversationId');
  let meta: ConversationMeta | undefined;
  for (let attempt = 1; attempt <= t.maxAttempts; attempt++) {
    meta = await readMeta(t, conversationId);
    const now = timeOf(clock);
    const plan = planStart({
      conversationId,
      meta,
      params,
      newStreamIds: () => ({ customer: t.newStreamId(), agent: t.newStreamId() }),
      at: iso(now),
      ttl: ttlAfter(now, t.retentionSeconds),
    });
    if (plan.kind === 'already-active') {
      return { outcome: 'already-active', meta: plan.meta, segment: plan.segment, streamIds: plan.streamIds };
    }
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
                  'SET conversationId = :id, desired = :on, desiredVersion = :v, #status = :status, params = :params, ' +
                  'currentSegment = :seg, streamIds = :ids, createdAt = if_not_exists(createdAt, :now), ' +
                  'updatedAt = :now, startedAt = :now, #ttl = :ttl REMOVE stoppedAt',
                ConditionExpression:
                  plan.fromVersion !== undefined ? 'desiredVersion = :from' : 'attribute_not_exists(pk)',
                ExpressionAttributeNames: { '#status': 'status', '#ttl': 'ttl' },
                ExpressionAttributeValues: {
                  ':id': conversationId,
                  ':on': 'on',
                  ':v': next.desiredVersion,
                  ':status': next.status,
                  ':params': next.params,
                  ':seg': next.currentSegment,
                  ':ids': next.streamIds,
                  ':now': next.updatedAt,
                  ':ttl': next.ttl,
                  ...(plan.fromVersion !== undefined ? { ':from': plan.fromVersion } : {}),
                },
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
      return { outcome: 'started', meta: next, segment: plan.segment.segment, streamIds: plan.segment.streamIds };
    } catch (err) {
      if (!isTransactionContention(err)) throw toStoreError(err, 'conversations.requestStart');
      await backoff(t, attempt);
    }
  }
  return { outcome: 'conflict', meta };
}

/** Records a stop: META `off` and, in the same transaction, the segment's stop transition. */
export async function writeStop(
  t: ConversationTable,
  conversationId: string,
  clock: RequestClock,
): Promise<StopResult> {
  requireId(conversationId, 'conversationId');
  let meta: ConversationMeta | undefined;
  for (let attempt = 1; attempt <= t.maxAttempts; attempt++) {
    meta = await readMeta(t, conversationId);
    const now = timeOf(clock);
    const refusal = stopRefusal(meta);
    if (refusal === 'unknown') return { outcome: 'unknown' };
    const seen = meta as ConversationMeta & { currentSegment: number };
    if (refusal === 'not-started') return { outcome: 'not-started', meta: seen };
    if (refusal === 'already-stopped') return { outcome: 'already-stopped', meta: seen, segment: seen.currentSegment };
    const segment = seen.currentSegment;
    const current = await readSegment(t, conversationId, segment);
    const at = iso(now);
    const ttl = ttlAfter(now, t.retentionSeconds);
    const next = stoppedMeta(seen, at, ttl);
    const transactItems: TransactItems = [
      {
        Update: {
          TableName: t.table,
          Key: { pk: conversationPk(conversationId), sk: META_SK },
          UpdateExpression:
            'SET desired = :off, desiredVersion = :v, #status = :stopped, updatedAt = :now, stoppedAt = :now, #ttl = :ttl',
          ConditionExpression: 'desiredVersion = :from',
          ExpressionAttributeNames: { '#status': 'status', '#ttl': 'ttl' },
          ExpressionAttributeValues: {
            ':off': 'off',
            ':v': next.desiredVersion,
            ':stopped': 'stopped',
            ':now': at,
            ':ttl': ttl,
            ':from': seen.desiredVersion,
          },
        },
      },
    ];
    const transition = segmentStopTransition(current?.state);
    if (current && transition.write) {
      transactItems.push({
        Update: {
          TableName: t.table,
          Key: { pk: conversationPk(conversationId), sk: segmentSk(segment) },
          UpdateExpression:
            transition.to === 'closed'
              ? 'SET #state = :next, stopRequestedAt = :now, endedAt = :now, #ttl = :ttl'
              : 'SET #state = :next, stopRequestedAt = :now, #ttl = :ttl',
          ConditionExpression: '#state = :seen',
          ExpressionAttributeNames: { '#state': 'state', '#ttl': 'ttl' },
          ExpressionAttributeValues: { ':next': transition.to, ':seen': current.state, ':now': at, ':ttl': ttl },
        },
      });
    }
    try {
      await t.doc.send(new TransactWriteCommand({ TransactItems: transactItems }));
      return { outcome: 'stopped', meta: next, segment, segmentState: transition.to };
    } catch (err) {
      if (!isTransactionContention(err)) throw toStoreError(err, 'conversations.requestStop');
      await backoff(t, attempt);
    }
  }
  return { outcome: 'conflict', meta };
}

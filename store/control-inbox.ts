/**
 * The control inbox (architecture.md §4): how a gateway task learns that a conversation it holds was
 * started or stopped. The start/stop Lambda writes one small item per task holding a session of the
 * conversation (`pk=TASK#<taskId>`, `sk=CONV#<conversationId>`, the new desired version); each task
 * polls only its own partition with a strongly consistent Query (~200 ms) and deletes an item once it
 * has applied that version. META stays the source of truth: an inbox item only says "look again".
 *
 * Cost: an empty Query is charged the minimum read (1 RCU strongly consistent, 0.5 eventually), so N tasks
 * polling 5×/s cost 5·N (or 2.5·N) RCU/s, flat in the number of calls. The race with session
 * registration is covered in docs/data-model.md.
 */
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { DesiredState } from '../core/conversation/conversation';
import type { Clock } from '../core/ports';
import { isConditionalCheckFailed, ttlAfter } from './dynamo';
import { InvalidArgumentError, toStoreError } from './errors';
import { inboxSk, taskPk } from './keys';

/** One pending notification for a task. */
export interface InboxItem {
  taskId: string;
  conversationId: string;
  /** The META `desiredVersion` the notification is about. */
  version: number;
  /** Hint only; the task re-reads META before acting. */
  desired?: DesiredState;
  createdAt: string;
}

/** Options of {@link ControlInbox}. */
export interface ControlInboxOptions {
  /** The Conversations table (the inbox shares it). */
  tableName: string;
  /** An item not acked within this time (its task died) expires. @default 1 hour */
  ttlSeconds?: number;
  clock?: Pick<Clock, 'now'>;
}

/** Result of {@link ControlInbox.notifyTasks}. */
export interface NotifyResult {
  /** Tasks whose inbox now holds this version. */
  notified: string[];
  /** Tasks whose inbox already held this or a newer version (nothing written). */
  skipped: string[];
}

/** Writer (start/stop Lambda) and reader (gateway task) of the per-task control inboxes. */
export class ControlInbox {
  private readonly table: string;
  private readonly ttlSeconds: number;
  private readonly clock: Pick<Clock, 'now'>;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    options: ControlInboxOptions,
  ) {
    this.table = options.tableName;
    this.ttlSeconds = options.ttlSeconds ?? 3600;
    this.clock = options.clock ?? { now: Date.now };
  }

  /**
   * Tells each task that `conversationId` changed to `version`. Never moves an inbox item backwards: a
   * write older than what is already queued is skipped (so racing Lambdas cannot hide the newest change).
   */
  async notifyTasks(
    conversationId: string,
    version: number,
    taskIds: Iterable<string>,
    options: { desired?: DesiredState } = {},
  ): Promise<NotifyResult> {
    if (!Number.isInteger(version) || version < 0) throw new InvalidArgumentError('version must be an integer ≥ 0');
    const now = this.clock.now();
    const unique = [...new Set(taskIds)];
    const result: NotifyResult = { notified: [], skipped: [] };
    await Promise.all(
      unique.map(async (taskId) => {
        try {
          await this.doc.send(
            new PutCommand({
              TableName: this.table,
              Item: {
                pk: taskPk(taskId),
                sk: inboxSk(conversationId),
                taskId,
                conversationId,
                version,
                desired: options.desired,
                createdAt: new Date(now).toISOString(),
                ttl: ttlAfter(now, this.ttlSeconds),
              },
              ConditionExpression: 'attribute_not_exists(pk) OR version < :v',
              ExpressionAttributeValues: { ':v': version },
            }),
          );
          result.notified.push(taskId);
        } catch (err) {
          if (!isConditionalCheckFailed(err)) throw toStoreError(err, 'controlInbox.notifyTasks');
          result.skipped.push(taskId);
        }
      }),
    );
    return result;
  }

  /**
   * Everything pending for a task. Strongly consistent by default (a notification is seen on the next
   * poll; an empty poll costs 1 RCU). `consistent: false` halves that (0.5 RCU) at the price of a
   * replication lag of typically well under a second; correctness does not depend on it, since META is
   * re-read before acting.
   */
  async poll(taskId: string, options: { consistent?: boolean } = {}): Promise<InboxItem[]> {
    const items: InboxItem[] = [];
    let startKey: QueryCommandInput['ExclusiveStartKey'];
    try {
      do {
        const page = await this.doc.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': taskPk(taskId) },
            ConsistentRead: options.consistent ?? true,
            ExclusiveStartKey: startKey,
          }),
        );
        for (const item of page.Items ?? []) {
          const { pk: _pk, sk: _sk, ttl: _ttl, ...rest } = item;
          items.push(rest as InboxItem);
        }
        startKey = page.LastEvaluatedKey;
      } while (startKey);
    } catch (err) {
      throw toStoreError(err, 'controlInbox.poll');
    }
    return items;
  }

  /**
   * Removes the item once `version` is applied. If a newer version arrived meanwhile the item stays
   * (`superseded`), so the task sees it on its next poll. Acking an absent item is a no-op (`acked`).
   */
  async ack(taskId: string, conversationId: string, version: number): Promise<'acked' | 'superseded'> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: { pk: taskPk(taskId), sk: inboxSk(conversationId) },
          ConditionExpression: 'attribute_not_exists(pk) OR version <= :v',
          ExpressionAttributeValues: { ':v': version },
        }),
      );
      return 'acked';
    } catch (err) {
      if (isConditionalCheckFailed(err)) return 'superseded';
      throw toStoreError(err, 'controlInbox.ack');
    }
  }
}

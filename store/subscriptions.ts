/**
 * The Subscriptions table (contract/tables.ts `SUBSCRIPTIONS_TABLE`): real-time delivery state.
 *
 * ```
 * pk                      sk                         item
 * CONN#<connectionId>     META                       apiId, grant, connectedAt, ttl
 * CONN#<connectionId>     SUB#<conversationId|*>     back-reference, so a disconnect finds its subscriptions
 * SUB#<conversationId>    <connectionId>             a subscription (queried by the fan-out per record)
 * SUB#*                   <connectionId>             an "all conversations" (supervisor) subscription
 * DLQ#<targetId>          <storedAt>#<start>#<id>    a webhook dead letter (body, reason, attempts), ttl
 * ```
 *
 * Connections and subscriptions expire with the connection's TTL (API Gateway closes a WebSocket after
 * 2 hours at most), so a missed `$disconnect` leaves nothing behind for long; the fan-out also deletes a
 * connection the management API reports gone. Dead letters expire after their retention (14 days by
 * default); the key is deterministic per (target, utterance), so dead-lettering the same record twice
 * (a Lambda retry) writes one item.
 */
import {
  BatchWriteCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import { ttlAfter } from './dynamo';
import { errorName, InvalidArgumentError, toStoreError } from './errors';

/** What a connection is allowed to subscribe to (decided at `$connect`). */
export type ConnectionGrant =
  /** Any single conversation (authenticated with API credentials). */
  | { kind: 'any' }
  /** Any single conversation and the "all conversations" feed. */
  | { kind: 'supervisor' }
  /** One conversation only (a token scoped to it). */
  | { kind: 'conversation'; conversationId: string };

/** A stored WebSocket connection. */
export interface ConnectionRecord {
  connectionId: string;
  apiId: string;
  grant: ConnectionGrant;
  /** ISO-8601. */
  connectedAt: string;
  /** Expiry, epoch seconds. */
  ttl: number;
}

/** The subscription target meaning "every conversation". */
export const ALL_CONVERSATIONS = '*';

/** Result of {@link SubscriptionsRepository.subscribe}. */
export type SubscribeOutcome = 'subscribed' | 'no-connection' | 'too-many';

/** Options of {@link SubscriptionsRepository}. */
export interface SubscriptionsRepositoryOptions {
  tableName: string;
  /** Lifetime of connection and subscription items. @default 2 h 10 min (API Gateway's 2 h cap + margin) */
  connectionTtlSeconds?: number;
  /** Most subscriptions one connection may hold. @default 100 */
  maxSubscriptionsPerConnection?: number;
}

const CONNECTION_ID_RE = /^[\x21-\x7e]{1,128}$/;

function checkId(name: string, value: string): void {
  if (typeof value !== 'string' || !CONNECTION_ID_RE.test(value)) {
    throw new InvalidArgumentError(`${name} must be 1-128 printable ASCII characters`);
  }
}

/** WebSocket connections and their subscriptions. */
export class SubscriptionsRepository {
  private readonly table: string;
  private readonly ttlSeconds: number;
  private readonly maxPerConnection: number;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    options: SubscriptionsRepositoryOptions,
  ) {
    this.table = options.tableName;
    this.ttlSeconds = options.connectionTtlSeconds ?? 2 * 3600 + 600;
    this.maxPerConnection = options.maxSubscriptionsPerConnection ?? 100;
  }

  /** Records an accepted connection (idempotent: a retried `$connect` overwrites the same item). */
  async putConnection(
    input: { connectionId: string; apiId: string; grant: ConnectionGrant },
    nowMs: number,
  ): Promise<ConnectionRecord> {
    checkId('connectionId', input.connectionId);
    const record: ConnectionRecord = {
      ...input,
      connectedAt: new Date(nowMs).toISOString(),
      ttl: ttlAfter(nowMs, this.ttlSeconds),
    };
    try {
      await this.doc.send(
        new PutCommand({ TableName: this.table, Item: { pk: `CONN#${input.connectionId}`, sk: 'META', ...record } }),
      );
    } catch (err) {
      throw toStoreError(err, 'subscriptions.putConnection');
    }
    return record;
  }

  /** The connection, or undefined when unknown or expired. Strongly consistent: it was written moments ago. */
  async getConnection(connectionId: string, nowMs: number = Date.now()): Promise<ConnectionRecord | undefined> {
    checkId('connectionId', connectionId);
    try {
      const out = await this.doc.send(
        new GetCommand({
          TableName: this.table,
          Key: { pk: `CONN#${connectionId}`, sk: 'META' },
          ConsistentRead: true,
        }),
      );
      const item = out.Item as (ConnectionRecord & { pk?: string; sk?: string }) | undefined;
      // TTL deletion lags expiry by up to days: an expired item counts as gone.
      if (!item || item.ttl * 1000 <= nowMs) return undefined;
      const { pk: _pk, sk: _sk, ...record } = item;
      return record;
    } catch (err) {
      throw toStoreError(err, 'subscriptions.getConnection');
    }
  }

  /**
   * Subscribes a connection to a conversation (or {@link ALL_CONVERSATIONS}). Both items are written in
   * one transaction conditional on the connection still existing, so a subscribe racing a disconnect
   * cannot leave an orphan subscription. Idempotent.
   */
  async subscribe(connectionId: string, target: string, nowMs: number): Promise<SubscribeOutcome> {
    checkId('connectionId', connectionId);
    if (typeof target !== 'string' || target.length === 0 || target.length > 255) {
      throw new InvalidArgumentError('conversationId must be 1-255 characters');
    }
    const held = await this.subscriptionsOf(connectionId);
    if (!held.includes(target) && held.length >= this.maxPerConnection) return 'too-many';
    const ttl = ttlAfter(nowMs, this.ttlSeconds);
    const subscribedAt = new Date(nowMs).toISOString();
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              ConditionCheck: {
                TableName: this.table,
                Key: { pk: `CONN#${connectionId}`, sk: 'META' },
                ConditionExpression: 'attribute_exists(pk) AND #ttl > :now',
                ExpressionAttributeNames: { '#ttl': 'ttl' },
                ExpressionAttributeValues: { ':now': Math.floor(nowMs / 1000) },
              },
            },
            {
              Put: {
                TableName: this.table,
                Item: {
                  pk: `SUB#${target}`,
                  sk: connectionId,
                  connectionId,
                  conversationId: target,
                  subscribedAt,
                  ttl,
                },
              },
            },
            {
              Put: {
                TableName: this.table,
                Item: { pk: `CONN#${connectionId}`, sk: `SUB#${target}`, conversationId: target, subscribedAt, ttl },
              },
            },
          ],
        }),
      );
      return 'subscribed';
    } catch (err) {
      if (errorName(err) === 'TransactionCanceledException') {
        const reasons = (err as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
        if (reasons[0]?.Code === 'ConditionalCheckFailed') return 'no-connection';
      }
      throw toStoreError(err, 'subscriptions.subscribe');
    }
  }

  /** Removes one subscription (idempotent). */
  async unsubscribe(connectionId: string, target: string): Promise<void> {
    checkId('connectionId', connectionId);
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            { Delete: { TableName: this.table, Key: { pk: `SUB#${target}`, sk: connectionId } } },
            { Delete: { TableName: this.table, Key: { pk: `CONN#${connectionId}`, sk: `SUB#${target}` } } },
          ],
        }),
      );
    } catch (err) {
      throw toStoreError(err, 'subscriptions.unsubscribe');
    }
  }

  /** Targets a connection is subscribed to (conversation ids and/or {@link ALL_CONVERSATIONS}). */
  async subscriptionsOf(connectionId: string): Promise<string[]> {
    const items = await this.queryAll(
      {
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :sub)',
        ExpressionAttributeValues: { ':pk': `CONN#${connectionId}`, ':sub': 'SUB#' },
        ConsistentRead: true,
      },
      'subscriptions.subscriptionsOf',
    );
    return items.map((i) => String(i.sk).slice('SUB#'.length));
  }

  /**
   * Connection ids subscribed to a conversation, directly or through "all conversations", without
   * duplicates. Expired items (TTL not yet applied) are skipped.
   */
  async subscribersOf(conversationId: string, nowMs: number = Date.now()): Promise<string[]> {
    const [direct, all] = await Promise.all([
      this.connectionsOf(conversationId, nowMs),
      this.connectionsOf(ALL_CONVERSATIONS, nowMs),
    ]);
    return [...new Set([...direct, ...all])];
  }

  /** Connection ids subscribed to exactly one target (a conversation id or {@link ALL_CONVERSATIONS}). */
  async connectionsOf(target: string, nowMs: number = Date.now()): Promise<string[]> {
    const items = await this.queryAll(
      { KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `SUB#${target}` } },
      'subscriptions.connectionsOf',
    );
    return items.filter((i) => !(typeof i.ttl === 'number' && i.ttl * 1000 <= nowMs)).map((i) => String(i.sk));
  }

  /** Deletes a connection and every subscription it holds (disconnect, or gone at the management API). */
  async removeConnection(connectionId: string): Promise<number> {
    checkId('connectionId', connectionId);
    const items = await this.queryAll(
      {
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `CONN#${connectionId}` },
        ConsistentRead: true,
      },
      'subscriptions.removeConnection',
    );
    const keys: { pk: string; sk: string }[] = [];
    for (const item of items) {
      const sk = String(item.sk);
      keys.push({ pk: `CONN#${connectionId}`, sk });
      if (sk.startsWith('SUB#')) keys.push({ pk: `SUB#${sk.slice('SUB#'.length)}`, sk: connectionId });
    }
    await this.deleteKeys(keys, 'subscriptions.removeConnection');
    return items.filter((i) => String(i.sk).startsWith('SUB#')).length;
  }

  private async queryAll(
    input: Omit<QueryCommandInput, 'TableName'>,
    operation: string,
  ): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let startKey: QueryCommandInput['ExclusiveStartKey'];
    try {
      do {
        const page = await this.doc.send(
          new QueryCommand({ ...input, TableName: this.table, ExclusiveStartKey: startKey }),
        );
        items.push(...((page.Items ?? []) as Record<string, unknown>[]));
        startKey = page.LastEvaluatedKey;
      } while (startKey);
    } catch (err) {
      throw toStoreError(err, operation);
    }
    return items;
  }

  private async deleteKeys(keys: { pk: string; sk: string }[], operation: string): Promise<void> {
    await batchDelete(this.doc, this.table, keys, operation);
  }
}

async function batchDelete(
  doc: DynamoDBDocumentClient,
  table: string,
  keys: { pk: string; sk: string }[],
  operation: string,
): Promise<void> {
  try {
    for (let i = 0; i < keys.length; i += 25) {
      let pending: Record<string, unknown>[] = keys.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } }));
      // BatchWrite may hand back unprocessed items under load; retry them with a short backoff.
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
        if (attempt > 8) throw new Error(`${pending.length} deletes still unprocessed`);
        const out = await doc.send(new BatchWriteCommand({ RequestItems: { [table]: pending as never } }));
        pending = (out.UnprocessedItems?.[table] ?? []) as Record<string, unknown>[];
      }
    }
  } catch (err) {
    throw toStoreError(err, operation);
  }
}

/** Why a webhook delivery ended in the dead-letter store. */
export type DeadLetterReason = 'permanent' | 'expired';

/** A webhook delivery that was given up on: everything needed to send it again, unchanged. */
export interface DeadLetter {
  targetId: string;
  utteranceId: string;
  conversationId: string;
  /** The utterance's start offset (orders dead letters stored in the same millisecond). */
  startMs: number;
  /** The exact JSON body that was POSTed (so a redrive sends the same bytes). */
  body: string;
  reason: DeadLetterReason;
  /** The last attempt's outcome code (`WEBHOOK_HTTP_STATUS`, `WEBHOOK_TIMEOUT`…). */
  code: string;
  /** The last HTTP status, when the receiver answered. */
  status?: number;
  /** Attempts made by the invocation that gave up. */
  attempts: number;
  /** When the utterance was stored (ISO-8601). */
  storedAt: string;
  /** When it was dead-lettered (ISO-8601). */
  deadLetteredAt: string;
  /** Stream sequence number of the record, for tracing. */
  sequenceNumber?: string;
  /** How many redrives have failed on it so far. */
  redriveFailures?: number;
}

/** A stored dead letter with its key. */
export interface StoredDeadLetter extends DeadLetter {
  /** `<storedAt>#<startMs padded to 10>#<utteranceId>`: oldest first within a target. */
  sk: string;
  ttl: number;
}

/** Options of {@link DeadLetterRepository}. */
export interface DeadLetterRepositoryOptions {
  tableName: string;
  /** How long a dead letter is kept. @default 14 days */
  retentionSeconds?: number;
}

/** Webhook dead letters, one partition per target, oldest stored utterance first. */
export class DeadLetterRepository {
  private readonly table: string;
  private readonly retentionSeconds: number;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    options: DeadLetterRepositoryOptions,
  ) {
    this.table = options.tableName;
    this.retentionSeconds = options.retentionSeconds ?? 14 * 24 * 3600;
  }

  /** Stores a dead letter (idempotent per target and utterance). */
  async put(entry: DeadLetter, nowMs: number): Promise<StoredDeadLetter> {
    const sk = `${entry.storedAt}#${String(entry.startMs).padStart(10, '0')}#${entry.utteranceId}`;
    const stored: StoredDeadLetter = { ...entry, sk, ttl: ttlAfter(nowMs, this.retentionSeconds) };
    try {
      await this.doc.send(new PutCommand({ TableName: this.table, Item: { pk: `DLQ#${entry.targetId}`, ...stored } }));
    } catch (err) {
      throw toStoreError(err, 'deadLetters.put');
    }
    return stored;
  }

  /** Dead letters of a target, oldest stored utterance first, `limit` per page. */
  async list(
    targetId: string,
    options: { limit?: number; startAfter?: string } = {},
  ): Promise<{ items: StoredDeadLetter[]; next?: string }> {
    try {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': `DLQ#${targetId}` },
          ConsistentRead: true,
          Limit: options.limit ?? 100,
          ...(options.startAfter !== undefined && {
            ExclusiveStartKey: { pk: `DLQ#${targetId}`, sk: options.startAfter },
          }),
        }),
      );
      const items = (out.Items ?? []).map((i) => {
        const { pk: _pk, ...rest } = i as StoredDeadLetter & { pk: string };
        return rest;
      });
      const next = out.LastEvaluatedKey ? String(out.LastEvaluatedKey.sk) : undefined;
      return next === undefined ? { items } : { items, next };
    } catch (err) {
      throw toStoreError(err, 'deadLetters.list');
    }
  }

  /** Removes a dead letter (after a successful redrive, or a purge). */
  async delete(targetId: string, sk: string): Promise<void> {
    try {
      await this.doc.send(new DeleteCommand({ TableName: this.table, Key: { pk: `DLQ#${targetId}`, sk } }));
    } catch (err) {
      throw toStoreError(err, 'deadLetters.delete');
    }
  }

  /** Counts a failed redrive on a dead letter. */
  async markRedriveFailed(entry: StoredDeadLetter, nowMs: number): Promise<void> {
    await this.put({ ...entry, redriveFailures: (entry.redriveFailures ?? 0) + 1 }, nowMs);
  }
}

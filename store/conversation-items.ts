/**
 * The Conversations table's items ↔ the domain model (core/conversation): META ↔ {@link ConversationMeta},
 * `SEG#` ↔ {@link SegmentRecord} (its per-role summary flattened into counter attributes such as
 * `customerTotalAudioBytes`, so a gateway flush is one atomic ADD), `SES#` ↔ {@link SessionRecord}. Also
 * the shared context and reads the repository's write modules build on. Layout: docs/data-model.md.
 */
import { type DynamoDBDocumentClient, GetCommand, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { Role } from '../core/audio/roles';
import { type ConversationMeta, ROLES } from '../core/conversation/conversation';
import { type RoleSummary, type SegmentRecord, SUMMARY_FIELDS, ZERO_SUMMARY } from '../core/conversation/segment';
import type { SessionRecord } from '../core/conversation/session';
import { InvalidArgumentError, toStoreError } from './errors';
import { conversationPk, META_SK, segmentSk } from './keys';

/** A DynamoDB item as the document client reads and writes it. */
export type Item = Record<string, unknown>;

/** What every read and write of the Conversations table needs (built once by the repository). */
export interface ConversationTable {
  readonly doc: DynamoDBDocumentClient;
  readonly table: string;
  readonly retentionSeconds: number;
  /** Read-decide-write rounds before a start/stop gives up with `conflict`. */
  readonly maxAttempts: number;
  readonly newStreamId: () => string;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
}

/** ISO-8601 UTC of an epoch-ms instant (every timestamp attribute uses this one format). */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The flat attribute name of one role's counter, e.g. `agentStreamingSeconds`. */
export function counterAttribute(role: Role, field: keyof RoleSummary): string {
  return `${role}${field[0]?.toUpperCase()}${field.slice(1)}`;
}

/** META item → conversation. */
export function toMeta(item: Item): ConversationMeta {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return rest as unknown as ConversationMeta;
}

/** SEG# item → segment (flat counters folded back into `summary`; a missing counter reads 0). */
export function toSegment(item: Item): SegmentRecord {
  const summary = {} as Record<Role, RoleSummary>;
  const rest: Item = {};
  const counterNames = new Set<string>();
  for (const role of ROLES) {
    const s = { ...ZERO_SUMMARY };
    for (const field of SUMMARY_FIELDS) {
      const name = counterAttribute(role, field);
      counterNames.add(name);
      const v = item[name];
      if (typeof v === 'number') s[field] = v;
    }
    summary[role] = s;
  }
  for (const [k, v] of Object.entries(item)) {
    if (k !== 'pk' && k !== 'sk' && !counterNames.has(k)) rest[k] = v;
  }
  return { ...(rest as unknown as Omit<SegmentRecord, 'summary'>), summary };
}

/** Segment → SEG# item (keys added, `summary` flattened into counter attributes). */
export function segmentItem(segment: SegmentRecord): Item {
  const { summary, ...rest } = segment;
  const item: Item = { pk: conversationPk(segment.conversationId), sk: segmentSk(segment.segment), ...rest };
  for (const role of ROLES) {
    for (const field of SUMMARY_FIELDS) item[counterAttribute(role, field)] = summary[role][field];
  }
  return item;
}

/** SES# item → session. */
export function toSession(item: Item): SessionRecord {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return rest as unknown as SessionRecord;
}

/** Rejects an id DynamoDB would refuse or that could not be ours. */
export function requireId(value: string, what: string): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > 512) {
    throw new InvalidArgumentError(`${what} must be a non-empty string of at most 512 characters`);
  }
}

/** Rejects a segment number outside the zero-padded key range. */
export function requireSegment(segment: number): void {
  if (!Number.isInteger(segment) || segment < 1 || segment > 999_999) {
    throw new InvalidArgumentError(`segment must be an integer in 1..999999, got ${segment}`);
  }
}

/** The META item, strongly consistent by default (start/stop decide on it). */
export async function readMeta(
  t: ConversationTable,
  conversationId: string,
  consistent = true,
): Promise<ConversationMeta | undefined> {
  requireId(conversationId, 'conversationId');
  try {
    const { Item } = await t.doc.send(
      new GetCommand({
        TableName: t.table,
        Key: { pk: conversationPk(conversationId), sk: META_SK },
        ConsistentRead: consistent,
      }),
    );
    return Item ? toMeta(Item) : undefined;
  } catch (err) {
    throw toStoreError(err, 'conversations.getMeta');
  }
}

/** One segment, strongly consistent by default. */
export async function readSegment(
  t: ConversationTable,
  conversationId: string,
  segment: number,
  consistent = true,
): Promise<SegmentRecord | undefined> {
  requireId(conversationId, 'conversationId');
  requireSegment(segment);
  try {
    const { Item } = await t.doc.send(
      new GetCommand({
        TableName: t.table,
        Key: { pk: conversationPk(conversationId), sk: segmentSk(segment) },
        ConsistentRead: consistent,
      }),
    );
    return Item ? toSegment(Item) : undefined;
  } catch (err) {
    throw toStoreError(err, 'conversations.getSegment');
  }
}

/** Every item of a conversation whose sort key starts with `prefix`, strongly consistent, all pages. */
export async function queryPrefix(
  t: ConversationTable,
  conversationId: string,
  prefix: string,
  operation: string,
): Promise<Item[]> {
  requireId(conversationId, 'conversationId');
  const items: Item[] = [];
  let startKey: QueryCommandInput['ExclusiveStartKey'];
  try {
    do {
      const page = await t.doc.send(
        new QueryCommand({
          TableName: t.table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': conversationPk(conversationId), ':prefix': prefix },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
  } catch (err) {
    throw toStoreError(err, operation);
  }
  return items;
}

/** Jittered exponential backoff between contended attempts (≤ ~100 ms), so racers spread out. */
export async function backoff(t: ConversationTable, attempt: number): Promise<void> {
  const cap = Math.min(100, 5 * 2 ** attempt);
  await t.sleep(Math.floor(Math.random() * cap));
}

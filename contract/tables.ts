/**
 * The one definition of our DynamoDB tables, as plain data. The CDK stack (lib/) and the local/test table
 * creation (store/create-tables.ts) both read these specs, so key names, types, indexes, streams and TTL
 * can never drift between AWS and DynamoDB Local. Deliberately import-free: lib/ may import this file
 * without pulling in the AWS SDK or any runtime code. See docs/data-model.md for the access patterns.
 */

/** DynamoDB scalar key types. */
export type KeyAttributeType = 'S' | 'N' | 'B';

/** One key attribute (partition or sort). */
export interface KeyAttributeSpec {
  readonly name: string;
  readonly type: KeyAttributeType;
}

/** What a global secondary index copies from the base item. */
export type ProjectionSpec =
  | { readonly type: 'ALL' }
  | { readonly type: 'KEYS_ONLY' }
  | { readonly type: 'INCLUDE'; readonly nonKeyAttributes: readonly string[] };

/** A global secondary index. */
export interface GsiSpec {
  readonly indexName: string;
  readonly partitionKey: KeyAttributeSpec;
  readonly sortKey?: KeyAttributeSpec;
  readonly projection: ProjectionSpec;
}

/** DynamoDB Streams view types. */
export type StreamViewType = 'NEW_IMAGE' | 'OLD_IMAGE' | 'NEW_AND_OLD_IMAGES' | 'KEYS_ONLY';

/** Everything needed to create one table, here and in CDK. Billing is always on-demand. */
export interface TableSpec {
  /** Logical id (also the CDK construct id; stable: renaming it would replace a stateful resource). */
  readonly id: 'Conversations' | 'Utterances' | 'Subscriptions';
  /** Appended to a deployment prefix to form the physical name locally (see {@link tableName}). */
  readonly nameSuffix: string;
  readonly partitionKey: KeyAttributeSpec;
  readonly sortKey?: KeyAttributeSpec;
  readonly globalSecondaryIndexes: readonly GsiSpec[];
  /** Stream view type, when the table has a stream. */
  readonly stream?: StreamViewType;
  /** Attribute holding the expiry (epoch seconds) for DynamoDB TTL. */
  readonly ttlAttribute?: string;
}

/**
 * Conversations: one partition per conversation (`CONV#<id>`) holding META, SEG#, SES# items, plus one
 * partition per gateway task (`TASK#<taskId>`) holding that task's control inbox.
 */
export const CONVERSATIONS_TABLE: TableSpec = {
  id: 'Conversations',
  nameSuffix: 'conversations',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  globalSecondaryIndexes: [],
  ttlAttribute: 'ttl',
};

/** Name of the sharded export index on the Utterances table. */
export const EXPORT_INDEX_NAME = 'byExportDay';

/**
 * Utterances: one partition per conversation, sorted by start offset then role then utterance id.
 * The stream (NEW_IMAGE) feeds the real-time fan-out; {@link EXPORT_INDEX_NAME} feeds the nightly export.
 */
export const UTTERANCES_TABLE: TableSpec = {
  id: 'Utterances',
  nameSuffix: 'utterances',
  partitionKey: { name: 'conversationId', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  globalSecondaryIndexes: [
    {
      indexName: EXPORT_INDEX_NAME,
      partitionKey: { name: 'exportDay', type: 'S' },
      sortKey: { name: 'exportSk', type: 'S' },
      // The export writes every column of the feed; ALL avoids a BatchGet per page on the base table.
      projection: { type: 'ALL' },
    },
  ],
  stream: 'NEW_IMAGE',
  ttlAttribute: 'ttl',
};

/**
 * Subscriptions: real-time delivery state (store/subscriptions.ts). WebSocket connections
 * (`CONN#<connectionId>`), subscriptions by conversation (`SUB#<conversationId>`, `SUB#*` for
 * supervisors) and the webhook dead letters (`DLQ#<targetId>`). Everything expires through TTL.
 */
export const SUBSCRIPTIONS_TABLE: TableSpec = {
  id: 'Subscriptions',
  nameSuffix: 'subscriptions',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  globalSecondaryIndexes: [],
  ttlAttribute: 'ttl',
};

/** Every table of the application, in creation order. */
export const TABLE_SPECS: readonly TableSpec[] = [CONVERSATIONS_TABLE, UTTERANCES_TABLE, SUBSCRIPTIONS_TABLE];

/** Physical table names, as passed to the repositories. */
export interface TableNames {
  readonly conversations: string;
  readonly utterances: string;
}

/** Physical name of a table for a prefix: `<prefix>-<suffix>`, or just the suffix for an empty prefix. */
export function tableName(prefix: string, spec: TableSpec): string {
  return prefix === '' ? spec.nameSuffix : `${prefix}-${spec.nameSuffix}`;
}

/** Physical names of both tables for a prefix. */
export function tableNames(prefix: string): TableNames {
  return {
    conversations: tableName(prefix, CONVERSATIONS_TABLE),
    utterances: tableName(prefix, UTTERANCES_TABLE),
  };
}

/** Physical name of the Subscriptions table for a prefix (kept apart from {@link TableNames}, which predates it). */
export function subscriptionsTableName(prefix: string): string {
  return tableName(prefix, SUBSCRIPTIONS_TABLE);
}

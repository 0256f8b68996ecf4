import { DescribeTableCommand, DescribeTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CONVERSATIONS_TABLE,
  EXPORT_INDEX_NAME,
  TABLE_SPECS,
  type TableSpec,
  tableName,
  tableNames,
  UTTERANCES_TABLE,
} from '../../contract/tables';
import { createTableInput, createTables } from '../../store/create-tables';
import { setupDynamoDb, type TestDynamoDb } from '../helpers/dynamodb';

describe('table specs', () => {
  it('define the Conversations table with generic pk/sk string keys and a ttl attribute', () => {
    expect(CONVERSATIONS_TABLE.partitionKey).toEqual({ name: 'pk', type: 'S' });
    expect(CONVERSATIONS_TABLE.sortKey).toEqual({ name: 'sk', type: 'S' });
    expect(CONVERSATIONS_TABLE.ttlAttribute).toBe('ttl');
    expect(CONVERSATIONS_TABLE.stream).toBeUndefined();
  });

  it('define the Utterances table keyed by conversation, with a NEW_IMAGE stream and the export index', () => {
    expect(UTTERANCES_TABLE.partitionKey).toEqual({ name: 'conversationId', type: 'S' });
    expect(UTTERANCES_TABLE.sortKey).toEqual({ name: 'sk', type: 'S' });
    expect(UTTERANCES_TABLE.stream).toBe('NEW_IMAGE');
    expect(UTTERANCES_TABLE.globalSecondaryIndexes).toEqual([
      {
        indexName: EXPORT_INDEX_NAME,
        partitionKey: { name: 'exportDay', type: 'S' },
        sortKey: { name: 'exportSk', type: 'S' },
        projection: { type: 'ALL' },
      },
    ]);
  });

  it('derive physical names from a prefix', () => {
    expect(tableName('aht-dev', UTTERANCES_TABLE)).toBe('aht-dev-utterances');
    expect(tableName('', UTTERANCES_TABLE)).toBe('utterances');
    expect(tableNames('p')).toEqual({ conversations: 'p-conversations', utterances: 'p-utterances' });
  });

  it('map every key attribute, and only those, to an attribute definition', () => {
    for (const spec of TABLE_SPECS) {
      const input = createTableInput(spec, 'x');
      const keyNames = new Set([
        spec.partitionKey.name,
        ...(spec.sortKey ? [spec.sortKey.name] : []),
        ...spec.globalSecondaryIndexes.flatMap((g) => [g.partitionKey.name, ...(g.sortKey ? [g.sortKey.name] : [])]),
      ]);
      expect(new Set(input.AttributeDefinitions?.map((a) => a.AttributeName))).toEqual(keyNames);
      expect(input.BillingMode).toBe('PAY_PER_REQUEST');
    }
  });
});

describe('createTables (DynamoDB Local)', () => {
  let db: TestDynamoDb;

  beforeAll(async () => {
    db = await setupDynamoDb();
  });

  afterAll(async () => {
    await db?.stop();
  });

  async function describeSpec(spec: TableSpec) {
    const name = tableName(db.prefix, spec);
    const { Table } = await db.client.send(new DescribeTableCommand({ TableName: name }));
    const { TimeToLiveDescription } = await db.client.send(new DescribeTimeToLiveCommand({ TableName: name }));
    return { Table, ttl: TimeToLiveDescription };
  }

  it('creates each table with the keys of its spec', async () => {
    for (const spec of TABLE_SPECS) {
      const { Table } = await describeSpec(spec);
      expect(Table?.TableStatus).toBe('ACTIVE');
      expect(Table?.KeySchema).toEqual([
        { AttributeName: spec.partitionKey.name, KeyType: 'HASH' },
        { AttributeName: spec.sortKey?.name, KeyType: 'RANGE' },
      ]);
    }
  });

  it('creates the sharded export index with projection ALL', async () => {
    const { Table } = await describeSpec(UTTERANCES_TABLE);
    const gsi = Table?.GlobalSecondaryIndexes?.find((g) => g.IndexName === EXPORT_INDEX_NAME);
    expect(gsi?.KeySchema).toEqual([
      { AttributeName: 'exportDay', KeyType: 'HASH' },
      { AttributeName: 'exportSk', KeyType: 'RANGE' },
    ]);
    expect(gsi?.Projection?.ProjectionType).toBe('ALL');
  });

  it('enables the NEW_IMAGE stream on Utterances only', async () => {
    expect((await describeSpec(UTTERANCES_TABLE)).Table?.StreamSpecification).toEqual({
      StreamEnabled: true,
      StreamViewType: 'NEW_IMAGE',
    });
    expect((await describeSpec(CONVERSATIONS_TABLE)).Table?.StreamSpecification?.StreamEnabled ?? false).toBe(false);
  });

  it('enables TTL on the ttl attribute of both tables', async () => {
    for (const spec of TABLE_SPECS) {
      const { ttl } = await describeSpec(spec);
      expect(ttl?.AttributeName).toBe('ttl');
      expect(['ENABLED', 'ENABLING']).toContain(ttl?.TimeToLiveStatus);
    }
  });

  it('is idempotent: a second call on existing tables succeeds and returns the same names', async () => {
    await expect(createTables(db.client, db.prefix)).resolves.toEqual(db.tables);
  });
});

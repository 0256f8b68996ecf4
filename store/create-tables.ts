/**
 * Creates the tables described in contract/tables.ts on a DynamoDB endpoint (DynamoDB Local for `npm start`
 * and tests). In AWS the CDK stack creates them from the same specs; this is never called there.
 */
import {
  type AttributeDefinition,
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { TABLE_SPECS, type TableNames, type TableSpec, tableName, tableNames } from '../contract/tables';
import { errorName, toStoreError } from './errors';

/** The CreateTable request for a spec (pure; exported so tests can compare it with the spec). */
export function createTableInput(spec: TableSpec, name: string): CreateTableCommandInput {
  const attributes = new Map<string, AttributeDefinition>();
  const define = (a: { name: string; type: 'S' | 'N' | 'B' }): void => {
    attributes.set(a.name, { AttributeName: a.name, AttributeType: a.type });
  };
  define(spec.partitionKey);
  if (spec.sortKey) define(spec.sortKey);
  for (const gsi of spec.globalSecondaryIndexes) {
    define(gsi.partitionKey);
    if (gsi.sortKey) define(gsi.sortKey);
  }
  const keySchema = (pk: { name: string }, sk?: { name: string }) => [
    { AttributeName: pk.name, KeyType: 'HASH' as const },
    ...(sk ? [{ AttributeName: sk.name, KeyType: 'RANGE' as const }] : []),
  ];
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [...attributes.values()],
    KeySchema: keySchema(spec.partitionKey, spec.sortKey),
    ...(spec.globalSecondaryIndexes.length > 0
      ? {
          GlobalSecondaryIndexes: spec.globalSecondaryIndexes.map((gsi) => ({
            IndexName: gsi.indexName,
            KeySchema: keySchema(gsi.partitionKey, gsi.sortKey),
            Projection:
              gsi.projection.type === 'INCLUDE'
                ? { ProjectionType: 'INCLUDE', NonKeyAttributes: [...gsi.projection.nonKeyAttributes] }
                : { ProjectionType: gsi.projection.type },
          })),
        }
      : {}),
    ...(spec.stream ? { StreamSpecification: { StreamEnabled: true, StreamViewType: spec.stream } } : {}),
  };
}

async function waitActive(client: DynamoDBClient, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    const indexesReady = (Table?.GlobalSecondaryIndexes ?? []).every((i) => i.IndexStatus === 'ACTIVE');
    if (Table?.TableStatus === 'ACTIVE' && indexesReady) return;
    if (Date.now() > deadline) throw new Error(`table ${name} not ACTIVE after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Creates every table for `prefix` (skipping tables that already exist), waits until they are ACTIVE and
 * enables TTL. Idempotent, so `npm start` can call it on every boot of a persistent DynamoDB Local.
 */
export async function createTables(
  client: DynamoDBClient,
  prefix: string,
  options: { timeoutMs?: number } = {},
): Promise<TableNames> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  try {
    for (const spec of TABLE_SPECS) {
      const name = tableName(prefix, spec);
      try {
        await client.send(new CreateTableCommand(createTableInput(spec, name)));
      } catch (err) {
        if (errorName(err) !== 'ResourceInUseException') throw err;
      }
      await waitActive(client, name, timeoutMs);
      if (spec.ttlAttribute) {
        try {
          await client.send(
            new UpdateTimeToLiveCommand({
              TableName: name,
              TimeToLiveSpecification: { AttributeName: spec.ttlAttribute, Enabled: true },
            }),
          );
        } catch (err) {
          // Re-enabling TTL on a table that already has it is a ValidationException; nothing to do.
          if (errorName(err) !== 'ValidationException') throw err;
        }
      }
    }
  } catch (err) {
    throw toStoreError(err, 'createTables');
  }
  return tableNames(prefix);
}

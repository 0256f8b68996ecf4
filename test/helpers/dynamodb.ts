/**
 * Test access to a real DynamoDB Local. If vitest's globalSetup (test/global-setup.ts) started one and
 * provided its endpoint, every test file shares it; otherwise the first call in a file starts its own
 * (in memory) and `stop()` ends it. Each call creates the tables under a fresh random prefix, so files
 * and suites sharing one DynamoDB Local never see each other's items.
 */
import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { inject } from 'vitest';
import type { TableNames } from '../../contract/tables';
import { createLocalDynamoDbClient, type DynamoDbLocal, startDynamoDbLocal } from '../../local/dynamodb';
import { createTables } from '../../store/create-tables';
import { createDocumentClient } from '../../store/dynamo';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Endpoint of the DynamoDB Local started by test/global-setup.ts, when configured. */
    dynamoDbLocalEndpoint?: string;
  }
}

/** What a store test needs. */
export interface TestDynamoDb {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  readonly doc: DynamoDBDocumentClient;
  /** Table prefix of this test's tables. */
  readonly prefix: string;
  readonly tables: TableNames;
  /** Destroys the clients and stops DynamoDB Local if this call started it. */
  stop(): Promise<void>;
}

/** Call in `beforeAll`; call `stop()` in `afterAll`. */
export async function setupDynamoDb(): Promise<TestDynamoDb> {
  const shared = inject('dynamoDbLocalEndpoint');
  let own: DynamoDbLocal | undefined;
  if (!shared) own = await startDynamoDbLocal();
  const endpoint = shared ?? (own as DynamoDbLocal).endpoint;
  const client = createLocalDynamoDbClient(endpoint);
  const doc = createDocumentClient(client);
  const prefix = `t${randomUUID().slice(0, 8)}`;
  const tables = await createTables(client, prefix);
  return {
    endpoint,
    client,
    doc,
    prefix,
    tables,
    async stop() {
      client.destroy();
      await own?.stop();
    },
  };
}

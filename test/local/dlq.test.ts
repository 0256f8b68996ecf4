import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscriptionsTableName } from '../../contract/tables';
import { runDlqCli } from '../../local/dlq';
import { setupDynamoDb, type TestDynamoDb } from '../helpers/dynamodb';

let db: TestDynamoDb;

beforeAll(async () => {
  db = await setupDynamoDb();
});

afterAll(async () => {
  await db?.stop();
});

describe('local/dlq.ts', () => {
  it('finds DynamoDB Local where npm start put it (LOCAL_HOST, LOCAL_DYNAMODB_PORT) when no endpoint is given', async () => {
    const { hostname, port } = new URL(db.endpoint);
    const lines: string[] = [];
    const code = await runDlqCli(
      ['list', '--target', 'primary'],
      {
        LOCAL_HOST: hostname,
        LOCAL_DYNAMODB_PORT: port,
        SUBSCRIPTIONS_TABLE: subscriptionsTableName(db.prefix),
        WEBHOOK_URL: 'http://127.0.0.1:9/hook',
      },
      (l) => lines.push(l),
    );
    expect(lines).toHaveLength(1);
    expect(code).toBe(0);
    expect(JSON.parse(lines[0] as string)).toEqual({ primary: [] });
  });

  it('refuses a LOCAL_DYNAMODB_PORT that is not a port, naming it', async () => {
    await expect(runDlqCli(['list'], { LOCAL_DYNAMODB_PORT: 'eighty' }, () => {})).rejects.toThrow(
      /LOCAL_DYNAMODB_PORT must be a TCP port number/,
    );
  });
});

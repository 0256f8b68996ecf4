import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createLocalDynamoDbClient,
  type SupervisedDynamoDbLocal,
  type SupervisorEvent,
  superviseDynamoDbLocal,
} from '../../local/dynamodb';

const dirs: string[] = [];
let supervised: SupervisedDynamoDbLocal | undefined;

afterAll(async () => {
  await supervised?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('superviseDynamoDbLocal', () => {
  it('restarts a killed DynamoDB Local on the same port with its data, and stays down once stopped', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ddb-supervised-'));
    dirs.push(dataDir);
    const events: SupervisorEvent[] = [];
    supervised = await superviseDynamoDbLocal({ dataDir, restartDelayMs: 100, onEvent: (e) => events.push(e) });
    const client = createLocalDynamoDbClient(supervised.endpoint);
    try {
      await client.send(
        new CreateTableCommand({
          TableName: 'kept',
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        }),
      );
      const first = supervised.current();
      // What the OOM killer or a stray `kill -9` does: the whole process group, no warning.
      process.kill(-(first.pid as number), 'SIGKILL');
      await first.exited;
      await expect.poll(() => supervised?.restarts, { timeout: 60_000, interval: 200 }).toBe(1);
      expect(events.map((e) => e.kind)).toEqual(['exited', 'restarted']);
      expect(supervised.current()).not.toBe(first);
      expect(supervised.current().port).toBe(first.port);
      expect((await client.send(new ListTablesCommand({}))).TableNames).toEqual(['kept']);

      const last = supervised.current();
      await supervised.stop();
      // The supervisor's own exit handler was attached first, so it has run by now: had it not seen the
      // stop, it would already have reported `exited` (and scheduled a restart).
      await last.exited;
      expect(supervised.restarts).toBe(1);
      expect(events.map((e) => e.kind)).toEqual(['exited', 'restarted']);
    } finally {
      client.destroy();
    }
  }, 120_000);
});

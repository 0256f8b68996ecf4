import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { createLocalDynamoDbClient, DynamoDbLocalError, startDynamoDbLocal } from '../../local/dynamodb';

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function javaProcessesOn(port: number): string[] {
  const out = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.includes('DynamoDBLocal') && l.includes(`-port ${port} `) && !l.includes('sh -c'));
}

describe('startDynamoDbLocal', () => {
  it('picks a free port, answers ListTables, and leaves no java process after stop', async () => {
    const ddb = await startDynamoDbLocal();
    expect(ddb.endpoint).toBe(`http://127.0.0.1:${ddb.port}`);
    expect(ddb.port).toBeGreaterThan(0);
    const client = createLocalDynamoDbClient(ddb.endpoint);
    try {
      await expect(client.send(new ListTablesCommand({}))).resolves.toMatchObject({ TableNames: [] });
      expect(javaProcessesOn(ddb.port)).toHaveLength(1);
    } finally {
      client.destroy();
      await ddb.stop();
    }
    expect(await portOpen(ddb.port)).toBe(false);
    expect(javaProcessesOn(ddb.port)).toEqual([]);
    // Stopping twice is harmless.
    await expect(ddb.stop()).resolves.toBeUndefined();
  });

  it('keeps tables across restarts when given a data directory', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ddb-local-'));
    try {
      const first = await startDynamoDbLocal({ dataDir });
      const c1 = createLocalDynamoDbClient(first.endpoint);
      await c1.send(
        new CreateTableCommand({
          TableName: 'kept',
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [{ AttributeName: 'k', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'k', KeyType: 'HASH' }],
        }),
      );
      c1.destroy();
      await first.stop();

      const second = await startDynamoDbLocal({ dataDir });
      const c2 = createLocalDynamoDbClient(second.endpoint);
      try {
        expect((await c2.send(new ListTablesCommand({}))).TableNames).toEqual(['kept']);
      } finally {
        c2.destroy();
        await second.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('fails with a typed error when Java cannot be started', async () => {
    const err = await startDynamoDbLocal({ javaCommand: '/nonexistent/java', startTimeoutMs: 5000 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DynamoDbLocalError);
    expect(err).toMatchObject({ code: 'LOCAL_DYNAMODB_START_FAILED' });
  });
});

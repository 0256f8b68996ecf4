/**
 * The soak's DynamoDB fault proxy (bench/soak/dynamodb-proxy.ts) against the real DynamoDB Local of the
 * test run, driven by the real `@aws-sdk/client-dynamodb`: what the SDK makes of each injected fault is
 * what the soak relies on, so it is asserted through the SDK's own behaviour (error names, attempts).
 */
import { createServer } from 'node:net';
import { crc32 } from 'node:zlib';
import {
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type DynamoDbFaultProxy, startDynamoDbFaultProxy } from '../../bench/soak/dynamodb-proxy';
import { setupDynamoDb, type TestDynamoDb } from '../helpers/dynamodb';

let db: TestDynamoDb;
let table: string;
let proxy: DynamoDbFaultProxy;
const clients: DynamoDBClient[] = [];

function clientOf(endpoint: string, maxAttempts: number): DynamoDBClient {
  const c = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts,
  });
  clients.push(c);
  return c;
}

/** A fixed cycle of draws: the proxy's decisions become exact, so the counts can be asserted exactly. */
function cycle(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] as number;
}

function put(id: string) {
  return new PutItemCommand({ TableName: table, Item: { pk: { S: id }, v: { S: `value of ${id}` } } });
}

function get(id: string) {
  return new GetItemCommand({ TableName: table, Key: { pk: { S: id } }, ConsistentRead: true });
}

async function errorOf(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected the call to fail');
}

beforeAll(async () => {
  db = await setupDynamoDb();
  table = `${db.prefix}-proxy`;
  await db.client.send(
    new CreateTableCommand({
      TableName: table,
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await proxy?.close();
});

afterAll(async () => {
  await db.stop();
});

describe('DynamoDB fault proxy', () => {
  describe('in pass mode', () => {
    it('forwards requests to DynamoDB Local unchanged', async () => {
      proxy = await startDynamoDbFaultProxy({ target: db.endpoint });
      const client = clientOf(proxy.endpoint, 1);
      const tables = await client.send(new ListTablesCommand({}));
      expect(tables.TableNames).toContain(table);
      await client.send(put('pass-1'));
      const read = await client.send(get('pass-1'));
      expect(read.Item?.v).toEqual({ S: 'value of pass-1' });
      // The write really reached DynamoDB Local: read it back around the proxy.
      const direct = await db.client.send(get('pass-1'));
      expect(direct.Item?.v).toEqual({ S: 'value of pass-1' });
      expect(proxy.stats()).toEqual({ forwarded: 3, throttled: 0, stalled: 0, errored: 0, reset: 0 });
    });
  });

  describe('in throttle mode', () => {
    it('answers exactly what DynamoDB sends when it throttles', async () => {
      proxy = await startDynamoDbFaultProxy({ target: db.endpoint });
      proxy.setMode({ kind: 'throttle', probability: 1 });
      const res = await fetch(proxy.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.ListTables' },
        body: '{}',
      });
      const body = await res.text();
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toBe('application/x-amz-json-1.0');
      expect(res.headers.get('x-amzn-requestid')).toMatch(/^[A-Z0-9]{52}$/);
      expect(res.headers.get('x-amz-crc32')).toBe(String(crc32(body)));
      expect(body).toBe(
        '{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}',
      );
      expect(proxy.stats()).toMatchObject({ forwarded: 0, throttled: 1 });
    });

    it('with p=1 and one attempt, the SDK fails with a ThrottlingException it classifies as throttling', async () => {
      proxy = await startDynamoDbFaultProxy({ target: db.endpoint });
      proxy.setMode({ kind: 'throttle', probability: 1 });
      const err = await errorOf(clientOf(proxy.endpoint, 1).send(put('throttled-1')));
      expect(err.name).toBe('ThrottlingException');
      expect(err.$metadata).toMatchObject({ httpStatusCode: 400, attempts: 1 });
      expect((err.$metadata as { requestId?: string }).requestId).toMatch(/^[A-Z0-9]{52}$/);
      // DynamoDB's modelled throttling errors carry no `$retryable` trait: the SDK recognises them by name.
      expect(err.$retryable).toBeUndefined();
      expect(proxy.stats()).toMatchObject({ forwarded: 0, throttled: 1 });
      // Nothing reached DynamoDB Local.
      expect((await db.client.send(get('throttled-1'))).Item).toBeUndefined();
    });

    it('answers ProvisionedThroughputExceededException for its configured share, also read as throttling', async () => {
      proxy = await startDynamoDbFaultProxy({ target: db.endpoint, random: cycle(0.1, 0.3, 0.1, 0.9) });
      proxy.setMode({ kind: 'throttle', probability: 0.5, provisionedThroughputShare: 0.5 });
      const client = clientOf(proxy.endpoint, 1);
      // Draws: 0.1 < 0.5 throttles, then 0.3 < 0.5 picks the provisioned-throughput exception.
      const first = await errorOf(client.send(put('ptee-1')));
      expect(first.name).toBe('ProvisionedThroughputExceededException');
      // Draws: 0.1 throttles, then 0.9 ≥ 0.5 picks the plain ThrottlingException.
      const second = await errorOf(client.send(put('ptee-2')));
      expect(second.name).toBe('ThrottlingException');
      expect(proxy.stats()).toMatchObject({ forwarded: 0, throttled: 2 });
    });

    it('is retried by the SDK as a throttling error', async () => {
      proxy = await startDynamoDbFaultProxy({ target: db.endpoint });
      proxy.setMode({ kind: 'throttle', probability: 1 });
      const err = await errorOf(clientOf(proxy.endpoint, 2).send(put('retried-1')));
      expect(err.name).toBe('ThrottlingException');
      expect(err.$metadata).toMatchObject({ attempts: 2 });
      expect(proxy.stats().throttled).toBe(2);
    });

    it('with p=0.5 and ten attempts, every call succeeds after the throttles the SDK retried', async () => {
      // Each call draws 0.25 (throttled) then 0.75 (forwarded): one throttle and one forward per call.
      proxy = await startDynamoDbFaultProxy({ target: db.endpoint, random: cycle(0.25, 0.75) });
      proxy.setMode({ kind: 'throttle', probability: 0.5 });
      const client = clientOf(proxy.endpoint, 10);
      for (const id of ['half-1', 'half-2', 'half-3']) {
        const out = await client.send(put(id));
        expect(out.$metadata.attempts).toBe(2);
      }
      for (const id of ['half-1', 'half-2', 'half-3']) {
        expect((await db.client.send(get(id))).Item?.v).toEqual({ S: `value of ${id}` });
      }
      expect(proxy.stats()).toMatchObject({ forwarded: 3, throttled: 3 });
    });
  });

  describe('in error mode', () => {
    it('answers InternalServerError (HTTP 500), which the SDK reads as transient', async () => {
      proxy = await startDynamoDbFaultProxy({ target: db.endpoint });
      proxy.setMode({ kind: 'error' });
      // Transient to the SDK: with two attempts allowed, it tries twice.
      const err = await errorOf(clientOf(proxy.endpoint, 2).send(get('any')));
      expect(err.name).toBe('InternalServerError');
      expect(err.$metadata).toMatchObject({ httpStatusCode: 500, attempts: 2 });
      expect(proxy.stats()).toMatchObject({ forwarded: 0, errored: 2 });
    });
  });

  describe('in stall mode', () => {
    it('holds a request unforwarded until the mode returns to pass, then forwards it', async () => {
      proxy = await startDynamoDbFaultProxy({ target: db.endpoint });
      const client = clientOf(proxy.endpoint, 1);
      proxy.setMode({ kind: 'stall' });
      const pending = client.send(put('stalled-1'));
      await vi.waitFor(() => expect(proxy.stats().stalled).toBe(1));
      expect(proxy.stats().forwarded).toBe(0);
      expect((await db.client.send(get('stalled-1'))).Item).toBeUndefined();
      proxy.setMode({ kind: 'pass' });
      const out = await pending;
      expect(out.$metadata.httpStatusCode).toBe(200);
      expect((await db.client.send(get('stalled-1'))).Item?.v).toEqual({ S: 'value of stalled-1' });
      expect(proxy.stats()).toMatchObject({ forwarded: 1, stalled: 1 });
    });

    it('forwards a held request once stallMaxMs has passed', async () => {
      proxy = await startDynamoDbFaultProxy({ target: db.endpoint });
      proxy.setMode({ kind: 'stall', stallMaxMs: 300 });
      const started = performance.now();
      await clientOf(proxy.endpoint, 1).send(put('stalled-2'));
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);
      expect(proxy.mode().kind).toBe('stall');
      expect(proxy.stats()).toMatchObject({ forwarded: 1, stalled: 1 });
    });
  });

  describe('when the target is down', () => {
    it('resets the client connection, which the SDK reads as a transient network error', async () => {
      // A port that was just free: nothing listens there.
      const free = createServer();
      await new Promise<void>((ok) => free.listen(0, '127.0.0.1', ok));
      const deadPort = (free.address() as { port: number }).port;
      await new Promise<void>((ok) => free.close(() => ok()));
      proxy = await startDynamoDbFaultProxy({ target: `http://127.0.0.1:${deadPort}` });
      const err = await errorOf(clientOf(proxy.endpoint, 1).send(new ListTablesCommand({})));
      expect(err.code).toBe('ECONNRESET');
      expect(err.$metadata).toMatchObject({ attempts: 1 });
      expect((err.$metadata as { httpStatusCode?: number }).httpStatusCode).toBeUndefined();
      expect(proxy.stats()).toMatchObject({ forwarded: 1, reset: 1 });
    });
  });

  describe('on bad input', () => {
    it('rejects an unusable target or port with a message that says what is expected', async () => {
      await expect(startDynamoDbFaultProxy({ target: 'localhost:8000' })).rejects.toThrow(/plain http:\/\/ endpoint/);
      await expect(startDynamoDbFaultProxy({ target: 'not a url' })).rejects.toThrow(/must be a URL/);
      await expect(startDynamoDbFaultProxy({ target: 'https://127.0.0.1:8000' })).rejects.toThrow(/plain http/);
      await expect(startDynamoDbFaultProxy({ target: 'http://127.0.0.1:8000/x' })).rejects.toThrow(/no path/);
      await expect(startDynamoDbFaultProxy({ target: db.endpoint, port: 70000 })).rejects.toThrow(/0\.\.65535/);
    });

    it('rejects an impossible mode and keeps the previous one', async () => {
      proxy = await startDynamoDbFaultProxy({ target: db.endpoint });
      expect(() => proxy.setMode({ kind: 'throttle', probability: 1.5 })).toThrow(RangeError);
      expect(() => proxy.setMode({ kind: 'error', probability: Number.NaN })).toThrow(/between 0 and 1/);
      expect(() => proxy.setMode({ kind: 'stall', stallMaxMs: -1 })).toThrow(/stallMaxMs/);
      expect(() => proxy.setMode({ kind: 'freeze' } as never)).toThrow(/unknown proxy mode/);
      expect(proxy.mode()).toEqual({ kind: 'pass' });
    });
  });
});

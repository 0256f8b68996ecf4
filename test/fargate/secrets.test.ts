import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createSecretsManagerClient,
  SecretsError,
  SecretsManagerKeySource,
  StaticKeySource,
} from '../../fargate/src/secrets';
import { CaptureLogger } from '../helpers/capture-logger';
import { FakeTime } from './helpers/fake-time';

const SECRET_ID = 'audiohook/api-keys';
const SECRET_A = Buffer.from('first-client-secret-32-bytes-aa!').toString('base64');
const SECRET_B = Buffer.from('second-client-secret-32-bytes-b!').toString('base64');

/**
 * A tiny Secrets Manager: the JSON 1.1 protocol as the real SDK speaks it (POST /, X-Amz-Target,
 * `{"SecretId"}` in, `{"SecretString","ARN","Name"}` out).
 */
interface FakeSecretsManager {
  server: Server;
  endpoint: string;
  /** What GetSecretValue returns; `undefined` answers ResourceNotFoundException. */
  secretString: string | undefined;
  requests: Array<{ target: string | undefined; secretId: unknown; signed: boolean }>;
}

async function startFakeSecretsManager(): Promise<FakeSecretsManager> {
  const fake: FakeSecretsManager = {
    server: createServer(),
    endpoint: '',
    secretString: undefined,
    requests: [],
  };
  fake.server.on('request', (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { SecretId?: unknown };
      const target = req.headers['x-amz-target'] as string | undefined;
      fake.requests.push({
        target,
        secretId: body.SecretId,
        signed: String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256'),
      });
      const send = (status: number, payload: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(payload));
      };
      if (req.method !== 'POST' || target !== 'secretsmanager.GetSecretValue') {
        send(400, { __type: 'UnknownOperationException', message: 'unsupported' });
      } else if (body.SecretId !== SECRET_ID || fake.secretString === undefined) {
        send(400, { __type: 'ResourceNotFoundException', message: 'Secrets Manager can’t find the secret.' });
      } else {
        send(200, {
          ARN: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${SECRET_ID}-AbCdEf`,
          Name: SECRET_ID,
          SecretString: fake.secretString,
          VersionId: 'v1',
          VersionStages: ['AWSCURRENT'],
          CreatedDate: 1_700_000_000,
        });
      }
    });
  });
  await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
  fake.endpoint = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
  return fake;
}

describe('SecretsManagerKeySource', () => {
  let sm: FakeSecretsManager;
  let client: SecretsManagerClient;
  let time: FakeTime;
  let logger: CaptureLogger;
  let source: SecretsManagerKeySource | undefined;

  beforeAll(async () => {
    sm = await startFakeSecretsManager();
    client = createSecretsManagerClient({
      region: 'us-east-1',
      endpoint: sm.endpoint,
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'not-a-real-secret' },
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    client.destroy();
    await new Promise<void>((resolve) => sm.server.close(() => resolve()));
  });
  beforeEach(() => {
    sm.requests = [];
    sm.secretString = JSON.stringify({ 'alpha-key-0001': SECRET_A });
    time = new FakeTime();
    logger = new CaptureLogger();
    source = undefined;
  });
  afterEach(() => source?.close());

  const create = async () => {
    source = await SecretsManagerKeySource.create({ secretId: SECRET_ID, client, clock: time, timers: time, logger });
    return source;
  };

  describe('at start', () => {
    it('reads the keys with one signed GetSecretValue call', async () => {
      const s = await create();
      expect(s.store.size).toBe(1);
      expect(s.store.lookup('alpha-key-0001')?.secret).toEqual(Buffer.from(SECRET_A, 'base64'));
      expect(sm.requests).toEqual([{ target: 'secretsmanager.GetSecretValue', secretId: SECRET_ID, signed: true }]);
    });

    it('fails with SECRETS_FETCH_FAILED when the secret cannot be read', async () => {
      sm.secretString = undefined;
      const err = await SecretsManagerKeySource.create({
        secretId: SECRET_ID,
        client,
        clock: time,
        timers: time,
        logger,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SecretsError);
      expect((err as SecretsError).code).toBe('SECRETS_FETCH_FAILED');
      expect((err as SecretsError).message).toMatch(/ResourceNotFoundException/);
    });

    it('fails with SECRETS_INVALID when the secret is not a key map, without quoting it', async () => {
      sm.secretString = `not json ${SECRET_A}`;
      const err = await SecretsManagerKeySource.create({
        secretId: SECRET_ID,
        client,
        clock: time,
        timers: time,
        logger,
      }).catch((e: unknown) => e);
      expect((err as SecretsError).code).toBe('SECRETS_INVALID');
      expect((err as SecretsError).message).not.toContain(SECRET_A);
    });
  });

  describe('rotation', () => {
    it('picks up a new key on refresh and forgets the removed one', async () => {
      const s = await create();
      sm.secretString = JSON.stringify({ 'bravo-key-0002': SECRET_B });
      await expect(s.refresh()).resolves.toBe(true);
      expect(s.store.lookup('bravo-key-0002')?.secret).toEqual(Buffer.from(SECRET_B, 'base64'));
      expect(s.store.lookup('alpha-key-0001')).toBeUndefined();
    });

    it('refreshes in the background every 5 minutes', async () => {
      const s = await create();
      sm.secretString = JSON.stringify({ 'alpha-key-0001': SECRET_A, 'bravo-key-0002': SECRET_B });
      time.advance(299_999);
      expect(sm.requests).toHaveLength(1);
      time.advance(1);
      await vi.waitFor(() => expect(s.store.size).toBe(2));
      expect(sm.requests).toHaveLength(2);
      // …and keeps doing so.
      time.advance(300_000);
      await vi.waitFor(() => expect(sm.requests).toHaveLength(3));
    });

    it('keeps the last good keys when a refresh fails, and logs without secrets', async () => {
      const s = await create();
      sm.secretString = `{"bravo-key-0002": "${SECRET_B}"`; // truncated JSON
      await expect(s.refresh()).resolves.toBe(false);
      expect(s.store.lookup('alpha-key-0001')).toBeDefined();
      expect(logger.find(/refresh failed/)).toHaveLength(1);
      expect(logger.text()).not.toContain(SECRET_B);

      sm.secretString = undefined;
      await expect(s.refresh()).resolves.toBe(false);
      expect(s.store.lookup('alpha-key-0001')).toBeDefined();
    });
  });

  describe('refreshIfStale (an unknown key was presented)', () => {
    it('does not call Secrets Manager again within a minute of the last read', async () => {
      const s = await create();
      time.advance(59_999);
      await expect(s.refreshIfStale()).resolves.toBe(false);
      expect(sm.requests).toHaveLength(1);
    });

    it('reads again once a minute has passed, and then not for another minute', async () => {
      const s = await create();
      sm.secretString = JSON.stringify({ 'bravo-key-0002': SECRET_B });
      time.advance(60_000);
      await expect(s.refreshIfStale()).resolves.toBe(true);
      expect(s.store.lookup('bravo-key-0002')).toBeDefined();
      time.advance(30_000);
      await expect(s.refreshIfStale()).resolves.toBe(false);
      expect(sm.requests).toHaveLength(2);
    });

    it('shares one read between concurrent callers (a burst of unknown keys)', async () => {
      const s = await create();
      time.advance(60_000);
      const results = await Promise.all(Array.from({ length: 20 }, () => s.refreshIfStale()));
      expect(results.every((r) => r)).toBe(true);
      expect(sm.requests).toHaveLength(2);
    });

    it('counts a failed read as an attempt (no hammering while AWS is failing)', async () => {
      const s = await create();
      sm.secretString = undefined;
      time.advance(60_000);
      await expect(s.refreshIfStale()).resolves.toBe(false);
      await expect(s.refreshIfStale()).resolves.toBe(false);
      expect(sm.requests).toHaveLength(2);
    });

    it('stops refreshing after close()', async () => {
      const s = await create();
      s.close();
      expect(time.pendingCount).toBe(0);
      time.advance(600_000);
      await expect(s.refreshIfStale()).resolves.toBe(false);
      expect(sm.requests).toHaveLength(1);
    });
  });
});

describe('StaticKeySource', () => {
  it('serves the inline keys and never refreshes', async () => {
    const s = new StaticKeySource({ 'alpha-key-0001': SECRET_A });
    expect(s.store.lookup('alpha-key-0001')).toBeDefined();
    await expect(s.refreshIfStale()).resolves.toBe(false);
  });
});

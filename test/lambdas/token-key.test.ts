/**
 * The connect-token key read from Secrets Manager by id (lambdas/shared/token-key.ts): the cache, the
 * two configuration forms, and what the token route and `$connect` answer when the key cannot be read.
 * Secrets Manager is a fake client recording its GetSecretValue calls; time is an injected clock.
 */
import { randomUUID } from 'node:crypto';
import type { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/config-error';
import { issueRealtimeToken, verifyRealtimeToken } from '../../core/delivery/realtime-token';
import { credentialEntry } from '../../lambdas/authorizer/hash-secret';
import { makeHandler as makeToken } from '../../lambdas/realtime-token/handler';
import { loadConfig, TOKEN_KEY_BOTH_SET } from '../../lambdas/shared/config';
import { CredentialStore, inlineSource } from '../../lambdas/shared/credential-store';
import { realtimeOf } from '../../lambdas/shared/deps';
import { loadWebSocketConfig } from '../../lambdas/shared/realtime-config';
import {
  secretsManagerTokenKey,
  TokenKeyError,
  type TokenKeyProvider,
  tokenKeyFromConfig,
} from '../../lambdas/shared/token-key';
import type { WebSocketDeps, WebSocketEvent } from '../../lambdas/shared/websocket';
import { makeHandler as makeConnect } from '../../lambdas/websocket/connect/handler';
import type { SubscriptionsRepository } from '../../store/subscriptions';
import { apiEvent, bodyOf, captureLogger, recordMetrics } from './helpers/api';

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:RealtimeTokenKey-AbCdEf';
const KEY_A = 'first-key-of-the-test-padded-to-32-chars';
const KEY_B = 'second-key-of-the-test-padded-to-32-chars';
const TTL_MS = 300_000;

/** A Secrets Manager client answering GetSecretValue from `value` (an Error is thrown as the SDK would). */
function fakeSecretsManager(initial: string | Error) {
  const fake = {
    value: initial,
    secretIds: [] as unknown[],
    async send(command: GetSecretValueCommand) {
      fake.secretIds.push(command.input.SecretId);
      if (fake.value instanceof Error) throw fake.value;
      return { SecretString: fake.value };
    },
  };
  return { fake, client: fake as unknown as SecretsManagerClient };
}

function sdkError(name: string, message: string): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}

/** A clock the test moves by hand. */
function clock(start = 1_737_000_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

describe('token key from Secrets Manager', () => {
  it('is read once on first use and cached for the TTL', async () => {
    const { fake, client } = fakeSecretsManager(KEY_A);
    const time = clock();
    const key = secretsManagerTokenKey(client, SECRET_ARN, { ttlMs: TTL_MS, now: time.now });
    expect(fake.secretIds).toEqual([]);
    expect(await Promise.all([key.key(), key.key()])).toEqual([KEY_A, KEY_A]);
    time.t += TTL_MS - 1;
    expect(await key.key()).toBe(KEY_A);
    expect(fake.secretIds).toEqual([SECRET_ARN]);
  });

  it('picks up a rotated key once the TTL has passed', async () => {
    const { fake, client } = fakeSecretsManager(KEY_A);
    const time = clock();
    const key = secretsManagerTokenKey(client, SECRET_ARN, { ttlMs: TTL_MS, now: time.now });
    expect(await key.key()).toBe(KEY_A);
    fake.value = KEY_B;
    time.t += 60_000;
    expect(await key.key()).toBe(KEY_A);
    time.t += TTL_MS;
    expect(await key.key()).toBe(KEY_B);
    expect(fake.secretIds).toHaveLength(2);
  });

  it('re-reads early at most every minRefreshMs', async () => {
    const { fake, client } = fakeSecretsManager(KEY_A);
    const time = clock();
    const key = secretsManagerTokenKey(client, SECRET_ARN, { ttlMs: TTL_MS, minRefreshMs: 30_000, now: time.now });
    await key.key();
    fake.value = KEY_B;
    expect(await key.refreshEarly()).toBe(false);
    time.t += 30_000;
    expect(await key.refreshEarly()).toBe(true);
    expect(await key.key()).toBe(KEY_B);
    expect(await key.refreshEarly()).toBe(false);
    expect(fake.secretIds).toHaveLength(2);
  });

  it('fails with REALTIME_TOKEN_KEY_UNAVAILABLE when it was never read, naming the secret but no value', async () => {
    const { client } = fakeSecretsManager(sdkError('AccessDeniedException', `not allowed; ${KEY_A}`));
    const key = secretsManagerTokenKey(client, SECRET_ARN, { ttlMs: TTL_MS });
    const err = await key.key().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenKeyError);
    expect((err as TokenKeyError).code).toBe('REALTIME_TOKEN_KEY_UNAVAILABLE');
    expect((err as TokenKeyError).message).toContain(SECRET_ARN);
    expect((err as TokenKeyError).message).toContain('AccessDeniedException');
    expect((err as TokenKeyError).message).not.toContain(KEY_A);
  });

  it('fails with REALTIME_TOKEN_KEY_INVALID for a secret shorter than 32 characters, without echoing it', async () => {
    const { client } = fakeSecretsManager('too-short-a-key');
    const err = await secretsManagerTokenKey(client, SECRET_ARN, { ttlMs: TTL_MS })
      .key()
      .catch((e: unknown) => e);
    expect((err as TokenKeyError).code).toBe('REALTIME_TOKEN_KEY_INVALID');
    expect((err as TokenKeyError).message).not.toContain('too-short-a-key');
  });

  it('keeps the last good key when a re-read fails, and tries again after minRefreshMs', async () => {
    const { fake, client } = fakeSecretsManager(KEY_A);
    const time = clock();
    const key = secretsManagerTokenKey(client, SECRET_ARN, { ttlMs: 1000, minRefreshMs: 30_000, now: time.now });
    await key.key();
    fake.value = sdkError('InternalServiceError', 'down');
    time.t += 5000;
    expect(await key.key()).toBe(KEY_A);
    time.t += 1000;
    expect(await key.key()).toBe(KEY_A);
    expect(fake.secretIds).toHaveLength(2);
    fake.value = KEY_B;
    time.t += 30_000;
    expect(await key.key()).toBe(KEY_B);
  });
});

describe('token key configuration', () => {
  const API = { CONVERSATIONS_TABLE: 'c', UTTERANCES_TABLE: 'u' };
  const WS = { SUBSCRIPTIONS_TABLE: 's', API_CREDENTIALS_JSON: '{}' };

  it('accepts the key itself (REALTIME_TOKEN_SECRET), as local runs pass it', () => {
    const api = loadConfig({ ...API, REALTIME_TOKEN_SECRET: KEY_A });
    expect(api.realtimeTokenSecret).toBe(KEY_A);
    expect(realtimeOf(api)?.tokenSecret).toBe(KEY_A);
    expect(loadWebSocketConfig({ ...WS, REALTIME_TOKEN_SECRET: KEY_A }).realtimeTokenSecret).toBe(KEY_A);
  });

  it('accepts a Secrets Manager id (REALTIME_TOKEN_SECRET_ID) with a cache TTL, in both loaders', () => {
    const api = loadConfig({ ...API, REALTIME_TOKEN_SECRET_ID: SECRET_ARN, REALTIME_TOKEN_SECRET_CACHE_TTL_SEC: '60' });
    expect(api).toMatchObject({ realtimeTokenSecretId: SECRET_ARN, realtimeTokenSecretCacheTtlSec: 60 });
    expect(api.realtimeTokenSecret).toBeUndefined();
    const provider = realtimeOf({ ...api, awsRegion: 'eu-west-1' })?.tokenSecret;
    expect(typeof (provider as TokenKeyProvider).key).toBe('function');
    const ws = loadWebSocketConfig({ ...WS, REALTIME_TOKEN_SECRET_ID: SECRET_ARN });
    expect(ws).toMatchObject({ realtimeTokenSecretId: SECRET_ARN, realtimeTokenSecretCacheTtlSec: 300 });
    expect(typeof tokenKeyFromConfig({ ...ws, awsRegion: 'eu-west-1' })).toBe('object');
  });

  it('leaves tokens off when neither is set', () => {
    expect(realtimeOf(loadConfig(API))).toBeUndefined();
    expect(tokenKeyFromConfig(loadWebSocketConfig(WS))).toBeUndefined();
  });

  it('refuses both forms at once with a ConfigError naming both variables', () => {
    const both = { REALTIME_TOKEN_SECRET: KEY_A, REALTIME_TOKEN_SECRET_ID: SECRET_ARN };
    for (const load of [() => loadConfig({ ...API, ...both }), () => loadWebSocketConfig({ ...WS, ...both })]) {
      const err = (() => {
        try {
          load();
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems).toEqual([TOKEN_KEY_BOTH_SET]);
      expect((err as ConfigError).message).not.toContain(KEY_A);
    }
    expect(TOKEN_KEY_BOTH_SET).toContain('REALTIME_TOKEN_SECRET_ID');
  });

  it('rejects a cache TTL out of range', () => {
    expect(() => loadConfig({ ...API, REALTIME_TOKEN_SECRET_CACHE_TTL_SEC: '7200' })).toThrow(
      /REALTIME_TOKEN_SECRET_CACHE_TTL_SEC must be at most 3600/,
    );
  });
});

describe('POST /realtime/v1/token with the key in Secrets Manager', () => {
  const NOW = 1_737_000_000_000;
  const call = (tokenSecret: TokenKeyProvider, body: unknown = { conversationId: 'c-1' }) => {
    const logger = captureLogger();
    const handler = makeToken({
      realtime: { tokenSecret, ttlSec: 120, supervisorApiIds: new Set() },
      logger,
      metrics: recordMetrics(),
      now: () => NOW,
    });
    const e = apiEvent({ path: '/realtime/v1/token', body });
    (e.requestContext.authorizer as Record<string, unknown>).apiId = 'app-agent';
    return { logger, result: handler(e) };
  };

  it('signs with the key read from the secret, and with the rotated key after the TTL', async () => {
    const { fake, client } = fakeSecretsManager(KEY_A);
    const time = clock(NOW);
    const key = secretsManagerTokenKey(client, SECRET_ARN, { ttlMs: TTL_MS, now: time.now });
    const first = bodyOf<{ token: string }>(await call(key).result);
    expect(verifyRealtimeToken(KEY_A, first.token, NOW / 1000)).toMatchObject({ sub: 'app-agent' });
    fake.value = KEY_B;
    time.t += TTL_MS;
    const second = bodyOf<{ token: string }>(await call(key).result);
    expect(verifyRealtimeToken(KEY_B, second.token, NOW / 1000)).toMatchObject({ sub: 'app-agent' });
  });

  it('answers 503-01 with Retry-After when the key cannot be read, logging the code and no key', async () => {
    const { client } = fakeSecretsManager(sdkError('ResourceNotFoundException', 'gone'));
    const { logger, result } = call(secretsManagerTokenKey(client, SECRET_ARN, { ttlMs: TTL_MS }));
    const res = await result;
    expect(res.statusCode).toBe(503);
    expect(res.headers?.['Retry-After']).toBe('1');
    expect(bodyOf<{ error: { code: string } }>(res).error.code).toBe('503-01');
    expect(res.body).not.toContain(SECRET_ARN);
    expect(logger.lines).toContainEqual(
      expect.objectContaining({
        level: 'error',
        attributes: expect.objectContaining({ code: 'REALTIME_TOKEN_KEY_UNAVAILABLE' }),
      }),
    );
  });
});

describe('$connect with the key in Secrets Manager', () => {
  const API_SECRET = 'a-long-enough-api-secret';
  let credentials: CredentialStore;
  beforeAll(async () => {
    credentials = new CredentialStore(
      inlineSource(await credentialEntry({ apiId: 'app-agent', secret: API_SECRET, salt: 'salt-agent-1' })),
      { ttlMs: 60_000 },
    );
  });

  function setup(tokenKey: TokenKeyProvider) {
    const stored: unknown[] = [];
    const subscriptions = {
      async putConnection(connection: unknown) {
        stored.push(connection);
      },
    } as unknown as SubscriptionsRepository;
    const deps: WebSocketDeps = {
      subscriptions,
      pusherFor: () => ({ post: async () => 'sent', disconnect: async () => {} }),
      credentials,
      tokenKey,
      supervisorApiIds: new Set(),
      logger: captureLogger(),
      metrics: recordMetrics(),
    };
    return { stored, logger: deps.logger as ReturnType<typeof captureLogger>, connect: makeConnect(deps) };
  }
  const connectEvent = (token: string): WebSocketEvent => ({
    requestContext: {
      routeKey: '$connect',
      eventType: 'CONNECT',
      connectionId: `${randomUUID().slice(0, 12)}=`,
      domainName: 'ws.example.com',
      stage: 'test',
      requestId: randomUUID(),
    },
    queryStringParameters: { token },
  });
  const tokenFor = (key: string) =>
    issueRealtimeToken(key, 'app-agent', { conversationId: 'c-1' }, Date.now() / 1000, 60).token;

  it('verifies tokens with the key read from the secret', async () => {
    const { fake, client } = fakeSecretsManager(KEY_A);
    const t = setup(secretsManagerTokenKey(client, SECRET_ARN, { ttlMs: TTL_MS }));
    expect(await t.connect(connectEvent(tokenFor(KEY_A)))).toEqual({ statusCode: 200 });
    expect(await t.connect(connectEvent(tokenFor(KEY_A)))).toEqual({ statusCode: 200 });
    expect(t.stored).toHaveLength(2);
    expect(fake.secretIds).toEqual([SECRET_ARN]);
  });

  it('re-reads the key early when a token does not verify, so a rotation does not wait for the TTL', async () => {
    const { fake, client } = fakeSecretsManager(KEY_A);
    const time = clock(Date.now());
    const t = setup(secretsManagerTokenKey(client, SECRET_ARN, { ttlMs: TTL_MS, minRefreshMs: 30_000, now: time.now }));
    expect((await t.connect(connectEvent(tokenFor(KEY_A)))).statusCode).toBe(200);
    fake.value = KEY_B;
    time.t += 30_000;
    expect((await t.connect(connectEvent(tokenFor(KEY_B)))).statusCode).toBe(200);
    expect(fake.secretIds).toHaveLength(2);
    // A forged token right after costs no further read (rate-limited), and is refused.
    expect((await t.connect(connectEvent(tokenFor('f'.repeat(40))))).statusCode).toBe(401);
    expect(fake.secretIds).toHaveLength(2);
  });

  it('refuses a token with 503 when the key cannot be read, logging the code, recording nothing', async () => {
    const { client } = fakeSecretsManager(sdkError('ThrottlingException', 'slow down'));
    const t = setup(secretsManagerTokenKey(client, SECRET_ARN, { ttlMs: TTL_MS }));
    expect(await t.connect(connectEvent(tokenFor(KEY_A)))).toEqual({ statusCode: 503, body: 'Service Unavailable' });
    expect(t.stored).toEqual([]);
    expect(t.logger.lines).toContainEqual(
      expect.objectContaining({
        level: 'error',
        message: 'websocket connect failed',
        attributes: expect.objectContaining({
          code: 'REALTIME_TOKEN_KEY_UNAVAILABLE',
          reason: 'token-key-unavailable',
        }),
      }),
    );
  });

  it('still takes the API credentials when the key cannot be read (they do not need it)', async () => {
    const { fake, client } = fakeSecretsManager(sdkError('ThrottlingException', 'slow down'));
    const t = setup(secretsManagerTokenKey(client, SECRET_ARN, { ttlMs: TTL_MS }));
    const e = connectEvent('unused');
    e.queryStringParameters = null;
    e.headers = { 'asapp-api-id': 'app-agent', 'asapp-api-secret': API_SECRET };
    expect((await t.connect(e)).statusCode).toBe(200);
    expect(t.stored).toEqual([expect.objectContaining({ apiId: 'app-agent', grant: { kind: 'any' } })]);
    expect(fake.secretIds).toEqual([]);
  });
});

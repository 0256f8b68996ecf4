/**
 * The messages route's `nextToken`s when their key comes from Secrets Manager by id (`PAGE_TOKEN_SECRET_ID`,
 * lambdas/shared/page-token-key.ts), as in AWS: tokens are signed with that key, forged, foreign and unsigned
 * tokens are refused, a rotated key is picked up, an unreadable key answers 503-01, and a function without
 * any key refuses to start. Secrets Manager is a fake client recording its reads; time is an injected clock.
 */
import type { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { utteranceIdOf } from '../../core/transcript/utterance';
import { handler, makeHandler } from '../../lambdas/get-messages/handler';
import {
  loadConfig,
  PAGE_TOKEN_KEY_BOTH_SET,
  PAGE_TOKEN_KEY_MISSING,
  requirePageTokenKey,
} from '../../lambdas/shared/config';
import { keyedPageReader, secretsManagerPageTokenKey } from '../../lambdas/shared/page-token-key';
import { makeHandler as makeStart } from '../../lambdas/start-streaming/handler';
import { createDocumentClient } from '../../store/dynamo';
import { UtterancesRepository } from '../../store/utterances';
import { setupDynamoDb, type TestDynamoDb } from '../helpers/dynamodb';
import { apiEvent, bodyOf, newGuid, SimulatedGateway, startBody, testDeps } from './helpers/api';

const PATH = '/conversation/v1/conversation/messages';
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:PageTokenKey-AbCdEf';
const KEY_A = 'page-token-key-A-0123456789abcdefghij';
const KEY_B = 'page-token-key-B-0123456789abcdefghij';
const MIN_REFRESH_MS = 30_000;

interface Page {
  items: { text: string }[];
  nextToken?: string;
}

let db: TestDynamoDb;
beforeAll(async () => {
  db = await setupDynamoDb();
});
afterAll(async () => {
  await db?.stop();
});

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

/** An Utterances repository on the test table signing with `key` (another container, or an attacker's guess). */
function repositorySignedWith(key: string): UtterancesRepository {
  return new UtterancesRepository(createDocumentClient(db.client), { tableName: db.tables.utterances, tokenKey: key });
}

/** Handler collaborators whose pages are read through a key held in a (fake) Secrets Manager secret. */
function secretDeps(initial: string | Error) {
  const { fake, client } = fakeSecretsManager(initial);
  const clock = { t: 1_765_000_000_000, now: () => clock.t };
  const key = secretsManagerPageTokenKey(client, SECRET_ARN, {
    ttlMs: 300_000,
    minRefreshMs: MIN_REFRESH_MS,
    now: clock.now,
  });
  const deps = testDeps(db, { pages: keyedPageReader(key, repositorySignedWith) });
  return { deps, fake, clock };
}

type Deps = ReturnType<typeof secretDeps>['deps'];

const get = (deps: Deps, query: Record<string, string>) =>
  makeHandler(deps)(apiEvent({ method: 'GET', path: PATH, query }));

/** A started conversation with `count` utterances, one second apart. */
async function conversationWith(deps: Deps, count: number): Promise<string> {
  const guid = newGuid();
  const gateway = new SimulatedGateway(deps, db, guid);
  await gateway.open();
  await makeStart(deps)(apiEvent({ path: '/mg-autotranscribe/v1/start-streaming', body: startBody(guid) }));
  await gateway.openSegment(1);
  const meta = await deps.conversations.getMeta(guid);
  if (!meta?.streamIds) throw new Error('setup failed');
  for (let i = 0; i < count; i++) {
    const resultId = `r-${i}`;
    await deps.utterances.putFinal({
      conversationId: guid,
      segment: 1,
      streamId: meta.streamIds.customer,
      role: 'customer',
      resultId,
      utteranceId: utteranceIdOf(guid, meta.streamIds.customer, resultId),
      startMs: i * 1000,
      endMs: i * 1000 + 500,
      text: `utterance ${i}`,
      language: 'en-US',
      createdAt: Date.now(),
    });
  }
  return guid;
}

/** The first page of two utterances and its token. */
async function firstPage(deps: Deps, guid: string): Promise<string> {
  const res = await get(deps, { externalId: guid, limit: '2' });
  expect(res.statusCode).toBe(200);
  const token = bodyOf<Page>(res).nextToken;
  if (token === undefined) throw new Error('expected a nextToken');
  return token;
}

const errorCodeOf = (res: Awaited<ReturnType<typeof get>>) =>
  (bodyOf(res) as { error?: { code?: string } }).error?.code;

describe('messages nextToken with the key in Secrets Manager', () => {
  it('signs nextTokens with the key read from the secret and follows them', async () => {
    const { deps, fake } = secretDeps(KEY_A);
    const guid = await conversationWith(deps, 5);
    const token = await firstPage(deps, guid);
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    // Signed with the secret's key: a repository holding that key accepts it, one holding another refuses it.
    await expect(repositorySignedWith(KEY_A).listByConversation(guid, { nextToken: token })).resolves.toBeDefined();
    await expect(repositorySignedWith(KEY_B).listByConversation(guid, { nextToken: token })).rejects.toThrow(
      /signature mismatch/,
    );
    const next = await get(deps, { externalId: guid, limit: '2', nextToken: token });
    expect(bodyOf<Page>(next).items.map((m) => m.text)).toEqual(['utterance 2', 'utterance 3']);
    // One read for both requests: the key is cached.
    expect(fake.secretIds).toEqual([SECRET_ARN]);
  });

  it('refuses a forged, foreign-key, unsigned or other-conversation token with 400-01', async () => {
    const { deps } = secretDeps(KEY_A);
    const guid = await conversationWith(deps, 5);
    const other = await conversationWith(deps, 3);
    const token = await firstPage(deps, guid);
    const [payload = '', mac = ''] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { k: string };
    // Moves the position forward and keeps the signature: the HMAC no longer matches.
    const moved = Buffer.from(JSON.stringify({ ...claims, k: claims.k.replace(/^\d{10}/, '0000003000') })).toString(
      'base64url',
    );
    const signedElsewhere = (await repositorySignedWith('attacker-guessed-key-0123456789').listByConversation(guid, {
      limit: 2,
    })) as Page;
    const unsigned = (await new UtterancesRepository(createDocumentClient(db.client), {
      tableName: db.tables.utterances,
    }).listByConversation(guid, { limit: 2 })) as Page;
    const forged = {
      'moved position': `${moved}.${mac}`,
      'another key': signedElsewhere.nextToken as string,
      unsigned: unsigned.nextToken as string,
    };
    for (const [what, nextToken] of Object.entries(forged)) {
      const res = await get(deps, { externalId: guid, nextToken });
      expect(res.statusCode, what).toBe(400);
      expect(errorCodeOf(res), what).toBe('400-01');
    }
    const foreign = await get(deps, { externalId: other, nextToken: token });
    expect(foreign.statusCode).toBe(400);
  });

  it('picks up a rotated key: a token signed with the new key verifies after an early re-read', async () => {
    const { deps, fake, clock } = secretDeps(KEY_A);
    const guid = await conversationWith(deps, 5);
    const oldToken = await firstPage(deps, guid);
    fake.value = KEY_B;
    // Another container already holds the new key and issued this token.
    const newToken = (await repositorySignedWith(KEY_B).listByConversation(guid, { limit: 2 })).nextToken as string;
    clock.t += MIN_REFRESH_MS;
    const res = await get(deps, { externalId: guid, limit: '2', nextToken: newToken });
    expect(res.statusCode).toBe(200);
    expect(bodyOf<Page>(res).items.map((m) => m.text)).toEqual(['utterance 2', 'utterance 3']);
    expect(fake.secretIds).toHaveLength(2);
    // Tokens signed with the replaced key no longer verify: the caller starts again from the first page.
    expect((await get(deps, { externalId: guid, nextToken: oldToken })).statusCode).toBe(400);
  });

  it('re-reads the key early at most every minRefreshMs, however many forged tokens arrive', async () => {
    const { deps, fake } = secretDeps(KEY_A);
    const guid = await conversationWith(deps, 3);
    const forged = (await repositorySignedWith(KEY_B).listByConversation(guid, { limit: 1 })).nextToken as string;
    for (let i = 0; i < 5; i++) {
      expect((await get(deps, { externalId: guid, nextToken: forged })).statusCode).toBe(400);
    }
    expect(fake.secretIds).toEqual([SECRET_ARN]);
  });

  it('answers 503-01 and logs the code, never a key, when the secret cannot be read', async () => {
    const denied = new Error('User is not authorized to perform secretsmanager:GetSecretValue');
    denied.name = 'AccessDeniedException';
    const { deps } = secretDeps(denied);
    const guid = await conversationWith(deps, 1);
    const res = await get(deps, { externalId: guid });
    expect(res.statusCode).toBe(503);
    expect(errorCodeOf(res)).toBe('503-01');
    const line = deps.logger.lines.find((l) => l.message === 'page token key unavailable');
    expect(line?.attributes).toMatchObject({ code: 'PAGE_TOKEN_KEY_UNAVAILABLE' });
    expect(JSON.stringify(line)).toContain('AccessDeniedException');
  });

  it('answers 503-01 when the secret holds a key too short to sign with', async () => {
    const { deps } = secretDeps('short');
    const guid = await conversationWith(deps, 1);
    const res = await get(deps, { externalId: guid });
    expect(res.statusCode).toBe(503);
    expect(deps.logger.lines.find((l) => l.message === 'page token key unavailable')?.attributes).toMatchObject({
      code: 'PAGE_TOKEN_KEY_INVALID',
    });
  });
});

describe('page-token key configuration', () => {
  const base = { CONVERSATIONS_TABLE: 'c', UTTERANCES_TABLE: 'u' };

  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('reads PAGE_TOKEN_SECRET_ID', () => {
    expect(loadConfig({ ...base, PAGE_TOKEN_SECRET_ID: SECRET_ARN }).pageTokenSecretId).toBe(SECRET_ARN);
  });

  it('refuses both forms at once, without echoing the key', () => {
    try {
      loadConfig({ ...base, PAGE_TOKEN_SECRET: KEY_A, PAGE_TOKEN_SECRET_ID: SECRET_ARN });
      expect.unreachable('both forms must be refused');
    } catch (err) {
      expect((err as { problems?: unknown }).problems).toEqual([PAGE_TOKEN_KEY_BOTH_SET]);
      expect((err as Error).message).not.toContain(KEY_A);
    }
  });

  it('requires a key for the Lambda: neither form is a configuration error naming the variable', () => {
    expect(() => requirePageTokenKey(loadConfig(base))).toThrow(PAGE_TOKEN_KEY_MISSING);
    expect(requirePageTokenKey(loadConfig({ ...base, PAGE_TOKEN_SECRET_ID: SECRET_ARN })).pageTokenSecretId).toBe(
      SECRET_ARN,
    );
  });

  it('the Lambda entry refuses to start without a key instead of serving unsigned tokens', () => {
    for (const [name, value] of Object.entries(base)) vi.stubEnv(name, value);
    vi.stubEnv('PAGE_TOKEN_SECRET', undefined);
    vi.stubEnv('PAGE_TOKEN_SECRET_ID', undefined);
    expect(() => handler(apiEvent({ method: 'GET', path: PATH, query: { externalId: newGuid() } }))).toThrow(
      expect.objectContaining({ name: 'ConfigError', problems: [PAGE_TOKEN_KEY_MISSING] }),
    );
  });
});

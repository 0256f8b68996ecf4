/**
 * `$connect` and credential scopes (issue #15 items 1, 3 and 7): a credential needs the `realtime` scope,
 * a token's subject is looked up again at every handshake, an unknown api id costs as much as a known one,
 * and a forged token does not make the handler re-read its key. The subscriptions store is a fake port
 * here (only a successful handshake writes to it); test/lambdas/websocket.test.ts runs the handlers on
 * DynamoDB Local.
 */
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CredentialEntry } from '../../core/api/credentials';
import { issueRealtimeToken } from '../../core/delivery/realtime-token';
import { credentialEntry } from '../../lambdas/authorizer/hash-secret';
import { CredentialStore, inlineSource } from '../../lambdas/shared/credential-store';
import type { WebSocketDeps, WebSocketEvent } from '../../lambdas/shared/websocket';
import { makeHandler as makeConnect } from '../../lambdas/websocket/connect/handler';
import type { SubscriptionsRepository } from '../../store/subscriptions';
import { captureLogger, recordMetrics } from './helpers/api';

const TOKEN_KEY = 'k'.repeat(40);
const SECRET = 'a-long-enough-api-secret';
let credentials: CredentialStore;

beforeAll(async () => {
  credentials = new CredentialStore(
    inlineSource({
      ...(await credentialEntry({ apiId: 'app-rt', secret: SECRET, scopes: ['realtime'] })),
      ...(await credentialEntry({ apiId: 'app-ctl', secret: SECRET, scopes: ['control', 'read'] })),
    }),
    { ttlMs: 60_000 },
  );
});

function setup(overrides: Partial<WebSocketDeps> = {}) {
  const stored: string[] = [];
  const subscriptions = {
    async putConnection(record: { connectionId: string }) {
      stored.push(record.connectionId);
    },
  } as unknown as SubscriptionsRepository;
  const deps: WebSocketDeps = {
    subscriptions,
    pusherFor: () => ({ post: async () => 'sent', disconnect: async () => {} }),
    credentials,
    tokenKey: TOKEN_KEY,
    supervisorApiIds: new Set(),
    logger: captureLogger(),
    metrics: recordMetrics(),
    ...overrides,
  };
  return { stored, connect: makeConnect(deps) };
}

function connectEvent(extra: Partial<WebSocketEvent>): WebSocketEvent {
  return {
    requestContext: {
      routeKey: '$connect',
      eventType: 'CONNECT',
      connectionId: `${randomUUID().slice(0, 12)}=`,
      domainName: 'ws.example.com',
      stage: 'test',
      requestId: randomUUID(),
    },
    isBase64Encoded: false,
    ...extra,
  };
}

const headers = (apiId: string, secret = SECRET) => ({
  headers: { 'asapp-api-id': apiId, 'asapp-api-secret': secret },
});
const tokenOf = (sub: string, key = TOKEN_KEY) =>
  issueRealtimeToken(key, sub, { conversationId: 'c-1' }, Date.now() / 1000, 60).token;

describe('$connect and credential scopes', () => {
  it('takes credential headers only from a credential holding the realtime scope', async () => {
    const t = setup();
    expect((await t.connect(connectEvent(headers('app-rt')))).statusCode).toBe(200);
    expect((await t.connect(connectEvent(headers('app-ctl')))).statusCode).toBe(403);
    expect(t.stored).toHaveLength(1);
  });

  it('re-checks a token subject: gone → 401, without the realtime scope → 403', async () => {
    const t = setup();
    const ok = await t.connect(connectEvent({ queryStringParameters: { token: tokenOf('app-rt') } }));
    expect(ok.statusCode).toBe(200);
    const gone = await t.connect(connectEvent({ queryStringParameters: { token: tokenOf('app-removed') } }));
    expect(gone.statusCode).toBe(401);
    const narrowed = await t.connect(connectEvent({ queryStringParameters: { token: tokenOf('app-ctl') } }));
    expect(narrowed.statusCode).toBe(403);
    expect(t.stored).toHaveLength(1);
  });

  it('does not re-read the token key for a bad token signed as if with the current key', async () => {
    let reads = 0;
    const t = setup({
      tokenKey: {
        key: async () => TOKEN_KEY,
        refreshEarly: async () => {
          reads++;
          return true;
        },
      },
    });
    const good = tokenOf('app-rt');
    expect((await t.connect(connectEvent({ queryStringParameters: { token: good } }))).statusCode).toBe(200);
    const readsAfterFirst = reads;
    expect(readsAfterFirst).toBe(0);
    const [prefix, payload, mac = ''] = good.split('.');
    const tampered = `${prefix}.${payload}.${mac.startsWith('A') ? 'B' : 'A'}${mac.slice(1)}`;
    for (let i = 0; i < 5; i++) {
      expect((await t.connect(connectEvent({ queryStringParameters: { token: tampered } }))).statusCode).toBe(401);
    }
    expect(reads).toBe(readsAfterFirst);
    // A token of another key (a rotation in flight) does cause a re-read.
    const other = tokenOf('app-rt', 'o'.repeat(40));
    expect((await t.connect(connectEvent({ queryStringParameters: { token: other } }))).statusCode).toBe(401);
    expect(reads).toBe(readsAfterFirst + 1);
  });

  it('answers an unknown api id as slowly as a known one with a wrong secret', async () => {
    // The lookup answers at once either way; only the secret hash can tell them apart.
    const lookups: Pick<CredentialStore, 'lookup'> = {
      lookup: (apiId: string): Promise<CredentialEntry | undefined> => credentials.lookup(apiId),
    };
    const t = setup({ credentials: lookups });
    await credentials.lookup('app-rt');
    const time = async (apiId: string) => {
      const start = process.hrtime.bigint();
      const r = await t.connect(connectEvent(headers(apiId, `wrong-${randomUUID()}`)));
      expect(r.statusCode).toBe(401);
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 9; i++) {
      known.push(await time('app-rt'));
      unknown.push(await time(`app-nobody-${i}`));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    // Before the fix the unknown id skipped scrypt: ~2 ms against ~50 ms. Both now pay one hash.
    expect(median(unknown)).toBeGreaterThan(median(known) * 0.5);
  });
});

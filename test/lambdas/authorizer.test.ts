import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { ROUTES, type RouteSpec } from '../../contract/routes';
import { type CredentialEntry, parseCredentials } from '../../core/api/credentials';
import { makeHandler, stageWildcardArn } from '../../lambdas/authorizer/handler';
import { credentialEntry } from '../../lambdas/authorizer/hash-secret';
import { CredentialStore, inlineSource } from '../../lambdas/shared/credential-store';
import { policyAllows } from '../../local/api/server';
import { captureLogger, metricTotal, recordMetrics } from './helpers/api';

const STAGE = 'arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/';
const METHOD_ARN = `${STAGE}POST/mg-autotranscribe/v1/start-streaming`;

/** The method ARN API Gateway would give a request to `route` (a path parameter filled in). */
function arnOf(route: RouteSpec): string {
  return `${STAGE}${route.method}${route.path.replace(/\{[^}]+\}/g, 'c0ffee00-0000-4000-8000-000000000001')}`;
}
const SECRET = 'correct-horse-battery-staple-0001';

function event(headers: Record<string, string> | null): APIGatewayRequestAuthorizerEvent {
  return {
    type: 'REQUEST',
    methodArn: METHOD_ARN,
    resource: '/mg-autotranscribe/v1/start-streaming',
    path: '/mg-autotranscribe/v1/start-streaming',
    httpMethod: 'POST',
    headers,
    multiValueHeaders: null,
    pathParameters: null,
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    stageVariables: null,
    requestContext: { requestId: 'req-auth' } as APIGatewayRequestAuthorizerEvent['requestContext'],
  };
}

async function credentialSet(): Promise<Record<string, Record<string, unknown>>> {
  return {
    ...(await credentialEntry({ apiId: 'app-ctl', secret: SECRET, label: 'genesys-data-action', scopes: ['control'] })),
    ...(await credentialEntry({ apiId: 'app-rd', secret: SECRET, label: 'crm', scopes: ['read', 'realtime'] })),
    ...(await credentialEntry({ apiId: 'app-123', secret: SECRET, label: 'genesys-prod', rateLimitPerSec: 50 })),
    ...(await credentialEntry({ apiId: 'app-off', secret: SECRET, label: 'retired' })),
  };
}

async function setup(options: { now?: () => number } = {}) {
  const set = await credentialSet();
  (set['app-off'] as Record<string, unknown>).disabled = true;
  const store = new CredentialStore(inlineSource(set), { ttlMs: 300_000, ...(options.now && { now: options.now }) });
  let lookups = 0;
  const counting = {
    lookup: (id: string): Promise<CredentialEntry | undefined> => {
      lookups++;
      return store.lookup(id);
    },
  };
  const logger = captureLogger();
  const metrics = recordMetrics();
  const handler = makeHandler({
    credentials: counting,
    logger,
    metrics,
    cacheTtlMs: 300_000,
    negativeCacheTtlMs: 10_000,
    ...(options.now && { now: options.now }),
  });
  return { handler, logger, metrics, lookups: () => lookups, store };
}

describe('authorizer', () => {
  it('allows a credential without scopes every route of the stage, with context and usage key', async () => {
    const { handler, metrics, logger } = await setup();
    const result = await handler(event({ 'asapp-api-id': 'app-123', 'asapp-api-secret': SECRET }));
    expect(result.principalId).toBe('app-123');
    expect(result.policyDocument.Statement).toHaveLength(1);
    expect(result.policyDocument.Statement[0]).toMatchObject({ Action: 'execute-api:Invoke', Effect: 'Allow' });
    for (const route of ROUTES) expect(policyAllows(result, arnOf(route)), route.id).toBe(true);
    expect(policyAllows(result, `${STAGE}GET/somewhere/else`)).toBe(false);
    expect(result.context).toEqual({
      apiId: 'app-123',
      label: 'genesys-prod',
      scopes: 'admin control export read realtime',
      rateLimitPerSec: 50,
    });
    await handler(event({ 'asapp-api-id': 'app-123', 'asapp-api-secret': SECRET }));
    const warnings = logger.lines.filter((l) => String(l.message).includes('has no scopes'));
    expect(warnings).toHaveLength(1);
    expect(result.usageIdentifierKey).toMatch(/^uk-[0-9a-f]{40}$/);
    expect(metricTotal(metrics, 'AuthAllowed')).toBe(2);
  });

  it('reads the header names case-insensitively', async () => {
    const { handler } = await setup();
    const result = await handler(event({ 'ASAPP-API-ID': 'app-123', 'Asapp-Api-Secret': SECRET }));
    expect(result.policyDocument.Statement[0]).toMatchObject({ Effect: 'Allow' });
  });

  for (const [what, headers] of [
    ['a wrong secret', { 'asapp-api-id': 'app-123', 'asapp-api-secret': `${SECRET}x` }],
    ['an unknown api id', { 'asapp-api-id': 'app-999', 'asapp-api-secret': SECRET }],
    ['a missing secret header', { 'asapp-api-id': 'app-123' }],
    ['a missing id header', { 'asapp-api-secret': SECRET }],
    ['empty header values', { 'asapp-api-id': '', 'asapp-api-secret': '' }],
    ['no headers at all', null],
  ] as const) {
    it(`refuses ${what} with the literal API Gateway maps to 401`, async () => {
      const { handler, logger } = await setup();
      await expect(handler(event(headers as Record<string, string> | null))).rejects.toThrow(/^Unauthorized$/);
      expect(JSON.stringify(logger.lines)).not.toContain(SECRET);
    });
  }

  it('denies a disabled credential (403 through ACCESS_DENIED)', async () => {
    const { handler } = await setup();
    const result = await handler(event({ 'asapp-api-id': 'app-off', 'asapp-api-secret': SECRET }));
    expect(result.policyDocument.Statement[0]).toMatchObject({ Effect: 'Deny' });
    expect(result.context).toBeUndefined();
  });

  describe('scopes', () => {
    for (const [apiId, allowed] of [
      ['app-ctl', ['start-streaming', 'stop-streaming']],
      ['app-rd', ['get-messages', 'conversation-status', 'realtime-token']],
    ] as const) {
      it(`allows ${apiId} exactly the routes of its scopes`, async () => {
        const { handler, logger } = await setup();
        const result = await handler(event({ 'asapp-api-id': apiId, 'asapp-api-secret': SECRET }));
        const granted = ROUTES.filter((r) => policyAllows(result, arnOf(r))).map((r) => r.id);
        expect(granted.sort()).toEqual([...allowed].sort());
        expect(logger.lines.some((l) => String(l.message).includes('has no scopes'))).toBe(false);
      });
    }

    it('names the scopes in the context handed to the route', async () => {
      const { handler } = await setup();
      const result = await handler(event({ 'asapp-api-id': 'app-rd', 'asapp-api-secret': SECRET }));
      expect(result.context?.scopes).toBe('read realtime');
    });

    it('refuses an entry with an unknown or empty scope list, naming the entry', async () => {
      const [entry] = Object.values(await credentialEntry({ apiId: 'x', secret: SECRET }));
      expect(() => parseCredentials({ 'app-x': { ...entry, scopes: ['control', 'root'] } })).toThrow(
        /credential 'app-x': unknown scope "root"/,
      );
      expect(() => parseCredentials({ 'app-x': { ...entry, scopes: [] } })).toThrow(/credential 'app-x': scopes must/);
      expect(() => parseCredentials({ 'app-x': { ...entry, scopes: 'control' } })).toThrow(/must be an array/);
    });
  });

  describe('cache', () => {
    it('never evicts a good verdict for a flood of bad ones', async () => {
      const store = new CredentialStore(inlineSource(await credentialSet()), { ttlMs: 300_000 });
      let lookups = 0;
      const handler = makeHandler({
        credentials: {
          lookup: (id) => {
            lookups++;
            return store.lookup(id);
          },
        },
        logger: captureLogger(),
        metrics: recordMetrics(),
        cacheTtlMs: 300_000,
        negativeCacheTtlMs: 10_000,
        maxCacheEntries: 4,
      });
      await handler(event({ 'asapp-api-id': 'app-ctl', 'asapp-api-secret': SECRET }));
      for (let i = 0; i < 12; i++) {
        await expect(
          handler(event({ 'asapp-api-id': `app-${i}`, 'asapp-api-secret': `bad-secret-${i}-000000` })),
        ).rejects.toThrow('Unauthorized');
      }
      const before = lookups;
      await handler(event({ 'asapp-api-id': 'app-ctl', 'asapp-api-secret': SECRET }));
      expect(lookups).toBe(before);
    });

    it('reuses a positive verdict without looking the credential up again', async () => {
      const { handler, lookups } = await setup();
      const headers = { 'asapp-api-id': 'app-123', 'asapp-api-secret': SECRET };
      await handler(event(headers));
      await handler(event(headers));
      await handler(event(headers));
      expect(lookups()).toBe(1);
    });

    it('remembers a failure briefly, then checks again', async () => {
      let t = 1_000_000;
      const { handler, lookups } = await setup({ now: () => t });
      const bad = { 'asapp-api-id': 'app-123', 'asapp-api-secret': 'wrong-secret-value-000' };
      await expect(handler(event(bad))).rejects.toThrow('Unauthorized');
      await expect(handler(event(bad))).rejects.toThrow('Unauthorized');
      expect(lookups()).toBe(1);
      t += 10_001;
      await expect(handler(event(bad))).rejects.toThrow('Unauthorized');
      expect(lookups()).toBe(2);
    });

    it('never lets a cached success answer for a different secret', async () => {
      const { handler } = await setup();
      await handler(event({ 'asapp-api-id': 'app-123', 'asapp-api-secret': SECRET }));
      await expect(
        handler(event({ 'asapp-api-id': 'app-123', 'asapp-api-secret': 'other-secret-000000' })),
      ).rejects.toThrow('Unauthorized');
    });
  });
});

describe('credential store', () => {
  it('re-reads the set after its TTL and early for an unknown id, at most every minRefreshMs', async () => {
    let t = 0;
    let current: Record<string, unknown> = await credentialEntry({ apiId: 'a-1', secret: SECRET });
    let reads = 0;
    const store = new CredentialStore(
      {
        description: 'test',
        load: async () => {
          reads++;
          return current;
        },
      },
      { ttlMs: 300_000, minRefreshMs: 30_000, now: () => t },
    );
    expect(await store.lookup('a-1')).toBeDefined();
    expect(await store.lookup('a-2')).toBeUndefined();
    expect(reads).toBe(1);
    current = { ...current, ...(await credentialEntry({ apiId: 'a-2', secret: SECRET })) };
    t = 30_000;
    expect(await store.lookup('a-2')).toBeDefined();
    expect(reads).toBe(2);
    t = 400_000;
    await store.lookup('a-1');
    expect(reads).toBe(3);
  });

  it('keeps serving the last good set when a re-read fails', async () => {
    let t = 0;
    let fail = false;
    const good = await credentialEntry({ apiId: 'a-1', secret: SECRET });
    const store = new CredentialStore(
      {
        description: 'test',
        load: async () => {
          if (fail) throw new Error('secrets manager down');
          return good;
        },
      },
      { ttlMs: 1000, now: () => t },
    );
    await store.lookup('a-1');
    fail = true;
    t = 5000;
    expect(await store.lookup('a-1')).toBeDefined();
    expect(store.failures).toBe(1);
  });
});

describe('hash-secret entries', () => {
  it('produce scrypt entries with a fresh salt that verify the secret', async () => {
    const a = await credentialEntry({ apiId: 'x-1', secret: SECRET });
    const b = await credentialEntry({ apiId: 'x-1', secret: SECRET });
    expect(a['x-1']?.alg).toBe('scrypt');
    expect(a['x-1']?.salt).not.toBe(b['x-1']?.salt);
    expect(a['x-1']?.secretHash).not.toBe(b['x-1']?.secretHash);
    expect(parseCredentials(a).get('x-1')?.hash).toHaveLength(32);
  });
});

describe('stageWildcardArn', () => {
  it('widens a method ARN to every method of its stage', () => {
    expect(stageWildcardArn('arn:aws:execute-api:us-east-1:1:api/dev/GET/a/b')).toBe(
      'arn:aws:execute-api:us-east-1:1:api/dev/*/*',
    );
  });
});

import type { Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHandler as makeAuthorizer } from '../../../lambdas/authorizer/handler';
import { credentialEntry } from '../../../lambdas/authorizer/hash-secret';
import { CredentialStore, inlineSource } from '../../../lambdas/shared/credential-store';
import { localRoutes } from '../../../local/api/routes';
import { createLocalApi, type LocalApiOptions } from '../../../local/api/server';
import { setupDynamoDb, type TestDynamoDb } from '../../helpers/dynamodb';
import { captureLogger, newGuid, recordMetrics, startBody, testDeps } from '../../lambdas/helpers/api';

const SECRET = 'local-adapter-secret-0000001';
const AUTH = { 'asapp-api-id': 'app-local', 'asapp-api-secret': SECRET };

let db: TestDynamoDb;
let credentials: Record<string, unknown>;
const servers: Server[] = [];

beforeAll(async () => {
  db = await setupDynamoDb();
  credentials = {
    ...(await credentialEntry({ apiId: 'app-local', secret: SECRET, label: 'local' })),
    ...(await credentialEntry({ apiId: 'app-slow', secret: SECRET, label: 'slow', rateLimitPerSec: 1 })),
    ...(await credentialEntry({ apiId: 'app-off', secret: SECRET, label: 'off' })),
  };
  (credentials['app-off'] as Record<string, unknown>).disabled = true;
});
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  await db?.stop();
});

async function serve(extra: Partial<LocalApiOptions> = {}): Promise<string> {
  const deps = testDeps(db);
  const authorizer = makeAuthorizer({
    credentials: new CredentialStore(inlineSource(credentials), { ttlMs: 300_000 }),
    logger: captureLogger(),
    metrics: recordMetrics(),
    cacheTtlMs: 300_000,
    negativeCacheTtlMs: 5_000,
  });
  const server = createLocalApi({ routes: localRoutes(deps), authorizer, ...extra });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface Envelope {
  error: { requestId: string; message: string; code: string };
}

async function expectEnvelope(res: Response, status: number, code: string): Promise<Envelope> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await res.json()) as Envelope;
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error.code).toBe(code);
  expect(body.error.requestId).toMatch(/^[0-9a-f-]{36}$/);
  expect(body.error.requestId).toBe(res.headers.get('x-amzn-requestid'));
  return body;
}

const json = (body: unknown) => ({ 'Content-Type': 'application/json', ...AUTH, body: JSON.stringify(body) });

describe('local REST API adapter (real HTTP)', () => {
  let base: string;
  beforeAll(async () => {
    base = await serve();
  });

  describe('authentication', () => {
    it('answers 401-01 without credentials', async () => {
      const res = await fetch(`${base}/mg-autotranscribe/v1/start-streaming`, { method: 'POST', body: '{}' });
      const body = await expectEnvelope(res, 401, '401-01');
      expect(body.error.message).toBe('Unauthorized');
    });

    it('answers 401-01 for a wrong secret and 403-01 for a disabled credential', async () => {
      const wrong = await fetch(`${base}/conversation/v1/conversation/messages?externalId=x`, {
        headers: { 'asapp-api-id': 'app-local', 'asapp-api-secret': 'nope-nope-nope-nope' },
      });
      await expectEnvelope(wrong, 401, '401-01');
      const off = await fetch(`${base}/conversation/v1/conversation/messages?externalId=x`, {
        headers: { 'asapp-api-id': 'app-off', 'asapp-api-secret': SECRET },
      });
      await expectEnvelope(off, 403, '403-01');
    });

    it('throttles per credential with 429-01 and Retry-After', async () => {
      const headers = { 'asapp-api-id': 'app-slow', 'asapp-api-secret': SECRET };
      const url = `${base}/conversation/v1/conversation/messages?externalId=${newGuid()}`;
      const first = await fetch(url, { headers });
      expect(first.status).toBe(404);
      await first.text();
      const second = await fetch(url, { headers });
      await expectEnvelope(second, 429, '429-01');
      expect(second.headers.get('retry-after')).toBe('1');
    });
  });

  describe('request errors', () => {
    it('answers 404-01 for an unknown path or a wrong method', async () => {
      await expectEnvelope(await fetch(`${base}/nope`, { headers: AUTH }), 404, '404-01');
      await expectEnvelope(
        await fetch(`${base}/mg-autotranscribe/v1/start-streaming`, { headers: AUTH }),
        404,
        '404-01',
      );
    });

    it('answers the handler envelope for malformed JSON, a wrong content type and a body over 64 KiB', async () => {
      const url = `${base}/mg-autotranscribe/v1/start-streaming`;
      const malformed = await fetch(url, {
        method: 'POST',
        headers: { ...AUTH, 'Content-Type': 'application/json' },
        body: '{"a":',
      });
      await expectEnvelope(malformed, 400, '400-01');
      const form = await fetch(url, { method: 'POST', headers: { ...AUTH, 'Content-Type': 'text/plain' }, body: '{}' });
      await expectEnvelope(form, 400, '400-01');
      const { body, ...headers } = json(startBody(newGuid(), { pad: 'x'.repeat(70_000) }));
      await expectEnvelope(await fetch(url, { method: 'POST', headers, body }), 413, '413-01');
    });

    it('passes a query parameter named __proto__ or constructor to the handler as a plain parameter', async () => {
      const guid = newGuid();
      const { body, ...headers } = json(startBody(guid));
      expect(
        (await fetch(`${base}/mg-autotranscribe/v1/start-streaming`, { method: 'POST', headers, body })).status,
      ).toBe(200);
      const res = await fetch(
        `${base}/conversation/v1/conversation/messages?__proto__=x&constructor=y&externalId=${guid}`,
        { headers: AUTH },
      );
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ items: [] });
    });

    it('answers a request Node cannot parse, or an unparseable request target, with the envelope', async () => {
      const { port } = new URL(base);
      const exchange = (text: string) =>
        new Promise<string>((ok, fail) => {
          const socket = connect(Number(port), '127.0.0.1', () => socket.end(text));
          const chunks: Buffer[] = [];
          socket.on('data', (c) => chunks.push(c));
          socket.on('close', () => ok(Buffer.concat(chunks).toString('utf8')));
          socket.on('error', fail);
        });
      const cases: [string, string][] = [
        ['GET /nope HTTP/1.1\r\nHost: x\r\nasapp-api-id: a\u0001b\r\n\r\n', '400-01'],
        ['POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n', '400-01'],
        [`GET /nope HTTP/1.1\r\nHost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`, '413-01'],
        ['GET http://[ HTTP/1.1\r\nHost: x\r\n\r\n', '404-01'],
      ];
      for (const [request, code] of cases) {
        const answer = await exchange(request);
        expect(answer.startsWith(`HTTP/1.1 ${code.slice(0, 3)} `), answer.slice(0, 80)).toBe(true);
        const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Envelope;
        expect(body.error.code).toBe(code);
        expect(body.error.requestId).toMatch(/^[0-9a-f-]{36}$/);
      }
    });

    it('answers 413-01 itself above the API Gateway payload limit', async () => {
      const small = await serve({ maxPayloadBytes: 1024 });
      const res = await fetch(`${small}/mg-autotranscribe/v1/start-streaming`, {
        method: 'POST',
        headers: { ...AUTH, 'Content-Type': 'application/json' },
        body: 'x'.repeat(4096),
      });
      await expectEnvelope(res, 413, '413-01');
    });
  });

  it('runs a call through start, status, stop and messages with the real handlers', async () => {
    const guid = newGuid();
    const { body, ...headers } = json(startBody(guid));
    const started = await fetch(`${base}/mg-autotranscribe/v1/start-streaming`, { method: 'POST', headers, body });
    expect(started.status).toBe(200);
    const startJson = (await started.json()) as {
      isOk: boolean;
      autotranscribeResponse: { customer: { streamId: string } };
    };
    expect(startJson.isOk).toBe(true);
    const status = await fetch(`${base}/mg-autotranscribe/v1/conversations/${guid}/status`, { headers: AUTH });
    expect(await status.json()).toMatchObject({ state: 'waiting-for-audio' });
    const stopReq = json({ namespace: 'genesysaudiohook', guid });
    const stopped = await fetch(`${base}/mg-autotranscribe/v1/stop-streaming`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...AUTH },
      body: stopReq.body,
    });
    expect(stopped.status).toBe(200);
    const stopJson = (await stopped.json()) as {
      autotranscribeResponse: { customer: { streamId: string; summary: unknown } };
    };
    expect(stopJson.autotranscribeResponse.customer.streamId).toBe(startJson.autotranscribeResponse.customer.streamId);
    const messages = await fetch(`${base}/conversation/v1/conversation/messages?externalId=${guid}`, { headers: AUTH });
    expect(messages.status).toBe(200);
    expect(await messages.json()).toEqual({ items: [] });
  });

  it('answers its local health path without credentials', async () => {
    const res = await fetch(`${base}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('turns a handler that throws into 500-01 without details', async () => {
    const errors: unknown[] = [];
    const server = createLocalApi({
      routes: [{ method: 'GET', path: '/boom', handler: () => Promise.reject(new Error('secret internals')) }],
      onError: (err) => errors.push(err),
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/boom`);
    const body = await expectEnvelope(res, 500, '500-01');
    expect(JSON.stringify(body)).not.toContain('secret internals');
    expect(errors).toHaveLength(1);
  });
});

/**
 * The transcript page's local server: static files from a temporary root, traversal refused, and
 * `/config.json` carrying a connect token issued by the real token route (behind the real authorizer on
 * the local API adapter), so the page never holds the API secret.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyRealtimeToken } from '../../core/delivery/realtime-token';
import { makeHandler as makeAuthorizer } from '../../lambdas/authorizer/handler';
import { credentialEntry } from '../../lambdas/authorizer/hash-secret';
import { makeHandler as makeTokenRoute } from '../../lambdas/realtime-token/handler';
import { CredentialStore, inlineSource } from '../../lambdas/shared/credential-store';
import { createLocalApi } from '../../local/api/server';
import {
  DEFAULT_UI_ROOT,
  loadUiServerConfig,
  startUiServer,
  type UiServer,
  UiServerError,
} from '../../local/ui-server';
import { captureLogger, recordMetrics } from '../lambdas/helpers/api';

const API_ID = 'ui-app';
const API_SECRET = 'ui-test-api-secret-0001';
const TOKEN_KEY = 't'.repeat(40);
const WS_URL = 'ws://127.0.0.1:9/ws';

let work: string;
let root: string;
let apiUrl: string;
let closeApi: () => void;
let ui: UiServer;
const servers: UiServer[] = [];

/** A raw GET whose path is sent exactly as given (fetch would normalise `..`). */
function rawGet(
  base: string,
  path: string,
  method = 'GET',
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ui-server-'));
  root = join(work, 'site');
  mkdirSync(join(root, 'sub'), { recursive: true });
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>page</title>');
  writeFileSync(join(root, 'app.js'), 'export {};');
  writeFileSync(join(root, 'style.css'), 'body{}');
  writeFileSync(join(root, 'sub', 'index.html'), 'sub page');
  writeFileSync(join(root, '.env'), 'SECRET=dotfile');
  writeFileSync(join(work, 'secret.txt'), 'outside the root');
  symlinkSync(join(work, 'secret.txt'), join(root, 'link.txt'));

  const credentials = new CredentialStore(
    inlineSource(await credentialEntry({ apiId: API_ID, secret: API_SECRET, salt: 'ui-salt-1' })),
    { ttlMs: 60_000 },
  );
  const api = createLocalApi({
    routes: [
      {
        method: 'POST',
        path: '/realtime/v1/token',
        handler: makeTokenRoute({
          realtime: { tokenSecret: TOKEN_KEY, ttlSec: 300, supervisorApiIds: new Set() },
          logger: captureLogger(),
          metrics: recordMetrics(),
        }),
      },
    ],
    authorizer: makeAuthorizer({
      credentials,
      logger: captureLogger(),
      metrics: recordMetrics(),
      cacheTtlMs: 60_000,
      negativeCacheTtlMs: 1000,
    }),
  });
  await new Promise<void>((ok) => api.listen(0, '127.0.0.1', ok));
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  closeApi = () => {
    api.closeAllConnections();
    api.close();
  };
  ui = await startUiServer({
    host: '127.0.0.1',
    port: 0,
    apiUrl,
    apiId: API_ID,
    apiSecret: API_SECRET,
    websocketUrl: WS_URL,
    root,
  });
  servers.push(ui);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  closeApi?.();
  rmSync(work, { recursive: true, force: true });
});

describe('transcript page server', () => {
  describe('static files', () => {
    it('serves index.html at / with the page headers', async () => {
      const res = await fetch(`${ui.url}/`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(await res.text()).toBe('<!doctype html><title>page</title>');
    });

    it.each([
      ['/app.js', 'text/javascript; charset=utf-8', 'export {};'],
      ['/style.css', 'text/css; charset=utf-8', 'body{}'],
      ['/sub/', 'text/html; charset=utf-8', 'sub page'],
    ])('serves %s as %s', async (path, type, body) => {
      const res = await fetch(`${ui.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(type);
      expect(await res.text()).toBe(body);
    });

    it('answers HEAD with the headers and no body', async () => {
      const res = await rawGet(ui.url, '/app.js', 'HEAD');
      expect(res.status).toBe(200);
      expect(res.headers['content-length']).toBe('10');
      expect(res.body).toBe('');
    });

    it('answers 404 for a missing file and for a directory without a trailing slash', async () => {
      expect((await fetch(`${ui.url}/nope.js`)).status).toBe(404);
      expect((await fetch(`${ui.url}/sub`)).status).toBe(404);
    });

    it('refuses other methods with 405', async () => {
      const res = await fetch(`${ui.url}/index.html`, { method: 'POST', body: 'x' });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, HEAD');
    });

    it('serves the real page from web/transcript by default', async () => {
      const page = await startUiServer({
        host: '127.0.0.1',
        port: 0,
        apiUrl,
        apiId: API_ID,
        apiSecret: API_SECRET,
        websocketUrl: WS_URL,
        root: DEFAULT_UI_ROOT,
      });
      servers.push(page);
      const html = await (await fetch(`${page.url}/`)).text();
      expect(html).toContain('<script type="module" src="app.js"></script>');
      const js = await fetch(`${page.url}/app.js`);
      expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    });
  });

  describe('path traversal', () => {
    it.each([
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/..%2fsecret.txt',
      '/sub/..%2f..%2fsecret.txt',
      '/%2e%2e%5csecret.txt',
      '/..\\secret.txt',
      '/%00index.html',
      '/.env',
      '/%2eenv',
      '/link.txt',
      '/%E0%A4%A',
    ])('does not serve %s', async (path) => {
      const res = await rawGet(ui.url, path);
      expect(res.status).toBe(404);
      expect(res.body).not.toContain('outside the root');
      expect(res.body).not.toContain('SECRET');
    });
  });

  describe('/config.json', () => {
    it('gives only the WebSocket URL when no conversation is named', async () => {
      const res = await fetch(`${ui.url}/config.json`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.json()).toEqual({ websocketUrl: WS_URL });
    });

    it('gives a fresh token from the token route, scoped to the conversation, and never the secret', async () => {
      const res = await fetch(`${ui.url}/config.json?conversationId=conv-42`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const text = await res.text();
      expect(text).not.toContain(API_SECRET);
      const body = JSON.parse(text) as {
        websocketUrl: string;
        conversationId: string;
        token: string;
        expiresAt: string;
      };
      expect(body).toMatchObject({ websocketUrl: WS_URL, conversationId: 'conv-42' });
      const claims = verifyRealtimeToken(TOKEN_KEY, body.token, Math.floor(Date.now() / 1000));
      expect(claims.sub).toBe(API_ID);
      expect(claims.scope).toEqual({ conversationId: 'conv-42' });
      expect(Date.parse(body.expiresAt)).toBeGreaterThan(Date.now());

      const again = (await (await fetch(`${ui.url}/config.json?conversationId=conv-43`)).json()) as { token: string };
      expect(verifyRealtimeToken(TOKEN_KEY, again.token, Math.floor(Date.now() / 1000)).scope).toEqual({
        conversationId: 'conv-43',
      });
    });

    it('refuses an over-long conversation id', async () => {
      const res = await fetch(`${ui.url}/config.json?conversationId=${'x'.repeat(256)}`);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: 'UI_CONFIG_INVALID' } });
    });

    it('answers 502 UI_TOKEN_FAILED when the REST API refuses the credentials', async () => {
      const errors: unknown[] = [];
      const bad = await startUiServer({
        host: '127.0.0.1',
        port: 0,
        apiUrl,
        apiId: API_ID,
        apiSecret: 'wrong-secret-wrong-secret',
        websocketUrl: WS_URL,
        root,
        onError: (err) => errors.push(err),
      });
      servers.push(bad);
      const res = await fetch(`${bad.url}/config.json?conversationId=conv-1`);
      expect(res.status).toBe(502);
      const body = await res.text();
      expect(JSON.parse(body)).toEqual({
        error: { code: 'UI_TOKEN_FAILED', message: 'could not obtain a connect token' },
      });
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ name: 'UiServerError', code: 'UI_TOKEN_FAILED' });
      expect((errors[0] as Error).message).toContain('HTTP 401');
    });

    it('answers 502 when the REST API is down', async () => {
      const down = await startUiServer({
        host: '127.0.0.1',
        port: 0,
        apiUrl: 'http://127.0.0.1:9',
        apiId: API_ID,
        apiSecret: API_SECRET,
        websocketUrl: WS_URL,
        root,
      });
      servers.push(down);
      expect((await fetch(`${down.url}/config.json?conversationId=conv-1`)).status).toBe(502);
    });
  });

  describe('health', () => {
    it('answers /health', async () => {
      const res = await fetch(`${ui.url}/health`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok' });
    });
  });

  describe('configuration', () => {
    const env = {
      API_URL: 'http://127.0.0.1:8082',
      API_ID: 'a',
      API_SECRET: 's',
      WEBSOCKET_URL: 'ws://127.0.0.1:8083',
    };

    it('defaults to 127.0.0.1:8085 and the page in web/transcript', () => {
      expect(loadUiServerConfig(env)).toMatchObject({ host: '127.0.0.1', port: 8085, root: DEFAULT_UI_ROOT });
      expect(loadUiServerConfig({ ...env, LOCAL_UI_PORT: '0', LOCAL_UI_HOST: '::1' })).toMatchObject({
        host: '::1',
        port: 0,
      });
    });

    it('names every missing or bad variable', () => {
      let caught: unknown;
      try {
        loadUiServerConfig({ LOCAL_UI_PORT: 'eighty', WEBSOCKET_URL: 'http://x' });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(UiServerError);
      const message = (caught as UiServerError).message;
      for (const name of ['LOCAL_UI_PORT', 'API_URL', 'API_ID', 'API_SECRET', 'WEBSOCKET_URL']) {
        expect(message).toContain(name);
      }
      expect((caught as UiServerError).code).toBe('UI_CONFIG_INVALID');
    });
  });
});

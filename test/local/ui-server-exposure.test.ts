/**
 * Who the transcript page server answers (issue #15 item 2): a real server on loopback, raw requests with
 * forged `Host` (DNS rebinding), `Origin` and `Sec-Fetch-Site` headers, each refused with 403 before any
 * token is asked for with the user's credential; `/config.json` only for GET and a valid conversation id;
 * the CSP header pinned to the configured WebSocket API's origin; loopback-only binding.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type OutgoingHttpHeaders, request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { contentSecurityPolicy, refusalOf } from '../../local/ui-request-policy';
import {
  createUiServer,
  loadUiServerConfig,
  startUiServer,
  type UiServer,
  UiServerError,
  websocketOriginOf,
} from '../../local/ui-server';

const WS_URL = 'ws://127.0.0.1:9/ws';

let root: string;
let ui: UiServer;
let port: number;
/** Conversation ids the token route was asked for: a refused request must never reach it. */
const tokenCalls: string[] = [];

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request sent with exactly these headers: node adds no `Host` of its own (`setHost: false`). */
function raw(path: string, headers: OutgoingHttpHeaders, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, setHost: false }, (res) => {
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

/** An HTTP/1.0 request with no Host header at all (what `request` cannot send). */
function withoutHost(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.0\r\n\r\n`));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
  });
}

const own = () => `127.0.0.1:${port}`;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'ui-exposure-'));
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>page</title>');
  const fakeFetch: typeof fetch = async (_url, init) => {
    tokenCalls.push((JSON.parse(String(init?.body)) as { conversationId: string }).conversationId);
    return Response.json({ token: `tok-${tokenCalls.length}`, expiresAt: new Date(Date.now() + 60_000).toISOString() });
  };
  ui = await startUiServer({
    host: '127.0.0.1',
    port: 0,
    apiUrl: 'http://127.0.0.1:9',
    apiId: 'exposure-test',
    apiSecret: 'exposure-test-secret',
    websocketUrl: WS_URL,
    root,
    fetch: fakeFetch,
  });
  port = Number(new URL(ui.url).port);
});

beforeEach(() => {
  tokenCalls.length = 0;
});

afterAll(async () => {
  await ui?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('transcript page server exposure', () => {
  describe('Host (DNS rebinding)', () => {
    it.each([
      ['a rebound DNS name', () => `evil.example:${port}`],
      ['a rebound DNS name without a port', () => 'evil.example'],
      ['its address on another port', () => `127.0.0.1:${port + 1}`],
      ['its address without the port', () => '127.0.0.1'],
      ['localhost with a trailing dot', () => `localhost.:${port}`],
      ['another loopback address', () => `127.0.0.2:${port}`],
    ])('refuses %s with 403 and asks for no token', async (_what, host) => {
      for (const path of ['/config.json?conversationId=conv-1', '/', '/health']) {
        const res = await raw(path, { Host: host() });
        expect(res.status).toBe(403);
        const body = JSON.parse(res.body) as { error: { code: string; message: string } };
        expect(body.error.code).toBe('UI_REQUEST_REFUSED');
        expect(body.error.message).toContain("the Host header is not this server's loopback address");
        expect(body.error.message).toContain(`http://127.0.0.1:${port}/`);
      }
      expect(tokenCalls).toEqual([]);
    });

    it('refuses a request without any Host header', async () => {
      const answer = await withoutHost('/config.json?conversationId=conv-1');
      expect(answer).toMatch(/^HTTP\/1\.[01] 403 /);
      expect(answer).toContain('"code":"UI_REQUEST_REFUSED"');
      expect(answer).toContain('the request has no Host header');
      expect(tokenCalls).toEqual([]);
    });

    it.each([() => `127.0.0.1:${port}`, () => `localhost:${port}`, () => `LOCALHOST:${port}`, () => `[::1]:${port}`])(
      'answers its own loopback authority (%#)',
      async (host) => {
        const res = await raw('/config.json?conversationId=conv-1', { Host: host() });
        expect(res.status).toBe(200);
        expect(JSON.parse(res.body)).toMatchObject({ conversationId: 'conv-1', token: 'tok-1' });
        expect(tokenCalls).toEqual(['conv-1']);
      },
    );
  });

  describe('Origin and Sec-Fetch-Site', () => {
    it.each([
      ['a foreign Origin', { Origin: 'http://evil.example' }, 'another origin'],
      ['Origin null (a sandboxed frame, a file)', { Origin: 'null' }, 'another origin'],
      ['another local port', { Origin: 'http://127.0.0.1:1' }, 'another origin'],
      ['another loopback name', { Origin: 'http://localhost:PORT' }, 'another origin'],
      ['an https Origin', { Origin: 'https://127.0.0.1:PORT' }, 'another origin'],
      ['Sec-Fetch-Site: cross-site', { 'Sec-Fetch-Site': 'cross-site' }, 'Sec-Fetch-Site: cross-site'],
      ['Sec-Fetch-Site: same-site', { 'Sec-Fetch-Site': 'same-site' }, 'Sec-Fetch-Site: same-site'],
      ['an unknown Sec-Fetch-Site', { 'Sec-Fetch-Site': '<b>x</b>' }, 'Sec-Fetch-Site: unrecognised'],
    ])('refuses %s with 403 before any token is asked for', async (_what, headers, reason) => {
      const forged = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v.replace('PORT', String(port))]));
      const res = await raw('/config.json?conversationId=conv-1', { Host: own(), ...forged });
      expect(res.status).toBe(403);
      const body = JSON.parse(res.body) as { error: { code: string; message: string } };
      expect(body.error).toMatchObject({ code: 'UI_REQUEST_REFUSED' });
      expect(body.error.message).toContain(reason);
      expect(res.body).not.toContain('<b>');
      expect(tokenCalls).toEqual([]);
    });

    it('answers its own page: its own Origin, same-origin, or a typed address (none)', async () => {
      for (const headers of [
        { Origin: `http://${own()}` },
        { 'Sec-Fetch-Site': 'same-origin', 'Sec-Fetch-Mode': 'cors' },
        { 'Sec-Fetch-Site': 'none', 'Sec-Fetch-Mode': 'navigate' },
      ]) {
        expect((await raw('/config.json?conversationId=conv-2', { Host: own(), ...headers })).status).toBe(200);
      }
      expect(tokenCalls).toEqual(['conv-2', 'conv-2', 'conv-2']);
    });
  });

  describe('/config.json', () => {
    it.each(['HEAD', 'POST', 'OPTIONS'])('refuses %s with 405 and asks for no token', async (method) => {
      const res = await raw('/config.json?conversationId=conv-1', { Host: own() }, method);
      expect(res.status).toBe(405);
      expect(res.headers.allow).toMatch(/^GET/);
      expect(tokenCalls).toEqual([]);
    });

    it.each([
      ['empty', '?conversationId='],
      ['blank', '?conversationId=%20%20'],
      ['the all-conversations wildcard', '?conversationId=*'],
      ['over 255 characters', `?conversationId=${'x'.repeat(256)}`],
      ['with a control character', '?conversationId=conv%0Aforged'],
      ['given twice', '?conversationId=conv-1&conversationId=conv-2'],
    ])('refuses a conversationId that is %s with 400 and asks for no token', async (_what, query) => {
      const res = await raw(`/config.json${query}`, { Host: own() });
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'UI_CONFIG_INVALID' } });
      expect(tokenCalls).toEqual([]);
    });

    it('accepts a 255-character id (the longest guid)', async () => {
      const id = 'c'.repeat(255);
      expect((await raw(`/config.json?conversationId=${id}`, { Host: own() })).status).toBe(200);
      expect(tokenCalls).toEqual([id]);
    });
  });

  describe('Content-Security-Policy', () => {
    it('pins connect-src to the WebSocket API origin on every answer, with no bare ws:/wss:', async () => {
      for (const [path, status] of [
        ['/', 200],
        ['/nope', 404],
      ] as const) {
        const res = await raw(path, { Host: own() });
        expect(res.status).toBe(status);
        const csp = String(res.headers['content-security-policy']);
        const connect = csp.split(';').map((d) => d.trim().split(/\s+/));
        expect(connect.find((d) => d[0] === 'connect-src')).toEqual(['connect-src', "'self'", 'ws://127.0.0.1:9']);
        expect(csp.split(/[\s;]+/)).not.toContain('ws:');
        expect(csp.split(/[\s;]+/)).not.toContain('wss:');
        expect(csp).toContain("frame-ancestors 'none'");
        expect(csp).toContain("default-src 'none'");
      }
      const refused = await raw('/', { Host: 'evil.example' });
      expect(refused.headers['content-security-policy']).toBe(contentSecurityPolicy('ws://127.0.0.1:9'));
    });

    it('takes the origin of the configured URL: scheme, host and a non-default port only', () => {
      expect(websocketOriginOf('wss://abc.execute-api.eu-west-1.amazonaws.com/prod')).toBe(
        'wss://abc.execute-api.eu-west-1.amazonaws.com',
      );
      expect(websocketOriginOf('wss://api.example.com:443/x')).toBe('wss://api.example.com');
      expect(websocketOriginOf('ws://[::1]:8083')).toBe('ws://[::1]:8083');
    });

    it.each([
      ['http://127.0.0.1:8083', 'ws:// or wss://'],
      ['not a url', 'must be a ws(s) URL'],
      ['ws://user:pw@127.0.0.1:8083', 'must not carry credentials'],
      ['ws://a;connect-src*/x', 'unusable host'],
    ])('refuses the WebSocket URL %s at build time', (websocketUrl, message) => {
      const build = () =>
        createUiServer({ apiUrl: 'http://127.0.0.1:9', apiId: 'a', apiSecret: 's', websocketUrl, root });
      expect(build).toThrow(UiServerError);
      expect(build).toThrow(message);
    });
  });

  describe('binding', () => {
    it.each(['0.0.0.0', '::', '192.168.1.20', 'example.com'])('refuses to listen on %s', async (host) => {
      const start = startUiServer({
        host,
        port: 0,
        apiUrl: 'http://127.0.0.1:9',
        apiId: 'a',
        apiSecret: 's',
        websocketUrl: WS_URL,
        root,
      });
      await expect(start).rejects.toThrow(UiServerError);
      await expect(start).rejects.toMatchObject({ code: 'UI_CONFIG_INVALID' });
      await expect(start).rejects.toThrow('loopback only');
    });

    it('refuses a non-loopback LOCAL_UI_HOST in the environment', () => {
      const env = { API_URL: 'http://127.0.0.1:8082', API_ID: 'a', API_SECRET: 's', WEBSOCKET_URL: WS_URL };
      expect(() => loadUiServerConfig({ ...env, LOCAL_UI_HOST: '0.0.0.0' })).toThrow(
        'LOCAL_UI_HOST must be a loopback address',
      );
      expect(loadUiServerConfig({ ...env, LOCAL_UI_HOST: 'localhost' }).host).toBe('localhost');
    });

    it('names the rule in the refusal itself, without echoing the forged header', () => {
      const why = refusalOf({ host: '<script>.example:1' }, { address: '127.0.0.1', port: 8085 });
      expect(why).toContain('127.0.0.1:8085, localhost:8085, [::1]:8085');
      expect(why).not.toContain('<script>');
      expect(refusalOf({ host: '127.0.0.1:8085' }, { address: '127.0.0.1', port: 8085 })).toBeUndefined();
    });

    it('listens on another 127.0.0.0/8 address and answers by it, and still not by a foreign name', async () => {
      const other = await startUiServer({
        host: '127.0.0.5',
        port: 0,
        apiUrl: 'http://127.0.0.1:9',
        apiId: 'a',
        apiSecret: 's',
        websocketUrl: WS_URL,
        root,
      });
      try {
        expect(other.url).toMatch(/^http:\/\/127\.0\.0\.5:\d+$/);
        expect((await fetch(`${other.url}/`)).status).toBe(200);
        const { port: otherPort } = new URL(other.url);
        const forged = await new Promise<number>((resolve, reject) => {
          const req = request(
            {
              host: '127.0.0.5',
              port: otherPort,
              path: '/',
              headers: { Host: `evil.example:${otherPort}` },
              setHost: false,
            },
            (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            },
          );
          req.on('error', reject);
          req.end();
        });
        expect(forged).toBe(403);
      } finally {
        await other.close();
      }
    });
  });
});

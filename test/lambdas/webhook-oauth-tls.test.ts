/**
 * The OAuth2 token request of a webhook target uses its own connection settings, derived from the token
 * URL (issue #15 item 7): an `http` receiver can use an `https` token endpoint, the receiver's mTLS client
 * certificate and custom CA are never used for the token server, and a token-endpoint CA or certificate is
 * used only when configured for it. Real loopback servers, certificates made with openssl.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebhookClient } from '../../lambdas/shared/webhook-client';
import {
  parseWebhookTargets,
  targetFromEnv,
  WebhookConfigError,
  type WebhookTarget,
} from '../../lambdas/shared/webhook-targets';
import { makeCertificates, type Receiver, startReceiver, type TestCertificates } from './fanout-helpers';

/** What the token server saw of one token request. */
interface TokenRequest {
  form: URLSearchParams;
  /** Subject CN of the client certificate presented, if any. */
  clientCertCn?: string;
}

/** An https token endpoint that asks for (but does not require) a client certificate and records it. */
async function startTokenServer(
  certs: TestCertificates,
): Promise<{ url: string; requests: TokenRequest[]; server: Server }> {
  const requests: TokenRequest[] = [];
  let issued = 0;
  const server = createServer(
    { key: certs.serverKey, cert: certs.serverCert, ca: certs.caCert, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        const cn = peer?.subject?.CN;
        requests.push({
          form: new URLSearchParams(Buffer.concat(chunks).toString('utf8')),
          ...(typeof cn === 'string' && { clientCertCn: cn }),
        });
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ access_token: `tok-${++issued}`, expires_in: 3600 }));
      });
    },
  );
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return { url: `https://127.0.0.1:${port}/oauth2/token`, requests, server };
}

let certs: TestCertificates;
const open: { close(): unknown }[] = [];

beforeAll(() => {
  certs = makeCertificates();
});
afterAll(() => certs?.cleanup());
afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
});

async function tokenServer() {
  const t = await startTokenServer(certs);
  open.push({
    close: () =>
      new Promise<void>((ok) => {
        t.server.closeAllConnections();
        t.server.close(() => ok());
      }),
  });
  return t;
}

async function receiver(options?: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const r = await startReceiver(options);
  open.push(r);
  return r;
}

function client(target: Record<string, unknown>): WebhookClient {
  const [parsed] = parseWebhookTargets([{ id: 't', ...target }]);
  const c = new WebhookClient(parsed as WebhookTarget, { defaultTimeoutMs: 5000 });
  open.push(c);
  return c;
}

const oauth = (tokenUrl: string, extra: Record<string, unknown> = {}) => ({
  type: 'oauth2',
  tokenUrl,
  clientId: 'id',
  clientSecret: 'secret',
  ...extra,
});
const META = { idempotencyKey: 'k', attempt: 1 };

describe('webhook OAuth2 token request', () => {
  it('an http receiver gets its token from an https token endpoint (trusted through its own CA setting)', async () => {
    const tokens = await tokenServer();
    const rx = await receiver();
    const c = client({ url: rx.url, auth: oauth(tokens.url, { tls: { caPem: certs.caCert } }) });
    expect(await c.post('{}', META)).toEqual({ kind: 'delivered', status: 200 });
    expect(tokens.requests.map((r) => r.form.get('grant_type'))).toEqual(['client_credentials']);
    expect(rx.requests.map((r) => r.headers.authorization)).toEqual(['Bearer tok-1']);
  });

  it("never presents the receiver's mTLS client certificate to the token server", async () => {
    const tokens = await tokenServer();
    const rx = await receiver({
      tls: { key: certs.serverKey, cert: certs.serverCert, ca: certs.caCert, requestCert: true },
    });
    const c = client({
      url: rx.url,
      tls: { caPem: certs.caCert, certPem: certs.clientCert, keyPem: certs.clientKey },
      auth: oauth(tokens.url, { tls: { caPem: certs.caCert } }),
    });
    expect(await c.post('{}', META)).toEqual({ kind: 'delivered', status: 200 });
    expect(rx.requests.map((r) => [r.clientCertCn, r.headers.authorization])).toEqual([['client', 'Bearer tok-1']]);
    expect(tokens.requests).toHaveLength(1);
    expect(tokens.requests[0]?.clientCertCn).toBeUndefined();
  });

  it('presents a client certificate to the token server only when one is configured for it', async () => {
    const tokens = await tokenServer();
    const rx = await receiver();
    const c = client({
      url: rx.url,
      auth: oauth(tokens.url, { tls: { caPem: certs.caCert, certPem: certs.clientCert, keyPem: certs.clientKey } }),
    });
    expect(await c.post('{}', META)).toEqual({ kind: 'delivered', status: 200 });
    expect(tokens.requests.map((r) => r.clientCertCn)).toEqual(['client']);
  });

  it("does not trust the receiver's custom CA for the token server (system CAs unless configured)", async () => {
    const tokens = await tokenServer();
    const rx = await receiver({ tls: { key: certs.serverKey, cert: certs.serverCert } });
    const c = client({ url: rx.url, tls: { caPem: certs.caCert }, auth: oauth(tokens.url) });
    expect(await c.post('{}', META)).toEqual({ kind: 'retryable', code: 'WEBHOOK_OAUTH_FAILED' });
    expect(tokens.requests).toHaveLength(0);
    expect(rx.requests).toHaveLength(0);
  });
});

describe('webhook OAuth2 token TLS configuration', () => {
  it('refuses token TLS settings with an http token URL, and a certificate without its key', () => {
    const problems = (auth: Record<string, unknown>) => {
      try {
        parseWebhookTargets([{ id: 't', url: 'http://127.0.0.1:1/hook', auth }]);
      } catch (err) {
        if (err instanceof WebhookConfigError) return err.problems;
        throw err;
      }
      return [];
    };
    expect(problems(oauth('http://127.0.0.1:2/token', { tls: { caPem: certs.caCert } }))).toEqual([
      'targets.0.auth.tls: tls settings of the token request need an https tokenUrl',
    ]);
    expect(problems(oauth('https://127.0.0.1:2/token', { tls: { certPem: certs.clientCert } }))).toEqual([
      'targets.0.auth.tls: certPem and keyPem go together (mTLS)',
    ]);
  });

  it('reads WEBHOOK_OAUTH_CA_FILE and the token client certificate apart from the receiver settings', () => {
    const target = targetFromEnv({
      WEBHOOK_URL: 'https://127.0.0.1:1/hook',
      WEBHOOK_AUTH: 'oauth2',
      WEBHOOK_OAUTH_TOKEN_URL: 'https://127.0.0.1:2/token',
      WEBHOOK_OAUTH_CLIENT_ID: 'id',
      WEBHOOK_OAUTH_CLIENT_SECRET: 'secret',
      WEBHOOK_OAUTH_CA_FILE: join(certs.dir, 'other-ca.crt'),
      WEBHOOK_OAUTH_CLIENT_CERT_FILE: join(certs.dir, 'client.crt'),
      WEBHOOK_OAUTH_CLIENT_KEY_FILE: join(certs.dir, 'client.key'),
      WEBHOOK_CA_FILE: join(certs.dir, 'ca.crt'),
    });
    expect(target?.tls).toEqual({ caPem: certs.caCert });
    expect(target?.auth).toMatchObject({
      type: 'oauth2',
      tls: { caPem: certs.otherCaCert, certPem: certs.clientCert, keyPem: certs.clientKey },
    });
  });
});

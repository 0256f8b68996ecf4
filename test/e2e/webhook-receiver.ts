/**
 * A real webhook receiver on 127.0.0.1 for the end-to-end flows: records every POST (headers, raw body),
 * can go down (stop listening: connections are refused) and come back on the same port, and can answer
 * a number of requests with a 503 first.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the receiver got. */
export interface WebhookDelivery {
  at: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The status it was answered with. */
  status: number;
}

/** A running receiver. */
export interface WebhookReceiver {
  readonly url: string;
  readonly port: number;
  /** Every request answered so far (refused connections are not requests). */
  readonly deliveries: WebhookDelivery[];
  /** Answer the next `n` requests with 503 (and `Retry-After: 0`), then 200 again. */
  failNext(n: number): void;
  /** Stops listening and drops open connections: the fan-out sees connection errors. */
  goDown(): Promise<void>;
  /** Listens again on the same port. */
  comeBack(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a receiver on an ephemeral loopback port. */
export async function startWebhookReceiver(path = '/hooks/transcripts'): Promise<WebhookReceiver> {
  const deliveries: WebhookDelivery[] = [];
  let failures = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = req.method === 'POST' && req.url === path ? (failures > 0 ? 503 : 200) : 404;
      if (status === 503) failures -= 1;
      deliveries.push({ at: Date.now(), headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status });
      res.writeHead(status, status === 503 ? { 'retry-after': '0' } : {});
      res.end();
    });
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  const close = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return {
    url: `http://127.0.0.1:${port}${path}`,
    port,
    deliveries,
    failNext(n) {
      failures = n;
    },
    goDown: close,
    comeBack: () => listen(port),
    close,
  };
}

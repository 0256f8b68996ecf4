/**
 * Test wiring for real-time delivery: a real local webhook receiver (HTTP or HTTPS, optionally asking
 * for a client certificate) that records every request and answers what the test says, an OAuth2 token
 * endpoint, throwaway certificates made with the openssl CLI, stored utterances and the stream records
 * DynamoDB would emit for them.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { AttributeValue, DynamoDBRecord } from 'aws-lambda';
import { utteranceIdOf } from '../../core/transcript/utterance';
import type { FinalUtteranceInput, StoredUtterance } from '../../store/utterances';
import { utteranceSk } from '../../store/utterances';

/** One request the receiver got. */
export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  receivedAt: number;
  /** Subject CN of the client certificate, when one was presented. */
  clientCertCn?: string;
}

/** What the receiver answers: a status, optionally with headers; or `hang` to never answer. */
export type Answer = number | { status: number; headers?: Record<string, string>; body?: string } | 'hang';

/** A running receiver. */
export interface Receiver {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  /** Changes the answer function (request index is 0-based over every request so far). */
  answer(fn: (req: ReceivedRequest, index: number) => Answer): void;
  /** Resolves once `n` requests matched `predicate` (default: all). */
  waitFor(n: number, predicate?: (r: ReceivedRequest) => boolean, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

/** Options of {@link startReceiver}. */
export interface ReceiverOptions {
  tls?: { key: string; cert: string; ca?: string; requestCert?: boolean };
  path?: string;
}

/** Starts a receiver on 127.0.0.1:0. */
export async function startReceiver(options: ReceiverOptions = {}): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  let answerFn: (req: ReceivedRequest, index: number) => Answer = () => 200;
  const waiters: (() => void)[] = [];
  const hanging: ServerResponse[] = [];
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const socket = req.socket as TLSSocket;
      const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
      const cn = peer && 'subject' in peer && peer.subject ? peer.subject.CN : undefined;
      const r: ReceivedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        receivedAt: Date.now(),
        ...(typeof cn === 'string' && { clientCertCn: cn }),
      };
      const index = requests.length;
      requests.push(r);
      for (const w of waiters.splice(0)) w();
      const a = answerFn(r, index);
      if (a === 'hang') {
        hanging.push(res);
        return;
      }
      const { status, headers, body } = typeof a === 'number' ? { status: a, headers: {}, body: '' } : a;
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(body ?? '');
    });
  };
  const server: Server = options.tls
    ? createHttpsServer(
        {
          key: options.tls.key,
          cert: options.tls.cert,
          ...(options.tls.ca !== undefined && { ca: options.tls.ca }),
          requestCert: options.tls.requestCert ?? false,
          rejectUnauthorized: options.tls.requestCert ?? false,
        },
        onRequest,
      )
    : createHttpServer(onRequest);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}${options.path ?? '/hook'}`;
  return {
    url,
    requests,
    answer(fn) {
      answerFn = fn;
    },
    async waitFor(n, predicate = () => true, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const matched = requests.filter(predicate);
        if (matched.length >= n) return matched;
        if (Date.now() > deadline) throw new Error(`receiver: ${matched.length}/${n} requests after ${timeoutMs} ms`);
        await new Promise<void>((ok) => {
          waiters.push(ok);
          setTimeout(ok, 50);
        });
      }
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

/** Throwaway PEM material: a CA, a server certificate for 127.0.0.1 and a client certificate. */
export interface TestCertificates {
  caCert: string;
  serverKey: string;
  serverCert: string;
  clientKey: string;
  clientCert: string;
  /** A second, unrelated CA (what an untrusting client would have). */
  otherCaCert: string;
  dir: string;
  cleanup(): void;
}

/** Makes certificates with the openssl CLI (EC P-256, valid one day). */
export function makeCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'aht-certs-'));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ca = (name: string) => {
    ssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`);
    ssl('req', '-x509', '-new', '-key', `${name}.key`, '-subj', `/CN=${name}`, '-days', '1', '-out', `${name}.crt`);
  };
  const leaf = (name: string, ext: string) => {
    ssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`);
    ssl('req', '-new', '-key', `${name}.key`, '-subj', `/CN=${name}`, '-out', `${name}.csr`);
    writeFileSync(join(dir, `${name}.ext`), ext);
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    );
  };
  ca('ca');
  ca('other-ca');
  leaf('server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'extendedKeyUsage=clientAuth\n');
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  return {
    caCert: read('ca.crt'),
    serverKey: read('server.key'),
    serverCert: read('server.crt'),
    clientKey: read('client.key'),
    clientCert: read('client.crt'),
    otherCaCert: read('other-ca.crt'),
    dir,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A final utterance of a conversation (`i` orders them: start offset i × 1000 ms). */
export function utteranceInput(
  conversationId: string,
  i: number,
  overrides: Partial<FinalUtteranceInput> = {},
): FinalUtteranceInput {
  const role = overrides.role ?? (i % 2 === 0 ? 'customer' : 'agent');
  const streamId = overrides.streamId ?? `stream-${role}`;
  const resultId = `r${i}`;
  return {
    conversationId,
    segment: 1,
    streamId,
    role,
    resultId,
    utteranceId: utteranceIdOf(conversationId, streamId, resultId),
    startMs: i * 1000,
    endMs: i * 1000 + 800,
    text: `utterance number ${i}`,
    language: 'en-US',
    senderExternalId: role === 'customer' ? 'cust-0001' : 'agent-0042',
    ...overrides,
  };
}

/** The item `putFinal` would store for an input (for handler tests that skip DynamoDB). */
export function storedItem(input: FinalUtteranceInput, createdAtMs: number = Date.now()): StoredUtterance {
  const { createdAt: _c, ...rest } = input;
  const createdAt = new Date(createdAtMs).toISOString();
  const sk = utteranceSk(input.startMs, input.role, input.utteranceId);
  return {
    ...rest,
    sk,
    messageId: `01TESTMESSAGE${String(input.startMs).padStart(13, '0')}`.slice(0, 26),
    createdAt,
    exportDay: `${createdAt.slice(0, 10)}#00`,
    exportSk: `${createdAt}#${input.conversationId}#${sk}`,
    ttl: Math.floor(createdAtMs / 1000) + 7 * 86_400,
  };
}

function marshallValue(v: unknown): AttributeValue {
  if (typeof v === 'string') return { S: v };
  if (typeof v === 'number') return { N: String(v) };
  if (typeof v === 'boolean') return { BOOL: v };
  if (v === null) return { NULL: true };
  if (Array.isArray(v)) return { L: v.map(marshallValue) };
  if (typeof v === 'object') return { M: marshallImage(v as Record<string, unknown>) };
  throw new Error(`cannot marshall ${typeof v}`);
}

/** A plain object → a stream image. */
export function marshallImage(item: Record<string, unknown>): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const [k, v] of Object.entries(item)) if (v !== undefined) out[k] = marshallValue(v);
  return out;
}

let sequence = 1000;

/** The INSERT record DynamoDB Streams emits for an item (increasing sequence numbers). */
export function insertRecord(item: Record<string, unknown>, sequenceNumber?: string): DynamoDBRecord {
  const seq = sequenceNumber ?? String(++sequence).padStart(21, '0');
  return {
    eventID: randomUUID(),
    eventName: 'INSERT',
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: 'us-east-1',
    eventSourceARN: 'arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/x',
    dynamodb: {
      ApproximateCreationDateTime: Math.floor(Date.now() / 1000),
      Keys: marshallImage({ conversationId: item.conversationId, sk: item.sk }),
      NewImage: marshallImage(item),
      SequenceNumber: seq,
      SizeBytes: 100,
      StreamViewType: 'NEW_IMAGE',
    },
  };
}

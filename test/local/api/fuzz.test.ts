/**
 * Property-based fuzz of the REST API (issue #14): every route and method of docs/openapi.yaml, read at
 * test time, against the real local API (local/api/server.ts with the real authorizer and handlers, on
 * DynamoDB Local and a local S3). Bodies, query strings and path parameters are derived from the spec's
 * schemas and mutated; credentials are valid, missing, wrong, disabled or malformed. The property: no
 * 5xx, only documented statuses, and every non-2xx body is the documented error envelope. Fixed seed,
 * bounded runs; fast-check prints the seed and the shrunk counterexample on failure.
 */
import { randomUUID } from 'node:crypto';
import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../../contract/routes';
import { makeHandler as makeAuthorizer } from '../../../lambdas/authorizer/handler';
import { credentialEntry } from '../../../lambdas/authorizer/hash-secret';
import { CredentialStore, inlineSource } from '../../../lambdas/shared/credential-store';
import type { ApiDeps } from '../../../lambdas/shared/deps';
import { MAX_BODY_BYTES } from '../../../lambdas/shared/http';
import { localRoutes } from '../../../local/api/routes';
import { createLocalApi } from '../../../local/api/server';
import { LOCAL_S3_CREDENTIALS, type LocalS3, startLocalS3 } from '../../../local/s3';
import { createFeedsS3Client, S3FeedStore } from '../../../store/feeds';
import { setupDynamoDb, type TestDynamoDb } from '../../helpers/dynamodb';
import {
  bodyArbitrary,
  type FuzzBody,
  type Hints,
  loadOpenApi,
  type OpenApiDoc,
  operationsOf,
  pathArbitrary,
  queryArbitrary,
  resolve,
  type Schema,
  type SpecOperation,
  typesOf,
} from '../../helpers/openapi-fuzz';
import { captureLogger, recordMetrics, startBody, testDeps } from '../../lambdas/helpers/api';

const SEED = 20_261_214;
const RUNS_PER_OPERATION = 45;
const SECRET = 'fuzz-api-secret-000000000001';
const doc = loadOpenApi();
const operations = operationsOf(doc);

let db: TestDynamoDb;
let s3: LocalS3;
let server: Server;
let port: number;
let deps: ApiDeps;
const failures: { err: unknown; stage: string }[] = [];
const startedGuids: string[] = [];

beforeAll(async () => {
  [db, s3] = await Promise.all([setupDynamoDb(), startLocalS3({ bucket: 'fuzz-feeds' })]);
  const credentials = {
    ...(await credentialEntry({ apiId: 'app-fuzz', secret: SECRET, rateLimitPerSec: 100_000 })),
    ...(await credentialEntry({ apiId: 'boss', secret: SECRET, rateLimitPerSec: 100_000 })),
    ...(await credentialEntry({ apiId: 'app-off', secret: SECRET })),
  };
  (credentials['app-off'] as Record<string, unknown>).disabled = true;
  const s3Client = createFeedsS3Client({ endpoint: s3.endpoint, credentials: LOCAL_S3_CREDENTIALS });
  deps = testDeps(db, {
    feeds: { store: new S3FeedStore(s3Client, { bucket: 'fuzz-feeds' }), urlTtlSec: 900 },
    realtime: { tokenSecret: 'r'.repeat(40), ttlSec: 300, supervisorApiIds: new Set(['boss']) },
    stopWaitMs: 200,
  });
  const authorizer = makeAuthorizer({
    credentials: new CredentialStore(inlineSource(credentials), { ttlMs: 300_000 }),
    logger: captureLogger(),
    metrics: recordMetrics(),
    cacheTtlMs: 300_000,
    negativeCacheTtlMs: 60_000,
  });
  server = createLocalApi({
    routes: localRoutes(deps),
    authorizer,
    onError: (err, ctx) => failures.push({ err, stage: ctx.stage }),
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  port = (server.address() as AddressInfo).port;
  // A few calls that exist, so stop, status and messages are reached past "no call found".
  for (let i = 0; i < 3; i++) {
    const guid = randomUUID();
    const res = await send('POST', '/mg-autotranscribe/v1/start-streaming', AUTH, json(startBody(guid)));
    expect(res.status).toBe(200);
    startedGuids.push(guid);
  }
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise<void>((ok) => (server ? server.close(() => ok()) : ok()));
  await s3?.stop();
  await db?.stop();
});

type Headers = Record<string, string | string[]>;
const AUTH: Headers = { 'asapp-api-id': 'app-fuzz', 'asapp-api-secret': SECRET };

function json(value: unknown): FuzzBody {
  return { kind: 'json', bytes: Buffer.from(JSON.stringify(value)), contentType: 'application/json' };
}

/** One HTTP request with exactly the given headers and bytes (node:http sends latin1 and repeats as given). */
function send(method: string, path: string, headers: Headers, body: FuzzBody | undefined): Promise<WireResponse> {
  const all: Headers = { ...headers };
  if (body?.contentType !== undefined) all['content-type'] = body.contentType;
  if (body?.bytes !== undefined) all['content-length'] = String(body.bytes.length);
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: all }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', fail);
    });
    req.on('error', fail);
    req.end(body?.bytes);
  });
}

/** Credentials: mostly valid, else missing, wrong, disabled, oversized, non-ASCII or repeated. */
const authArbitrary: fc.Arbitrary<{ kind: string; headers: Headers }> = fc.oneof(
  { weight: 8, arbitrary: fc.constant({ kind: 'valid', headers: AUTH }) },
  {
    weight: 1,
    arbitrary: fc.constant({
      kind: 'valid, other case',
      headers: { 'ASAPP-API-ID': 'app-fuzz', 'Asapp-Api-Secret': SECRET },
    }),
  },
  {
    weight: 4,
    arbitrary: fc.constantFrom<{ kind: string; headers: Headers }>(
      { kind: 'none', headers: {} },
      { kind: 'id only', headers: { 'asapp-api-id': 'app-fuzz' } },
      { kind: 'secret only', headers: { 'asapp-api-secret': SECRET } },
      { kind: 'wrong secret', headers: { 'asapp-api-id': 'app-fuzz', 'asapp-api-secret': 'not-the-secret-0001' } },
      { kind: 'unknown id', headers: { 'asapp-api-id': 'nobody', 'asapp-api-secret': SECRET } },
      { kind: 'disabled', headers: { 'asapp-api-id': 'app-off', 'asapp-api-secret': SECRET } },
      { kind: 'empty', headers: { 'asapp-api-id': '', 'asapp-api-secret': '' } },
      { kind: 'prototype id', headers: { 'asapp-api-id': '__proto__', 'asapp-api-secret': SECRET } },
      { kind: 'constructor id', headers: { 'asapp-api-id': 'constructor', 'asapp-api-secret': SECRET } },
      { kind: 'latin1 secret', headers: { 'asapp-api-id': 'app-fuzz', 'asapp-api-secret': 'sécret-ÿ-ÿ-ÿ-0001' } },
      { kind: 'huge secret', headers: { 'asapp-api-id': 'app-fuzz', 'asapp-api-secret': 's'.repeat(8000) } },
      { kind: 'repeated id', headers: { 'asapp-api-id': ['nobody', 'app-fuzz'], 'asapp-api-secret': SECRET } },
      { kind: 'repeated secret', headers: { 'asapp-api-id': 'app-fuzz', 'asapp-api-secret': [SECRET, 'x'] } },
      { kind: 'prototype header', headers: { ...AUTH, __proto__: 'x', constructor: 'y' } },
    ),
  },
);

/** Values the fuzz mixes in so requests reach past validation and "not found". */
function hints(): Hints {
  return {
    guid: startedGuids,
    externalId: startedGuids,
    externalConversationId: startedGuids,
    conversationId: startedGuids,
    namespace: ['genesysaudiohook'],
    all: [true],
    feed: ['utterances'],
    version: ['1', 'version=1'],
    format: ['jsonl', 'format=jsonl'],
    date: ['2026-12-01', 'dt=2026-12-01', '2099-01-01', '2026-02-30'],
    hour: ['01', 'hr=01', '24'],
    interval: ['hr=01', '01', 'hr=01/mi=15'],
    fileName: ['part-00000.jsonl.gz', 'hr=01/part-00000.jsonl.gz'],
    limit: [1, 1000],
  };
}

describe('REST API fuzz (docs/openapi.yaml against the real local API)', () => {
  it('serves every operation of the spec, and the spec documents every served route', () => {
    const served = new Set(localRoutes(deps).map((r) => `${r.method} ${r.path}`));
    const documented = new Set(operations.map((o) => `${o.method} ${o.path}`));
    expect(operations.length).toBeGreaterThan(0);
    expect([...documented].filter((k) => !served.has(k))).toEqual([]);
    expect([...served].filter((k) => !documented.has(k))).toEqual([]);
    expect(served.size).toBe(ROUTES.length);
  });

  it('reaches a handler for every operation (no adapter 404 for an authorised, well-formed request)', async () => {
    for (const op of operations) {
      const path = op.path.replace(/\{[^}]+\}/g, () => startedGuids[0] as string);
      const body = op.method === 'GET' ? undefined : json({});
      const res = await send(op.method, path, AUTH, body);
      const text = res.body.toString('utf8');
      expect(res.status, `${op.operationId}: ${text}`).toBeLessThan(500);
      expect(text, `${op.operationId} answered the adapter's own 404`).not.toMatch(/"message":"Not Found"/);
    }
  });

  for (const op of operations) {
    it(`${op.method} ${op.path}: no 5xx, documented statuses, error envelope on every non-2xx`, async () => {
      failures.splice(0);
      const request = fc.record({
        path: pathArbitrary(doc, op, hints()),
        query: queryArbitrary(doc, op, hints()),
        body:
          op.method === 'GET'
            ? fc.oneof(fc.constant(undefined), bodyArbitrary(doc, op, MAX_BODY_BYTES, hints()))
            : bodyArbitrary(doc, op, MAX_BODY_BYTES, hints()),
        auth: authArbitrary,
      });
      await fc.assert(
        fc.asyncProperty(request, async (r) => {
          const res = await send(op.method, `${r.path}${r.query}`, r.auth.headers, r.body);
          const problems = responseProblems(doc, op, res);
          if (problems.length > 0) {
            throw new Error(
              `${problems.join('; ')} (body kind ${r.body?.kind ?? 'none'}, auth ${r.auth.kind}): ${res.body.subarray(0, 300).toString('utf8')}`,
            );
          }
        }),
        { seed: SEED, numRuns: RUNS_PER_OPERATION },
      );
      expect(failures).toEqual([]);
    });
  }

  it('answers a body over the 10 MiB payload limit with 413-01 on every route', async () => {
    const bytes = Buffer.alloc(10 * 1024 * 1024 + 1, 0x20);
    for (const op of operations) {
      const path = op.path.replace(/\{[^}]+\}/g, () => startedGuids[0] as string);
      const res = await send(op.method, path, AUTH, { kind: 'huge', bytes, contentType: 'application/json' });
      expect(res.status, op.operationId).toBe(413);
      expect(responseProblems(doc, op, res), op.operationId).toEqual([]);
    }
  });

  it('answers malformed HTTP (bad header bytes, bad framing, bad request target) with the error envelope', async () => {
    const head = (lines: string[]) => `${lines.join('\r\n')}\r\n\r\n`;
    const raw = [
      head(['GET /conversation/v1/conversation/messages HTTP/1.1', 'Host: x', 'asapp-api-id: app\u0001fuzz']),
      head(['POST /mg-autotranscribe/v1/start-streaming HTTP/1.1', 'Host: x', 'Content-Length: abc']),
      head(['POST /mg-autotranscribe/v1/start-streaming HTTP/1.1', 'Host: x', 'no colon here']),
      head(['GET http://[ HTTP/1.1', 'Host: x']),
      head([
        'GET /conversation/v1/conversation/messages HTTP/1.1',
        'Host: x',
        `asapp-api-secret: ${'s'.repeat(20_000)}`,
      ]),
    ];
    for (const text of raw) {
      const answer = await rawExchange(text);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
      expect(status, answer.slice(0, 200)).toBeGreaterThanOrEqual(400);
      expect(status, answer.slice(0, 200)).toBeLessThan(500);
      const body = answer.slice(answer.indexOf('\r\n\r\n') + 4);
      expect(schemaProblems(doc, doc.components.schemas.ErrorEnvelope ?? {}, JSON.parse(body)), body).toEqual([]);
    }
  });
});

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (Number.isInteger(value)) return 'integer';
  return typeof value;
}

/**
 * Problems of `value` against `schema` (empty when valid). Supports the keywords the spec uses: `$ref`,
 * type (or a list of types), enum, required, properties, additionalProperties, items, minLength,
 * maxLength, minimum, maximum, pattern; annotations (description, default, format…) are ignored.
 */
function schemaProblems(doc: OpenApiDoc, schema: Schema, value: unknown, at = '$'): string[] {
  const s = resolve(doc, schema);
  const types = typesOf(s);
  const actual = jsonType(value);
  if (types.length > 0 && !types.some((t) => t === actual || (t === 'number' && actual === 'integer'))) {
    return [`${at}: expected ${types.join('|')}, got ${actual}`];
  }
  const problems: string[] = [];
  if (Array.isArray(s.enum) && !s.enum.some((e) => e === value)) {
    problems.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(s.enum)}`);
  }
  if (typeof value === 'string') {
    if (typeof s.minLength === 'number' && value.length < s.minLength) problems.push(`${at}: shorter than minLength`);
    if (typeof s.maxLength === 'number' && value.length > s.maxLength) problems.push(`${at}: longer than maxLength`);
    if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(value)) {
      problems.push(`${at}: does not match ${s.pattern}`);
    }
  }
  if (typeof value === 'number') {
    if (typeof s.minimum === 'number' && value < s.minimum) problems.push(`${at}: below minimum`);
    if (typeof s.maximum === 'number' && value > s.maximum) problems.push(`${at}: above maximum`);
  }
  if (Array.isArray(value) && typeof s.items === 'object' && s.items !== null) {
    value.forEach((v, i) => {
      problems.push(...schemaProblems(doc, s.items as Schema, v, `${at}[${i}]`));
    });
  }
  if (actual === 'object') {
    const o = value as Record<string, unknown>;
    const props = (s.properties ?? {}) as Record<string, Schema>;
    for (const key of (s.required ?? []) as string[]) {
      if (!Object.hasOwn(o, key)) problems.push(`${at}: missing required ${key}`);
    }
    for (const [key, v] of Object.entries(o)) {
      const p = Object.hasOwn(props, key) ? props[key] : undefined;
      if (p) problems.push(...schemaProblems(doc, p, v, `${at}.${key}`));
      else if (s.additionalProperties === false) problems.push(`${at}: unexpected property ${key}`);
    }
  }
  return problems;
}

/** A response as read off the wire. */
interface WireResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * What is wrong with a response to `op` (empty when nothing): a 5xx; a status the spec does not document
 * for the operation; a 2xx body that does not match its schema; a non-2xx body that is not the error
 * envelope (`ErrorEnvelope`), whose code does not start with the status, or whose requestId is not the
 * response's `x-amzn-RequestId`.
 */
function responseProblems(doc: OpenApiDoc, op: SpecOperation, res: WireResponse): string[] {
  const problems: string[] = [];
  if (res.status >= 500) problems.push(`server error ${res.status}`);
  if (!op.responses.has(res.status)) problems.push(`status ${res.status} is not documented for ${op.operationId}`);
  const ok = res.status >= 200 && res.status < 300;
  const schema = op.responses.get(res.status) ?? (ok ? undefined : doc.components.schemas.ErrorEnvelope);
  if (!schema) return problems;
  const contentType = String(res.headers['content-type'] ?? '');
  if (!/^application\/json\b/i.test(contentType)) problems.push(`content-type '${contentType}' is not JSON`);
  let body: unknown;
  try {
    body = JSON.parse(res.body.toString('utf8'));
  } catch {
    return [...problems, `body is not JSON: ${res.body.subarray(0, 120).toString('utf8')}`];
  }
  problems.push(...schemaProblems(doc, schema, body));
  if (!ok && problems.length === 0) {
    const error = (body as { error: { code: string; requestId: string } }).error;
    if (!error.code.startsWith(`${res.status}-`)) problems.push(`code ${error.code} does not match ${res.status}`);
    if (error.requestId !== res.headers['x-amzn-requestid']) problems.push('requestId is not x-amzn-RequestId');
  }
  return problems;
}

/** Writes raw bytes on a fresh connection and reads until the server closes it. */
function rawExchange(text: string): Promise<string> {
  return new Promise((ok, fail) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(Buffer.from(text, 'latin1')));
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('close', () => ok(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', fail);
  });
}

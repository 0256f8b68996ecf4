/**
 * docs/openapi.yaml against the real handlers: the file parses (it is JSON-compatible YAML), lists every
 * route of contract/routes.ts with its operationId, and real responses of every route validate
 * against the schema it declares for their status. The validator below is a small JSON Schema subset
 * (type, properties, required, additionalProperties, items, enum, minLength, maxLength, pattern, minimum,
 * maximum, format date-time, $ref) — exactly the keywords the document uses; an unknown keyword fails.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../contract/routes';
import { utteranceIdOf } from '../../core/transcript/utterance';
import { makeHandler as makeStatus } from '../../lambdas/conversation-status/handler';
import { makeHandler as makeMessages } from '../../lambdas/get-messages/handler';
import type { ApiResult } from '../../lambdas/shared/http';
import { makeHandler as makeStart } from '../../lambdas/start-streaming/handler';
import { makeHandler as makeStop } from '../../lambdas/stop-streaming/handler';
import { setupDynamoDb, type TestDynamoDb } from '../helpers/dynamodb';
import { apiEvent, newGuid, SimulatedGateway, startBody, testDeps } from './helpers/api';

type Schema = Record<string, unknown>;
interface OpenApi {
  openapi: string;
  paths: Record<
    string,
    Record<
      string,
      { operationId: string; responses: Record<string, { content?: { 'application/json': { schema: Schema } } }> }
    >
  >;
  components: { schemas: Record<string, Schema> };
  'x-amazon-apigateway-gateway-responses': Record<
    string,
    { statusCode: number; responseTemplates: Record<string, string> }
  >;
}

const KNOWN = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'enum',
  'minLength',
  'maxLength',
  'pattern',
  'minimum',
  'maximum',
  'format',
  '$ref',
  'description',
  'default',
]);
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function loadSpec(): OpenApi {
  const text = readFileSync(join(import.meta.dirname, '../../docs/openapi.yaml'), 'utf8');
  const json = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n');
  return JSON.parse(json) as OpenApi;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** Errors of `value` against `schema` (empty when valid). */
function validate(spec: OpenApi, schema: Schema, value: unknown, path = '$'): string[] {
  for (const k of Object.keys(schema)) if (!KNOWN.has(k)) return [`${path}: unsupported keyword ${k}`];
  if (typeof schema.$ref === 'string') {
    const target = spec.components.schemas[schema.$ref.replace('#/components/schemas/', '')];
    return target ? validate(spec, target, value, path) : [`${path}: dangling ${schema.$ref}`];
  }
  const errors: string[] = [];
  const t = typeOf(value);
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    const ok = types.includes(t) || (t === 'integer' && types.includes('number'));
    if (!ok) return [`${path}: expected ${types.join('|')}, got ${t}`];
  }
  if (schema.enum && !(schema.enum as unknown[]).includes(value)) errors.push(`${path}: ${String(value)} not in enum`);
  if (t === 'string') {
    const s = value as string;
    if (typeof schema.minLength === 'number' && s.length < schema.minLength) errors.push(`${path}: too short`);
    if (typeof schema.maxLength === 'number' && s.length > schema.maxLength) errors.push(`${path}: too long`);
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern).test(s)) errors.push(`${path}: pattern`);
    if (schema.format === 'date-time' && !DATE_TIME.test(s)) errors.push(`${path}: not a date-time`);
  }
  if (t === 'integer' || t === 'number') {
    const n = value as number;
    if (typeof schema.minimum === 'number' && n < schema.minimum) errors.push(`${path}: below minimum`);
    if (typeof schema.maximum === 'number' && n > schema.maximum) errors.push(`${path}: above maximum`);
  }
  if (t === 'object') {
    const obj = value as Record<string, unknown>;
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const r of (schema.required ?? []) as string[]) if (!(r in obj)) errors.push(`${path}: missing ${r}`);
    for (const [k, v] of Object.entries(obj)) {
      const p = props[k];
      if (p) errors.push(...validate(spec, p, v, `${path}.${k}`));
      else if (schema.additionalProperties === false) errors.push(`${path}: unexpected property ${k}`);
    }
  }
  if (t === 'array' && schema.items) {
    (value as unknown[]).forEach((item, i) => {
      errors.push(...validate(spec, schema.items as Schema, item, `${path}[${i}]`));
    });
  }
  return errors;
}

function check(spec: OpenApi, method: string, path: string, result: ApiResult): string[] {
  const op = spec.paths[path]?.[method.toLowerCase()];
  const response = op?.responses[String(result.statusCode)];
  const schema = response?.content?.['application/json'].schema;
  if (!schema) return [`${method} ${path}: no schema declared for status ${result.statusCode}`];
  return validate(spec, schema, JSON.parse(result.body));
}

const spec = loadSpec();
let db: TestDynamoDb;
beforeAll(async () => {
  db = await setupDynamoDb();
});
afterAll(async () => {
  await db?.stop();
});

describe('docs/openapi.yaml', () => {
  it('is OpenAPI 3.1 and lists every route with its operationId', () => {
    expect(spec.openapi).toBe('3.1.0');
    for (const r of ROUTES) expect(spec.paths[r.path]?.[r.method.toLowerCase()]?.operationId).toBe(r.operationId);
    expect(Object.keys(spec.paths)).toHaveLength(ROUTES.length);
  });

  it('catches a response that breaks its schema (the validator can fail)', () => {
    const bad = { statusCode: 200, body: JSON.stringify({ isOk: true, autotranscribeResponse: { customer: {} } }) };
    expect(check(spec, 'POST', '/mg-autotranscribe/v1/start-streaming', bad).length).toBeGreaterThan(0);
    const extra = { statusCode: 200, body: JSON.stringify({ items: [], surprise: 1 }) };
    expect(check(spec, 'GET', '/conversation/v1/conversation/messages', extra)).toEqual([
      '$: unexpected property surprise',
    ]);
  });

  it('gives every gateway response the envelope with the contract code of its status', () => {
    for (const [type, gr] of Object.entries(spec['x-amazon-apigateway-gateway-responses'])) {
      const template = gr.responseTemplates['application/json'] ?? '';
      const rendered = JSON.parse(template.replace('$context.requestId', 'req-1')) as { error: { code: string } };
      expect(rendered.error.code.slice(0, 3), type).toBe(String(gr.statusCode));
    }
  });

  it('describes the real responses of every route, success and error', async () => {
    const deps = testDeps(db);
    const guid = newGuid();
    const gateway = new SimulatedGateway(deps, db, guid);
    await gateway.open();
    const start = makeStart(deps);
    const results: [string, string, ApiResult][] = [];
    const startPath = '/mg-autotranscribe/v1/start-streaming';
    const stopPath = '/mg-autotranscribe/v1/stop-streaming';
    const messagesPath = '/conversation/v1/conversation/messages';
    const statusPath = '/mg-autotranscribe/v1/conversations/{guid}/status';

    results.push(['POST', startPath, await start(apiEvent({ path: startPath, body: startBody(guid) }))]);
    results.push([
      'POST',
      startPath,
      await start(apiEvent({ path: startPath, body: startBody(guid, { namespace: 'siprec' }) })),
    ]);
    results.push([
      'POST',
      startPath,
      await start(apiEvent({ path: startPath, body: startBody(guid, { pad: 'x'.repeat(70_000) }) })),
    ]);
    await gateway.openSegment(1);
    const meta = await deps.conversations.getMeta(guid);
    const streamIds = meta?.streamIds as { customer: string; agent: string };
    await Promise.all(
      ['customer', 'agent'].map((role, i) =>
        deps.utterances.putFinal({
          conversationId: guid,
          segment: 1,
          streamId: streamIds[role as 'customer' | 'agent'],
          role: role as 'customer' | 'agent',
          resultId: `r${i}`,
          utteranceId: utteranceIdOf(guid, streamIds[role as 'customer' | 'agent'], `r${i}`),
          startMs: 100 * i,
          endMs: 100 * i + 50,
          text: `text ${i}`,
          language: 'en-US',
        }),
      ),
    );
    const status = makeStatus(deps);
    const statusEvent = (g: string) => apiEvent({ method: 'GET', path: statusPath, pathParameters: { guid: g } });
    results.push(['GET', statusPath, await status(statusEvent(guid))]);
    results.push(['GET', statusPath, await status(statusEvent(newGuid()))]);
    const messages = makeMessages(deps);
    results.push([
      'GET',
      messagesPath,
      await messages(apiEvent({ method: 'GET', path: messagesPath, query: { externalId: guid, limit: '1' } })),
    ]);
    results.push([
      'GET',
      messagesPath,
      await messages(apiEvent({ method: 'GET', path: messagesPath, query: { externalId: guid } })),
    ]);
    results.push([
      'GET',
      messagesPath,
      await messages(apiEvent({ method: 'GET', path: messagesPath, query: { externalId: newGuid() } })),
    ]);
    results.push([
      'GET',
      messagesPath,
      await messages(apiEvent({ method: 'GET', path: messagesPath, query: { externalId: guid, limit: '0' } })),
    ]);
    const stop = makeStop(deps);
    gateway.startPolling();
    try {
      results.push([
        'POST',
        stopPath,
        await stop(apiEvent({ path: stopPath, body: { namespace: 'genesysaudiohook', guid } })),
      ]);
    } finally {
      gateway.stop();
    }
    results.push([
      'POST',
      stopPath,
      await stop(apiEvent({ path: stopPath, body: { namespace: 'genesysaudiohook', guid } })),
    ]);
    results.push([
      'POST',
      stopPath,
      await stop(apiEvent({ path: stopPath, body: { namespace: 'genesysaudiohook', guid: newGuid() } })),
    ]);
    results.push(['GET', statusPath, await status(statusEvent(guid))]);

    expect(results.map(([, , r]) => r.statusCode)).toEqual([
      200, 400, 413, 200, 404, 200, 200, 404, 400, 200, 409, 400, 200,
    ]);
    for (const [method, path, result] of results) {
      expect(check(spec, method, path, result), `${method} ${path} ${result.statusCode}: ${result.body}`).toEqual([]);
    }
  });
});

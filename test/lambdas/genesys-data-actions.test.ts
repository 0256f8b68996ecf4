/**
 * docs/genesys/*.data-action.json against our contract: the request templates, rendered the way Genesys
 * renders them (Velocity `${input.x}` and `$esc.jsonString(...)`), are bodies our parsers accept, and the
 * translation maps' JSONPaths find their values in the bodies our handlers answer.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startResponseBody, stopResponseBody } from '../../core/api/responses';
import { parseStartRequest, parseStopRequest } from '../../lambdas/shared/schemas';

interface DataAction {
  config: {
    request: {
      requestUrlTemplate: string;
      requestType: string;
      headers: Record<string, string>;
      requestTemplate: string;
    };
    response: { translationMap: Record<string, string> };
  };
  contract: { input: { inputSchema: { required: string[] } } };
}

const load = (name: string) =>
  JSON.parse(readFileSync(join(import.meta.dirname, '../../docs/genesys', name), 'utf8')) as DataAction;

function render(template: string, input: Record<string, string>): string {
  return template
    .replace(/\$esc\.jsonString\(\$\{input\.(\w+)\}\)/g, (_m, k: string) => JSON.stringify(input[k] ?? '').slice(1, -1))
    .replace(/\$\{input\.(\w+)\}/g, (_m, k: string) => input[k] ?? '');
}

function jsonPath(value: unknown, path: string): unknown {
  return path
    .replace(/^\$\./, '')
    .split('.')
    .reduce<unknown>((v, key) => (v as Record<string, unknown> | undefined)?.[key], value);
}

describe('Genesys data actions', () => {
  const input = {
    conversationId: '6d0f5c3e-2a4b-4f1e-9c7d-1b2a3c4d5e6f',
    customerId: 'cust "1"',
    agentId: 'agent-0042',
    language: 'en-us',
  };

  it('start: renders a body start-streaming accepts, and maps the streamIds back', () => {
    const action = load('start-streaming.data-action.json');
    expect(action.config.request.requestUrlTemplate).toMatch(/\/mg-autotranscribe\/v1\/start-streaming$/);
    expect(action.config.request.headers).toMatchObject({
      'asapp-api-id': expect.any(String),
      'asapp-api-secret': expect.any(String),
    });
    const parsed = parseStartRequest(JSON.parse(render(action.config.request.requestTemplate, input)));
    expect(parsed).toMatchObject({
      guid: input.conversationId,
      customerId: 'cust "1"',
      autotranscribeParams: { language: 'en-us' },
    });
    const body = startResponseBody({ customer: 's-c', agent: 's-a' });
    const out = Object.fromEntries(
      Object.entries(action.config.response.translationMap).map(([k, p]) => [k, jsonPath(body, p)]),
    );
    expect(out).toEqual({ isOk: true, customerStreamId: 's-c', agentStreamId: 's-a' });
  });

  it('stop: renders a body stop-streaming accepts, and maps the summary back', () => {
    const action = load('stop-streaming.data-action.json');
    expect(parseStopRequest(JSON.parse(render(action.config.request.requestTemplate, input)))).toEqual({
      namespace: 'genesysaudiohook',
      guid: input.conversationId,
    });
    const body = stopResponseBody(
      { customer: 's-c', agent: 's-a' },
      { customer: { transcripts: 7, audioDurationMs: 60_000 }, agent: { transcripts: 9, audioDurationMs: 59_000 } },
    );
    for (const [key, path] of Object.entries(action.config.response.translationMap)) {
      expect(jsonPath(body, path), key).toBeDefined();
    }
    expect(jsonPath(body, action.config.response.translationMap.agentTranscripts as string)).toBe(9);
  });
});

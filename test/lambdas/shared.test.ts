import { describe, expect, it } from 'vitest';
import type { ApiError } from '../../core/api/errors';
import { ConfigError } from '../../core/config-error';
import { loadAuthorizerConfig, loadConfig } from '../../lambdas/shared/config';
import { MAX_BODY_BYTES, parseJsonBody, toApiError } from '../../lambdas/shared/http';
import { loadWebSocketConfig } from '../../lambdas/shared/realtime-config';
import { InvalidTokenError, StoreFailureError, StoreUnavailableError } from '../../store/errors';

const BASE = { CONVERSATIONS_TABLE: 'c', UTTERANCES_TABLE: 'u' };

describe('loadConfig (route handlers)', () => {
  it('applies documented defaults', () => {
    expect(loadConfig(BASE)).toMatchObject({
      conversationsTable: 'c',
      utterancesTable: 'u',
      supportedLanguages: ['en-US', 'es-US'],
      defaultLanguage: 'en-US',
      redactionEnabled: true,
      stopWaitMs: 5000,
      stopPollMs: 100,
      retentionDays: 7,
      metricsNamespace: 'AudiohookTranscribe',
      tracingEnabled: false,
      metricsEnabled: false,
      logLevel: 'INFO',
    });
  });

  it('turns tracing and metrics on inside Lambda and honours overrides', () => {
    const cfg = loadConfig({
      ...BASE,
      AWS_LAMBDA_FUNCTION_NAME: 'f',
      TRACING_ENABLED: 'false',
      DEFAULT_LANGUAGE: 'es-us',
    });
    expect(cfg).toMatchObject({ tracingEnabled: false, metricsEnabled: true, defaultLanguage: 'es-US' });
  });

  it('reports every problem at once, naming the variable', () => {
    try {
      loadConfig({ STOP_WAIT_MS: '99999', REDACTION_ENABLED: 'maybe' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      for (const name of ['CONVERSATIONS_TABLE', 'UTTERANCES_TABLE', 'STOP_WAIT_MS', 'REDACTION_ENABLED']) {
        expect(problems).toContain(name);
      }
    }
  });

  it('reports a bad language list with the shared message (contract/env.ts languageList)', () => {
    expect(() => loadConfig({ ...BASE, SUPPORTED_LANGUAGES: 'en-US,en_GB' })).toThrow(
      'SUPPORTED_LANGUAGES must be comma-separated BCP-47 tags, e.g. en-US,es-US',
    );
  });

  it('rejects a default language outside the supported list', () => {
    expect(() => loadConfig({ ...BASE, DEFAULT_LANGUAGE: 'fr-FR' })).toThrow(/DEFAULT_LANGUAGE/);
  });
});

describe('loadWebSocketConfig', () => {
  it('reads the credential source by the same rule as the authorizer', () => {
    const ws = { SUBSCRIPTIONS_TABLE: 'subs' };
    expect(() => loadWebSocketConfig(ws)).toThrow(/exactly one of API_CREDENTIALS_SECRET_ID/);
    expect(() => loadWebSocketConfig({ ...ws, API_CREDENTIALS_JSON: '{}', API_CREDENTIALS_FILE: 'x' })).toThrow(
      ConfigError,
    );
    expect(loadWebSocketConfig({ ...ws, API_CREDENTIALS_FILE: '/tmp/creds.json' }).credentials).toEqual({
      source: 'file',
      path: '/tmp/creds.json',
    });
  });
});

describe('loadAuthorizerConfig', () => {
  it('requires exactly one credential source', () => {
    expect(() => loadAuthorizerConfig({})).toThrow(/exactly one of API_CREDENTIALS_SECRET_ID/);
    expect(() => loadAuthorizerConfig({ API_CREDENTIALS_JSON: '{}', API_CREDENTIALS_FILE: 'x' })).toThrow(ConfigError);
    expect(loadAuthorizerConfig({ API_CREDENTIALS_SECRET_ID: 'arn:secret' })).toMatchObject({
      credentials: { source: 'secrets-manager', secretId: 'arn:secret' },
      cacheTtlSec: 300,
      negativeCacheTtlSec: 10,
    });
  });
});

describe('parseJsonBody', () => {
  const ev = (body: string | null, headers: Record<string, string> = {}, isBase64Encoded = false) => ({
    body,
    headers,
    isBase64Encoded,
  });
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      return (err as ApiError).code;
    }
    return 'ok';
  };

  it('parses JSON, base64-encoded JSON, and treats an empty body as absent', () => {
    expect(parseJsonBody(ev('{"a":1}', { 'Content-Type': 'application/json' }))).toEqual({ a: 1 });
    expect(parseJsonBody(ev(Buffer.from('{"b":2}').toString('base64'), {}, true))).toEqual({ b: 2 });
    expect(parseJsonBody(ev(null))).toBeUndefined();
    expect(parseJsonBody(ev('   '))).toBeUndefined();
  });

  it('sizes the body in bytes, not characters', () => {
    const multibyte = `"${'é'.repeat(MAX_BODY_BYTES / 2)}"`;
    expect(code(() => parseJsonBody(ev(multibyte)))).toBe('413-01');
  });

  it('accepts +json media types and rejects others', () => {
    expect(code(() => parseJsonBody(ev('{}', { 'content-type': 'application/vnd.api+json' })))).toBe('ok');
    expect(code(() => parseJsonBody(ev('{}', { 'content-type': 'text/plain' })))).toBe('400-01');
  });
});

describe('toApiError', () => {
  it('maps store errors by meaning and hides everything else', () => {
    expect(toApiError(new InvalidTokenError('x')).code).toBe('400-01');
    const unavailable = toApiError(new StoreUnavailableError('x'));
    expect([unavailable.code, unavailable.retryAfterSec]).toEqual(['503-01', 1]);
    expect(toApiError(new StoreFailureError('table t-1 broke'), '500-201')).toMatchObject({
      code: '500-201',
      message: 'Internal error in the router or transcriber',
    });
    expect(toApiError(new Error('boom')).message).toBe('Internal server error');
  });
});

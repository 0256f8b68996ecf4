/**
 * The gateway's start policy for `genesys`-controlled sessions: `SUPPORTED_LANGUAGES`, `DEFAULT_LANGUAGE` and
 * `REDACTION_ENABLED` read like the start Lambda reads them (lambdas/shared/config.ts), so a deployment starts
 * genesys calls the way it starts API calls.
 */

import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../fargate/src/config';
import { loadConfig as loadApiConfig } from '../../lambdas/shared/config';
import { configProblems } from '../helpers/config-problems';

const BASE = { AUDIOHOOK_API_KEYS: JSON.stringify({ 'test-api-key-1': '' }) };
const API_BASE = { CONVERSATIONS_TABLE: 'conversations', UTTERANCES_TABLE: 'utterances' };

const problemsOf = (env: NodeJS.ProcessEnv) => configProblems(() => loadConfig(env));

describe('loadConfig: start policy', () => {
  it('defaults to en-US among en-US and es-US, with redaction available', () => {
    expect(loadConfig(BASE).startPolicy).toEqual({
      supportedLanguages: ['en-US', 'es-US'],
      defaultLanguage: 'en-US',
      redactionEnabled: true,
    });
  });

  it('matches the start Lambda’s defaults', () => {
    const api = loadApiConfig(API_BASE);
    const { startPolicy } = loadConfig(BASE);
    expect(startPolicy.supportedLanguages).toEqual(api.supportedLanguages);
    expect(startPolicy.defaultLanguage).toBe(api.defaultLanguage);
    expect(startPolicy.redactionEnabled).toBe(api.redactionEnabled);
  });

  it('defaults to the first supported language when en-US is not supported', () => {
    const c = loadConfig({ ...BASE, SUPPORTED_LANGUAGES: 'fr-CA,es-US' });
    expect(c.startPolicy.defaultLanguage).toBe('fr-CA');
    expect(c.startPolicy.supportedLanguages).toEqual(['fr-CA', 'es-US']);
  });

  it('takes DEFAULT_LANGUAGE in any case, in the spelling of SUPPORTED_LANGUAGES', () => {
    expect(loadConfig({ ...BASE, DEFAULT_LANGUAGE: 'ES-us' }).startPolicy.defaultLanguage).toBe('es-US');
    expect(
      loadConfig({ ...BASE, SUPPORTED_LANGUAGES: 'en-GB,fr-CA', DEFAULT_LANGUAGE: 'fr-ca' }).startPolicy
        .defaultLanguage,
    ).toBe('fr-CA');
  });

  it('rejects a DEFAULT_LANGUAGE that is not supported, naming both variables', () => {
    const problems = problemsOf({ ...BASE, SUPPORTED_LANGUAGES: 'en-US,es-US', DEFAULT_LANGUAGE: 'fr-FR' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/DEFAULT_LANGUAGE 'fr-FR'.*SUPPORTED_LANGUAGES \(en-US, es-US\)/);
  });

  it('reports an unsupported DEFAULT_LANGUAGE together with other problems', () => {
    const problems = problemsOf({ ...BASE, DEFAULT_LANGUAGE: 'de-DE', MAX_SESSIONS: '0' });
    expect(problems.some((p) => p.includes('MAX_SESSIONS'))).toBe(true);
    expect(problems.some((p) => p.includes("DEFAULT_LANGUAGE 'de-DE'"))).toBe(true);
  });

  it('turns redaction off with REDACTION_ENABLED=false, and on with true', () => {
    expect(loadConfig({ ...BASE, REDACTION_ENABLED: 'false' }).startPolicy.redactionEnabled).toBe(false);
    expect(loadConfig({ ...BASE, REDACTION_ENABLED: 'true' }).startPolicy.redactionEnabled).toBe(true);
  });

  it('rejects a REDACTION_ENABLED that is not a boolean', () => {
    const problems = problemsOf({ ...BASE, REDACTION_ENABLED: 'maybe' });
    expect(problems).toEqual([expect.stringContaining('REDACTION_ENABLED must be true or false')]);
  });
});

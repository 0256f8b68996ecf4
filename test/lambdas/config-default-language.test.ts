/**
 * The start Lambda and the gateway read `DEFAULT_LANGUAGE` with one rule (core/api/default-language.ts):
 * one of `SUPPORTED_LANGUAGES`, any case, used in the list's spelling; otherwise the same problem line,
 * naming both variables and the supported list.
 */

import { describe, expect, it } from 'vitest';
import { loadConfig as loadGatewayConfig } from '../../fargate/src/config';
import { loadConfig } from '../../lambdas/shared/config';
import { configProblems } from '../helpers/config-problems';

const API = { CONVERSATIONS_TABLE: 'c', UTTERANCES_TABLE: 'u' };
const GATEWAY = { AUDIOHOOK_API_KEYS: JSON.stringify({ 'test-api-key-1': '' }) };

const problemsOf = configProblems;

describe('DEFAULT_LANGUAGE (start Lambda and gateway)', () => {
  it('is used in the spelling of SUPPORTED_LANGUAGES by both', () => {
    const vars = { SUPPORTED_LANGUAGES: 'en-GB,pt-BR', DEFAULT_LANGUAGE: ' PT-br' };
    expect(loadConfig({ ...API, ...vars }).defaultLanguage).toBe('pt-BR');
    expect(loadGatewayConfig({ ...GATEWAY, ...vars }).startPolicy.defaultLanguage).toBe('pt-BR');
  });

  it('outside the supported list, fails both with the same line naming both variables', () => {
    const vars = { SUPPORTED_LANGUAGES: 'en-US,es-US', DEFAULT_LANGUAGE: 'fr-FR' };
    const api = problemsOf(() => loadConfig({ ...API, ...vars }));
    expect(api).toEqual(["DEFAULT_LANGUAGE 'fr-FR' must be one of SUPPORTED_LANGUAGES (en-US, es-US)"]);
    expect(problemsOf(() => loadGatewayConfig({ ...GATEWAY, ...vars }))).toEqual(api);
  });
});

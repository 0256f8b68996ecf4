/**
 * The deployment's default language rule, shared by both runtimes that apply the start rules: the start
 * Lambda (lambdas/shared/config.ts) and the gateway for `genesys` sessions (fargate/src/start-policy-config.ts).
 * `DEFAULT_LANGUAGE` must be one of `SUPPORTED_LANGUAGES`, matched case-insensitively, and is used in the
 * list's spelling, so both read the same configuration the same way.
 */
import { canonicalLanguage } from './start-stop-rules';

/** `DEFAULT_LANGUAGE` in the spelling of `SUPPORTED_LANGUAGES`, or the problem line naming both variables. */
export type DefaultLanguageResult = { ok: true; language: string } | { ok: false; problem: string };

/** Checks `defaultLanguage` against `supported` (see the module comment). */
export function supportedDefaultLanguage(defaultLanguage: string, supported: readonly string[]): DefaultLanguageResult {
  const language = canonicalLanguage(defaultLanguage, supported);
  if (language !== undefined) return { ok: true, language };
  return {
    ok: false,
    problem: `DEFAULT_LANGUAGE '${defaultLanguage}' must be one of SUPPORTED_LANGUAGES (${supported.join(', ')})`,
  };
}

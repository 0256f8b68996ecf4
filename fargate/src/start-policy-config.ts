/**
 * The start policy part of the gateway configuration (fargate/src/config.ts reads the environment; this
 * holds the variables, their defaults and the rule, kept apart so config.ts stays one screenful): the start
 * parameters of `genesys`-controlled sessions (docs/genesys.md §0) come from the deployment's
 * `SUPPORTED_LANGUAGES`, `DEFAULT_LANGUAGE` and `REDACTION_ENABLED`, read with the start Lambda's rule
 * (core/api/default-language.ts), so a deployment starts genesys calls the way it starts API calls.
 */
import { z } from 'zod';
import { boolean, languageList } from '../../contract/env';
import { supportedDefaultLanguage } from '../../core/api/default-language';
import { canonicalLanguage, type StartPolicy } from '../../core/api/start-stop-rules';

/** The default language when `DEFAULT_LANGUAGE` is unset and it is supported (the start Lambda's default). */
export const DEFAULT_START_LANGUAGE = 'en-US';

/** The gateway schema's entries for the start policy's variables (spread into fargate/src/config.ts's). */
export const startPolicyShape = {
  SUPPORTED_LANGUAGES: languageList('SUPPORTED_LANGUAGES').default(['en-US', 'es-US']),
  // Checked against SUPPORTED_LANGUAGES below; unset, see startPolicyConfig.
  DEFAULT_LANGUAGE: z.string().optional(),
  REDACTION_ENABLED: boolean('REDACTION_ENABLED').default(true),
};

const startPolicySchema = z.object(startPolicyShape);

/**
 * The start policy of the gateway's (trimmed, non-blank) variables. Unset, `DEFAULT_LANGUAGE` is
 * {@link DEFAULT_START_LANGUAGE} when supported, else the first supported language. Not ok: `problems`
 * names an unsupported `DEFAULT_LANGUAGE`, and is empty when a variable is malformed (the gateway schema,
 * which holds the same entries, reports that).
 */
export function startPolicyConfig(
  input: Readonly<Record<string, string>>,
): { ok: true; policy: StartPolicy } | { ok: false; problems: string[] } {
  const parsed = startPolicySchema.safeParse(input);
  if (!parsed.success) return { ok: false, problems: [] };
  const { SUPPORTED_LANGUAGES: supportedLanguages, DEFAULT_LANGUAGE, REDACTION_ENABLED } = parsed.data;
  const fallback = canonicalLanguage(DEFAULT_START_LANGUAGE, supportedLanguages) ?? supportedLanguages[0];
  const defaultLanguage = supportedDefaultLanguage(
    DEFAULT_LANGUAGE ?? fallback ?? DEFAULT_START_LANGUAGE,
    supportedLanguages,
  );
  if (!defaultLanguage.ok) return { ok: false, problems: [defaultLanguage.problem] };
  return {
    ok: true,
    policy: { supportedLanguages, defaultLanguage: defaultLanguage.language, redactionEnabled: REDACTION_ENABLED },
  };
}

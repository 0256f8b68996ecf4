/**
 * The deployment's start defaults (app config `transcription`), as the environment of both runtimes that
 * apply them: the control API's start function to API starts, the gateway to `genesys`-controlled
 * sessions (docs/genesys.md §0). One builder, so the two can never be given different values.
 */

/** What both runtimes read. */
export interface StartDefaults {
  /** `SUPPORTED_LANGUAGES`: canonical IETF tags. */
  readonly supportedLanguages: readonly string[];
  /** `DEFAULT_LANGUAGE`: one of `supportedLanguages`. */
  readonly defaultLanguage: string;
  /** `REDACTION_ENABLED`: whether PII redaction is configured. */
  readonly redaction: boolean;
}

/** `SUPPORTED_LANGUAGES`, `DEFAULT_LANGUAGE` and `REDACTION_ENABLED` (callers check the names against their runtime's list). */
export function startDefaultsEnvironment(d: StartDefaults) {
  return {
    SUPPORTED_LANGUAGES: d.supportedLanguages.join(','),
    DEFAULT_LANGUAGE: d.defaultLanguage,
    REDACTION_ENABLED: String(d.redaction),
  };
}

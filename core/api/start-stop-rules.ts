/**
 * The start/stop request rules (api-contract.md §1.1–§1.3), as pure functions of an already shape-checked
 * request and the deployment's policy. The Lambda edge checks types (zod); everything that depends on
 * meaning — which namespace this deployment serves, which languages, the redaction combinations, what a
 * store outcome means to the caller — is decided here, once.
 */
import type { StartParams } from '../conversation/conversation';
import type { StopRefusalOutcome } from '../conversation/rules';
import type { RedactionOutput } from '../transcript/utterance';
import { ApiError } from './errors';

/** The namespaces the contract's enum allows (api-contract.md §1.1). */
export const NAMESPACES = ['siprec', 'twilio', 'amazonconnect', 'genesysaudiohook'] as const;
export type Namespace = (typeof NAMESPACES)[number];

/** The only namespace this deployment serves: calls arrive over Genesys AudioHook. */
export const SERVED_NAMESPACE: Namespace = 'genesysaudiohook';

/** The contract's `redactionOutput` values. */
export const REDACTION_OUTPUTS = ['redacted', 'unredacted', 'redacted_and_unredacted'] as const;

/** Longest `guid` we accept (api-contract.md §7 A7). */
export const MAX_GUID_LENGTH = 255;

/**
 * Longest `autotranscribeParams.language` we accept. RFC 5646 §4.4.1 asks implementations to handle tags of
 * at least 35 characters (the longest tag its registered subtags can form without extensions), so no
 * well-formed tag a caller could mean is turned away as "too long"; every tag Transcribe streams is far
 * shorter (`xx-XX`, 5 characters), so anything longer can only be a mistake or an attack on the logs.
 */
export const MAX_LANGUAGE_LENGTH = 35;

/** How much of a caller's value an error message may quote. */
export const MAX_ECHO_CHARS = 40;

// C0/C1 controls, DEL and the Unicode line/paragraph separators: never copied into a message.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is this pattern's purpose
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * A short, printable, single-quoted excerpt of a caller's value for an error message: control characters
 * become `\xNN`/`\uNNNN`, and beyond {@link MAX_ECHO_CHARS} characters the rest is cut (`…`) with the full
 * length stated, so a caller can neither forge log lines nor make us echo a megabyte back.
 */
export function inputExcerpt(value: unknown, maxChars: number = MAX_ECHO_CHARS): string {
  const text = String(value);
  const chars = [...text];
  const head = chars.length > maxChars ? chars.slice(0, maxChars).join('') : text;
  const safe = head.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
  return chars.length > maxChars ? `'${safe}…' (${chars.length} characters)` : `'${safe}'`;
}

/** Deployment settings the start rules depend on. */
export interface StartPolicy {
  /** Canonical IETF tags the recognizer is configured for, e.g. `['en-US', 'es-US']`. */
  readonly supportedLanguages: readonly string[];
  /** Used when the request names none; must be one of {@link supportedLanguages}. */
  readonly defaultLanguage: string;
  /**
   * Whether redaction (PII masking) is available. When it is not, an explicit `redacted` or
   * `redacted_and_unredacted` is rejected (the contract's "no redaction rules configured") and the default
   * output becomes `unredacted` rather than rejecting every start that omits the field.
   */
  readonly redactionEnabled: boolean;
}

/** A start-streaming body whose field types have been checked. Unknown fields are already dropped. */
export interface StartRequest {
  namespace: Namespace;
  guid: string;
  customerId: string;
  agentId: string;
  autotranscribeParams?: {
    language?: string;
    detailedToken?: boolean;
    audioRecordingAllowed?: boolean;
    redactionOutput?: RedactionOutput;
    /** [EXT] Follow the AudioHook session's language updates. */
    followLanguageUpdates?: boolean;
  };
}

/** A stop-streaming body whose field types have been checked. */
export interface StopRequest {
  namespace: Namespace;
  guid: string;
}

/** What a valid start asks for. */
export interface StartDecision {
  conversationId: string;
  params: StartParams;
}

/** Rejects a namespace the contract knows but this deployment does not serve (`400-201`). */
export function assertServedNamespace(namespace: Namespace): void {
  if (namespace !== SERVED_NAMESPACE) {
    // The schema only lets the contract's enum through; quoted safely all the same.
    throw new ApiError('400-201', `namespace ${inputExcerpt(namespace)} is not supported by this deployment`);
  }
}

/** The canonical spelling of `language` in the policy's list, or undefined when it is not supported. */
export function canonicalLanguage(language: string, supported: readonly string[]): string | undefined {
  const wanted = language.trim().toLowerCase();
  return supported.find((l) => l.toLowerCase() === wanted);
}

/**
 * Applies the start rules: namespace served, language at most {@link MAX_LANGUAGE_LENGTH} characters and
 * supported (case-insensitive), redaction available
 * when asked for, and no detailed tokens with a redacted output (api-contract.md §1.1 validation rules).
 * Throws {@link ApiError} `400-201` / `400-202`.
 */
export function decideStart(request: StartRequest, policy: StartPolicy): StartDecision {
  assertServedNamespace(request.namespace);
  const p = request.autotranscribeParams ?? {};
  if (p.language !== undefined && p.language.length > MAX_LANGUAGE_LENGTH) {
    throw new ApiError('400-202', `language must be at most ${MAX_LANGUAGE_LENGTH} characters`);
  }
  const language = canonicalLanguage(p.language ?? policy.defaultLanguage, policy.supportedLanguages);
  if (language === undefined) {
    throw new ApiError(
      '400-202',
      `language ${inputExcerpt(p.language)} is not supported; supported: ${policy.supportedLanguages.join(', ')}`,
    );
  }
  if (!policy.redactionEnabled && p.redactionOutput !== undefined && p.redactionOutput !== 'unredacted') {
    throw new ApiError(
      '400-202',
      `redactionOutput ${inputExcerpt(p.redactionOutput)} is not available: redaction is not configured for this deployment`,
    );
  }
  const redactionOutput: RedactionOutput = p.redactionOutput ?? (policy.redactionEnabled ? 'redacted' : 'unredacted');
  const detailedToken = p.detailedToken ?? false;
  if (detailedToken && redactionOutput !== 'unredacted') {
    throw new ApiError(
      '400-202',
      `detailedToken requires redactionOutput 'unredacted' (got '${redactionOutput}'${p.redactionOutput === undefined ? ', the default' : ''})`,
    );
  }
  return {
    conversationId: request.guid,
    params: {
      customerId: request.customerId,
      agentId: request.agentId,
      language,
      detailedToken,
      audioRecordingAllowed: p.audioRecordingAllowed ?? false,
      redactionOutput,
      // Only when asked for: absent reads as false, so stored params stay as they were without it.
      ...(p.followLanguageUpdates === true && { followLanguageUpdates: true }),
    },
  };
}

/**
 * A start the store could not settle (it lost the optimistic race on every attempt) is `409-202`. Every
 * other start outcome is a success: a new segment, or a repeated start of the running one (idempotent,
 * api-contract.md §1.3).
 */
export function startConflictError(): ApiError {
  return new ApiError('409-202', 'Another start or stop for this guid is still pending; retry');
}

/** What the store answered to a stop, other than `stopped`: a refusal by the rules, or a lost race. */
export type StopRefusal = StopRefusalOutcome | 'conflict';

const STOP_REFUSALS: Readonly<Record<StopRefusal, () => ApiError>> = {
  // A start before the session opens makes the conversation known, so that race never lands here.
  unknown: () => new ApiError('400-203', 'No call known for this guid'),
  'not-started': () => new ApiError('409-201', 'Call transcription not started'),
  'already-stopped': () => new ApiError('409-201', 'Call transcription already stopped'),
  conflict: () => startConflictError(),
};

/**
 * Why a stop is refused: unknown conversation `400-203`; nothing running `409-201`; a race the store could
 * not settle `409-202`.
 */
export function stopRefusalError(outcome: StopRefusal): ApiError {
  return STOP_REFUSALS[outcome]();
}

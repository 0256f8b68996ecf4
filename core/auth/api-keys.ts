/**
 * AudioHook API keys and client secrets (docs/audiohook-protocol.md §1.3 step 1).
 *
 * The store keeps only a SHA-256 digest of each API key, never the key itself, and looks a presented
 * key up by comparing digests against every entry with `timingSafeEqual` and no early exit, so response
 * time does not reveal how much of a key matched or where it sits in the list. Several keys can be
 * active at once (rotation: configure the new key, switch the Genesys integration, remove the old key).
 *
 * Each key also names its control policy (docs/genesys.md, "Two control policies"): `api` (the default) —
 * a session is transcribed only while the start/stop API says so; `genesys` — every session opened with
 * the key is transcribed from `open` to `close`, with the key's `defaults` filling what `open` leaves out.
 *
 * Secrets never leave an entry through `JSON.stringify`, `util.inspect` or string conversion.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ApiKeyConfigError } from './errors';

/**
 * Who decides when a session authenticated with a key is transcribed: `api` — only the start/stop HTTP API
 * (the hosted contract); `genesys` — Genesys does, by opening and closing the AudioHook session.
 */
export type ControlPolicy = 'api' | 'genesys';

/** Every control policy, the default first. */
export const CONTROL_POLICIES: readonly ControlPolicy[] = ['api', 'genesys'];

/** Start parameters a `genesys`-controlled key uses when the `open` message names none. */
export interface ApiKeyDefaults {
  /** BCP-47 tag used when `open` names no supported language. @default - the deployment's default language */
  readonly language?: string;
  /**
   * `redactionOutput` when `customConfig` names none (api-contract.md). @default - the deployment's default
   * (`redacted` where redaction is available)
   */
  readonly redactionOutput?: 'redacted' | 'unredacted' | 'redacted_and_unredacted';
  /**
   * Word tokens on every utterance (and so on the connector's transcript events, which Genesys reads). The
   * start rules allow them only with `redactionOutput: "unredacted"`, so redacted words never leave as
   * tokens. @default false
   */
  readonly detailedToken?: boolean;
}

/** A language tag as the key format accepts it: 1–35 characters (RFC 5646 §4.4.1) of letters, digits, `-`. */
const LANGUAGE_TAG_RE = /^[A-Za-z0-9-]{1,35}$/;
const DEFAULTS_FIELDS = new Set(['language', 'redactionOutput', 'detailedToken']);
const REDACTION_OUTPUTS = new Set(['redacted', 'unredacted', 'redacted_and_unredacted']);

/** One configured API key, as the authenticator sees it. */
export interface ApiKeyEntry {
  /** Operator-facing name for logs and metrics (never the key). */
  readonly label: string;
  /** HMAC key (decoded client secret); `null` when the integration has no secret and sends unsigned requests. */
  readonly secret: Buffer | null;
  /** Genesys organization ids allowed to use this key. @default - any organization */
  readonly allowedOrganizationIds?: readonly string[];
  readonly features?: { readonly transcriptionConnector?: boolean };
  /** Control policy of this key's sessions. */
  readonly control: ControlPolicy;
  /** Defaults of the `genesys` policy's start parameters. */
  readonly defaults?: ApiKeyDefaults;
}

/** Input to {@link ApiKeyStore.replaceAll} and the constructor: an entry plus the API key it belongs to. */
export interface ApiKeyDefinition {
  apiKey: string;
  /** @default - first 4 characters of the key followed by "…" */
  label?: string;
  secret: Buffer | null;
  allowedOrganizationIds?: readonly string[];
  features?: { transcriptionConnector?: boolean };
  /** @default 'api' */
  control?: ControlPolicy;
  defaults?: ApiKeyDefaults;
}

/** API key syntax we accept (a superset of the reference CLI's `^[a-zA-Z0-9+/_-]+={0,2}$`, bounded). */
export const API_KEY_PATTERN = /^[A-Za-z0-9+/_=-]{8,256}$/;
/** Shortest decoded client secret we accept (128 bits). */
export const MIN_SECRET_BYTES = 16;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const LABEL_RE = /^[\x20-\x7e]{1,64}$/;
const EXTENDED_FIELDS = new Set([
  'secret',
  'label',
  'organizationIds',
  'transcriptionConnector',
  'control',
  'defaults',
]);
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

interface StoredKey {
  digest: Buffer;
  entry: ApiKeyEntry;
}

function digestOf(apiKey: string): Buffer {
  return createHash('sha256').update(apiKey, 'utf8').digest();
}

function defaultLabel(apiKey: string): string {
  return `${apiKey.slice(0, 4)}…`;
}

function redacted(entry: ApiKeyEntry): Record<string, unknown> {
  return {
    label: entry.label,
    secret: entry.secret === null ? null : '[redacted]',
    allowedOrganizationIds: entry.allowedOrganizationIds,
    features: entry.features,
    // The default policy is left out, so a plain key's log line reads as it always did.
    control: entry.control === 'api' ? undefined : entry.control,
    defaults: entry.defaults,
  };
}

/** Freezes an entry and makes every serialization path redact the secret. */
function makeEntry(def: ApiKeyDefinition, label: string): ApiKeyEntry {
  const entry: ApiKeyEntry = {
    label,
    secret: def.secret === null || def.secret.length === 0 ? null : Buffer.from(def.secret),
    ...(def.allowedOrganizationIds !== undefined && {
      allowedOrganizationIds: Object.freeze(def.allowedOrganizationIds.map((id) => id.toLowerCase())),
    }),
    ...(def.features !== undefined && { features: Object.freeze({ ...def.features }) }),
    control: def.control ?? 'api',
    ...(def.defaults !== undefined && { defaults: Object.freeze({ ...def.defaults }) }),
  };
  Object.defineProperties(entry, {
    toJSON: { value: () => redacted(entry), enumerable: false },
    toString: { value: () => `ApiKeyEntry(${label})`, enumerable: false },
    [INSPECT]: { value: () => redacted(entry), enumerable: false },
  });
  return Object.freeze(entry);
}

/** The configured API keys. Lookups are constant-time with respect to the stored keys. */
export class ApiKeyStore {
  private keys: readonly StoredKey[] = [];

  /** @throws {ApiKeyConfigError} on invalid or duplicate definitions */
  constructor(definitions: Iterable<ApiKeyDefinition> = []) {
    this.replaceAll(definitions);
  }

  /**
   * Builds a store from the `AUDIOHOOK_API_KEYS` value (a JSON string or the parsed object):
   * `{ "<apiKey>": "<base64 secret or empty>" }` or, per key, the extended form
   * `{ "<apiKey>": { "secret": "…", "label": "…", "organizationIds": ["<uuid>"], "transcriptionConnector": true,
   * "control": "api" | "genesys", "defaults": { "language": "<tag>" } } }`.
   * @throws {ApiKeyConfigError} naming the offending entry by label or position, never by key or secret
   */
  static fromJson(json: unknown): ApiKeyStore {
    return new ApiKeyStore(ApiKeyStore.parseJson(json));
  }

  /** Validates the `AUDIOHOOK_API_KEYS` format into definitions (for {@link replaceAll} on reload). */
  static parseJson(json: unknown): ApiKeyDefinition[] {
    let obj = json;
    if (typeof obj === 'string') {
      try {
        obj = JSON.parse(obj);
      } catch {
        // The parser's message can quote part of the input, which holds secrets: do not pass it on.
        throw new ApiKeyConfigError('AUDIOHOOK_API_KEYS is not valid JSON');
      }
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      throw new ApiKeyConfigError('AUDIOHOOK_API_KEYS must be a JSON object mapping API keys to secrets');
    }
    const members = Object.entries(obj);
    if (members.length === 0) throw new ApiKeyConfigError('AUDIOHOOK_API_KEYS defines no API keys');
    return members.map(([apiKey, value], index) => parseMember(apiKey, value, index));
  }

  /** Atomically replaces every key (configuration reload). @throws {ApiKeyConfigError} and keeps the old keys */
  replaceAll(definitions: Iterable<ApiKeyDefinition>): void {
    const next: StoredKey[] = [];
    const labels = new Set<string>();
    let index = 0;
    for (const def of definitions) {
      const valid = API_KEY_PATTERN.test(def.apiKey);
      const name = def.label ?? (valid ? defaultLabel(def.apiKey) : `#${index + 1}`);
      if (!valid) {
        throw new ApiKeyConfigError(`API key entry "${name}": key must be 8–256 characters of A–Z a–z 0–9 + / _ = -`);
      }
      if (def.label !== undefined && !LABEL_RE.test(def.label)) {
        throw new ApiKeyConfigError(`API key entry #${index + 1}: label must be 1–64 printable ASCII characters`);
      }
      if (def.secret !== null && def.secret.length > 0 && def.secret.length < MIN_SECRET_BYTES) {
        throw new ApiKeyConfigError(
          `API key entry "${name}": secret must decode to at least ${MIN_SECRET_BYTES} bytes`,
        );
      }
      if (def.control !== undefined && !CONTROL_POLICIES.includes(def.control)) {
        throw new ApiKeyConfigError(`API key entry "${name}": control must be one of ${CONTROL_POLICIES.join(', ')}`);
      }
      if (def.defaults?.language !== undefined && !LANGUAGE_TAG_RE.test(def.defaults.language)) {
        throw new ApiKeyConfigError(
          `API key entry "${name}": defaults.language must be 1–35 characters of A–Z a–z 0–9 -`,
        );
      }
      for (const orgId of def.allowedOrganizationIds ?? []) {
        if (!UUID_RE.test(orgId)) {
          throw new ApiKeyConfigError(`API key entry "${name}": organization id "${orgId}" is not a UUID`);
        }
      }
      if (labels.has(name)) {
        throw new ApiKeyConfigError(`API key entry "${name}": label is used twice; give each key a distinct "label"`);
      }
      labels.add(name);
      const digest = digestOf(def.apiKey);
      if (next.some((k) => k.digest.equals(digest))) {
        throw new ApiKeyConfigError(`API key entry "${name}": the same API key is configured twice`);
      }
      next.push({ digest, entry: makeEntry(def, name) });
      index++;
    }
    this.keys = next;
  }

  /**
   * Finds the entry of a presented API key. Compares the SHA-256 digest of the presented key with every
   * stored digest (fixed length, so `timingSafeEqual` applies) without stopping at a match.
   */
  lookup(presentedKey: string): ApiKeyEntry | undefined {
    const digest = digestOf(presentedKey);
    let found: ApiKeyEntry | undefined;
    for (const stored of this.keys) {
      const match = timingSafeEqual(digest, stored.digest);
      found = match ? stored.entry : found;
    }
    return found;
  }

  /**
   * Each key's label with its control policy, Transcription Connector flag and default language: safe to
   * log (no key, no secret), so an operator can see at load which integrations Genesys controls.
   */
  policies(): { label: string; control: ControlPolicy; transcriptionConnector: boolean; defaultLanguage?: string }[] {
    return this.keys.map(({ entry }) => ({
      label: entry.label,
      control: entry.control,
      transcriptionConnector: entry.features?.transcriptionConnector === true,
      ...(entry.defaults?.language !== undefined && { defaultLanguage: entry.defaults.language }),
    }));
  }

  /** Number of configured keys. */
  get size(): number {
    return this.keys.length;
  }

  /** Labels only: safe to log. */
  toJSON(): { keys: Record<string, unknown>[] } {
    return { keys: this.keys.map((k) => redacted(k.entry)) };
  }

  [INSPECT](): { keys: Record<string, unknown>[] } {
    return this.toJSON();
  }
}

function parseMember(apiKey: string, value: unknown, index: number): ApiKeyDefinition {
  const keyValid = API_KEY_PATTERN.test(apiKey);
  let name = keyValid ? defaultLabel(apiKey) : `#${index + 1}`;
  const bad = (what: string): never => {
    throw new ApiKeyConfigError(`API key entry "${name}": ${what}`);
  };

  let secretText: unknown;
  const def: ApiKeyDefinition = { apiKey, secret: null };
  if (typeof value === 'string') {
    secretText = value;
  } else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const fields = value as Record<string, unknown>;
    if (fields.label !== undefined) {
      if (typeof fields.label !== 'string' || !LABEL_RE.test(fields.label)) {
        bad('"label" must be 1–64 printable ASCII characters');
      }
      def.label = fields.label as string;
      name = def.label;
    }
    for (const field of Object.keys(fields)) {
      if (!EXTENDED_FIELDS.has(field)) bad(`unknown field "${field}" (expected ${[...EXTENDED_FIELDS].join(', ')})`);
    }
    secretText = fields.secret ?? '';
    if (fields.organizationIds !== undefined) {
      const ids = fields.organizationIds;
      if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => typeof id === 'string' && UUID_RE.test(id))) {
        bad('"organizationIds" must be a non-empty array of UUIDs');
      }
      def.allowedOrganizationIds = ids as string[];
    }
    if (fields.transcriptionConnector !== undefined) {
      if (typeof fields.transcriptionConnector !== 'boolean') bad('"transcriptionConnector" must be true or false');
      def.features = { transcriptionConnector: fields.transcriptionConnector as boolean };
    }
    if (fields.control !== undefined) {
      if (!CONTROL_POLICIES.includes(fields.control as ControlPolicy)) {
        bad(`"control" must be one of ${CONTROL_POLICIES.map((c) => `"${c}"`).join(', ')}`);
      }
      def.control = fields.control as ControlPolicy;
    }
    if (fields.defaults !== undefined) def.defaults = parseDefaults(fields.defaults, bad);
  } else {
    bad('value must be a base64 secret string (empty for unsigned) or an object');
  }

  if (!keyValid) bad('key must be 8–256 characters of A–Z a–z 0–9 + / _ = -');
  if (typeof secretText !== 'string') bad('"secret" must be a string');
  if (secretText !== '') def.secret = decodeSecret(secretText as string, bad);
  return def;
}

/** The extended form's `defaults` object: only known fields, each valid. */
function parseDefaults(value: unknown, bad: (what: string) => never): ApiKeyDefaults {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad('"defaults" must be an object');
  const fields = value as Record<string, unknown>;
  for (const field of Object.keys(fields)) {
    if (!DEFAULTS_FIELDS.has(field)) {
      bad(`unknown field "defaults.${field}" (expected ${[...DEFAULTS_FIELDS].join(', ')})`);
    }
  }
  const { language, redactionOutput, detailedToken } = fields;
  if (language !== undefined && (typeof language !== 'string' || !LANGUAGE_TAG_RE.test(language))) {
    bad('"defaults.language" must be 1–35 characters of A–Z a–z 0–9 -');
  }
  if (redactionOutput !== undefined && !REDACTION_OUTPUTS.has(redactionOutput as string)) {
    bad(`"defaults.redactionOutput" must be one of ${[...REDACTION_OUTPUTS].join(', ')}`);
  }
  if (detailedToken !== undefined && typeof detailedToken !== 'boolean')
    bad('"defaults.detailedToken" must be true or false');
  if (detailedToken === true && redactionOutput !== 'unredacted') {
    bad('"defaults.detailedToken" needs "defaults.redactionOutput": "unredacted" (tokens are never redacted)');
  }
  return {
    ...(language !== undefined && { language: language as string }),
    ...(redactionOutput !== undefined && { redactionOutput: redactionOutput as ApiKeyDefaults['redactionOutput'] }),
    ...(detailedToken !== undefined && { detailedToken: detailedToken as boolean }),
  };
}

/** Strict base64 (standard or URL-safe alphabet): rejects stray characters and truncated or mangled input. */
function decodeSecret(text: string, bad: (what: string) => never): Buffer {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text) || text.replace(/=+$/, '').length % 4 === 1) {
    bad('secret is not base64');
  }
  const bytes = Buffer.from(text, 'base64');
  const canonical = (s: string) => s.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
  // Re-encoding must give the same text, or bits were lost (wrong padding, non-zero trailing bits).
  if (canonical(bytes.toString('base64')) !== canonical(text)) bad('secret is not canonical base64');
  if (bytes.length < MIN_SECRET_BYTES) bad(`secret must decode to at least ${MIN_SECRET_BYTES} bytes`);
  return bytes;
}

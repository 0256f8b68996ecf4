/**
 * HTTP Message Signatures as Genesys AudioHook uses them: draft-ietf-httpbis-message-signatures-11 with
 * HMAC-SHA256 (docs/audiohook-protocol.md §1.3, vectors §9.1–§9.3).
 *
 * Draft-11, not RFC 9421: Genesys covers the derived component `"@request-target"`, which the final RFC
 * removed, so off-the-shelf RFC 9421 code cannot verify its requests. The signature base is short enough
 * to build here.
 *
 * Two layers:
 * - {@link verifyHttpMessageSignature}: the generic draft-11 verifier (any label, any covered components
 *   the resolver knows, HMAC-SHA256), enough for the draft's appendix B.2.5 vector;
 * - {@link verifyAudioHookSignature}: the same plus the AudioHook policy checks of §1.3 (required
 *   components, nonce, keyid, time window). It is pure: replay detection is the caller's job, after a
 *   successful verification (see `nonce-cache.ts`).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SignatureBaseError, type SignatureFailureCode, StructuredFieldError } from './errors';
import {
  type InnerList,
  type Item,
  type Parameters,
  parseDictionary,
  serializeBareItem,
  serializeDictionary,
  serializeInnerList,
  stringItem,
} from './structured-fields';

/** Returns the canonical value of a covered component (e.g. `"@authority"` → `example.com`), or `undefined`. */
export type ComponentResolver = (componentId: string) => string | undefined;

/** Header map as Node exposes it (`IncomingMessage.headers`: lower-case names). */
export type HeaderMap = Record<string, string | string[] | undefined>;

/** What the signature base needs to know about the upgrade request. */
export interface SignedRequest {
  /** Request target exactly as sent on the request line (origin-form path and query, Node's `req.url`). */
  target: string;
  /** `Host` header value (or a configured override); `undefined` when absent. */
  authority: string | undefined;
  headers: HeaderMap;
}

/** The signature parameters this implementation understands (draft-11 §2.3). */
export interface SignatureParams {
  alg?: string;
  created?: number;
  expires?: number;
  keyid?: string;
  nonce?: string;
}

/** A parsed, structurally valid `Signature-Input` / `Signature` pair, reduced to the label being verified. */
export interface ParsedSignature {
  label: string;
  /** Covered component identifiers, in order (the sf-string values, e.g. `@authority`, `x-api-key`). */
  components: string[];
  params: SignatureParams;
  /** Canonical re-serialization of the inner list: the value of the `"@signature-params"` line. */
  serializedParams: string;
  /** The presented MAC (decoded byte sequence). */
  mac: Buffer;
}

/** Result of a verification: `ok` with what was verified, or a stable failure code and a log-only message. */
export type SignatureResult<T> = { ok: true; value: T } | { ok: false; code: SignatureFailureCode; message: string };

/** The only algorithm accepted (draft-11 §3.3.3). */
export const HMAC_SHA256 = 'hmac-sha256';

/** Components Genesys covers, in its order (§1.3); the AudioHook verifier requires all of them. */
export const AUDIOHOOK_COVERED_COMPONENTS: readonly string[] = [
  '@request-target',
  '@authority',
  'audiohook-organization-id',
  'audiohook-session-id',
  'audiohook-correlation-id',
  'x-api-key',
];

/** Shortest nonce the reference server accepts (§1.3 check 4). */
export const MIN_NONCE_LENGTH = 22;
/** Default maximum signature age in seconds (reference `maxSignatureAge`). */
export const DEFAULT_MAX_SIGNATURE_AGE_SEC = 10;
/** Default tolerated clock skew in seconds (reference `MAX_CLOCK_SKEW`). */
export const DEFAULT_CLOCK_SKEW_SEC = 3;

const KNOWN_PARAMS = new Set(['alg', 'created', 'expires', 'keyid', 'nonce']);
const MAC_LENGTH = 32;

function fail<T>(code: SignatureFailureCode, message: string): SignatureResult<T> {
  return { ok: false, code, message };
}

/**
 * Canonical value of an HTTP field for the signature base (draft-11 §2.1): each instance trimmed, obsolete
 * line folding replaced by one space, repeated instances joined with ", ". `undefined` when absent.
 */
export function canonicalizeHeaderValue(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const instances = Array.isArray(value) ? value : [value];
  if (instances.length === 0) return undefined;
  return instances.map((v) => v.replace(/\r?\n[ \t]+/g, ' ').trim()).join(', ');
}

/**
 * `"@authority"` value (draft-11 §2.2.3): host lower-cased, default port omitted. AudioHook only runs over
 * `wss://` (§1.1), so the default port is 443 unless told otherwise.
 */
export function normalizeAuthority(authority: string, defaultPort = 443): string {
  const lower = authority.trim().toLowerCase();
  const m = /^(\[[^\]]*\]|[^:[\]]*)(?::(\d*))?$/.exec(lower);
  if (!m) return lower;
  const host = m[1] as string;
  const port = m[2];
  if (port === undefined || port === '' || Number(port) === defaultPort) return host;
  return `${host}:${port}`;
}

/**
 * Resolver for an upgrade request: `@request-target`, `@authority` and plain (lower-case) header names.
 * Other derived components are unsupported and resolve to `undefined`.
 */
export function createRequestResolver(req: SignedRequest): ComponentResolver {
  return (componentId) => {
    if (componentId === '@request-target') return req.target;
    if (componentId === '@authority')
      return req.authority === undefined ? undefined : normalizeAuthority(req.authority);
    if (componentId.startsWith('@')) return undefined;
    return canonicalizeHeaderValue(req.headers[componentId]);
  };
}

/**
 * Builds the draft-11 signature base (§2.5): one `"<id>": <value>` line per covered component, then the
 * `"@signature-params"` line; `\n`-separated, no trailing newline.
 * @param coveredComponents component identifiers without quotes, in the order they are covered
 * @param serializedParams canonical inner list (the `"@signature-params"` value)
 * @throws {SignatureBaseError} when a component does not resolve or its value contains a line break
 */
export function buildSignatureBase(
  coveredComponents: string[],
  resolve: ComponentResolver,
  serializedParams: string,
): string {
  const lines: string[] = [];
  for (const id of coveredComponents) {
    const value = resolve(id);
    if (value === undefined) throw new SignatureBaseError(`covered component "${id}" is not present in the request`);
    // A line break would let one component's value impersonate further base lines.
    if (/[\r\n]/.test(value)) throw new SignatureBaseError(`covered component "${id}" contains a line break`);
    let serializedId: string;
    try {
      serializedId = serializeBareItem({ type: 'string', value: id });
    } catch {
      throw new SignatureBaseError('a component identifier is not a printable ASCII string');
    }
    lines.push(`${serializedId}: ${value}`);
  }
  lines.push(`"@signature-params": ${serializedParams}`);
  return lines.join('\n');
}

function hmacSha256(key: Uint8Array, base: string): Buffer {
  return createHmac('sha256', key).update(base, 'utf8').digest();
}

/** Constant-time MAC comparison; lengths are public (always 32 for HMAC-SHA256), so that check may exit early. */
function macMatches(expected: Buffer, presented: Buffer): boolean {
  return presented.length === expected.length && timingSafeEqual(expected, presented);
}

function paramsFromSf(params: Parameters): SignatureResult<SignatureParams> {
  const out: SignatureParams = {};
  for (const [key, item] of params) {
    if (!KNOWN_PARAMS.has(key)) return fail('signature-params', `unsupported signature parameter "${key}"`);
    if (key === 'created' || key === 'expires') {
      if (item.type !== 'integer' || item.value < 0) {
        return fail('signature-params', `signature parameter "${key}" must be a non-negative integer`);
      }
      out[key] = item.value;
    } else {
      if (item.type !== 'string') return fail('signature-params', `signature parameter "${key}" must be a string`);
      out[key as 'alg' | 'keyid' | 'nonce'] = item.value;
    }
  }
  if (out.alg !== undefined && out.alg !== HMAC_SHA256) {
    return fail('signature-params', `unsupported signature algorithm "${out.alg}"`);
  }
  return { ok: true, value: out };
}

function componentsFromSf(items: Item[]): SignatureResult<string[]> {
  const ids: string[] = [];
  for (const item of items) {
    if (item.value.type !== 'string') return fail('signature-components', 'component identifiers must be strings');
    const id = item.value.value;
    if (item.params.size > 0) return fail('signature-components', `component parameters on "${id}" are unsupported`);
    if (id === '@signature-params') return fail('signature-components', '"@signature-params" must not be covered');
    if (id === '' || id !== id.toLowerCase()) {
      return fail('signature-components', `component identifier "${id}" must be non-empty lower-case`);
    }
    if (ids.includes(id)) return fail('signature-components', `component "${id}" is covered twice`);
    ids.push(id);
  }
  return { ok: true, value: ids };
}

/**
 * Parses the `Signature-Input` and `Signature` headers (§1.3 check 1) and the parameters and components of
 * the label to verify (checks 2, 3 generic part, 9). Every `Signature-Input` label needs a byte-sequence
 * `Signature` member; the first label is verified unless `label` names another.
 */
export function parseSignatureHeaders(
  signatureInput: string,
  signature: string,
  label?: string,
): SignatureResult<ParsedSignature> {
  let inputs: ReturnType<typeof parseDictionary>;
  let signatures: ReturnType<typeof parseDictionary>;
  try {
    inputs = parseDictionary(signatureInput);
    signatures = parseDictionary(signature);
  } catch (err) {
    if (err instanceof StructuredFieldError) return fail('signature-malformed', err.message);
    throw err;
  }
  if (inputs.size === 0) return fail('signature-malformed', 'Signature-Input has no members');
  for (const [name, member] of inputs) {
    if (member.kind !== 'inner-list') {
      return fail('signature-malformed', `Signature-Input "${name}" is not an inner list`);
    }
    const sig = signatures.get(name);
    if (sig === undefined || sig.kind !== 'item' || sig.value.type !== 'bytes') {
      return fail('signature-malformed', `Signature has no byte sequence for label "${name}"`);
    }
  }
  const chosen = label ?? (inputs.keys().next().value as string);
  const list = inputs.get(chosen) as InnerList | undefined;
  const sig = signatures.get(chosen);
  if (list === undefined || sig === undefined || sig.kind !== 'item' || sig.value.type !== 'bytes') {
    return fail('signature-malformed', `no signature labelled "${chosen}"`);
  }
  const params = paramsFromSf(list.params);
  if (!params.ok) return params;
  const components = componentsFromSf(list.items);
  if (!components.ok) return components;
  let serializedParams: string;
  try {
    serializedParams = serializeInnerList(list);
  } catch (err) {
    if (err instanceof StructuredFieldError) return fail('signature-malformed', err.message);
    throw err;
  }
  return {
    ok: true,
    value: {
      label: chosen,
      components: components.value,
      params: params.value,
      serializedParams,
      mac: Buffer.from(sig.value.value),
    },
  };
}

function checkMac(
  parsed: ParsedSignature,
  resolve: ComponentResolver,
  key: Uint8Array,
): SignatureResult<ParsedSignature> {
  let base: string;
  try {
    base = buildSignatureBase(parsed.components, resolve, parsed.serializedParams);
  } catch (err) {
    if (err instanceof SignatureBaseError) return fail('signature-components', err.message);
    throw err;
  }
  const expected = hmacSha256(key, base);
  if (parsed.mac.length !== MAC_LENGTH || !macMatches(expected, parsed.mac)) {
    return fail('signature-mismatch', `signature "${parsed.label}" does not match`);
  }
  return { ok: true, value: parsed };
}

/** Options of {@link verifyHttpMessageSignature}. */
export interface VerifyHttpMessageSignatureOptions {
  signatureInput: string;
  signature: string;
  resolve: ComponentResolver;
  /** HMAC key bytes (already decoded). */
  key: Uint8Array;
  /** Label to verify. @default - the first label of `Signature-Input` */
  label?: string;
}

/**
 * Generic draft-11 HMAC-SHA256 verification: parse, structural checks, signature base, constant-time compare.
 * No time-window, nonce or keyid policy (see {@link verifyAudioHookSignature}).
 */
export function verifyHttpMessageSignature(opts: VerifyHttpMessageSignatureOptions): SignatureResult<ParsedSignature> {
  const parsed = parseSignatureHeaders(opts.signatureInput, opts.signature, opts.label);
  if (!parsed.ok) return parsed;
  return checkMac(parsed.value, opts.resolve, opts.key);
}

/** Options of {@link verifyAudioHookSignature}. */
export interface VerifyAudioHookSignatureOptions {
  signatureInput: string;
  signature: string;
  request: SignedRequest;
  /** HMAC key: the base64-decoded client secret. */
  secret: Uint8Array;
  /** Current wall-clock time, ms since the epoch (from the injected `Clock`). */
  nowMs: number;
  /** @default 10 */
  maxSignatureAgeSec?: number;
  /** @default 3 */
  clockSkewSec?: number;
}

/** What a successful AudioHook verification established (used for the replay check). */
export interface VerifiedAudioHookSignature {
  label: string;
  keyid: string;
  nonce: string;
  created: number;
  expires: number;
}

/**
 * Verifies an AudioHook upgrade signature: every check of docs/audiohook-protocol.md §1.3 except replay.
 *
 * Time window: we accept `created ∈ [now − (maxAge + skew), now + skew]` and `expires ≥ now − skew`
 * (our [REC]); the reference server applies the skew in the strict direction for `expires` and age
 * (`expires ≥ now + skew`, `created ≥ now − maxAge + skew`), which rejects requests that are merely a
 * few seconds in flight on a slightly skewed clock.
 */
export function verifyAudioHookSignature(
  opts: VerifyAudioHookSignatureOptions,
): SignatureResult<VerifiedAudioHookSignature> {
  const parsed = parseSignatureHeaders(opts.signatureInput, opts.signature);
  if (!parsed.ok) return parsed;
  const { components, params, label } = parsed.value;

  for (const required of AUDIOHOOK_COVERED_COMPONENTS) {
    if (!components.includes(required)) {
      return fail('signature-components', `signature "${label}" does not cover "${required}"`);
    }
  }
  if (params.created === undefined || params.expires === undefined) {
    return fail('signature-params', 'signature parameters "created" and "expires" are required');
  }
  if (params.expires < params.created) return fail('signature-params', '"expires" is before "created"');
  if (params.nonce === undefined || params.nonce.length < MIN_NONCE_LENGTH) {
    return fail('signature-nonce', `signature nonce is missing or shorter than ${MIN_NONCE_LENGTH} characters`);
  }
  const apiKey = canonicalizeHeaderValue(opts.request.headers['x-api-key']);
  if (params.keyid === undefined || params.keyid !== apiKey) {
    return fail('signature-keyid', 'signature keyid does not equal the X-API-KEY header');
  }

  const maxAge = opts.maxSignatureAgeSec ?? DEFAULT_MAX_SIGNATURE_AGE_SEC;
  const skew = opts.clockSkewSec ?? DEFAULT_CLOCK_SKEW_SEC;
  const now = opts.nowMs / 1000;
  if (params.created > now + skew) {
    return fail('signature-not-yet-valid', `signature created ${Math.round(params.created - now)} s in the future`);
  }
  if (params.created < now - (maxAge + skew)) {
    return fail('signature-expired', `signature created ${Math.round(now - params.created)} s ago`);
  }
  if (params.expires < now - skew) {
    return fail('signature-expired', `signature expired ${Math.round(now - params.expires)} s ago`);
  }

  const mac = checkMac(parsed.value, createRequestResolver(opts.request), opts.secret);
  if (!mac.ok) return mac;
  return {
    ok: true,
    value: { label, keyid: params.keyid, nonce: params.nonce, created: params.created, expires: params.expires },
  };
}

/** Options of {@link signAudioHookRequest} (the Genesys side; used by our simulator and tests). */
export interface SignAudioHookRequestOptions {
  apiKey: string;
  clientSecretBase64: string;
  /** Request target (path and query) as it will be sent. */
  target: string;
  /** Host[:port] as it will be sent in `Host`. */
  authority: string;
  organizationId: string;
  sessionId: string;
  correlationId: string;
  /** @default - 32 random base64url characters */
  nonce?: string;
  /** UNIX seconds. */
  created: number;
  /** UNIX seconds. */
  expires: number;
  /** @default 'sig1' */
  label?: string;
  /** Sign the `host` header instead of `"@authority"` (the older reference-builder form, §9.2). */
  coverHostInsteadOfAuthority?: boolean;
}

/**
 * Produces the `Signature-Input` and `Signature` header values Genesys would send for this request:
 * components in Genesys' order, parameters `keyid`, `nonce`, `alg`, `created`, `expires`.
 * @throws {StructuredFieldError} when `created`/`expires` are not integers or a value is not serializable
 */
export function signAudioHookRequest(opts: SignAudioHookRequestOptions): { signatureInput: string; signature: string } {
  const label = opts.label ?? 'sig1';
  const components = AUDIOHOOK_COVERED_COMPONENTS.map((id) =>
    id === '@authority' && opts.coverHostInsteadOfAuthority ? 'host' : id,
  );
  const params: Parameters = new Map([
    ['keyid', { type: 'string', value: opts.apiKey }],
    ['nonce', { type: 'string', value: opts.nonce ?? randomBytes(24).toString('base64url') }],
    ['alg', { type: 'string', value: HMAC_SHA256 }],
    ['created', { type: 'integer', value: opts.created }],
    ['expires', { type: 'integer', value: opts.expires }],
  ]);
  const list: InnerList = { kind: 'inner-list', items: components.map((id) => stringItem(id)), params };
  const resolve = createRequestResolver({
    target: opts.target,
    authority: opts.authority,
    headers: {
      host: opts.authority,
      'audiohook-organization-id': opts.organizationId,
      'audiohook-session-id': opts.sessionId,
      'audiohook-correlation-id': opts.correlationId,
      'x-api-key': opts.apiKey,
    },
  });
  const base = buildSignatureBase(components, resolve, serializeInnerList(list));
  const mac = hmacSha256(Buffer.from(opts.clientSecretBase64, 'base64'), base);
  return {
    signatureInput: serializeDictionary(new Map([[label, list]])),
    signature: serializeDictionary(
      new Map([[label, { kind: 'item', value: { type: 'bytes', value: mac }, params: new Map() }]]),
    ),
  };
}

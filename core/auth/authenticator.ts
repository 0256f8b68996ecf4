/**
 * Authentication of the AudioHook WebSocket upgrade request (docs/audiohook-protocol.md §1.2–§1.4):
 * required headers, API key, HTTP message signature, replay, organization allow-list.
 *
 * `authenticate()` is synchronous and pure apart from the replay cache: it takes the request as data and
 * returns an outcome. The gateway maps the outcome to an HTTP answer (or a `disconnect`), sends a generic
 * body (the `message` is for logs only), and delays every failure until at least
 * {@link MIN_AUTH_FAILURE_DELAY_MS} after verification started (§1.3 check 8), which also hides the
 * timing differences between the early-exit checks below.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Clock } from '../ports';
import type { ApiKeyDefaults, ApiKeyEntry, ApiKeyStore, ControlPolicy } from './api-keys';
import { AuthConfigError, type AuthFailureCode } from './errors';
import { NonceCache } from './nonce-cache';
import {
  canonicalizeHeaderValue,
  DEFAULT_CLOCK_SKEW_SEC,
  DEFAULT_MAX_SIGNATURE_AGE_SEC,
  type HeaderMap,
  verifyAudioHookSignature,
} from './signature';

/** Minimum time between the start of verification and a negative answer (§1.3 check 8). Applied by the gateway. */
export const MIN_AUTH_FAILURE_DELAY_MS = 500;

/** The upgrade request as the authenticator needs it. */
export interface AuthRequest {
  /** Request target as sent (Node `req.url`): path and query. */
  target: string;
  /** `Host` header value. */
  authority: string | undefined;
  /** Node's `IncomingMessage.headers` (lower-case names). */
  headers: HeaderMap;
}

/** Result of {@link Authenticator.authenticate}. */
export type AuthOutcome =
  | {
      ok: true;
      apiKeyLabel: string;
      /** Whether the request carried a verified signature (false: key configured without a secret). */
      signed: boolean;
      sessionId: string;
      organizationId: string;
      correlationId: string;
      allowedOrganizationIds?: readonly string[];
      features: { transcriptionConnector: boolean };
      /** The key's control policy and its start-parameter defaults (docs/genesys.md §0). */
      control: ControlPolicy;
      defaults?: ApiKeyDefaults;
    }
  | { ok: false; status: 400 | 401 | 403; code: AuthFailureCode; message: string };

/** Options of {@link Authenticator}. */
export interface AuthenticatorOptions {
  keys: ApiKeyStore;
  clock: Clock;
  /** Replay cache. @default - a `NonceCache` sized for the acceptance window */
  nonceCache?: NonceCache;
  /** @default 10 */
  maxSignatureAgeSec?: number;
  /** @default 3 */
  clockSkewSec?: number;
  /** `Host[:port]` to use for `"@authority"` instead of the received `Host` (behind a host-rewriting proxy). */
  expectedAuthority?: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const REQUIRED_UUID_HEADERS = [
  'audiohook-session-id',
  'audiohook-organization-id',
  'audiohook-correlation-id',
] as const;

type Failure = Extract<AuthOutcome, { ok: false }>;

function failure(status: Failure['status'], code: AuthFailureCode, message: string): Failure {
  return { ok: false, status, code, message };
}

/** Verifies AudioHook upgrade requests against the configured API keys. */
export class Authenticator {
  private readonly keys: ApiKeyStore;
  private readonly clock: Clock;
  private readonly nonceCache: NonceCache;
  private readonly maxSignatureAgeSec: number;
  private readonly clockSkewSec: number;
  private readonly expectedAuthority: string | undefined;
  /** Stands in for the secret of unknown or secret-less keys so the failing path still does the HMAC work. */
  private readonly dummySecret = randomBytes(32);

  /** @throws {AuthConfigError} for negative windows or a replay cache shorter than the acceptance window */
  constructor(opts: AuthenticatorOptions) {
    this.keys = opts.keys;
    this.clock = opts.clock;
    this.maxSignatureAgeSec = opts.maxSignatureAgeSec ?? DEFAULT_MAX_SIGNATURE_AGE_SEC;
    this.clockSkewSec = opts.clockSkewSec ?? DEFAULT_CLOCK_SKEW_SEC;
    for (const [name, v] of [
      ['maxSignatureAgeSec', this.maxSignatureAgeSec],
      ['clockSkewSec', this.clockSkewSec],
    ] as const) {
      if (!Number.isFinite(v) || v < 0) throw new AuthConfigError(`${name} must be a non-negative number of seconds`);
    }
    const window = this.maxSignatureAgeSec + 2 * this.clockSkewSec;
    this.nonceCache = opts.nonceCache ?? new NonceCache({ clock: opts.clock, windowSec: window });
    if (this.nonceCache.windowSec < window) {
      throw new AuthConfigError(
        `nonceCache.windowSec (${this.nonceCache.windowSec}) must be at least maxSignatureAgeSec + 2 × clockSkewSec (${window})`,
      );
    }
    this.expectedAuthority = opts.expectedAuthority;
  }

  /** Authenticates one upgrade request. Never throws for any request content. */
  authenticate(req: AuthRequest): AuthOutcome {
    const ids: Record<(typeof REQUIRED_UUID_HEADERS)[number], string> = {
      'audiohook-session-id': '',
      'audiohook-organization-id': '',
      'audiohook-correlation-id': '',
    };
    for (const name of REQUIRED_UUID_HEADERS) {
      const value = canonicalizeHeaderValue(req.headers[name]);
      if (value === undefined || value === '') return failure(400, 'missing-header', `header ${name} is missing`);
      if (!UUID_RE.test(value)) return failure(400, 'invalid-header', `header ${name} is not a UUID`);
      ids[name] = value;
    }
    const apiKey = canonicalizeHeaderValue(req.headers['x-api-key']);
    if (apiKey === undefined || apiKey === '') return failure(400, 'missing-header', 'header x-api-key is missing');

    const signatureInput = canonicalizeHeaderValue(req.headers['signature-input']);
    const signature = canonicalizeHeaderValue(req.headers.signature);
    const signed = signatureInput !== undefined || signature !== undefined;

    const entry = this.keys.lookup(apiKey);
    if (entry === undefined) {
      // Same work as a known key would cost, so response time does not tell valid keys apart.
      if (signatureInput !== undefined && signature !== undefined) {
        this.verify(req, signatureInput, signature, this.dummySecret);
      } else {
        this.dummyMac(apiKey);
      }
      return failure(401, 'unknown-api-key', 'unknown API key');
    }

    if (!signed) {
      if (entry.secret !== null) {
        this.dummyMac(apiKey);
        return failure(401, 'signature-required', `API key "${entry.label}" has a client secret; request is unsigned`);
      }
      return this.authorize(entry, ids, false);
    }
    if (signatureInput === undefined || signature === undefined) {
      return failure(401, 'signature-malformed', 'Signature-Input and Signature must be sent together');
    }

    const verified = this.verify(req, signatureInput, signature, entry.secret ?? this.dummySecret);
    if (entry.secret === null) {
      // The Genesys integration has a client secret that our configuration lacks: it can never verify.
      return failure(
        401,
        'signature-mismatch',
        `API key "${entry.label}" has no client secret but the request is signed`,
      );
    }
    if (!verified.ok) {
      return failure(401, verified.code, `API key "${entry.label}": ${verified.message}`);
    }
    const replay = this.nonceCache.checkAndRemember(verified.value.keyid, verified.value.nonce);
    if (replay === 'replayed') return failure(401, 'nonce-replayed', `API key "${entry.label}": nonce already used`);
    if (replay === 'replay-cache-full') {
      return failure(401, 'replay-cache-full', `API key "${entry.label}": replay cache full, request refused`);
    }
    return this.authorize(entry, ids, true);
  }

  /** One HMAC's worth of work on failing unsigned paths, matching the cost of the other early failures. */
  private dummyMac(data: string): void {
    createHmac('sha256', this.dummySecret).update(data).digest();
  }

  private verify(req: AuthRequest, signatureInput: string, signature: string, secret: Uint8Array) {
    return verifyAudioHookSignature({
      signatureInput,
      signature,
      request: {
        target: req.target,
        authority: this.expectedAuthority ?? req.authority,
        headers: req.headers,
      },
      secret,
      nowMs: this.clock.now(),
      maxSignatureAgeSec: this.maxSignatureAgeSec,
      clockSkewSec: this.clockSkewSec,
    });
  }

  private authorize(
    entry: ApiKeyEntry,
    ids: Record<(typeof REQUIRED_UUID_HEADERS)[number], string>,
    signed: boolean,
  ): AuthOutcome {
    const organizationId = ids['audiohook-organization-id'];
    const allowed = entry.allowedOrganizationIds;
    if (allowed !== undefined && !allowed.includes(organizationId.toLowerCase())) {
      return failure(
        403,
        'organization-not-allowed',
        `API key "${entry.label}" is not allowed for organization ${organizationId}`,
      );
    }
    return {
      ok: true,
      apiKeyLabel: entry.label,
      signed,
      sessionId: ids['audiohook-session-id'],
      organizationId,
      correlationId: ids['audiohook-correlation-id'],
      ...(allowed !== undefined && { allowedOrganizationIds: allowed }),
      features: { transcriptionConnector: entry.features?.transcriptionConnector === true },
      control: entry.control,
      ...(entry.defaults !== undefined && { defaults: entry.defaults }),
    };
  }
}

/**
 * Webhook targets: where the fan-out POSTs each `transcript` message and how it authenticates
 * (api-contract.md §3.2). Two ways to configure them, both validated here with a message per problem:
 *
 * - a JSON array (`WEBHOOK_TARGETS_JSON`, or the Secrets Manager secret `WEBHOOK_TARGETS_SECRET_ID` in
 *   AWS, since it holds credentials): `[{id, url, auth, signingSecrets?, tls?, timeoutMs?, headers?}]`;
 * - the single-target variables `npm start` passes (`WEBHOOK_URL`, `WEBHOOK_AUTH`, …), see
 *   {@link targetFromEnv} and docs/realtime.md.
 */

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { AppError } from '../../core/errors';

/** How the receiver authenticates us. */
export type WebhookAuth =
  | { readonly type: 'none' }
  /** A static token, sent as a header or a URL query parameter whose name is configurable. */
  | { readonly type: 'secret'; readonly name: string; readonly value: string; readonly placement: 'header' | 'query' }
  /**
   * OAuth2 client credentials: the access token is cached until shortly before it expires. The token
   * request has its own connection settings, derived from `tokenUrl` alone: the target's `tls` (its CA and
   * its mTLS client certificate) is never used for it, so the client certificate meant for the receiver
   * is not shown to the token server, and an `http` receiver can use an `https` token endpoint.
   */
  | {
      readonly type: 'oauth2';
      readonly tokenUrl: string;
      /** TLS of the token request (an `https` `tokenUrl` only). @default - the system's CAs, no client certificate */
      readonly tls?: WebhookTls;
      readonly clientId: string;
      readonly clientSecret: string;
      readonly scope?: string;
      readonly audience?: string;
      /** `basic` = HTTP Basic (client_secret_basic, RFC 6749 §2.3.1), `body` = form fields. @default 'basic' */
      readonly clientAuth: 'basic' | 'body';
    };

/** TLS settings of a target: a custom CA and/or a client certificate (mTLS), PEM. */
export interface WebhookTls {
  readonly caPem?: string;
  readonly certPem?: string;
  readonly keyPem?: string;
  readonly keyPassphrase?: string;
}

/** One webhook receiver. */
export interface WebhookTarget {
  /** Stable id: the dead-letter partition and the metrics dimension. */
  readonly id: string;
  readonly url: string;
  readonly auth: WebhookAuth;
  /** HMAC signing secrets, newest first (both are used during a rotation). @default - unsigned */
  readonly signingSecrets?: readonly string[];
  readonly tls?: WebhookTls;
  /** Per-request timeout. @default - the retry policy's requestTimeoutMs */
  readonly timeoutMs?: number;
  /** Extra static headers. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** The target configuration could not be used. */
export class WebhookConfigError extends AppError {
  override readonly name = 'WebhookConfigError';
  declare readonly code: 'WEBHOOK_CONFIG_INVALID';
  constructor(readonly problems: readonly string[]) {
    super('WEBHOOK_CONFIG_INVALID', `Invalid webhook configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
const httpUrl = z.url({ message: 'must be an http(s) URL' }).refine((u) => /^https?:\/\//i.test(u), {
  message: 'must be an http(s) URL',
});

const tlsSchema = z
  .object({
    caPem: z.string().includes('-----BEGIN', { message: 'must be PEM' }).optional(),
    certPem: z.string().includes('-----BEGIN', { message: 'must be PEM' }).optional(),
    keyPem: z.string().includes('-----BEGIN', { message: 'must be PEM' }).optional(),
    keyPassphrase: z.string().optional(),
  })
  .refine((t) => (t.certPem === undefined) === (t.keyPem === undefined), {
    message: 'certPem and keyPem go together (mTLS)',
  });

const authSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }),
  z.object({
    type: z.literal('secret'),
    name: z.string().regex(HEADER_NAME, { message: 'must be a header/parameter name' }),
    value: z.string().min(1),
    placement: z.enum(['header', 'query']).default('header'),
  }),
  z
    .object({
      type: z.literal('oauth2'),
      tokenUrl: httpUrl,
      clientId: z.string().min(1),
      clientSecret: z.string().min(1),
      scope: z.string().min(1).optional(),
      audience: z.string().min(1).optional(),
      clientAuth: z.enum(['basic', 'body']).default('basic'),
      tls: tlsSchema.optional(),
    })
    .refine((a) => !a.tls || /^https:/i.test(a.tokenUrl), {
      message: 'tls settings of the token request need an https tokenUrl',
      path: ['tls'],
    }),
]);

const targetSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, { message: 'must be 1-64 letters, digits, . _ -' }),
    url: httpUrl,
    auth: authSchema.default({ type: 'none' }),
    signingSecrets: z.array(z.string().min(16, { message: 'signing secrets need at least 16 characters' })).optional(),
    tls: tlsSchema.optional(),
    timeoutMs: z.number().int().min(100).max(60_000).optional(),
    headers: z.record(z.string().regex(HEADER_NAME), z.string()).optional(),
  })
  .refine((t) => !t.tls || /^https:/i.test(t.url), { message: 'tls settings need an https URL' });

/** Parses and validates a target list (JSON text or parsed). Throws {@link WebhookConfigError}. */
export function parseWebhookTargets(input: unknown): WebhookTarget[] {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch {
      throw new WebhookConfigError(['webhook targets are not valid JSON']);
    }
  }
  const parsed = z.array(targetSchema).safeParse(value);
  if (!parsed.success) {
    // Never echo values: they may be secrets.
    throw new WebhookConfigError(parsed.error.issues.map((i) => `targets.${i.path.join('.')}: ${i.message}`));
  }
  const ids = new Set<string>();
  for (const t of parsed.data) {
    if (ids.has(t.id)) throw new WebhookConfigError([`targets: duplicate id ${t.id}`]);
    ids.add(t.id);
  }
  return parsed.data as WebhookTarget[];
}

/** The `npm start` auth modes. `hmac` = no receiver auth, body signed (any mode signs when a secret is set). */
export const WEBHOOK_AUTH_MODES = ['none', 'secret', 'hmac', 'oauth2', 'mtls'] as const;

type Env = Record<string, string | undefined>;

function readPem(env: Env, name: string, problems: string[]): string | undefined {
  const path = env[name];
  if (!path) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch {
    problems.push(`${name}: cannot read ${path}`);
    return undefined;
  }
}

function optionalPem<K extends keyof WebhookTls>(
  env: Env,
  name: string,
  field: K,
  problems: string[],
): Partial<Record<K, string>> {
  const pem = readPem(env, name, problems);
  return pem ? ({ [field]: pem } as Partial<Record<K, string>>) : {};
}

/**
 * The single target described by `WEBHOOK_URL` and friends, or undefined when `WEBHOOK_URL` is unset:
 *
 * | variable | meaning |
 * |---|---|
 * | `WEBHOOK_URL` | receiver URL |
 * | `WEBHOOK_AUTH` | `none` (default), `secret`, `hmac`, `oauth2`, `mtls` |
 * | `WEBHOOK_SECRET_NAME`, `WEBHOOK_SECRET_VALUE`, `WEBHOOK_SECRET_PLACEMENT` | `secret`: name (default `x-webhook-secret`), value, `header` (default) or `query` |
 * | `WEBHOOK_HMAC_SECRET` | signs every POST (required by `hmac`, optional with the others); comma-separated for a rotation |
 * | `WEBHOOK_OAUTH_TOKEN_URL`, `WEBHOOK_OAUTH_CLIENT_ID`, `WEBHOOK_OAUTH_CLIENT_SECRET`, `WEBHOOK_OAUTH_SCOPE`, `WEBHOOK_OAUTH_AUDIENCE`, `WEBHOOK_OAUTH_CLIENT_AUTH` | `oauth2` |
 * | `WEBHOOK_OAUTH_CA_FILE` | PEM bundle trusted for the token endpoint (default: the system's CAs; never `WEBHOOK_CA_FILE`) |
 * | `WEBHOOK_OAUTH_CLIENT_CERT_FILE`, `WEBHOOK_OAUTH_CLIENT_KEY_FILE` | client certificate for the token endpoint (default: none; never the receiver's) |
 * | `WEBHOOK_CA_FILE` | PEM bundle trusted for the receiver (custom CA) |
 * | `WEBHOOK_CLIENT_CERT_FILE`, `WEBHOOK_CLIENT_KEY_FILE` | client certificate and key (`mtls`) |
 * | `WEBHOOK_TIMEOUT_MS` | per-request timeout |
 */
export function targetFromEnv(env: Env): WebhookTarget | undefined {
  const url = env.WEBHOOK_URL;
  if (!url) return undefined;
  const mode = env.WEBHOOK_AUTH || 'none';
  const problems: string[] = [];
  if (!(WEBHOOK_AUTH_MODES as readonly string[]).includes(mode)) {
    throw new WebhookConfigError([`WEBHOOK_AUTH must be one of ${WEBHOOK_AUTH_MODES.join(', ')}`]);
  }
  const need = (name: string): string => {
    const v = env[name];
    if (!v) problems.push(`${name} is required when WEBHOOK_AUTH=${mode}`);
    return v ?? '';
  };
  let auth: Record<string, unknown> = { type: 'none' };
  if (mode === 'secret') {
    auth = {
      type: 'secret',
      name: env.WEBHOOK_SECRET_NAME || 'x-webhook-secret',
      value: need('WEBHOOK_SECRET_VALUE'),
      placement: env.WEBHOOK_SECRET_PLACEMENT || 'header',
    };
  } else if (mode === 'oauth2') {
    const tokenTls = {
      ...optionalPem(env, 'WEBHOOK_OAUTH_CA_FILE', 'caPem', problems),
      ...optionalPem(env, 'WEBHOOK_OAUTH_CLIENT_CERT_FILE', 'certPem', problems),
      ...optionalPem(env, 'WEBHOOK_OAUTH_CLIENT_KEY_FILE', 'keyPem', problems),
    };
    auth = {
      type: 'oauth2',
      tokenUrl: need('WEBHOOK_OAUTH_TOKEN_URL'),
      clientId: need('WEBHOOK_OAUTH_CLIENT_ID'),
      clientSecret: need('WEBHOOK_OAUTH_CLIENT_SECRET'),
      ...(env.WEBHOOK_OAUTH_SCOPE && { scope: env.WEBHOOK_OAUTH_SCOPE }),
      ...(env.WEBHOOK_OAUTH_AUDIENCE && { audience: env.WEBHOOK_OAUTH_AUDIENCE }),
      clientAuth: env.WEBHOOK_OAUTH_CLIENT_AUTH || 'basic',
      ...(Object.keys(tokenTls).length > 0 && { tls: tokenTls }),
    };
  }
  const hmac = mode === 'hmac' ? need('WEBHOOK_HMAC_SECRET') : (env.WEBHOOK_HMAC_SECRET ?? '');
  const caPem = readPem(env, 'WEBHOOK_CA_FILE', problems);
  if (mode === 'mtls') {
    need('WEBHOOK_CLIENT_CERT_FILE');
    need('WEBHOOK_CLIENT_KEY_FILE');
  }
  const certPem = readPem(env, 'WEBHOOK_CLIENT_CERT_FILE', problems);
  const keyPem = readPem(env, 'WEBHOOK_CLIENT_KEY_FILE', problems);
  const timeout = env.WEBHOOK_TIMEOUT_MS ? Number(env.WEBHOOK_TIMEOUT_MS) : undefined;
  if (problems.length > 0) throw new WebhookConfigError(problems);
  const tls = { ...(caPem && { caPem }), ...(certPem && { certPem }), ...(keyPem && { keyPem }) };
  const [target] = parseWebhookTargets([
    {
      id: 'local',
      url,
      auth,
      ...(hmac !== '' && { signingSecrets: hmac.split(',').map((s) => s.trim()) }),
      ...(Object.keys(tls).length > 0 && { tls }),
      ...(timeout !== undefined && { timeoutMs: timeout }),
    },
  ]);
  return target;
}

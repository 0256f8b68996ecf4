/**
 * REQUEST authorizer of the REST API (api-contract.md §5): checks `asapp-api-id` + `asapp-api-secret`
 * (header names case-insensitive) against the hashed credential set.
 *
 * Answers, and what API Gateway makes of them (gateway responses turn each into the contract envelope):
 * - missing or invalid pair → throws `Error('Unauthorized')`, the literal API Gateway turns into 401
 *   (`UNAUTHORIZED` → `401-01`). A Deny policy would be a 403, which the contract reserves for "valid but
 *   not entitled";
 * - a known but `disabled` credential → Deny policy → 403 (`ACCESS_DENIED` → `403-01`);
 * - valid → Allow policy over the routes of the credential's scopes (contract/routes.ts `scope`), context
 *   `{ apiId, label, scopes[, rateLimitPerSec] }`, `usageIdentifierKey` = the credential's usage key (usage
 *   plan per credential when the API's key source is `AUTHORIZER`). A route outside the scopes → 403
 *   (`ACCESS_DENIED` → `403-01`), in API Gateway and in the local adapter (local/api/server.ts) alike.
 *
 * The policy lists every allowed route of the stage, not just `methodArn`: API Gateway caches the policy
 * per identity (the two headers) across routes, and a policy naming only the first route would deny the
 * caller's next call to another allowed route for the cache's lifetime.
 *
 * Verdicts are cached per (api id, SHA-256 of the presented secret): positive ones for the credential
 * cache TTL, negative ones briefly and in their own bounded map, so a burst of bad requests costs one
 * scrypt per distinct pair and never evicts a good caller's verdict.
 */
import { createHash } from 'node:crypto';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { ROUTES } from '../../contract/routes';
import { type CredentialEntry, type Scope, verifySecret } from '../../core/api/credentials';
import { type AuthorizerConfig, loadAuthorizerConfig } from '../shared/config';
import {
  type CredentialSource,
  CredentialStore,
  fileSource,
  inlineSource,
  secretsManagerSource,
} from '../shared/credential-store';
import { type ApiLogger, createObservability, type MetricsSink } from '../shared/observability';

/** Header carrying the api id (compared case-insensitively). */
export const API_ID_HEADER = 'asapp-api-id';
/** Header carrying the secret. */
export const API_SECRET_HEADER = 'asapp-api-secret';

/** The exact error message API Gateway maps to 401. */
export const UNAUTHORIZED = 'Unauthorized';

/** Context handed to the integration as `requestContext.authorizer`. */
export interface AuthorizerContext {
  [key: string]: string | number | boolean;
  apiId: string;
  label: string;
}

/** What an authorizer returns (on Allow, `context` is an {@link AuthorizerContext}). */
export type AuthorizerResult = APIGatewayAuthorizerResult;

/** The authorizer function. */
export type AuthorizerHandler = (event: APIGatewayRequestAuthorizerEvent) => Promise<AuthorizerResult>;

/** Collaborators of {@link makeHandler}. */
export interface AuthorizerDeps {
  credentials: Pick<CredentialStore, 'lookup'>;
  logger: ApiLogger;
  metrics: MetricsSink;
  /** Positive verdict cache lifetime. */
  cacheTtlMs: number;
  /** Negative verdict cache lifetime. */
  negativeCacheTtlMs: number;
  now?: () => number;
  /** Most verdicts kept in memory. @default 10000 */
  maxCacheEntries?: number;
}

function headerValue(event: APIGatewayRequestAuthorizerEvent, name: string): string | undefined {
  for (const [k, v] of Object.entries(event.headers ?? {})) {
    if (k.toLowerCase() === name && typeof v === 'string' && v !== '') return v;
  }
  return undefined;
}

/** `arn:…:<api>/<stage>/<verb>/<path>` → `arn:…:<api>/<stage>/*\/*` (the Deny of a disabled credential). */
export function stageWildcardArn(methodArn: string): string {
  return `${stagePrefix(methodArn)}*/*`;
}

/** `arn:…:<api>/<stage>/<verb>/<path>` → `arn:…:<api>/<stage>/`. */
function stagePrefix(methodArn: string): string {
  const [prefix = '', rest = ''] = methodArn.split(/:(?=[^:]*$)/);
  const [api = '*', stage = '*'] = rest.split('/');
  return `${prefix}:${api}/${stage}/`;
}

/**
 * The method ARNs of every route a set of scopes allows, on the stage of `methodArn`
 * (`…/<stage>/POST/mg-autotranscribe/v1/start-streaming`; a `{param}` path segment becomes `*`).
 */
export function scopedRouteArns(methodArn: string, scopes: ReadonlySet<Scope>): string[] {
  const stage = stagePrefix(methodArn);
  return ROUTES.filter((r) => scopes.has(r.scope)).map(
    (r) => `${stage}${r.method}/${r.path.slice(1).replace(/\{[^/}]+\}/g, '*')}`,
  );
}

function policy(
  principalId: string,
  effect: 'Allow' | 'Deny',
  resource: string | string[],
): APIGatewayAuthorizerResult {
  return {
    principalId,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }],
    },
  };
}

type Verdict = { ok: true; entry: CredentialEntry } | { ok: false };

/** Builds the authorizer around injected collaborators (tests and the local adapter use this). */
export function makeHandler(deps: AuthorizerDeps): AuthorizerHandler {
  const now = deps.now ?? Date.now;
  const maxEntries = deps.maxCacheEntries ?? 10_000;
  // Positive and negative verdicts are kept apart, so a flood of bad secrets only ever evicts other
  // negative verdicts, never a legitimate caller's cached one.
  const positive = new Map<string, { verdict: Verdict; expiresAt: number }>();
  const negative = new Map<string, { verdict: Verdict; expiresAt: number }>();
  const warnedLegacy = new Set<string>();

  const remember = (key: string, verdict: Verdict): void => {
    const ttl = verdict.ok ? deps.cacheTtlMs : deps.negativeCacheTtlMs;
    if (ttl <= 0) return;
    const cache = verdict.ok ? positive : negative;
    if (cache.size >= maxEntries) {
      const oldest = cache.keys().next();
      if (!oldest.done) cache.delete(oldest.value);
    }
    cache.set(key, { verdict, expiresAt: now() + ttl });
  };

  const verify = async (apiId: string, secret: string): Promise<Verdict> => {
    const key = `${apiId}\u0000${createHash('sha256').update(secret, 'utf8').digest('hex')}`;
    for (const cache of [positive, negative]) {
      const hit = cache.get(key);
      if (hit && hit.expiresAt > now()) {
        deps.metrics.addMetric('AuthCacheHit', 'Count', 1);
        return hit.verdict;
      }
      cache.delete(key);
    }
    const entry = await deps.credentials.lookup(apiId);
    const ok = await verifySecret(entry, secret);
    const verdict: Verdict = ok && entry ? { ok: true, entry } : { ok: false };
    remember(key, verdict);
    return verdict;
  };

  return async (event) => {
    const requestId = event.requestContext?.requestId;
    const apiId = headerValue(event, API_ID_HEADER);
    const secret = headerValue(event, API_SECRET_HEADER);
    const finish = (outcome: string) => {
      deps.metrics.addMetric(`Auth${outcome}`, 'Count', 1);
      try {
        deps.metrics.publish();
      } catch {
        // Metrics are best effort.
      }
    };
    if (apiId === undefined || secret === undefined) {
      deps.logger.info('authorization refused', { requestId, reason: 'missing-credentials' });
      finish('Refused');
      throw new Error(UNAUTHORIZED);
    }
    const verdict = await verify(apiId, secret);
    if (!verdict.ok) {
      // The api id is logged (it identifies a caller, it is not a secret); the secret never is.
      deps.logger.info('authorization refused', { requestId, apiId, reason: 'invalid-credentials' });
      finish('Refused');
      throw new Error(UNAUTHORIZED);
    }
    const { entry } = verdict;
    if (entry.disabled) {
      deps.logger.info('authorization denied', { requestId, apiId, reason: 'credential-disabled' });
      finish('Denied');
      return policy(apiId, 'Deny', stageWildcardArn(event.methodArn));
    }
    if (entry.legacyScopes && !warnedLegacy.has(apiId)) {
      if (warnedLegacy.size < 1000) warnedLegacy.add(apiId);
      deps.logger.warn('credential has no scopes and so holds every scope; add "scopes" to its entry', {
        apiId,
        label: entry.label,
      });
    }
    finish('Allowed');
    deps.logger.debug('authorized', { requestId, apiId, label: entry.label });
    const scopes = [...entry.scopes].sort();
    const context: AuthorizerContext = {
      apiId,
      label: entry.label,
      scopes: scopes.join(' '),
      ...(entry.rateLimitPerSec !== undefined && { rateLimitPerSec: entry.rateLimitPerSec }),
    };
    // Allow exactly the routes of the credential's scopes; any other route gets API Gateway's 403
    // (ACCESS_DENIED → `403-01`). API Gateway caches this policy per identity across routes, so it must
    // list every allowed route, not only `methodArn`.
    const allowed = scopedRouteArns(event.methodArn, entry.scopes);
    return { ...policy(apiId, 'Allow', allowed), context, usageIdentifierKey: entry.usageKey };
  };
}

/** The credential source a config names. */
export function credentialSourceOf(config: AuthorizerConfig): CredentialSource {
  const c = config.credentials;
  if (c.source === 'inline') return inlineSource(c.json);
  if (c.source === 'file') return fileSource(c.path);
  const client = new SecretsManagerClient({
    ...(config.awsRegion !== undefined && { region: config.awsRegion }),
    ...(c.endpoint !== undefined && { endpoint: c.endpoint }),
  });
  return secretsManagerSource(client, c.secretId);
}

/** Builds the authorizer from a config (the Lambda's composition root, and the local adapter's). */
export function handlerFromConfig(config: AuthorizerConfig): AuthorizerHandler {
  const { logger, metrics } = createObservability(config, 'authorizer');
  return makeHandler({
    credentials: new CredentialStore(credentialSourceOf(config), { ttlMs: config.cacheTtlSec * 1000 }),
    logger,
    metrics,
    cacheTtlMs: config.cacheTtlSec * 1000,
    negativeCacheTtlMs: config.negativeCacheTtlSec * 1000,
  });
}

// Built on first invocation and kept for the container's life (clients and caches at module scope), but
// not at import: tests and the local adapter import makeHandler without any AWS environment.
let live: AuthorizerHandler | undefined;

/** The Lambda entry point. */
export const handler: AuthorizerHandler = (event) => {
  live ??= handlerFromConfig(loadAuthorizerConfig());
  return live(event);
};

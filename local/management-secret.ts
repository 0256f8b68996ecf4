/**
 * The secret that guards the local WebSocket front's management API (`/@connections/{id}`: push a
 * message, drop a connection). API Gateway signs those calls with IAM; locally the front's port is
 * open to any local process, so the management paths live under a per-stack secret prefix instead:
 * `http://<host>:<port>/_management/<secret>/@connections/{id}`. The AWS SDK's management client keeps
 * an endpoint's path prefix (as it keeps `/<stage>` in AWS), so the fan-out is simply given that endpoint.
 *
 * Kept apart from local/websocket-front.ts so the orchestrator (local/start.ts) can mint a secret without
 * loading the WebSocket handlers.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** The first segment of every management path. */
export const MANAGEMENT_PREFIX = '/_management/';

/** The variable local/start.ts passes the secret to the front in. */
export const MANAGEMENT_SECRET_ENV = 'LOCAL_WS_MANAGEMENT_SECRET';

const SECRET_SHAPE = /^[A-Za-z0-9_-]{32,}$/;

/** A fresh secret: 32 random bytes, base64url (43 characters, safe in a URL path). */
export function newManagementSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Returns `secret` when it is at least 32 URL-safe characters, else throws naming `what`. */
export function requireManagementSecret(what: string, secret: string): string {
  if (!SECRET_SHAPE.test(secret)) {
    throw new Error(
      `${what} must be at least 32 characters of A-Z, a-z, 0-9, '_' or '-' (e.g. 32 random bytes in base64url), got ${secret.length} characters`,
    );
  }
  return secret;
}

/** The management endpoint for a front at `baseUrl` (`http://127.0.0.1:8083`): what the SDK client is given. */
export function managementEndpoint(baseUrl: string, secret: string): string {
  return `${baseUrl.replace(/\/$/, '')}${MANAGEMENT_PREFIX}${secret}`;
}

/** What a request path means to the management API. */
export type ManagementRoute =
  /** Not a management path at all (the caller answers 404). */
  | { kind: 'other' }
  /** A management path without the right secret (the caller answers 403). */
  | { kind: 'forbidden' }
  /** An authorized call on one connection (its id still URI-encoded). */
  | { kind: 'connection'; escapedId: string };

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * Classifies a request's pathname. Anything under {@link MANAGEMENT_PREFIX} or naming `@connections` is a
 * management path; it is authorized only as `/_management/<secret>/@connections/<id>` with the exact
 * secret, compared in constant time (both sides hashed first, so lengths never differ).
 */
export function matchManagementPath(pathname: string, secret: string): ManagementRoute {
  if (!pathname.startsWith(MANAGEMENT_PREFIX) && !pathname.includes('/@connections')) return { kind: 'other' };
  const m = /^\/_management\/([^/]+)\/@connections\/([^/]+)$/.exec(pathname);
  const given = m?.[1] ?? '';
  const ok = timingSafeEqual(digest(given), digest(secret));
  if (!m || !ok) return { kind: 'forbidden' };
  return { kind: 'connection', escapedId: m[2] as string };
}

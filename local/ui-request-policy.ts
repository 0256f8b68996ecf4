/**
 * Who the local transcript page server (local/ui-server.ts) answers, and what its page may connect to:
 * pure functions of headers and configuration, apart from the server so each rule is tested on its own.
 * The server spends the user's own REST credential on every `/config.json`, so only its own page may ask:
 * the `Host` must be its loopback authority (a DNS name rebound to 127.0.0.1 is refused) and the request
 * must not come from another origin or site (`Origin`, `Sec-Fetch-Site`).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { MAX_GUID_LENGTH } from '../core/api/start-stop-rules';
import { isLoopbackHost, urlHost } from './loopback';

/** The loopback names a browser on this machine may use for the server, as they appear in `Host`. */
const LOOPBACK_AUTHORITIES = ['127.0.0.1', 'localhost', '[::1]'] as const;

/** `Sec-Fetch-Site` values of a request the page itself (or the address bar) made. */
const OWN_FETCH_SITES = new Set(['same-origin', 'none']);

/** The CSP of every answer: `connect-src` is this page's own origin and the WebSocket API's, nothing more. */
export function contentSecurityPolicy(websocketOrigin: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `connect-src 'self' ${websocketOrigin}`,
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Where a request arrived: the socket's local address and port. */
export interface ArrivedAt {
  /** e.g. `127.0.0.1`, `127.0.0.5`, `::1` (`socket.localAddress`) */
  readonly address?: string | undefined;
  readonly port: number;
}

/**
 * Why a request must be refused, or `undefined` when it is addressed to this server by a loopback
 * authority (`127.0.0.1`, `localhost`, `[::1]` or the loopback address it arrived at, with its port) and
 * was not sent by another origin or site.
 */
export function refusalOf(headers: IncomingHttpHeaders, at: ArrivedAt): string | undefined {
  const { port } = at;
  const own = at.address !== undefined && isLoopbackHost(at.address) ? urlHost(at.address) : '127.0.0.1';
  const open = `open the page at http://${own}:${port}/`;
  const names = new Set<string>([...LOOPBACK_AUTHORITIES, own]);
  const authorities = [...names].flatMap((h) => (port === 80 ? [`${h}:80`, h] : [`${h}:${port}`]));
  const host = headers.host?.toLowerCase();
  if (host === undefined || host === '') return `the request has no Host header; ${open}`;
  if (!authorities.includes(host)) {
    // A name that resolves to 127.0.0.1 (DNS rebinding) lands here: its pages must not reach this server.
    return `the Host header is not this server's loopback address (${authorities.join(', ')}); ${open}`;
  }
  const origin = headers.origin;
  if (origin !== undefined && origin.toLowerCase() !== `http://${host}`) {
    return `a request from another origin is refused (its Origin is not http://${host}); ${open}`;
  }
  const site = headers['sec-fetch-site'];
  if (site !== undefined && !OWN_FETCH_SITES.has(site.toLowerCase())) {
    const named = site === 'cross-site' || site === 'same-site' ? site : 'unrecognised';
    return `a request from another site is refused (Sec-Fetch-Site: ${named}); ${open}`;
  }
  return undefined;
}

/** C0 controls and DEL: never part of a conversation id, and trouble in any log line that shows one. */
function hasControlCharacter(s: string): boolean {
  for (let i = 0; i < s.length; i += 1) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/**
 * The conversation named by `/config.json`'s query: `undefined` when none is, else the id, or a message
 * saying why it is not one (the token route's rule: 1-255 characters, not the `*` wildcard; and no
 * control characters).
 */
export function conversationIdOf(query: URLSearchParams): { id: string } | { problem: string } | undefined {
  const all = query.getAll('conversationId');
  if (all.length === 0) return undefined;
  if (all.length > 1) return { problem: 'give conversationId once' };
  const id = all[0] ?? '';
  if (id.trim() === '' || id.length > MAX_GUID_LENGTH || id === '*' || hasControlCharacter(id)) {
    return {
      problem: `conversationId must be 1-${MAX_GUID_LENGTH} characters, not blank, not "*", without control characters`,
    };
  }
  return { id };
}

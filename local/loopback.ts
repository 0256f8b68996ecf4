/**
 * What "loopback" means for the local stack: every local service (DynamoDB Local, the local S3, the
 * Transcribe stand-in, the gateway, the API, the WebSocket front, the page) must be reachable from this
 * machine only, so a listen host is checked here before anything binds it.
 */
import { isIPv4, isIPv6 } from 'node:net';

/**
 * Whether `host` is a loopback address a server may listen on: `localhost`, an IPv4 address in
 * 127.0.0.0/8 or the IPv6 loopback `::1` (in any of its spellings, without brackets).
 */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  if (isIPv4(host)) return host.startsWith('127.');
  if (isIPv6(host)) return new URL(`http://[${host}]/`).hostname === '[::1]';
  return false;
}

/**
 * Returns `host` when it is a loopback address, else throws an error naming `what` (the variable or
 * option) and the accepted values.
 */
export function requireLoopbackHost(what: string, host: string): string {
  if (!isLoopbackHost(host)) {
    throw new Error(
      `${what} must be a loopback address (127.0.0.0/8, ::1 or localhost) so local services are not reachable from other machines, got ${JSON.stringify(host)}`,
    );
  }
  return host;
}

/** `host` as it appears in a URL: IPv6 addresses in brackets. */
export function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Test helper: the addresses TCP sockets listen on for a port, read from the kernel's own tables
 * (/proc/net/tcp and /proc/net/tcp6), so a test sees what `ss -ltn` would show rather than what a
 * server claims. Used to prove every local service binds loopback only.
 */
import { existsSync, readFileSync } from 'node:fs';

const LISTEN = '0A';

/** `0100007F` (one 32-bit word in host byte order, little-endian here) → its four bytes in network order. */
function wordBytes(hex: string): number[] {
  const bytes: number[] = [];
  for (let i = 6; i >= 0; i -= 2) bytes.push(Number.parseInt(hex.slice(i, i + 2), 16));
  return bytes;
}

function ipv4(hex: string): string {
  return wordBytes(hex).join('.');
}

function ipv6(hex: string): string {
  const bytes = [0, 8, 16, 24].flatMap((i) => wordBytes(hex.slice(i, i + 8)));
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16));
  // Normalised through URL so `0:0:0:0:0:0:0:1` reads `::1` and v4-mapped addresses read `::ffff:7f00:1`.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

function table(file: string, decode: (hex: string) => string, port: number): string[] {
  if (!existsSync(file)) return [];
  const out: string[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const [address, portHex] = (fields[1] ?? '').split(':');
    if (fields[3] === LISTEN && address && portHex && Number.parseInt(portHex, 16) === port) out.push(decode(address));
  }
  return out;
}

/** Every local address a TCP socket listens on for `port` (e.g. `['127.0.0.1']`, `['0.0.0.0']`, `['::']`). */
export function listeningAddresses(port: number): string[] {
  return [...table('/proc/net/tcp', ipv4, port), ...table('/proc/net/tcp6', ipv6, port)];
}

/** Whether a listening address accepts loopback traffic only (127.0.0.0/8, ::1, or v4-mapped 127.x). */
export function isLoopbackAddress(address: string): boolean {
  if (/^127\./.test(address) || address === '::1') return true;
  const mapped = /^::ffff:7f([0-9a-f]{2}):[0-9a-f]{1,4}$/.exec(address);
  return mapped !== null;
}

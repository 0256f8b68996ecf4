/**
 * Our webhook signature ([EXT], api-contract.md A17): receivers can prove a POST came from us and was not
 * replayed long after. Scheme (documented for receivers in docs/realtime.md):
 *
 *   X-Transcript-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
 *
 * - the timestamp is signed with the body, so an old capture cannot be re-sent with a fresh `t`;
 * - during a secret rotation we sign with every configured secret (one `v1=` each, newest first), so a
 *   receiver holding either the old or the new secret verifies without a flag day;
 * - receivers verify over the raw bytes they received (never a re-serialized JSON) and in constant time.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Name of the signature header. */
export const SIGNATURE_HEADER = 'X-Transcript-Signature';

/** Default freshness window a receiver should accept (and {@link verifySignature} assumes). */
export const DEFAULT_SIGNATURE_TOLERANCE_SEC = 300;

function mac(secret: string, timestampSec: number, body: string | Uint8Array): string {
  return createHmac('sha256', secret).update(`${timestampSec}.`).update(body).digest('hex');
}

/** The header value for `body` signed at `timestampSec` with each secret (newest first). */
export function signBody(secrets: string | readonly string[], body: string | Uint8Array, timestampSec: number): string {
  const list = typeof secrets === 'string' ? [secrets] : secrets;
  if (list.length === 0) throw new RangeError('signBody needs at least one secret');
  if (!Number.isInteger(timestampSec) || timestampSec < 0) throw new RangeError('timestampSec must be whole seconds');
  return [`t=${timestampSec}`, ...list.map((s) => `v1=${mac(s, timestampSec, body)}`)].join(',');
}

/** Outcome of {@link verifySignature}. */
export type SignatureVerdict =
  | { ok: true; timestampSec: number }
  | { ok: false; reason: 'malformed' | 'stale' | 'mismatch' };

/** Parses `t=…,v1=…[,v1=…]`; unknown schemes (`v2=` later) are ignored, as receivers should. */
export function parseSignatureHeader(header: string): { timestampSec: number; v1: string[] } | undefined {
  let timestampSec: number | undefined;
  const v1: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) return undefined;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (!/^\d{1,12}$/.test(value)) return undefined;
      timestampSec = Number(value);
    } else if (key === 'v1') {
      if (!/^[0-9a-f]{64}$/.test(value)) return undefined;
      v1.push(value);
    }
  }
  return timestampSec === undefined || v1.length === 0 ? undefined : { timestampSec, v1 };
}

/**
 * The receiver's check: a well-formed header, a timestamp within `toleranceSec` of `nowSec` (both ways),
 * and one `v1` that matches one of `secrets` over the raw body.
 */
export function verifySignature(
  header: string | undefined,
  body: string | Uint8Array,
  secrets: string | readonly string[],
  nowSec: number,
  toleranceSec = DEFAULT_SIGNATURE_TOLERANCE_SEC,
): SignatureVerdict {
  const parsed = header === undefined ? undefined : parseSignatureHeader(header);
  if (!parsed) return { ok: false, reason: 'malformed' };
  if (Math.abs(nowSec - parsed.timestampSec) > toleranceSec) return { ok: false, reason: 'stale' };
  const list = typeof secrets === 'string' ? [secrets] : secrets;
  for (const secret of list) {
    const expected = Buffer.from(mac(secret, parsed.timestampSec, body), 'hex');
    for (const given of parsed.v1) {
      if (timingSafeEqual(expected, Buffer.from(given, 'hex'))) return { ok: true, timestampSec: parsed.timestampSec };
    }
  }
  return { ok: false, reason: 'mismatch' };
}

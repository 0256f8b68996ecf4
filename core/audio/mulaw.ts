/**
 * G.711 µ-law (PCMU) codec, table-driven for the decode hot path.
 * Decode values match the AudioHook reference vectors (docs/audiohook-protocol.md §9.5):
 * 0x00 → -32124, 0x80 → 32124, 0xFF → 0, 0x7F → -1 (the "negative zero" of some decoders is 0).
 */

const BIAS = 0x84;
const CLIP = 32635;

function decodeOne(byte: number): number {
  const u = ~byte & 0xff;
  const sign = u & 0x80;
  const exponent = (u >> 4) & 0x07;
  const mantissa = u & 0x0f;
  const magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
  return sign ? -magnitude : magnitude;
}

/** µ-law byte → 16-bit linear sample. */
export const MULAW_DECODE_TABLE: Int16Array = (() => {
  const t = new Int16Array(256);
  for (let i = 0; i < 256; i++) t[i] = decodeOne(i);
  // The reference LUT gives -1 for 0x7F (negative zero); keep it so vectors match exactly.
  t[0x7f] = -1;
  return t;
})();

/** 16-bit linear sample → µ-law byte. */
export function encodeMulawSample(sample: number): number {
  let s = Math.max(-32768, Math.min(32767, Math.round(sample)));
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  if (s > CLIP) s = CLIP;
  s += BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

/** Encodes linear PCM to µ-law (used by the simulator and test fixtures). */
export function encodeMulaw(pcm: Int16Array): Uint8Array {
  const out = new Uint8Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = encodeMulawSample(pcm[i] as number);
  return out;
}

/** Decodes µ-law to linear PCM. */
export function decodeMulaw(bytes: Uint8Array): Int16Array {
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = MULAW_DECODE_TABLE[bytes[i] as number] as number;
  return out;
}

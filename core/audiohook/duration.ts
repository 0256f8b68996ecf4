/**
 * AudioHook durations (§2.4): `PT<seconds>S` on the wire, integer sample counts inside.
 * We parse defensively (also `PTnHnMn.nS`) and always emit the seconds-only form, computed with
 * integer arithmetic so tiny values never turn into `1e-7` and positions never drift.
 */
import { SAMPLE_RATE } from '../audio/format';
import type { Duration } from './messages';

const DURATION_RE = /^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?|\.\d+)S)?$/;

/** Parses a duration into seconds; `null` when it is not a valid non-negative ISO-8601 time duration. */
export function parseDurationSeconds(text: string): number | null {
  if (typeof text !== 'string' || text.length > 64) return null;
  const m = DURATION_RE.exec(text);
  if (!m || (m[1] === undefined && m[2] === undefined && m[3] === undefined)) return null;
  const h = m[1] ? Number(m[1]) : 0;
  const min = m[2] ? Number(m[2]) : 0;
  const s = m[3] ? Number(m[3]) : 0;
  const total = h * 3600 + min * 60 + s;
  return Number.isFinite(total) ? total : null;
}

/** Parses a duration into 8 kHz samples (rounded to the nearest sample); `null` when invalid. */
export function parseDurationSamples(text: string): number | null {
  const s = parseDurationSeconds(text);
  return s === null ? null : Math.round(s * SAMPLE_RATE);
}

/** A wire duration (a `position`, a gap's `start`/`discarded`) as a safe integer sample count; `null` when absent or invalid. */
export function sampleCountOf(duration: string | undefined): number | null {
  if (duration === undefined) return null;
  const n = parseDurationSamples(duration);
  return n !== null && Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** True when `text` is a duration this server accepts. */
export function isDuration(text: unknown): text is Duration {
  return typeof text === 'string' && parseDurationSeconds(text) !== null;
}

function trimFraction(whole: number, frac: string): Duration {
  const f = frac.replace(/0+$/, '');
  return f.length > 0 ? `PT${whole}.${f}S` : `PT${whole}S`;
}

/** Formats an integer number of 8 kHz samples exactly (at most 6 fractional digits). */
export function samplesToDuration(samples: number): Duration {
  const n = Math.max(0, Math.round(samples));
  const whole = Math.floor(n / SAMPLE_RATE);
  // One sample is 125 µs, so the fraction in microseconds is an exact integer.
  const micros = (n % SAMPLE_RATE) * (1_000_000 / SAMPLE_RATE);
  return trimFraction(whole, String(micros).padStart(6, '0'));
}

/** Formats milliseconds (integer or fractional, at most 9 fractional digits of a second). */
export function msToDuration(ms: number): Duration {
  const nanos = Math.max(0, Math.round(ms * 1_000_000));
  const whole = Math.floor(nanos / 1_000_000_000);
  return trimFraction(whole, String(nanos % 1_000_000_000).padStart(9, '0'));
}

/** Converts samples at 8 kHz to milliseconds (may be fractional: one sample is 0.125 ms). */
export function samplesToMs(samples: number): number {
  return (samples * 1000) / SAMPLE_RATE;
}

/** Converts milliseconds to the nearest whole number of 8 kHz samples. */
export function msToSamples(ms: number): number {
  return Math.round((ms * SAMPLE_RATE) / 1000);
}

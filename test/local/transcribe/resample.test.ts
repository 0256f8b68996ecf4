import { describe, expect, it } from 'vitest';
import { ResampleError, Resampler } from '../../../local/transcribe/resample';

function sine(hz: number, rate: number, n: number, amp = 10000): Int16Array {
  return Int16Array.from({ length: n }, (_, i) => Math.round(amp * Math.sin((2 * Math.PI * hz * i) / rate)));
}

function concat(parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function run(r: Resampler, input: Int16Array, chunk = input.length): Int16Array {
  const parts: Int16Array[] = [];
  for (let i = 0; i < input.length; i += chunk) parts.push(r.push(input.subarray(i, i + chunk)));
  parts.push(r.flush());
  return concat(parts);
}

/** RMS of `x` between `from` and `to` (skipping the filter's edges). */
function rms(x: ArrayLike<number>, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += (x[i] as number) ** 2;
  return Math.sqrt(s / (to - from));
}

describe('Resampler', () => {
  it('turns n samples at 8 kHz into 2n at 16 kHz, keeping the original samples (centred filter)', () => {
    const input = sine(440, 8000, 800);
    const out = run(new Resampler(8000, 16000), input);
    expect(out.length).toBe(1600);
    for (let i = 0; i < input.length; i++)
      expect(Math.abs((out[2 * i] as number) - (input[i] as number))).toBeLessThanOrEqual(1);
  });

  it('interpolates a 1 kHz tone with less than 0.5 % error (sample-and-hold is ~40 %)', () => {
    const out = run(new Resampler(8000, 16000), sine(1000, 8000, 4000));
    const ideal = sine(1000, 16000, 8000);
    const err = Int16Array.from(out, (v, i) => v - (ideal[i] as number));
    expect(rms(err, 200, 7800) / rms(ideal, 200, 7800)).toBeLessThan(0.005);
  });

  it('leaves almost nothing of the image of a 3 kHz tone above 4 kHz', () => {
    const out = run(new Resampler(8000, 16000), sine(3000, 8000, 4000));
    // Subtracting the ideal 3 kHz tone at 16 kHz leaves the image (5 kHz) and filter error.
    const ideal = sine(3000, 16000, 8000);
    const residue = Int16Array.from(out, (v, i) => v - (ideal[i] as number));
    expect(rms(residue, 200, 7800) / rms(ideal, 200, 7800)).toBeLessThan(0.02);
  });

  it('gives the same output however the input is chunked', () => {
    const input = sine(700, 8000, 3001);
    const whole = run(new Resampler(8000, 16000), input);
    expect(Array.from(run(new Resampler(8000, 16000), input, 37))).toEqual(Array.from(whole));
    expect(Array.from(run(new Resampler(8000, 16000), input, 1))).toEqual(Array.from(whole));
  });

  it('downsamples 48 kHz to 16 kHz, passing 1 kHz and rejecting 10 kHz (above the new Nyquist)', () => {
    const pass = run(new Resampler(48000, 16000), sine(1000, 48000, 48000));
    expect(pass.length).toBe(16000);
    expect(rms(pass, 500, 15500) / 7071).toBeGreaterThan(0.98);
    const stop = run(new Resampler(48000, 16000), sine(10000, 48000, 48000));
    expect(rms(stop, 500, 15500) / 7071).toBeLessThan(0.01);
  });

  it('passes 16 kHz through unchanged', () => {
    const input = sine(500, 16000, 1000);
    expect(Array.from(run(new Resampler(16000, 16000), input, 100))).toEqual(Array.from(input));
  });

  it('handles rate pairs with many phases (11025 → 16000)', () => {
    const out = run(new Resampler(11025, 16000), sine(440, 11025, 11025));
    expect(out.length).toBe(16000);
    expect(rms(out, 500, 15500) / 7071).toBeGreaterThan(0.98);
  });

  it('rejects rates that are not positive integers', () => {
    expect(() => new Resampler(0, 16000)).toThrow(ResampleError);
    expect(() => new Resampler(8000.5, 16000)).toThrow(/positive integer/);
  });
});

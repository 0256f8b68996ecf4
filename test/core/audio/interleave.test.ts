import { describe, expect, it } from 'vitest';
import { interleaveL16 } from '../../../core/audio/interleave';

const le16 = (bytes: Uint8Array, i: number) => new DataView(bytes.buffer, bytes.byteOffset).getInt16(i * 2, true);

describe('interleaveL16', () => {
  it('interleaves two channels as little-endian 16-bit samples from a sample frame offset', () => {
    const out = new Uint8Array(4 * 2 * 2);
    interleaveL16([Int16Array.from([1, 2, 3]), Int16Array.from([-1, -2, -3])], 1, 2, out, 1);
    expect([0, 1, 2, 3, 4, 5].map((i) => le16(out, i))).toEqual([0, 0, 2, -2, 3, -3]);
  });

  it('writes a missing channel, or samples past the end of a short one, as silence', () => {
    const out = new Uint8Array(3 * 2 * 2).fill(0xff);
    interleaveL16([undefined, Int16Array.from([7])], 0, 3, out, 0);
    expect([0, 1, 2, 3, 4, 5].map((i) => le16(out, i))).toEqual([0, 7, 0, 0, 0, 0]);
  });

  it('copies a mono channel as is', () => {
    const out = new Uint8Array(6);
    interleaveL16([Int16Array.from([300, -300, 32767])], 0, 3, out, 0);
    expect([0, 1, 2].map((i) => le16(out, i))).toEqual([300, -300, 32767]);
  });

  it('gives the same bytes into an odd-aligned view (the portable path)', () => {
    const backing = new Uint8Array(1 + 2 * 2 * 2);
    const out = backing.subarray(1);
    interleaveL16([Int16Array.from([258, -2]), Int16Array.from([-32768, 5])], 0, 2, out, 0);
    expect([0, 1, 2, 3].map((i) => le16(out, i))).toEqual([258, -32768, -2, 5]);
  });
});

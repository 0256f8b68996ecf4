import { describe, expect, it } from 'vitest';
import type { AudioChunk } from '../../../fargate/src/transcribe/audio-queue';
import { ResendLedger } from '../../../fargate/src/transcribe/resend-ledger';

const SEC = 8000;
const CHUNK = 800;

/** A stereo chunk whose channel 0 samples are all `a` and channel 1 samples all `b`. */
function chunk(position: number, a = 1000, b = 2000): AudioChunk {
  const data = new Uint8Array(CHUNK * 4);
  const view = new DataView(data.buffer);
  for (let i = 0; i < CHUNK; i++) {
    view.setInt16(i * 4, a, true);
    view.setInt16(i * 4 + 2, b, true);
  }
  return { position, samples: CHUNK, data };
}

/** The sample of `channel` at timeline `position` in the re-sent chunks (undefined: not re-sent). */
function sampleAt(chunks: AudioChunk[], channel: number, position: number): number | undefined {
  const c = chunks.find((k) => k.position <= position && position < k.position + k.samples);
  if (c === undefined) return undefined;
  return new DataView(c.data.buffer, c.data.byteOffset).getInt16(((position - c.position) * 2 + channel) * 2, true);
}

function ledgerWith12s(): ResendLedger {
  const ledger = new ResendLedger(2, { resendWindowSec: 30, resendMarginMs: 2000 });
  for (let p = 0; p < 12 * SEC; p += CHUNK) ledger.remember(chunk(p));
  return ledger;
}

describe('ResendLedger', () => {
  it("re-sends a channel's speech the recognizer has not reported yet, whatever the other channel reported", () => {
    const ledger = ledgerWith12s();
    // Channel 0 finalized speech up to 4 s and has speech in progress from 5 s, reported up to 10 s.
    ledger.notePartial(0, 0, 3 * SEC);
    expect(ledger.noteFinal(0, 4 * SEC)).toBe(true);
    expect(ledger.notePartial(0, 5 * SEC, 10 * SEC)).toBe(true);
    // Channel 1 speaks from 6 s, but this recognizer has sent nothing for it yet (it lags, no partials).
    const resend = ledger.takeResend();
    expect(sampleAt(resend, 0, 3 * SEC)).toBe(0); // finalized on channel 0: blanked, never transcribed twice
    expect(sampleAt(resend, 0, 6 * SEC)).toBe(1000); // channel 0's unfinished speech
    // Channel 1's audio is all re-sent: channel 0's results at 10 s say nothing about it.
    expect(sampleAt(resend, 1, 7 * SEC)).toBe(2000);
    expect(sampleAt(resend, 1, 1 * SEC)).toBe(2000);
  });

  it("blanks what a channel's own results show finished, and resumes it from there", () => {
    const ledger = ledgerWith12s();
    ledger.notePartial(1, 1 * SEC, 5 * SEC);
    expect(ledger.noteFinal(1, 6 * SEC)).toBe(true);
    ledger.notePartial(0, 0, 9 * SEC);
    const resend = ledger.takeResend();
    expect(sampleAt(resend, 1, 5 * SEC)).toBe(0);
    expect(sampleAt(resend, 1, 7 * SEC)).toBe(2000);
    expect(sampleAt(resend, 0, 0)).toBe(1000); // channel 0's open partial started at 0
    // After the loss the ledger starts afresh: a final repeating accepted speech is still refused.
    expect(ledger.noteFinal(1, 6 * SEC)).toBe(false);
    expect(ledger.noteFinal(1, 8 * SEC)).toBe(true);
  });

  it("treats a channel's silence as transcribed once its own results are past it by the margin", () => {
    const ledger = ledgerWith12s();
    ledger.notePartial(0, 0, 1 * SEC);
    expect(ledger.noteFinal(0, 2 * SEC)).toBe(true);
    ledger.notePartial(1, 9 * SEC, 11 * SEC);
    expect(ledger.noteFinal(1, 11 * SEC)).toBe(true);
    // Channel 0 reported nothing past 2 s: re-sent from there. Channel 1 is done up to 11 s.
    const resend = ledger.takeResend();
    expect(sampleAt(resend, 0, 1 * SEC)).toBeUndefined(); // before both resume points: not re-sent at all
    expect(sampleAt(resend, 0, 3 * SEC)).toBe(1000);
    expect(sampleAt(resend, 1, 10 * SEC)).toBe(0);
    expect(sampleAt(resend, 1, 11.5 * SEC)).toBe(2000);
  });
});

/**
 * The audio every part of the gateway handles: 8 kHz telephony in one of two sample encodings. These
 * are facts about the audio itself, so they live below the AudioHook protocol (which negotiates them,
 * docs/audiohook-protocol.md §2.5) and the transcript mapping (which converts times with them).
 */

/** The only sample rate AudioHook uses, and the unit of every timeline position (8 kHz samples). */
export const SAMPLE_RATE = 8000;

/** Sample encodings: G.711 µ-law (1 byte per sample) or 16-bit little-endian linear PCM. */
export type MediaFormat = 'PCMU' | 'L16';

/** Bytes per sample of a media format. */
export function bytesPerSample(format: MediaFormat): number {
  return format === 'PCMU' ? 1 : 2;
}

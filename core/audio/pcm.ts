/**
 * Turning AudioHook binary frames into per-channel 16-bit PCM (docs/audiohook-protocol.md §2.5):
 * PCMU is 1 byte per sample, L16 is 2 bytes little-endian; stereo is sample-interleaved in the
 * negotiated channel order. A frame must hold whole sample-frames for all channels.
 */
import { bytesPerSample, type MediaFormat } from './format';
import { channelSamples } from './interleave';
import type { ChannelName } from './roles';

export { bytesPerSample };

/** How a binary frame is laid out: its encoding and its channels in negotiated order (a media parameter fits). */
export interface FrameLayout {
  readonly format: MediaFormat;
  readonly channels: readonly ChannelName[];
}

export type DecodeResult = { ok: true; samples: number; channels: Int16Array[] } | { ok: false; error: string };

/** Samples per channel that `byteLength` bytes hold, or `null` when it is not whole sample-frames. */
export function samplesInFrame(media: FrameLayout, byteLength: number): number | null {
  const frameBytes = media.channels.length * bytesPerSample(media.format);
  if (frameBytes === 0 || byteLength % frameBytes !== 0) return null;
  return byteLength / frameBytes;
}

/** Why a payload of `byteLength` bytes is not audio of `media` (when {@link samplesInFrame} is `null`). */
export function notWholeFrames(media: FrameLayout, byteLength: number): string {
  const unit = media.channels.length * bytesPerSample(media.format);
  return `audio frame of ${byteLength} bytes is not a whole number of ${unit}-byte sample frames`;
}

/**
 * Decodes one binary frame into one Int16Array per negotiated channel (in channel order): for tools and
 * tests that look at one channel. The gateway's audio path never splits frames (see interleave.ts).
 */
export function decodeFrame(media: FrameLayout, bytes: Uint8Array): DecodeResult {
  const n = samplesInFrame(media, bytes.byteLength);
  if (n === null) return { ok: false, error: notWholeFrames(media, bytes.byteLength) };
  const src = { format: media.format, channels: media.channels.length, data: bytes };
  const channels = media.channels.map((_, c) => channelSamples(src, c));
  return { ok: true, samples: n, channels };
}

/**
 * Turning AudioHook binary frames into per-channel 16-bit PCM (docs/audiohook-protocol.md §2.5):
 * PCMU is 1 byte per sample, L16 is 2 bytes little-endian; stereo is sample-interleaved in the
 * negotiated channel order. A frame must hold whole sample-frames for all channels.
 */
import type { MediaFormat } from './format';
import { MULAW_DECODE_TABLE } from './mulaw';
import type { ChannelName } from './roles';

/** How a binary frame is laid out: its encoding and its channels in negotiated order (a media parameter fits). */
export interface FrameLayout {
  readonly format: MediaFormat;
  readonly channels: readonly ChannelName[];
}

export type DecodeResult = { ok: true; samples: number; channels: Int16Array[] } | { ok: false; error: string };

/** Bytes per sample of a media format. */
export function bytesPerSample(format: MediaFormat): number {
  return format === 'PCMU' ? 1 : 2;
}

/** Samples per channel that `byteLength` bytes hold, or `null` when it is not whole sample-frames. */
export function samplesInFrame(media: FrameLayout, byteLength: number): number | null {
  const frameBytes = media.channels.length * bytesPerSample(media.format);
  if (frameBytes === 0 || byteLength % frameBytes !== 0) return null;
  return byteLength / frameBytes;
}

/** Decodes one binary frame into one Int16Array per negotiated channel (in channel order). */
export function decodeFrame(media: FrameLayout, bytes: Uint8Array): DecodeResult {
  const n = samplesInFrame(media, bytes.byteLength);
  if (n === null) {
    const unit = media.channels.length * bytesPerSample(media.format);
    return {
      ok: false,
      error: `audio frame of ${bytes.byteLength} bytes is not a whole number of ${unit}-byte sample frames`,
    };
  }
  const nch = media.channels.length;
  const channels = Array.from({ length: nch }, () => new Int16Array(n));
  if (media.format === 'PCMU') {
    const lut = MULAW_DECODE_TABLE;
    if (nch === 1) {
      const c0 = channels[0] as Int16Array;
      for (let i = 0; i < n; i++) c0[i] = lut[bytes[i] as number] as number;
    } else {
      const c0 = channels[0] as Int16Array;
      const c1 = channels[1] as Int16Array;
      for (let i = 0, j = 0; i < n; i++, j += 2) {
        c0[i] = lut[bytes[j] as number] as number;
        c1[i] = lut[bytes[j + 1] as number] as number;
      }
    }
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < nch; c++) {
        (channels[c] as Int16Array)[i] = view.getInt16((i * nch + c) * 2, true);
      }
    }
  }
  return { ok: true, samples: n, channels };
}

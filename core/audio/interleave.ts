/**
 * The one conversion of the audio path: AudioHook frame payloads (PCMU or L16, channels interleaved in the
 * negotiated order) → interleaved 16-bit little-endian PCM (the layout of Transcribe's `pcm`, of WAV
 * `data` and of AudioHook L16), written straight into the caller's buffer. Used by the Transcribe
 * chunker, the recordings spool and the WAV sink; nothing decodes a frame into per-channel arrays first.
 *
 * It runs for every frame of every session, so the common case (output channels = the frame's channels,
 * in the same order) is one loop over the payload: a table lookup per byte for PCMU, a byte copy for L16.
 * On little-endian hosts (every platform Node ships for) PCMU is decoded through a native `Int16Array`
 * view rather than one `DataView` call per sample.
 */
import { bytesPerSample, type MediaFormat } from './format';
import { MULAW_DECODE_TABLE } from './mulaw';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Interleaved audio as AudioHook sends it: `data` holds whole sample frames of `channels` channels. */
export interface InterleavedAudio {
  readonly format: MediaFormat;
  readonly channels: number;
  readonly data: Uint8Array;
}

/**
 * Writes sample frames `[from, from + count)` of `src` into `out` as interleaved 16-bit little-endian PCM,
 * starting at sample frame `atFrame` of `out`. Output channel `k` carries source channel `map[k]`
 * (`-1`: silence); without `map` the output has the source's channels in the source's order. The caller
 * guarantees that `src` holds the frames and `out` has room (`map.length` or `src.channels` channels).
 */
export function writeL16(
  src: InterleavedAudio,
  from: number,
  count: number,
  out: Uint8Array,
  atFrame: number,
  map?: readonly number[],
): void {
  const inCh = src.channels;
  if (map === undefined || isIdentity(map, inCh)) {
    writeSameChannels(src, from * inCh, count * inCh, out, atFrame * inCh);
    return;
  }
  const outCh = map.length;
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const bps = bytesPerSample(src.format);
  const data = src.data;
  for (let k = 0; k < outCh; k++) {
    const c = map[k] as number;
    let off = (atFrame * outCh + k) * 2;
    if (c < 0) {
      for (let i = 0; i < count; i++, off += outCh * 2) view.setInt16(off, 0, true);
      continue;
    }
    let at = (from * inCh + c) * bps;
    for (let i = 0; i < count; i++, off += outCh * 2, at += inCh * bps) {
      const sample =
        bps === 1
          ? (MULAW_DECODE_TABLE[data[at] as number] as number)
          : (((data[at] as number) | ((data[at + 1] as number) << 8)) << 16) >> 16;
      view.setInt16(off, sample, true);
    }
  }
}

/** The hot path: `samples` interleaved samples from sample `at` of `src`, to sample `to` of `out`. */
function writeSameChannels(src: InterleavedAudio, at: number, samples: number, out: Uint8Array, to: number): void {
  const data = src.data;
  if (src.format === 'L16') {
    // AudioHook L16 is already 16-bit little-endian: the bytes are the output.
    out.set(data.subarray(at * 2, (at + samples) * 2), to * 2);
    return;
  }
  const lut = MULAW_DECODE_TABLE;
  if (LITTLE_ENDIAN && (out.byteOffset & 1) === 0) {
    const view = new Int16Array(out.buffer, out.byteOffset + to * 2, samples);
    for (let i = 0; i < samples; i++) view[i] = lut[data[at + i] as number] as number;
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < samples; i++) view.setInt16((to + i) * 2, lut[data[at + i] as number] as number, true);
}

function isIdentity(map: readonly number[], channels: number): boolean {
  if (map.length !== channels) return false;
  for (let k = 0; k < channels; k++) if (map[k] !== k) return false;
  return true;
}

/** One channel of `src` as 16-bit samples (a fresh array): for tests, tools and level meters, not the hot path. */
export function channelSamples(src: InterleavedAudio, channel: number): Int16Array {
  const n = src.data.byteLength / (src.channels * bytesPerSample(src.format));
  const out = new Int16Array(n);
  const bytes = new Uint8Array(out.buffer);
  const map = Array.from({ length: 1 }, () => channel);
  writeL16(src, 0, n, bytes, 0, map);
  if (!LITTLE_ENDIAN) {
    const view = new DataView(out.buffer);
    for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, true);
  }
  return out;
}

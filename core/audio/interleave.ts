/**
 * The one re-interleave of the audio path: per-channel 16-bit samples → interleaved 16-bit little-endian
 * PCM (the layout of Transcribe's `pcm`, of WAV `data` and of AudioHook L16). Used by the Transcribe
 * chunker, the recordings spool and the WAV sink.
 *
 * It runs for every frame of every session, so it writes straight into the caller's buffer (no
 * intermediate array) and, on little-endian hosts (every platform Node ships for), through a native
 * `Int16Array` view rather than one `DataView` call per sample.
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Writes samples `[from, from + count)` of each channel's `sources[c]` into `out`, interleaved, starting
 * at sample frame `atFrame` of `out` (byte `atFrame × channels × 2`). A missing source is written as
 * silence. The caller guarantees that `out` has room.
 */
export function interleaveL16(
  sources: readonly (Int16Array | undefined)[],
  from: number,
  count: number,
  out: Uint8Array,
  atFrame: number,
): void {
  const channels = sources.length;
  if (LITTLE_ENDIAN && (out.byteOffset & 1) === 0) {
    const view = new Int16Array(out.buffer, out.byteOffset, out.byteLength >> 1);
    for (let c = 0; c < channels; c++) {
      const src = sources[c];
      let o = atFrame * channels + c;
      if (src === undefined) {
        for (let k = 0; k < count; k++, o += channels) view[o] = 0;
      } else if (channels === 1 && src.length >= from + count) {
        view.set(src.subarray(from, from + count), o);
      } else {
        // Past the end of a short source, `undefined` is stored as 0: silence, like a missing source.
        for (let k = 0; k < count; k++, o += channels) view[o] = src[from + k] as number;
      }
    }
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let c = 0; c < channels; c++) {
    const src = sources[c];
    let off = (atFrame * channels + c) * 2;
    for (let k = 0; k < count; k++, off += channels * 2) view.setInt16(off, src?.[from + k] ?? 0, true);
  }
}

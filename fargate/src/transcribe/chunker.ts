/**
 * Turns the session's per-role PCM frames into the uniform chunks Transcribe prefers (50–200 ms, all the
 * same size: Transcribe's streaming best practices): 16-bit little-endian, 8 kHz, interleaved in the
 * negotiated channel order, so recognizer channel `ch_0` is always the first AudioHook channel.
 * A chunk never spans a timeline discontinuity (pause, discard, or a jump in frame positions): it is cut
 * short there, so every chunk maps to one contiguous run of the timeline.
 */
import { interleaveL16 } from '../../../core/audio/interleave';
import type { Role } from '../../../core/audio/roles';
import type { AudioFrame } from '../../../core/audiohook/ports';
import type { AudioChunk } from './audio-queue';

/** Builds {@link AudioChunk}s of `chunkSamples` samples per channel from {@link AudioFrame}s. */
export class ChunkBuilder {
  readonly #roles: readonly Role[];
  readonly #chunkSamples: number;
  readonly #emit: (chunk: AudioChunk) => void;
  /** Samples of the chunk being filled, per channel (one array, reused: no allocation per frame). */
  readonly #sources: (Int16Array | undefined)[];
  /** The chunk being filled; a fresh one per chunk, handed over without a copy when it is emitted. */
  #buf: Uint8Array | undefined;
  #filled = 0;
  #position = 0;

  /**
   * @param roles - role of each channel, in negotiated channel order (1 or 2 channels)
   * @param chunkSamples - samples per channel in a full chunk (800 = 100 ms)
   * @param emit - receives each finished chunk
   */
  constructor(roles: readonly Role[], chunkSamples: number, emit: (chunk: AudioChunk) => void) {
    this.#roles = roles;
    this.#chunkSamples = chunkSamples;
    this.#emit = emit;
    this.#sources = roles.map(() => undefined);
  }

  /** Channels per sample frame. */
  get channels(): number {
    return this.#roles.length;
  }

  /** Appends a frame, emitting every chunk it completes. */
  write(frame: AudioFrame): void {
    if (frame.samples <= 0) return;
    if (this.#filled > 0 && frame.position !== this.#position + this.#filled) this.flush();
    const channels = this.#roles.length;
    // A role the media does not carry (should not happen: roles come from the same media) is silence.
    const sources = this.#sources;
    for (let c = 0; c < channels; c++) sources[c] = frame.pcm[this.#roles[c] as Role];
    let i = 0;
    while (i < frame.samples) {
      if (this.#filled === 0) this.#position = frame.position + i;
      this.#buf ??= new Uint8Array(this.#chunkSamples * channels * 2);
      const n = Math.min(frame.samples - i, this.#chunkSamples - this.#filled);
      interleaveL16(sources, i, n, this.#buf, this.#filled);
      this.#filled += n;
      i += n;
      if (this.#filled === this.#chunkSamples) this.flush();
    }
    sources.fill(undefined); // hold no frame past its write
  }

  /** Emits the partial chunk, if any (at a discontinuity or at the end). */
  flush(): void {
    const buf = this.#buf;
    if (this.#filled === 0 || buf === undefined) return;
    const bytes = this.#filled * this.#roles.length * 2;
    const data = bytes === buf.byteLength ? buf : buf.subarray(0, bytes);
    const chunk: AudioChunk = { position: this.#position, samples: this.#filled, data };
    this.#buf = undefined;
    this.#filled = 0;
    this.#emit(chunk);
  }

  /** Drops the partial chunk (audio must not be forwarded, e.g. the segment stopped). */
  reset(): void {
    this.#filled = 0;
  }
}

/**
 * A copy of `chunk` in which channel `channel`'s samples before timeline position `before` are silence.
 * Used when re-sending audio after a lost stream: speech already finalized on a channel is blanked so the
 * new stream cannot transcribe it a second time.
 */
export function silenceChannelBefore(chunk: AudioChunk, channels: number, channel: number, before: number): AudioChunk {
  const upto = Math.min(chunk.samples, before - chunk.position);
  if (upto <= 0) return chunk;
  const data = chunk.data.slice();
  for (let k = 0; k < upto; k++) {
    const off = (k * channels + channel) * 2;
    data[off] = 0;
    data[off + 1] = 0;
  }
  return { ...chunk, data };
}

/**
 * Turns the session's AudioHook frames into the uniform chunks Transcribe prefers (50–200 ms, all the
 * same size: Transcribe's streaming best practices): 16-bit little-endian, 8 kHz, interleaved in the
 * negotiated channel order, so recognizer channel `ch_0` is always the first AudioHook channel. Each
 * frame's payload is decoded once, straight into the chunk being filled (channel order is never changed
 * on the way: roles are attached only where results are mapped).
 * A chunk never spans a timeline discontinuity (pause, discard, or a jump in frame positions): it is cut
 * short there, so every chunk maps to one contiguous run of the timeline.
 */
import { writeL16 } from '../../../core/audio/interleave';
import type { AudioFrame } from '../../../core/audiohook/ports';
import type { AudioChunk } from './audio-queue';

/** Builds {@link AudioChunk}s of `chunkSamples` samples per channel from {@link AudioFrame}s. */
export class ChunkBuilder {
  readonly #channels: number;
  readonly #chunkSamples: number;
  readonly #emit: (chunk: AudioChunk) => void;
  /** The chunk being filled; a fresh one per chunk, handed over without a copy when it is emitted. */
  #buf: Uint8Array | undefined;
  #filled = 0;
  #position = 0;

  /**
   * @param channels - channels of the session's audio (1 or 2), kept in negotiated order
   * @param chunkSamples - samples per channel in a full chunk (800 = 100 ms)
   * @param emit - receives each finished chunk
   */
  constructor(channels: number, chunkSamples: number, emit: (chunk: AudioChunk) => void) {
    this.#channels = channels;
    this.#chunkSamples = chunkSamples;
    this.#emit = emit;
  }

  /** Channels per sample frame. */
  get channels(): number {
    return this.#channels;
  }

  /** Appends a frame, emitting every chunk it completes. */
  write(frame: AudioFrame): void {
    if (frame.samples <= 0) return;
    if (this.#filled > 0 && frame.position !== this.#position + this.#filled) this.flush();
    const channels = this.#channels;
    // A frame of other channels than the session's (never: both come from the same media) is dropped.
    if (frame.channels !== channels) return;
    let i = 0;
    while (i < frame.samples) {
      if (this.#filled === 0) this.#position = frame.position + i;
      this.#buf ??= new Uint8Array(this.#chunkSamples * channels * 2);
      const n = Math.min(frame.samples - i, this.#chunkSamples - this.#filled);
      writeL16(frame, i, n, this.#buf, this.#filled);
      this.#filled += n;
      i += n;
      if (this.#filled === this.#chunkSamples) this.flush();
    }
  }

  /** Emits the partial chunk, if any (at a discontinuity or at the end). */
  flush(): void {
    const buf = this.#buf;
    if (this.#filled === 0 || buf === undefined) return;
    const bytes = this.#filled * this.#channels * 2;
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

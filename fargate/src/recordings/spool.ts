/**
 * Spools one segment's audio to a local file so a recording of any length costs a few kilobytes of
 * memory: frames are interleaved in the negotiated channel order (16-bit little-endian PCM, 8 kHz, as the
 * Transcribe chunker does), batched, and appended after a 44-byte placeholder; {@link SegmentSpool.seal}
 * then writes the real WAV header over the placeholder, leaving a complete WAV file.
 *
 * Writes are asynchronous (the session calls the sink synchronously and must never block). If the disk
 * falls behind, the bytes waiting in memory are capped and later frames are left out of the recording
 * (counted and logged once) rather than letting memory grow with the call.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { writeL16 } from '../../../core/audio/interleave';
import type { Role } from '../../../core/audio/roles';
import { encodeWavHeader, wavHeaderBytes } from '../../../core/audio/wav';
import type { AudioFrame } from '../../../core/audiohook/ports';
import { describeError } from '../../../core/errors';
import type { Logger } from '../../../core/ports';
import { RecordingError } from './errors';

/** AudioHook audio is 8 kHz (protocol §2.5). */
export const RECORDING_SAMPLE_RATE = 8000;
const HEADER_BYTES = wavHeaderBytes('L16');
/** A RIFF file's sizes are 32-bit: audio beyond this is left out (about 37 hours of stereo). */
const MAX_DATA_BYTES = 0xffffffff - (HEADER_BYTES - 8) - 1;

/** Options of {@link SegmentSpool}. */
export interface SegmentSpoolOptions {
  /** The spool file (created; must not exist). */
  readonly path: string;
  /** Role of each channel, in negotiated channel order (1 or 2). */
  readonly roles: readonly Role[];
  readonly logger: Logger;
  /** Bytes gathered before one file write. @default 32 KiB (one second of stereo) */
  readonly batchBytes?: number;
  /** Bytes allowed to wait for the disk before frames are left out. @default 4 MiB */
  readonly maxBacklogBytes?: number;
}

/** A sealed spool: a complete WAV file. */
export interface SealedSpool {
  readonly path: string;
  /** File size (header + data). */
  readonly fileBytes: number;
  readonly dataBytes: number;
  /** Samples per channel. */
  readonly samples: number;
  /** Timeline position of the first sample (0 when no audio was written). */
  readonly startPosition: number;
}

/** Spool counters. */
export interface SpoolStats {
  /** Samples per channel written to the file. */
  samples: number;
  /** Samples per channel left out (disk too slow, or the 4 GiB WAV limit). */
  droppedSamples: number;
  failed: boolean;
}

/** One segment's spool file. Create it only when the segment may be recorded. */
export class SegmentSpool {
  readonly path: string;
  readonly #roles: readonly Role[];
  readonly #log: Logger;
  readonly #batchBytes: number;
  readonly #maxBacklog: number;
  readonly #stream: WriteStream;
  readonly #closed: Promise<void>;
  #batch: Buffer;
  #fill = 0;
  #dataBytes = 0;
  #samples = 0;
  #dropped = 0;
  #startPosition: number | undefined;
  #error: RecordingError | undefined;
  #warnedDrop = false;
  #sealing: Promise<SealedSpool | undefined> | undefined;

  constructor(opts: SegmentSpoolOptions) {
    this.path = opts.path;
    this.#roles = opts.roles;
    this.#log = opts.logger;
    this.#batchBytes = opts.batchBytes ?? 32 * 1024;
    this.#maxBacklog = opts.maxBacklogBytes ?? 4 * 1024 * 1024;
    this.#batch = Buffer.alloc(this.#batchBytes);
    // Recordings are call audio: readable by this user only; `wx` never reuses someone else's file.
    this.#stream = createWriteStream(opts.path, { flags: 'wx', mode: 0o600 });
    this.#closed = new Promise((resolve) => this.#stream.once('close', resolve));
    this.#stream.on('error', (err) => this.#fail(err));
    this.#stream.write(Buffer.alloc(HEADER_BYTES));
  }

  /** Appends a frame (interleaved in channel order, as received). Never throws. */
  write(frame: AudioFrame): void {
    if (this.#error !== undefined || this.#sealing !== undefined || frame.samples <= 0) return;
    const channels = this.#roles.length;
    if (frame.channels !== channels) return; // never: the session's frames and roles come from one media
    const bytes = frame.samples * channels * 2;
    const backlog = this.#stream.writableLength + this.#fill;
    if (backlog + bytes > this.#maxBacklog || this.#dataBytes + bytes > MAX_DATA_BYTES) {
      this.#drop(frame.samples, backlog + bytes > this.#maxBacklog ? 'disk-backlog' : 'wav-size-limit');
      return;
    }
    this.#startPosition ??= frame.position;
    const frameBytes = channels * 2;
    for (let i = 0; i < frame.samples; ) {
      let room = Math.floor((this.#batch.length - this.#fill) / frameBytes);
      if (room === 0) {
        this.#flushBatch();
        room = Math.floor(this.#batch.length / frameBytes);
      }
      const n = Math.min(room, frame.samples - i);
      writeL16(frame, i, n, this.#batch, this.#fill / frameBytes);
      this.#fill += n * frameBytes;
      i += n;
    }
    this.#dataBytes += bytes;
    this.#samples += frame.samples;
  }

  /**
   * No more audio: writes what is batched, closes the file and writes the WAV header for the data
   * actually spooled. `undefined` when spooling failed (the file is then removed). Idempotent; never rejects.
   */
  seal(): Promise<SealedSpool | undefined> {
    this.#sealing ??= this.#seal();
    return this.#sealing;
  }

  /** Counters so far. */
  stats(): SpoolStats {
    return { samples: this.#samples, droppedSamples: this.#dropped, failed: this.#error !== undefined };
  }

  /** The spool error, if spooling failed. */
  get error(): RecordingError | undefined {
    return this.#error;
  }

  async #seal(): Promise<SealedSpool | undefined> {
    if (this.#error === undefined) {
      this.#flushBatch();
      this.#stream.end();
    }
    await this.#closed;
    if (this.#error === undefined) {
      try {
        const header = encodeWavHeader({
          format: 'L16',
          channels: this.#roles.length as 1 | 2,
          sampleRate: RECORDING_SAMPLE_RATE,
          dataBytes: this.#dataBytes,
        });
        const file = await open(this.path, 'r+');
        try {
          await file.write(header, 0, header.length, 0);
        } finally {
          await file.close();
        }
      } catch (err) {
        this.#fail(err);
      }
    }
    if (this.#error !== undefined) {
      await unlink(this.path).catch(() => undefined);
      return undefined;
    }
    return {
      path: this.path,
      fileBytes: HEADER_BYTES + this.#dataBytes,
      dataBytes: this.#dataBytes,
      samples: this.#samples,
      startPosition: this.#startPosition ?? 0,
    };
  }

  #flushBatch(): void {
    if (this.#fill === 0) return;
    // The stream keeps a reference until the write completes: hand it this buffer and start a new one.
    this.#stream.write(this.#batch.subarray(0, this.#fill));
    this.#batch = Buffer.alloc(this.#batchBytes);
    this.#fill = 0;
  }

  #drop(samples: number, why: 'disk-backlog' | 'wav-size-limit'): void {
    this.#dropped += samples;
    if (this.#warnedDrop) return;
    this.#warnedDrop = true;
    this.#log.warn(
      { path: this.path, why, spooledSamples: this.#samples },
      why === 'disk-backlog'
        ? 'recording spool cannot keep up with the audio: later audio is left out of this recording'
        : 'recording reached the WAV size limit (4 GiB): later audio is left out of this recording',
    );
  }

  #fail(err: unknown): void {
    if (this.#error !== undefined) return;
    this.#error = new RecordingError('RECORDING_SPOOL_FAILED', 'writing the recording spool file failed', {
      cause: err,
    });
    this.#fill = 0;
    this.#stream.destroy();
    this.#log.error(
      { path: this.path, err: describeError(err), code: this.#error.code },
      'recording spool failed: this segment is not recorded',
    );
  }
}

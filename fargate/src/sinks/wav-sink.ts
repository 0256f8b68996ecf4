/**
 * An {@link AudioSink} that records a session as a stereo 16-bit PCM WAV file, for debugging and
 * for checking timeline alignment by ear: channel 0 is always the customer, channel 1 the agent
 * (whatever order was negotiated), and timeline gaps become silence so a second in the file is a second
 * on the AudioHook timeline. The file is streamed to disk and its header patched with the final sizes
 * when the session ends. A sink must never throw into the session: any error is logged and the sink
 * disables itself (the partial file is left on disk).
 */

import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { SAMPLE_RATE } from '../../../core/audio/format';
import { writeL16 } from '../../../core/audio/interleave';
import type { TimelineGap } from '../../../core/audio/timeline';
import { encodeWavHeader, wavHeaderBytes } from '../../../core/audio/wav';
import type { AudioFrame, AudioSink, SinkStartInfo } from '../../../core/audiohook/ports';
import { AppError, type AppErrorOptions } from '../../../core/errors';
import type { Logger } from '../../../core/ports';

/** Options of {@link WavSink}. */
export interface WavSinkOptions {
  /** Root directory; each session is written to `<dir>/<conversationId>/<sessionId>.wav`. */
  readonly dir: string;
  readonly logger: Logger;
  /**
   * Longest silence inserted for one timeline gap (pause, discard, or an unannounced jump), in seconds.
   * Longer gaps are shortened to this and logged, so the file stays short but is no longer aligned after it.
   * @default 60
   */
  readonly maxGapFillSec?: number;
  /**
   * Largest data chunk written, in bytes; audio beyond it is dropped with a log line.
   * @default the RIFF limit (just under 4 GiB, about 37 hours of stereo 8 kHz audio)
   */
  readonly maxDataBytes?: number;
}

/** Stable code of {@link WavSinkConfigError}. */
export type WavSinkErrorCode = 'WAV_SINK_CONFIG';

/** Invalid {@link WavSinkOptions}, reported when the factory is created (at start-up, not per session). */
export class WavSinkConfigError extends AppError {
  override readonly name = 'WavSinkConfigError';
  declare readonly code: WavSinkErrorCode;
  constructor(message: string, options?: AppErrorOptions) {
    super('WAV_SINK_CONFIG', message, options);
  }
}

/** What a {@link WavSink} has written so far, in samples per channel. */
export interface WavSinkStats {
  /** Samples in the data chunk (audio + inserted silence). */
  samplesWritten: number;
  /** Silence inserted for gaps. */
  silenceSamples: number;
  /** Gap time left out because a gap exceeded `maxGapFillSec`. */
  truncatedGapSamples: number;
  /** Received samples dropped because they overlapped audio already written (client position went back). */
  overlapSamplesDropped: number;
  /** Received samples dropped at the size limit. */
  samplesDroppedAtLimit: number;
}

const CHANNELS = 2;
const BYTES_PER_SAMPLE_FRAME = 4; // stereo 16-bit
const HEADER_BYTES = wavHeaderBytes('L16');
const RIFF_MAX_DATA_BYTES =
  Math.floor((0xffffffff - (HEADER_BYTES - 8)) / BYTES_PER_SAMPLE_FRAME) * BYTES_PER_SAMPLE_FRAME;
/**
 * Audio bytes queued but not yet on disk. At 32 KB/s this is minutes of a stalled disk; past it the
 * sink gives up rather than grow the gateway's memory.
 */
const MAX_QUEUED_BYTES = 16 * 1024 * 1024;
/** One second of stereo silence, shared by every sink: it is never written to, only queued. */
const SILENCE = new Uint8Array(SAMPLE_RATE * BYTES_PER_SAMPLE_FRAME);

/** Keeps ids that reach a path to a safe alphabet (they are UUIDs in practice; never `..` or `/`). */
function safeName(id: string): string {
  const cleaned = id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 128);
  return cleaned.length > 0 ? cleaned : 'unknown';
}

function validateOptions(opts: WavSinkOptions): void {
  if (typeof opts.dir !== 'string' || opts.dir.length === 0) {
    throw new WavSinkConfigError('WavSink dir must be a non-empty path');
  }
  const gap = opts.maxGapFillSec;
  if (gap !== undefined && !(Number.isFinite(gap) && gap >= 0)) {
    throw new WavSinkConfigError(`WavSink maxGapFillSec must be a finite number of seconds >= 0, got ${gap}`);
  }
  const max = opts.maxDataBytes;
  if (max !== undefined && !(Number.isSafeInteger(max) && max >= 0)) {
    throw new WavSinkConfigError(`WavSink maxDataBytes must be a non-negative integer, got ${max}`);
  }
}

/** Records one session; see the module comment. */
export class WavSink implements AudioSink {
  readonly #dir: string;
  readonly #log: Logger;
  readonly #maxGapFill: number;
  readonly #maxDataBytes: number;
  #path: string | undefined;
  #stream: WriteStream | undefined;
  #opening: Promise<void> | undefined;
  /** Chunks produced before the file is open. */
  #pending: Array<{ chunk: Uint8Array; done: (() => void) | undefined }> = [];
  #queuedBytes = 0;
  #disabled = false;
  #closed = false;
  #full = false;
  #ending: Promise<void> | undefined;
  #dataBytes = 0;
  /** Timeline position the next written sample stands for (file position + truncated gap time). */
  #timelineAt = 0;
  /** Gaps announced since the last audio: each earns its own `maxGapFillSec` allowance. */
  #gapsSinceAudio = 0;
  /** The session channel written to each file channel (customer, agent); -1 for a role it does not carry. */
  #channelMap: number[] = [-1, -1];
  readonly #stats: WavSinkStats = {
    samplesWritten: 0,
    silenceSamples: 0,
    truncatedGapSamples: 0,
    overlapSamplesDropped: 0,
    samplesDroppedAtLimit: 0,
  };

  /** @throws {@link WavSinkConfigError} on invalid options (use {@link createWavSinkFactory} to check once). */
  constructor(opts: WavSinkOptions) {
    validateOptions(opts);
    this.#dir = opts.dir;
    this.#log = opts.logger.child({ component: 'wav-sink' });
    this.#maxGapFill = Math.round((opts.maxGapFillSec ?? 60) * SAMPLE_RATE);
    const max = Math.min(opts.maxDataBytes ?? RIFF_MAX_DATA_BYTES, RIFF_MAX_DATA_BYTES);
    this.#maxDataBytes = max - (max % BYTES_PER_SAMPLE_FRAME);
  }

  /** The file being written, once started. */
  get path(): string | undefined {
    return this.#path;
  }

  /** A copy of the counters. */
  stats(): WavSinkStats {
    return { ...this.#stats };
  }

  start(info: SinkStartInfo): void {
    try {
      if (this.#path !== undefined || this.#closed || this.#disabled) {
        this.#log.warn({ sessionId: info.sessionId }, 'wav sink: start ignored (already started or ended)');
        return;
      }
      this.#channelMap = [info.roles.indexOf('customer'), info.roles.indexOf('agent')];
      const folder = join(this.#dir, safeName(info.conversationId));
      this.#path = join(folder, `${safeName(info.sessionId)}.wav`);
      // Placeholder sizes; end() patches them. A crash leaves a valid, empty-looking header.
      this.#enqueue(this.#header(), false);
      this.#opening = this.#open(folder, this.#path);
    } catch (err) {
      this.#fail(err, 'start');
    }
  }

  write(frame: AudioFrame): void {
    try {
      if (!this.#accepting()) return;
      let skip = 0;
      const delta = frame.position - this.#timelineAt;
      if (delta > 0) this.#fillGap(delta);
      else if (delta < 0) {
        skip = Math.min(-delta, frame.samples);
        this.#stats.overlapSamplesDropped += skip;
        this.#log.debug({ position: frame.position, expected: this.#timelineAt, skip }, 'wav sink: overlapping audio');
      }
      this.#gapsSinceAudio = 0;
      const n = frame.samples - skip;
      if (n > 0) this.#appendData(this.#interleave(frame, skip, n), n, false);
    } catch (err) {
      this.#fail(err, 'write');
    }
  }

  gap(gap: TimelineGap): void {
    try {
      if (!this.#accepting()) return;
      // Silence is inserted when the next audio arrives, from its position: that also covers jumps
      // nobody announced, and a trailing gap at the end of a call adds nothing.
      this.#gapsSinceAudio++;
      this.#log.debug({ kind: gap.kind, start: gap.start, length: gap.length }, 'wav sink: timeline gap');
    } catch (err) {
      this.#fail(err, 'gap');
    }
  }

  end(reason: 'close' | 'disconnect' | 'transport-closed'): Promise<void> {
    this.#ending ??= this.#finish(reason);
    return this.#ending;
  }

  #accepting(): boolean {
    return this.#path !== undefined && !this.#disabled && !this.#closed && !this.#full;
  }

  async #open(folder: string, path: string): Promise<void> {
    try {
      await mkdir(folder, { recursive: true });
      if (this.#disabled) return;
      const stream = createWriteStream(path);
      stream.on('error', (err) => this.#fail(err, 'write'));
      this.#stream = stream;
      const pending = this.#pending;
      this.#pending = [];
      for (const { chunk, done } of pending) stream.write(chunk, done);
    } catch (err) {
      this.#fail(err, 'open');
    }
  }

  #header(): Uint8Array {
    return encodeWavHeader({ format: 'L16', channels: CHANNELS, sampleRate: SAMPLE_RATE, dataBytes: this.#dataBytes });
  }

  /** Inserts up to the per-gap allowance of silence for `samples` of timeline without audio. */
  #fillGap(samples: number): void {
    const allowance = this.#maxGapFill * Math.max(1, this.#gapsSinceAudio);
    const fill = Math.min(samples, allowance);
    if (fill < samples) {
      this.#stats.truncatedGapSamples += samples - fill;
      this.#timelineAt += samples - fill;
      this.#log.info(
        { gapSamples: samples, filledSamples: fill, at: this.#timelineAt - (samples - fill) },
        'wav sink: gap longer than maxGapFillSec truncated; the file is no longer aligned with the timeline after it',
      );
    }
    let left = fill;
    while (left > 0 && this.#accepting()) {
      const n = Math.min(left, SAMPLE_RATE);
      this.#appendData(SILENCE.subarray(0, n * BYTES_PER_SAMPLE_FRAME), n, true);
      this.#stats.silenceSamples += n;
      left -= n;
    }
  }

  #interleave(frame: AudioFrame, skip: number, n: number): Uint8Array {
    const out = new Uint8Array(n * BYTES_PER_SAMPLE_FRAME);
    // Fixed layout: customer left, agent right; a role the session does not carry stays silent.
    writeL16(frame, skip, n, out, 0, this.#channelMap);
    return out;
  }

  #appendData(bytes: Uint8Array, samples: number, shared: boolean): void {
    if (this.#full || this.#dataBytes + bytes.byteLength > this.#maxDataBytes) {
      this.#stats.samplesDroppedAtLimit += samples;
      if (!this.#full) {
        this.#full = true;
        this.#log.warn(
          { path: this.#path, dataBytes: this.#dataBytes },
          'wav sink: size limit reached; recording stops',
        );
      }
      return;
    }
    this.#dataBytes += bytes.byteLength;
    this.#timelineAt += samples;
    this.#stats.samplesWritten += samples;
    this.#enqueue(bytes, shared);
  }

  /** `shared` chunks (the silence buffer) cost no memory of their own, so only audio counts toward the cap. */
  #enqueue(chunk: Uint8Array, shared: boolean): void {
    if (!shared) {
      this.#queuedBytes += chunk.byteLength;
      if (this.#queuedBytes > MAX_QUEUED_BYTES) {
        this.#fail(new Error(`${this.#queuedBytes} bytes queued for disk`), 'backpressure');
        return;
      }
    }
    const done = shared ? undefined : () => this.#written(chunk.byteLength);
    if (this.#stream) this.#stream.write(chunk, done);
    else this.#pending.push({ chunk, done });
  }

  #written(bytes: number): void {
    this.#queuedBytes -= bytes;
  }

  async #finish(reason: string): Promise<void> {
    this.#closed = true;
    try {
      await this.#opening;
      const stream = this.#stream;
      if (stream === undefined || this.#disabled) return;
      await new Promise<void>((resolve) => {
        if (stream.closed) resolve();
        else {
          stream.once('close', () => resolve());
          stream.end();
        }
      });
      if (this.#disabled || this.#path === undefined) return;
      const file = await open(this.#path, 'r+');
      try {
        await file.write(this.#header(), 0, HEADER_BYTES, 0);
      } finally {
        await file.close();
      }
      this.#log.info({ path: this.#path, reason, ...this.#stats }, 'wav sink: recording written');
    } catch (err) {
      this.#fail(err, 'end');
    }
  }

  #fail(err: unknown, op: string): void {
    if (this.#disabled) return;
    this.#disabled = true;
    this.#pending = [];
    this.#stream?.destroy();
    this.#log.error({ err, op, path: this.#path }, 'wav sink disabled after an error; the recording is incomplete');
  }
}

/**
 * Validates the options once (throwing {@link WavSinkConfigError} at start-up) and returns a per-session
 * factory whose sinks log with the session id bound.
 */
export function createWavSinkFactory(opts: WavSinkOptions): (ctx: { sessionId: string }) => AudioSink {
  validateOptions(opts);
  return (ctx) => new WavSink({ ...opts, logger: opts.logger.child({ sessionId: ctx.sessionId }) });
}

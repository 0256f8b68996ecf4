/**
 * Segment recordings (`audioRecordingAllowed`, issue #3): while a segment whose start params allow it is
 * transcribed, the audio forwarded to Transcribe is also spooled to a local file ({@link SegmentSpool});
 * when the segment closes (stop, end of session, failure) the file becomes a WAV and is uploaded in the
 * background to the recordings bucket under `recordings/{conversationId}/segment-NNNN.wav`.
 *
 * - Nothing here can fail a session or delay a stop answer: uploads run after the segment's summary is
 *   returned, with a few retries (exponential backoff, jittered: 1 s doubling to 30 s, 5 attempts).
 * - A recording that still cannot be stored is *kept*, not abandoned: `RECORDING_UPLOAD_FAILED` (error) names
 *   its path, a sidecar (`<name>.json`: bucket, key, metadata) is written next to the WAV atomically, and the
 *   {@link KeptQueue} retries it in the background for the life of the process (1 min doubling to 15 min,
 *   jittered) until stored; then the WAV and its sidecar are removed ("recording uploaded after N attempts").
 * - Kept recordings survive a restart on the same disk: when the spool directory first becomes usable, it is
 *   scanned for WAVs with a sidecar left by an earlier process, which join the same background retry. A WAV
 *   without a sidecar (a spool unfinished when its process ended) is left alone and counted in one warning.
 * - Uploads and retries are limited in number together (each buffers up to one 5 MiB part), so a drain that
 *   closes hundreds of segments at once does not need hundreds of part buffers.
 * - {@link SegmentRecordings.close} (from `pipeline.close()`, after the gateway drained) waits for every
 *   pending upload, makes one last attempt for each kept recording, and logs at error the paths of those
 *   still kept (they stay on disk with their sidecars for the next process).
 * - An unusable spool directory (not creatable or not writable: a root-owned volume, a read-only or full
 *   file system) turns recordings off, never the gateway: it is logged once as
 *   {@link RECORDINGS_SPOOL_UNAVAILABLE}, calls are still transcribed, segments that allow recording get
 *   none, and the directory is tried again periodically and at each such segment, so recordings come back
 *   once it is fixed.
 */
import { randomUUID } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Role } from '../../../core/audio/roles';
import type { AudioFrame } from '../../../core/audiohook/ports';
import { describeError } from '../../../core/errors';
import type { Logger, Timers } from '../../../core/ports';
import { recordingKey, recordingMetadata } from '../../../core/transcript/recording-key';
import { RecordingError } from './errors';
import { DEFAULT_KEPT_RETRY, KeptQueue, type KeptRetryPolicy } from './kept-queue';
import type { RecordingStore, RecordingTarget } from './recording-store';
import { RECORDING_SAMPLE_RATE, type SealedSpool, SegmentSpool } from './spool';
import { RECORDINGS_SPOOL_UNAVAILABLE, SpoolDirectory } from './spool-directory';
import { backoffDelayMs, UploadSlots } from './upload-pacing';

/** What the transcription sink tells the recorder about a segment that may be recorded. */
export interface RecordingSegmentInfo {
  readonly conversationId: string;
  readonly segment: number;
  /** Role of each channel, in negotiated channel order. */
  readonly roles: readonly Role[];
  /** AudioHook channel names in the same order. */
  readonly channels: readonly string[];
}

/** How a recording ended. */
export type RecordingOutcome =
  | { status: 'stored'; target: RecordingTarget; bytes: number; attempts: number }
  /** Upload failed after every attempt: the WAV is kept at `path` and retried in the background. */
  | { status: 'kept'; target: RecordingTarget; path: string; attempts: number }
  /** Spooling failed: nothing was kept. */
  | { status: 'abandoned'; target: RecordingTarget };

/** One segment's recording, as the transcription sink sees it. */
export interface SegmentRecording {
  /**
   * Where the recording will be stored; `undefined` once spooling has failed (nothing will be written).
   */
  readonly target: RecordingTarget | undefined;
  /** Appends the frame forwarded to Transcribe. Never throws, never blocks. */
  write(frame: AudioFrame): void;
  /**
   * No more audio: seals the file and uploads it in the background. Idempotent; never rejects. The
   * returned promise settles when the upload is over (callers need not wait for it).
   */
  finish(): Promise<RecordingOutcome>;
}

/** What the transcription sink needs: a recording per segment that allows it. */
export interface RecordingsPort {
  /** A recording for the segment, or `undefined` when recordings are not possible (closing). */
  begin(info: RecordingSegmentInfo): SegmentRecording | undefined;
}

/** Upload retry schedule. */
export interface RecordingRetryPolicy {
  /** Attempts in all (first try included). */
  attempts: number;
  baseMs: number;
  capMs: number;
}

/** Options of {@link SegmentRecordings}. */
export interface SegmentRecordingsOptions {
  readonly store: RecordingStore;
  readonly logger: Logger;
  readonly timers: Timers;
  /**
   * Where spool files are written (created if missing, mode 0700).
   * @default a fresh private directory `<os.tmpdir()>/audiohook-recordings-XXXXXX` per process
   */
  readonly spoolDir?: string;
  /** While the spool directory is unusable, how often it is tried again (besides at each segment). @default 60000 */
  readonly spoolRetryMs?: number;
  /** First round of upload attempts, right after the segment. @default { attempts: 5, baseMs: 1000, capMs: 30000 } */
  readonly retry?: Partial<RecordingRetryPolicy>;
  /**
   * Background retries of kept recordings (after the first round failed), until stored.
   * @default { baseMs: 60000, capMs: 900000 } (1 min doubling to 15 min, jittered)
   */
  readonly keptRetry?: Partial<KeptRetryPolicy>;
  /** Uploads running at once, background retries included. @default 4 */
  readonly maxConcurrentUploads?: number;
  /** Per-spool settings. */
  readonly spoolBatchBytes?: number;
  readonly spoolMaxBacklogBytes?: number;
  /** @default Math.random */
  readonly random?: () => number;
}

/** Counters of {@link SegmentRecordings}. */
export interface RecordingsStats {
  started: number;
  stored: number;
  /** Recordings of this process whose first round of attempts failed (kept on disk, retried). */
  kept: number;
  /** Kept recordings of an earlier process found in the spool directory (with a sidecar), retried. */
  recovered: number;
  /** Kept recordings on disk waiting for a background retry now (gauge). */
  recordingsKept: number;
  /** Background attempts of kept recordings that failed. */
  keptRetries: number;
  /** Recordings given up because spooling failed. */
  abandoned: number;
  uploadRetries: number;
  /** Recordings being sealed or uploaded now (finished segments not yet settled). */
  pending: number;
  /** Segments that allowed recording but got none because the spool directory was unusable. */
  skippedNoSpool: number;
  /** Whether the spool directory is usable (recordings are on). */
  spoolAvailable: boolean;
}

/** Log code of an unusable spool directory (defined with {@link SpoolDirectory}). */
export { RECORDINGS_SPOOL_UNAVAILABLE };

const DEFAULT_RETRY: RecordingRetryPolicy = { attempts: 5, baseMs: 1000, capMs: 30_000 };

/** Creates per-segment recordings, uploads them, and keeps track of what is still in flight. */
export class SegmentRecordings implements RecordingsPort {
  readonly #o: SegmentRecordingsOptions;
  readonly #log: Logger;
  readonly #retry: RecordingRetryPolicy;
  readonly #random: () => number;
  readonly #pending = new Set<Promise<RecordingOutcome>>();
  readonly #slots: UploadSlots;
  readonly #kept: KeptQueue;
  readonly #spool: SpoolDirectory;
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #stats: Omit<
    RecordingsStats,
    'pending' | 'spoolAvailable' | 'recordingsKept' | 'keptRetries' | 'recovered'
  > = {
    started: 0,
    stored: 0,
    kept: 0,
    abandoned: 0,
    uploadRetries: 0,
    skippedNoSpool: 0,
  };

  /** Never throws: an unusable spool directory only turns recordings off (see {@link available}). */
  constructor(opts: SegmentRecordingsOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ component: 'recordings' });
    this.#retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.#random = opts.random ?? Math.random;
    this.#slots = new UploadSlots(opts.maxConcurrentUploads ?? 4);
    this.#kept = new KeptQueue({
      store: opts.store,
      logger: this.#log,
      timers: opts.timers,
      slots: this.#slots,
      retry: { ...DEFAULT_KEPT_RETRY, ...opts.keptRetry },
      random: this.#random,
    });
    // Recordings an earlier process kept in this directory join the background retry once it is usable.
    this.#spool = new SpoolDirectory({
      logger: this.#log,
      timers: opts.timers,
      onFirstUsable: (dir) => this.#kept.recover(dir),
      ...(opts.spoolDir !== undefined && { dir: opts.spoolDir }),
      ...(opts.spoolRetryMs !== undefined && { retryMs: opts.spoolRetryMs }),
    });
  }

  /** The spool directory (before a default one could be created: the pattern it will have). */
  get spoolDir(): string {
    return this.#spool.path;
  }

  /** Whether segments can be recorded now (the spool directory exists and is writable). */
  get available(): boolean {
    return this.#spool.available;
  }

  /** The bucket recordings go to. */
  get bucket(): string {
    return this.#o.store.bucket;
  }

  begin(info: RecordingSegmentInfo): SegmentRecording | undefined {
    if (this.#closed) {
      this.#log.warn(
        { conversationId: info.conversationId, segment: info.segment },
        'recordings are closing: this segment is not recorded',
      );
      return undefined;
    }
    // Only while it is known to be unusable: a working directory costs nothing per segment.
    if (!this.#spool.available && !this.#spool.ensure()) {
      this.#stats.skippedNoSpool++;
      this.#log.warn(
        { conversationId: info.conversationId, segment: info.segment, code: RECORDINGS_SPOOL_UNAVAILABLE },
        'audioRecordingAllowed segment is not recorded: the recordings spool directory is unusable ' +
          '(the segment is transcribed normally)',
      );
      return undefined;
    }
    let target: RecordingTarget;
    try {
      target = { bucket: this.bucket, key: recordingKey(info.conversationId, info.segment) };
    } catch (err) {
      this.#log.error(
        { segment: info.segment, err: describeError(err), code: 'RECORDING_KEY_INVALID' },
        'this segment cannot be recorded: its conversation id cannot name an object',
      );
      return undefined;
    }
    // Unique across restarts too (a container's pid is always 1): a leftover kept file is never reused.
    const path = join(this.#spool.path, `${info.conversationId}-${info.segment}-${randomUUID().slice(0, 8)}.wav`);
    const log = this.#log.child({ conversationId: info.conversationId, segment: info.segment });
    const spool = new SegmentSpool({
      path,
      roles: info.roles,
      logger: log,
      ...(this.#o.spoolBatchBytes !== undefined && { batchBytes: this.#o.spoolBatchBytes }),
      ...(this.#o.spoolMaxBacklogBytes !== undefined && { maxBacklogBytes: this.#o.spoolMaxBacklogBytes }),
    });
    this.#stats.started++;
    let finished: Promise<RecordingOutcome> | undefined;
    const finish = (): Promise<RecordingOutcome> => {
      if (finished === undefined) {
        finished = this.#complete(info, target, spool, log).catch((err: unknown): RecordingOutcome => {
          // Not expected (every step handles its own errors); a recording must still never fail a session.
          log.error({ ...target, err: describeError(err) }, 'recording failed unexpectedly');
          this.#stats.abandoned++;
          return { status: 'abandoned', target };
        });
        this.#track(finished);
      }
      return finished;
    };
    return {
      get target() {
        return spool.error === undefined ? target : undefined;
      },
      write: (frame) => spool.write(frame),
      finish,
    };
  }

  /** Resolves when no recording is being sealed or uploaded. */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  /**
   * Refuses new recordings, waits for the pending uploads (after the gateway drained), makes one last attempt
   * for each kept recording and logs those still kept; removes its own default spool directory when empty.
   * Idempotent (one last attempt in all).
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#spool.stopRetrying();
    await this.idle();
    await this.#kept.drain();
    this.#spool.close();
  }

  stats(): RecordingsStats {
    const kept = this.#kept.stats();
    return {
      ...this.#stats,
      stored: this.#stats.stored + kept.stored,
      recovered: kept.recovered,
      recordingsKept: kept.waiting,
      keptRetries: kept.retries,
      pending: this.#pending.size,
      spoolAvailable: this.#spool.available,
    };
  }

  #track(work: Promise<RecordingOutcome>): void {
    this.#pending.add(work);
    const done = () => this.#pending.delete(work);
    void work.then(done, done);
  }

  async #complete(
    info: RecordingSegmentInfo,
    target: RecordingTarget,
    spool: SegmentSpool,
    log: Logger,
  ): Promise<RecordingOutcome> {
    const sealed = await spool.seal();
    if (sealed === undefined) {
      this.#stats.abandoned++;
      return { status: 'abandoned', target };
    }
    const dropped = spool.stats().droppedSamples;
    return await this.#slots.run(() => this.#upload(info, target, sealed, dropped, log));
  }

  async #upload(
    info: RecordingSegmentInfo,
    target: RecordingTarget,
    sealed: SealedSpool,
    droppedSamples: number,
    log: Logger,
  ): Promise<RecordingOutcome> {
    const metadata = recordingMetadata({
      conversationId: info.conversationId,
      segment: info.segment,
      roles: info.roles,
      channels: info.channels,
      sampleRate: RECORDING_SAMPLE_RATE,
      startPosition: sealed.startPosition,
      samples: sealed.samples,
    });
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.#retry.attempts; attempt++) {
      try {
        await this.#o.store.put({
          key: target.key,
          filePath: sealed.path,
          contentLength: sealed.fileBytes,
          metadata,
        });
      } catch (err) {
        lastError = err;
        if (attempt < this.#retry.attempts) {
          this.#stats.uploadRetries++;
          const delayMs = backoffDelayMs(attempt, this.#retry, this.#random);
          log.warn({ ...target, attempt, delayMs, err: describeError(err) }, 'recording upload failed: retrying');
          await new Promise<void>((resolve) => this.#o.timers.setTimeout(resolve, delayMs));
        }
        continue;
      }
      this.#stats.stored++;
      log.info(
        {
          ...target,
          bytes: sealed.fileBytes,
          durationMs: Math.round((sealed.samples * 1000) / RECORDING_SAMPLE_RATE),
          attempts: attempt,
          droppedSamples: droppedSamples || undefined,
        },
        'segment recording stored',
      );
      await this.#cleanup(sealed.path, log);
      return { status: 'stored', target, bytes: sealed.fileBytes, attempts: attempt };
    }
    this.#stats.kept++;
    const error = new RecordingError('RECORDING_UPLOAD_FAILED', 'storing the recording failed', { cause: lastError });
    log.error(
      { ...target, path: sealed.path, attempts: this.#retry.attempts, err: describeError(lastError), code: error.code },
      `recording upload failed after ${this.#retry.attempts} attempts: the WAV is kept at ${sealed.path} ` +
        'and retried in the background',
    );
    await this.#kept.keep({ wavPath: sealed.path, target, metadata, attempts: this.#retry.attempts });
    return { status: 'kept', target, path: sealed.path, attempts: this.#retry.attempts };
  }

  async #cleanup(path: string, log: Logger): Promise<void> {
    try {
      await unlink(path);
    } catch (err) {
      log.warn(
        { path, err: describeError(err), code: 'RECORDING_CLEANUP_FAILED' },
        'recording stored but its spool file could not be deleted',
      );
    }
  }
}

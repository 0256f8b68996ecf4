/**
 * Segment recordings (`audioRecordingAllowed`, issue #3): while a segment whose start params allow it is
 * transcribed, the audio forwarded to Transcribe is also spooled to a local file ({@link SegmentSpool});
 * when the segment closes (stop, end of session, failure) the file becomes a WAV and is uploaded in the
 * background to the recordings bucket under `recordings/{conversationId}/segment-NNNN.wav`.
 *
 * - Nothing here can fail a session or delay a stop answer: uploads run after the segment's summary is
 *   returned, with a few retries (exponential backoff, jittered). A recording that still cannot be stored
 *   stays in the spool directory and the error log (`RECORDING_UPLOAD_FAILED`) says where.
 * - Uploads are limited in number (each buffers up to one 5 MiB part), so a drain that closes hundreds of
 *   segments at once does not need hundreds of part buffers.
 * - {@link SegmentRecordings.close} (from `pipeline.close()`, after the gateway drained) waits for every
 *   pending upload.
 * - An unusable spool directory (not creatable or not writable: a root-owned volume, a read-only or full
 *   file system) turns recordings off, never the gateway: it is logged once as
 *   {@link RECORDINGS_SPOOL_UNAVAILABLE}, calls are still transcribed, segments that allow recording get
 *   none, and the directory is tried again periodically and at each such segment, so recordings come back
 *   once it is fixed.
 */
import { randomUUID } from 'node:crypto';
import { accessSync, constants, mkdirSync, mkdtempSync, rmdirSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Role } from '../../../core/audio/roles';
import type { AudioFrame } from '../../../core/audiohook/ports';
import { describeError } from '../../../core/errors';
import type { Logger, TimerHandle, Timers } from '../../../core/ports';
import { recordingKey, recordingMetadata } from '../../../core/transcript/recording-key';
import { RecordingError } from './errors';
import type { RecordingStore, RecordingTarget } from './recording-store';
import { RECORDING_SAMPLE_RATE, type SealedSpool, SegmentSpool } from './spool';

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
  /** Upload failed after every attempt: the WAV is kept at `path`. */
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
  /** @default { attempts: 5, baseMs: 1000, capMs: 30000 } */
  readonly retry?: Partial<RecordingRetryPolicy>;
  /** Uploads running at once. @default 4 */
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
  /** Recordings whose upload failed for good (kept on disk). */
  kept: number;
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

/** Log code: the spool directory cannot be created or written, so segments are not recorded (docs/errors.md). */
export const RECORDINGS_SPOOL_UNAVAILABLE = 'RECORDINGS_SPOOL_UNAVAILABLE';
const DEFAULT_SPOOL_RETRY_MS = 60_000;
const DEFAULT_SPOOL_PREFIX = 'audiohook-recordings-';

const DEFAULT_RETRY: RecordingRetryPolicy = { attempts: 5, baseMs: 1000, capMs: 30_000 };

/** Creates per-segment recordings, uploads them, and keeps track of what is still in flight. */
export class SegmentRecordings implements RecordingsPort {
  readonly #o: SegmentRecordingsOptions;
  readonly #log: Logger;
  readonly #retry: RecordingRetryPolicy;
  readonly #random: () => number;
  readonly #maxUploads: number;
  readonly #pending = new Set<Promise<RecordingOutcome>>();
  readonly #waiting: (() => void)[] = [];
  #uploading = 0;
  #closed = false;
  /** The spool directory once known (configured, or created by `mkdtemp`). */
  #dir: string | undefined;
  /** `#dir` was created here (`mkdtemp`), so it is removed at close when nothing was kept in it. */
  #ownDir = false;
  #spoolAvailable = false;
  /** Whether the unusable directory has been reported (so it is logged once, and its recovery too). */
  #spoolDown = false;
  #spoolRetryTimer: TimerHandle | undefined;
  readonly #stats: Omit<RecordingsStats, 'pending' | 'spoolAvailable'> = {
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
    this.#maxUploads = Math.max(1, opts.maxConcurrentUploads ?? 4);
    this.#dir = opts.spoolDir;
    this.#ensureSpool();
  }

  /** The spool directory (before a default one could be created: the pattern it will have). */
  get spoolDir(): string {
    return this.#dir ?? join(tmpdir(), `${DEFAULT_SPOOL_PREFIX}XXXXXX`);
  }

  /** Whether segments can be recorded now (the spool directory exists and is writable). */
  get available(): boolean {
    return this.#spoolAvailable;
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
    if (!this.#spoolAvailable && !this.#ensureSpool()) {
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
    const path = join(this.#dir as string, `${info.conversationId}-${info.segment}-${randomUUID().slice(0, 8)}.wav`);
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
   * Refuses new recordings and waits for the pending uploads (after the gateway drained); removes its own
   * default spool directory when empty. Idempotent.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#spoolRetryTimer?.cancel();
    this.#spoolRetryTimer = undefined;
    await this.idle();
    // A default spool directory is this process's own: leave no empty one behind. A recording kept for a
    // later upload keeps it (rmdir refuses a non-empty directory).
    if (this.#ownDir && this.#dir !== undefined) {
      try {
        rmdirSync(this.#dir);
      } catch {
        // not empty (kept recordings) or already gone
      }
    }
  }

  stats(): RecordingsStats {
    return { ...this.#stats, pending: this.#pending.size, spoolAvailable: this.#spoolAvailable };
  }

  /**
   * Makes sure the spool directory exists and this process can create files in it. On the first failure
   * logs {@link RECORDINGS_SPOOL_UNAVAILABLE} (error) and retries every `spoolRetryMs`; logs the recovery.
   */
  #ensureSpool(): boolean {
    try {
      if (this.#dir === undefined) {
        this.#dir = mkdtempSync(join(tmpdir(), DEFAULT_SPOOL_PREFIX));
        this.#ownDir = true;
      } else mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
      accessSync(this.#dir, constants.W_OK | constants.X_OK);
    } catch (err) {
      if (!this.#spoolDown) {
        this.#spoolDown = true;
        this.#log.error(
          {
            spoolDir: this.spoolDir,
            err: describeError(err),
            code: RECORDINGS_SPOOL_UNAVAILABLE,
            retryMs: this.#o.spoolRetryMs ?? DEFAULT_SPOOL_RETRY_MS,
          },
          `recordings spool directory ${this.spoolDir} cannot be created or written: segment recordings are off ` +
            'until it can (calls are still transcribed; segments with audioRecordingAllowed get no recording); ' +
            'RECORDINGS_SPOOL_DIR must be a directory this user may write',
        );
      }
      this.#spoolAvailable = false;
      this.#armSpoolRetry();
      return false;
    }
    if (this.#spoolDown) {
      this.#spoolDown = false;
      this.#log.info({ spoolDir: this.#dir }, 'recordings spool directory is usable again: segment recordings are on');
    }
    this.#spoolAvailable = true;
    this.#spoolRetryTimer?.cancel();
    this.#spoolRetryTimer = undefined;
    return true;
  }

  #armSpoolRetry(): void {
    if (this.#spoolRetryTimer !== undefined || this.#closed) return;
    this.#spoolRetryTimer = this.#o.timers.setTimeout(() => {
      this.#spoolRetryTimer = undefined;
      if (!this.#closed && !this.#spoolAvailable) this.#ensureSpool();
    }, this.#o.spoolRetryMs ?? DEFAULT_SPOOL_RETRY_MS);
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
    await this.#acquire();
    try {
      return await this.#upload(info, target, sealed, dropped, log);
    } finally {
      this.#release();
    }
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
          const delayMs = this.#delay(attempt);
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
      `recording upload failed after ${this.#retry.attempts} attempts: the WAV is kept at ${sealed.path}`,
    );
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

  /** Exponential backoff with "equal jitter": never less than half the step, so retries really wait. */
  #delay(attempt: number): number {
    const step = Math.min(this.#retry.capMs, this.#retry.baseMs * 2 ** Math.min(attempt - 1, 20));
    return Math.round(step / 2 + (this.#random() * step) / 2);
  }

  async #acquire(): Promise<void> {
    if (this.#uploading < this.#maxUploads) {
      this.#uploading++;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next !== undefined) next();
    else this.#uploading--;
  }
}

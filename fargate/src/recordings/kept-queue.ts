/**
 * The kept-recordings queue: recordings whose upload failed every attempt (or that an earlier process kept
 * and left with a sidecar) are retried in the background for the life of the process, with a long, capped,
 * jittered backoff (1 min doubling to 15 min by default), until stored. An S3 outage longer than the first
 * round of retries therefore delays a recording instead of stranding it on the task's disk.
 *
 * Retries share the upload slots of first uploads, so they never add to the number of uploads at once. A
 * stored recording's WAV, then its sidecar, are removed (in that order: a crash in between leaves only a
 * sidecar, which the next scan discards). {@link KeptQueue.drain} makes one last attempt for each and
 * reports what is still kept; those files stay on disk for a next process.
 */
import { stat, unlink } from 'node:fs/promises';
import { describeError } from '../../../core/errors';
import type { Logger, TimerHandle, Timers } from '../../../core/ports';
import { RecordingError } from './errors';
import { scanSpoolDir, writeSidecar } from './kept-sidecar';
import type { RecordingStore, RecordingTarget } from './recording-store';
import { type BackoffSteps, backoffDelayMs, type UploadSlots } from './upload-pacing';

/** Background retry schedule of kept recordings. */
export type KeptRetryPolicy = BackoffSteps;

/** 1 min doubling to 15 min (each wait jittered within the upper half of its step). */
export const DEFAULT_KEPT_RETRY: KeptRetryPolicy = { baseMs: 60_000, capMs: 15 * 60_000 };

/** A recording to retry. */
export interface KeptRecording {
  /** The complete WAV file on local disk. */
  readonly wavPath: string;
  /** Its sidecar, `undefined` when it could not be written (then only this process can retry it). */
  readonly sidecarPath: string | undefined;
  /** Where it goes (the configured bucket). */
  readonly target: RecordingTarget;
  readonly metadata: Readonly<Record<string, string>>;
  /** Upload attempts already made (by this process's first round, or recorded in the sidecar). */
  readonly attempts: number;
}

/** Options of {@link KeptQueue}. */
export interface KeptQueueOptions {
  readonly store: RecordingStore;
  readonly logger: Logger;
  readonly timers: Timers;
  readonly slots: UploadSlots;
  readonly retry: KeptRetryPolicy;
  readonly random: () => number;
}

/** Counters of {@link KeptQueue}. */
export interface KeptQueueStats {
  /** Recordings waiting now (the `RecordingsKept` gauge). */
  waiting: number;
  /** Background attempts that failed. */
  retries: number;
  /** Recordings stored by a background attempt. */
  stored: number;
  /** Kept recordings of an earlier process found by {@link KeptQueue.recover}. */
  recovered: number;
}

interface Entry {
  readonly rec: KeptRecording;
  /** Attempts made in all, including the ones before it was queued. */
  attempts: number;
  /** Background attempts made (the backoff step). */
  tries: number;
  timer: TimerHandle | undefined;
  running: Promise<void> | undefined;
}

/** Retries kept recordings in the background until each is stored. */
export class KeptQueue {
  readonly #o: KeptQueueOptions;
  readonly #log: Logger;
  readonly #entries = new Map<string, Entry>();
  #draining = false;
  #retries = 0;
  #stored = 0;
  #recovered = 0;

  constructor(opts: KeptQueueOptions) {
    this.#o = opts;
    this.#log = opts.logger;
  }

  /** Queues a recording for its first background attempt (once per WAV path; ignored after a drain). */
  add(rec: KeptRecording): void {
    if (this.#draining || this.#entries.has(rec.wavPath)) return;
    const entry: Entry = { rec, attempts: rec.attempts, tries: 0, timer: undefined, running: undefined };
    this.#entries.set(rec.wavPath, entry);
    this.#schedule(entry);
  }

  stats(): KeptQueueStats {
    return { waiting: this.#entries.size, retries: this.#retries, stored: this.#stored, recovered: this.#recovered };
  }

  /**
   * Keeps a recording whose first round of attempts failed: writes its sidecar (so a later process can retry
   * it too), then queues it. A sidecar that cannot be written is logged; the recording is still retried here.
   */
  async keep(rec: Omit<KeptRecording, 'sidecarPath'>): Promise<KeptRecording> {
    let sidecarPath: string | undefined;
    try {
      sidecarPath = await writeSidecar(rec.wavPath, {
        version: 1,
        ...rec.target,
        metadata: rec.metadata,
        attempts: rec.attempts,
        keptAt: new Date().toISOString(),
      });
    } catch (err) {
      this.#log.error(
        {
          ...rec.target,
          path: rec.wavPath,
          err: describeError(err),
          code: err instanceof RecordingError ? err.code : 'RECORDING_SIDECAR_FAILED',
        },
        'kept recording has no sidecar: only this process retries it (after a restart it is left on disk)',
      );
    }
    const kept = { ...rec, sidecarPath };
    this.add(kept);
    return kept;
  }

  /**
   * Queues the recordings an earlier process kept in `dir` (a WAV with a valid sidecar), to be stored in
   * `store.bucket`; logs what it leaves alone (invalid sidecars; WAVs without one, once with their count).
   */
  recover(dir: string): void {
    let scan: ReturnType<typeof scanSpoolDir>;
    try {
      scan = scanSpoolDir(dir);
    } catch (err) {
      this.#log.warn({ spoolDir: dir, err: describeError(err) }, 'recordings spool directory could not be scanned');
      return;
    }
    const bucket = this.#o.store.bucket;
    for (const { wavPath, sidecarPath, sidecar } of scan.kept) {
      this.#recovered++;
      const { key, metadata, attempts } = sidecar;
      this.add({ wavPath, sidecarPath, target: { bucket, key }, metadata, attempts });
    }
    if (scan.kept.length > 0) {
      const otherBucket = scan.kept.filter((k) => k.sidecar.bucket !== bucket).length;
      this.#log.info(
        { spoolDir: dir, count: scan.kept.length, bucket, otherBucket: otherBucket || undefined },
        `${scan.kept.length} recording(s) kept by an earlier process found: uploading them in the background`,
      );
    }
    for (const { path, error } of scan.invalid) {
      this.#log.warn(
        { path, err: describeError(error), code: error.code },
        'kept recording left alone: its sidecar is not valid',
      );
    }
    if (scan.unfinished.length > 0) {
      this.#log.warn(
        { spoolDir: dir, count: scan.unfinished.length, code: 'RECORDING_SPOOL_UNFINISHED' },
        `${scan.unfinished.length} spool file(s) without a sidecar in ${dir} (recordings unfinished when an ` +
          'earlier process ended) are left as they are',
      );
    }
  }

  /**
   * Stops the background schedule, makes one last attempt for each waiting recording (or lets the attempt
   * under way finish), logs at error the paths still kept (they stay on disk with their sidecars for a next
   * process) and returns them.
   */
  async drain(): Promise<KeptRecording[]> {
    this.#draining = true;
    const attempts: Promise<void>[] = [];
    for (const entry of this.#entries.values()) {
      entry.timer?.cancel();
      entry.timer = undefined;
      attempts.push(entry.running ?? this.#attempt(entry));
    }
    await Promise.all(attempts);
    const still = [...this.#entries.values()].map((e) => e.rec);
    if (still.length > 0) {
      const paths = still.map((r) => r.wavPath);
      const withoutSidecar = still.filter((r) => r.sidecarPath === undefined).map((r) => r.wavPath);
      this.#log.error(
        {
          code: 'RECORDING_UPLOAD_FAILED',
          count: paths.length,
          paths,
          ...(withoutSidecar.length > 0 && { withoutSidecar }),
        },
        `${paths.length} recording(s) still not uploaded at shutdown: kept on disk with their sidecars for the ` +
          `next process on this spool directory: ${paths.join(', ')}`,
      );
    }
    return still;
  }

  #schedule(entry: Entry): void {
    const delayMs = backoffDelayMs(entry.tries + 1, this.#o.retry, this.#o.random);
    entry.timer = this.#o.timers.setTimeout(() => {
      entry.timer = undefined;
      if (!this.#draining) void this.#attempt(entry);
    }, delayMs);
  }

  #attempt(entry: Entry): Promise<void> {
    const run = this.#o.slots
      .run(() => this.#put(entry))
      .finally(() => {
        entry.running = undefined;
      });
    entry.running = run;
    return run;
  }

  /** One attempt; never rejects. */
  async #put(entry: Entry): Promise<void> {
    const { rec } = entry;
    const log = { ...rec.target, path: rec.wavPath };
    entry.attempts++;
    entry.tries++;
    let size: number;
    try {
      size = (await stat(rec.wavPath)).size;
    } catch (err) {
      // Removed by hand (or by another process that stored it): there is nothing left to upload.
      this.#entries.delete(rec.wavPath);
      this.#log.warn(
        { ...log, err: describeError(err), code: 'RECORDING_KEPT_FILE_GONE' },
        'a kept recording is no longer on disk: its retries stop',
      );
      await this.#remove(rec.sidecarPath);
      return;
    }
    try {
      await this.#o.store.put({
        key: rec.target.key,
        filePath: rec.wavPath,
        contentLength: size,
        metadata: rec.metadata,
      });
    } catch (err) {
      this.#retries++;
      if (this.#draining) return;
      this.#schedule(entry);
      this.#log.warn(
        { ...log, attempts: entry.attempts, err: describeError(err), code: 'RECORDING_UPLOAD_FAILED' },
        'kept recording upload failed: retrying later',
      );
      return;
    }
    this.#entries.delete(rec.wavPath);
    this.#stored++;
    this.#log.info(
      { ...log, bytes: size, attempts: entry.attempts },
      `recording uploaded after ${entry.attempts} attempts`,
    );
    await this.#remove(rec.wavPath);
    await this.#remove(rec.sidecarPath);
  }

  async #remove(path: string | undefined): Promise<void> {
    if (path === undefined) return;
    try {
      await unlink(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      this.#log.warn(
        { path, err: describeError(err), code: 'RECORDING_CLEANUP_FAILED' },
        'recording stored but a spool file could not be deleted',
      );
    }
  }
}

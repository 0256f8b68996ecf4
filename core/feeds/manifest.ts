/**
 * The per-day manifest (written last, so a day with a manifest is a finished export) and the checkpoint an
 * unfinished export leaves behind. Both are plain JSON objects in the bucket; the parsers below accept only
 * what we write, so a corrupted or foreign object is reported, never trusted.
 */
import { AppError, type AppErrorOptions } from '../errors';
import { formatHour, isValidDay, partIndexOf } from './partitions';

/** One data file of a day. */
export interface ManifestFile {
  /** `HH` */
  hour: string;
  /** `part-NNNNN.jsonl.gz` */
  fileName: string;
  /** Full object key. */
  key: string;
  rows: number;
  /** Size of the object (compressed), bytes. */
  bytes: number;
  /** Lowercase hex SHA-256 of the object's bytes (what a download returns). */
  sha256: string;
}

/** A day's manifest. */
export interface FeedManifest {
  manifestVersion: 1;
  feed: string;
  version: string;
  format: string;
  /** `YYYY-MM-DD`, UTC. */
  date: string;
  /** True when the whole day was exported; false when only {@link hours} were (on-demand hour runs). */
  complete: boolean;
  /** Hours (`HH`) this manifest covers, exported or found empty. */
  hours: string[];
  compression: 'gzip';
  columns: string[];
  /** Total rows over {@link files}. */
  rows: number;
  /** Sorted by hour, then file name. */
  files: ManifestFile[];
  /** ISO-8601 time the manifest was written. */
  exportedAt: string;
}

/** Part sizing; changing it between a failed run and its resume restarts the export. */
export interface PartBudget {
  maxRowsPerPart: number;
  /** Uncompressed bytes per part. */
  maxBytesPerPart: number;
}

/** What an unfinished export remembers (per shard: where it stopped; the files already complete). */
export interface ExportCheckpoint {
  checkpointVersion: 1;
  feed: string;
  version: string;
  format: string;
  date: string;
  /** `HH` for an hour run; absent for a day run. */
  hour?: string;
  budget: PartBudget;
  /** Per export shard: the index key of the last row written to a completed file (null: from the start). */
  cursors: (Record<string, unknown> | null)[];
  /** Files completed so far, in write order. */
  files: ManifestFile[];
  /** Hour of the last completed file, and the index the next file of that hour gets. */
  currentHour: string | null;
  nextPartIndex: number;
  rows: number;
  startedAt: string;
  updatedAt: string;
  /** Invocations that have worked on this export (1 for the first). */
  invocations: number;
}

/** A manifest or checkpoint object that is not what we write. */
export class FeedStateFormatError extends AppError {
  override readonly name = 'FeedStateFormatError';
  declare readonly code: 'FEED_STATE_INVALID';
  constructor(message: string, options?: AppErrorOptions) {
    super('FEED_STATE_INVALID', message, options);
  }
}

type Obj = Record<string, unknown>;

const HEX64 = /^[0-9a-f]{64}$/;
const HOUR = /^([01]\d|2[0-3])$/;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(o: Obj, k: string, what: string): string {
  const v = o[k];
  if (typeof v !== 'string') throw new FeedStateFormatError(`${what}: ${k} must be a string`);
  return v;
}

function count(o: Obj, k: string, what: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new FeedStateFormatError(`${what}: ${k} must be a non-negative integer`);
  }
  return v;
}

function parseFile(v: unknown, what: string): ManifestFile {
  if (!isObj(v)) throw new FeedStateFormatError(`${what}: file entry must be an object`);
  const file: ManifestFile = {
    hour: str(v, 'hour', what),
    fileName: str(v, 'fileName', what),
    key: str(v, 'key', what),
    rows: count(v, 'rows', what),
    bytes: count(v, 'bytes', what),
    sha256: str(v, 'sha256', what),
  };
  if (!HOUR.test(file.hour)) throw new FeedStateFormatError(`${what}: bad hour ${file.hour}`);
  if (partIndexOf(file.fileName) === undefined) throw new FeedStateFormatError(`${what}: bad file ${file.fileName}`);
  if (!file.key.endsWith(`/hr=${file.hour}/${file.fileName}`)) throw new FeedStateFormatError(`${what}: bad key`);
  if (!HEX64.test(file.sha256)) throw new FeedStateFormatError(`${what}: bad sha256`);
  return file;
}

function parseFiles(o: Obj, what: string): ManifestFile[] {
  if (!Array.isArray(o.files)) throw new FeedStateFormatError(`${what}: files must be an array`);
  return o.files.map((f) => parseFile(f, what));
}

/** Sorts files by hour, then name (part names are zero-padded, so text order is numeric order). */
export function sortFiles(files: readonly ManifestFile[]): ManifestFile[] {
  return [...files].sort((a, b) => (a.hour === b.hour ? (a.fileName < b.fileName ? -1 : 1) : a.hour < b.hour ? -1 : 1));
}

/** Every hour of a day, `00`..`23`. */
export const ALL_HOURS: readonly string[] = Array.from({ length: 24 }, (_, h) => formatHour(h));

/** Inputs of {@link buildManifest}. */
export interface ManifestInput {
  feed: string;
  version: string;
  format: string;
  date: string;
  columns: readonly string[];
  files: readonly ManifestFile[];
  exportedAt: string;
  /** For an hour run: that hour, merged into `previous` (whose other hours are kept). */
  hour?: string;
  previous?: FeedManifest;
}

/**
 * The manifest of a finished export. A day run covers all 24 hours and is `complete`; an hour run
 * replaces that hour's files in the previous manifest (or starts an incomplete one when there is none).
 */
export function buildManifest(input: ManifestInput): FeedManifest {
  let files: ManifestFile[];
  let hours: string[];
  let complete: boolean;
  if (input.hour === undefined) {
    files = sortFiles(input.files);
    hours = [...ALL_HOURS];
    complete = true;
  } else {
    const kept = (input.previous?.files ?? []).filter((f) => f.hour !== input.hour);
    files = sortFiles([...kept, ...input.files]);
    hours = [...new Set([...(input.previous?.hours ?? []), input.hour])].sort();
    complete = input.previous?.complete ?? false;
  }
  return {
    manifestVersion: 1,
    feed: input.feed,
    version: input.version,
    format: input.format,
    date: input.date,
    complete,
    hours,
    compression: 'gzip',
    columns: [...input.columns],
    rows: files.reduce((n, f) => n + f.rows, 0),
    files,
    exportedAt: input.exportedAt,
  };
}

/** Reads a manifest object. Throws {@link FeedStateFormatError} for anything we did not write. */
export function parseManifest(v: unknown): FeedManifest {
  const what = 'manifest';
  if (!isObj(v) || v.manifestVersion !== 1) throw new FeedStateFormatError(`${what}: unknown manifestVersion`);
  const date = str(v, 'date', what);
  if (!isValidDay(date)) throw new FeedStateFormatError(`${what}: bad date`);
  if (typeof v.complete !== 'boolean') throw new FeedStateFormatError(`${what}: complete must be a boolean`);
  const hours = v.hours;
  if (!Array.isArray(hours) || !hours.every((h) => typeof h === 'string' && HOUR.test(h))) {
    throw new FeedStateFormatError(`${what}: hours must be HH strings`);
  }
  const columns = v.columns;
  if (!Array.isArray(columns) || !columns.every((c) => typeof c === 'string')) {
    throw new FeedStateFormatError(`${what}: columns must be strings`);
  }
  const files = parseFiles(v, what);
  return {
    manifestVersion: 1,
    feed: str(v, 'feed', what),
    version: str(v, 'version', what),
    format: str(v, 'format', what),
    date,
    complete: v.complete,
    hours: hours as string[],
    compression: 'gzip',
    columns: columns as string[],
    rows: count(v, 'rows', what),
    files,
    exportedAt: str(v, 'exportedAt', what),
  };
}

/** Reads a checkpoint object. Throws {@link FeedStateFormatError} for anything we did not write. */
export function parseCheckpoint(v: unknown): ExportCheckpoint {
  const what = 'checkpoint';
  if (!isObj(v) || v.checkpointVersion !== 1) throw new FeedStateFormatError(`${what}: unknown checkpointVersion`);
  const budget = v.budget;
  if (!isObj(budget)) throw new FeedStateFormatError(`${what}: budget must be an object`);
  const cursors = v.cursors;
  if (!Array.isArray(cursors) || !cursors.every((c) => c === null || isObj(c))) {
    throw new FeedStateFormatError(`${what}: cursors must be objects or null`);
  }
  const currentHour = v.currentHour;
  if (currentHour !== null && (typeof currentHour !== 'string' || !HOUR.test(currentHour))) {
    throw new FeedStateFormatError(`${what}: bad currentHour`);
  }
  const hour = v.hour;
  if (hour !== undefined && (typeof hour !== 'string' || !HOUR.test(hour))) {
    throw new FeedStateFormatError(`${what}: bad hour`);
  }
  return {
    checkpointVersion: 1,
    feed: str(v, 'feed', what),
    version: str(v, 'version', what),
    format: str(v, 'format', what),
    date: str(v, 'date', what),
    ...(hour !== undefined && { hour }),
    budget: {
      maxRowsPerPart: count(budget, 'maxRowsPerPart', what),
      maxBytesPerPart: count(budget, 'maxBytesPerPart', what),
    },
    cursors: cursors as (Record<string, unknown> | null)[],
    files: parseFiles(v, what),
    currentHour,
    nextPartIndex: count(v, 'nextPartIndex', what),
    rows: count(v, 'rows', what),
    startedAt: str(v, 'startedAt', what),
    updatedAt: str(v, 'updatedAt', what),
    invocations: count(v, 'invocations', what),
  };
}

/**
 * The feed export: one UTC day (or one hour of it) of utterances from the sharded export index to gzip'd
 * JSON Lines files, a manifest, and a checkpoint while unfinished. Pure orchestration over two ports
 * ({@link ExportSource}, {@link FeedObjectStore}); the DynamoDB and S3 adapters live in store/feeds.ts.
 *
 * Why a k-way merge of the 16 shards (not one file set per shard): each shard pages in `exportSk`
 * (= createdAt) order, so merging their heads gives one stream in createdAt order for the whole day. Files
 * are then few and full (a row/byte budget per part, a new part at every hour), rows inside a file are in
 * time order, and the file boundaries depend only on the data and the budget: the same day exported twice
 * produces the same keys with the same bytes. Memory stays bounded by two pages per shard (the current one
 * and one prefetched) plus the part being uploaded, whatever the size of the day.
 *
 * Resumable: after each completed part the checkpoint records, per shard, the index key of the last row
 * that went into a completed part, and the files done so far. A failed or timed-out run leaves it behind;
 * the next run reads each shard again from its cursor and continues with the next part number. A run that
 * is near its deadline (`remainingMs() < safetyMs`) abandons the part in progress (never publishing a
 * half file) and returns `incomplete`. The manifest is written last; stale parts of an earlier, larger
 * export are deleted after it; the checkpoint last of all.
 */
import { AppError, type AppErrorOptions } from '../errors';
import { type FeedSourceUtterance, feedLine, toFeedRow, UTTERANCE_FEED_COLUMNS } from './feed-row';
import {
  buildManifest,
  type ExportCheckpoint,
  type FeedManifest,
  FeedStateFormatError,
  type ManifestFile,
  type PartBudget,
  parseCheckpoint,
  parseManifest,
} from './manifest';
import {
  checkpointKey,
  dayPrefix,
  type ExportScope,
  hourOf,
  hourPrefix,
  isValidDay,
  manifestKey,
  partFileName,
  partKey,
} from './partitions';

/** A position in one shard of the export index (JSON-serializable). */
export type ExportCursor = Record<string, unknown>;

/** What the export reads per row: the feed's fields plus the index sort key that orders the shards. */
export interface ExportItem extends FeedSourceUtterance {
  /** `<createdAt>#<conversationId>#<sk>`: unique, createdAt order. */
  exportSk: string;
}

/** One page of one shard. */
export interface ExportSourcePage {
  items: ExportItem[];
  lastEvaluatedKey?: ExportCursor;
}

/** Reads one shard of one day of the export index, oldest first. */
export interface ExportSource {
  /** Number of shards per day. */
  readonly shards: number;
  /**
   * Pages of `day`'s shard, after `exclusiveStartKey` when given, else from the first row of `fromHour`
   * (`HH`) when given, else from the start of the day.
   */
  pages(
    day: string,
    shard: number,
    options: { exclusiveStartKey?: ExportCursor; fromHour?: string },
  ): AsyncIterable<ExportSourcePage>;
  /** The index key of a row: resuming after it continues with the next row. */
  cursorOf(item: ExportItem): ExportCursor;
}

/** Facts about one uploaded part. */
export interface PartUploadResult {
  /** Object size (compressed). */
  bytes: number;
  /** Lowercase hex SHA-256 of the object. */
  sha256: string;
}

/** A streamed, compressed upload of one part (visible only once {@link finish} resolves). */
export interface PartWriter {
  write(text: string): Promise<void>;
  finish(): Promise<PartUploadResult>;
  /** Discards the upload; the object is not created or replaced. Never throws. */
  abort(): Promise<void>;
}

/** The bucket, as the export needs it. */
export interface FeedObjectStore {
  openPart(key: string): PartWriter;
  /** A JSON object, or undefined when there is none. */
  getJson(key: string): Promise<unknown>;
  putJson(key: string, value: unknown): Promise<void>;
  listKeys(prefix: string): AsyncIterable<string>;
  deleteKeys(keys: readonly string[]): Promise<void>;
}

/** Options of {@link exportFeed}. */
export interface ExportOptions {
  budget: PartBudget;
  /** `company_marker` of every row. @default null */
  companyMarker?: string;
  /** Milliseconds left in this invocation. @default () => Infinity */
  remainingMs?: () => number;
  /** Stop cleanly when fewer than this many ms remain. @default 60000 */
  safetyMs?: number;
  /** Wall clock, epoch ms. @default Date.now */
  now?: () => number;
  /** Progress lines (part written, resumed, stale removed). */
  log?: (message: string, attributes?: Record<string, unknown>) => void;
}

/** Outcome of one {@link exportFeed} call. */
export interface ExportResult {
  status: 'complete' | 'incomplete';
  day: string;
  hour?: string;
  /** Rows in the completed files of this export so far (all invocations). */
  rows: number;
  /** Completed files so far. */
  files: number;
  /** Rows read from the index by this invocation (rows of an abandoned part included). */
  rowsRead: number;
  /** Whether this invocation continued from a checkpoint. */
  resumed: boolean;
  /** Invocations that worked on this export, this one included. */
  invocations: number;
  /** Stale objects deleted (files of an earlier export that this one did not produce). */
  staleRemoved: number;
  /** The manifest, when complete. */
  manifest?: FeedManifest;
}

/** The export cannot run with these arguments. */
export class ExportArgumentError extends AppError {
  override readonly name = 'ExportArgumentError';
  declare readonly code: 'EXPORT_INVALID_ARGUMENT';
  constructor(message: string, options?: AppErrorOptions) {
    super('EXPORT_INVALID_ARGUMENT', message, options);
  }
}

/** Buffered reader of one shard: the current page, one page prefetched. */
class ShardReader {
  private buf: ExportItem[] = [];
  private pos = 0;
  private iterator: AsyncIterator<ExportSourcePage>;
  private pending: Promise<IteratorResult<ExportSourcePage>> | undefined;
  done = false;
  read = 0;

  constructor(pages: AsyncIterable<ExportSourcePage>) {
    this.iterator = pages[Symbol.asyncIterator]();
  }

  private prefetch(): void {
    this.pending = this.iterator.next();
    // Read later by fill(); marking it handled keeps an early stop from raising an unhandled rejection.
    this.pending.catch(() => undefined);
  }

  /** Makes {@link head} available unless the shard is exhausted. */
  async fill(): Promise<void> {
    while (!this.done && this.pos >= this.buf.length) {
      if (!this.pending) this.prefetch();
      const r = await (this.pending as Promise<IteratorResult<ExportSourcePage>>);
      this.pending = undefined;
      if (r.done) {
        this.done = true;
        return;
      }
      this.buf = r.value.items;
      this.pos = 0;
      this.read += this.buf.length;
      if (r.value.lastEvaluatedKey !== undefined) this.prefetch();
      else this.done = this.buf.length === 0;
    }
  }

  head(): ExportItem | undefined {
    return this.pos < this.buf.length ? this.buf[this.pos] : undefined;
  }

  needsFill(): boolean {
    return this.pos >= this.buf.length && !this.done;
  }

  take(): void {
    this.pos++;
  }

  /** Ends this shard (the rest lies outside the exported hour). */
  finish(): void {
    this.done = true;
    this.buf = [];
    this.pos = 0;
    void this.iterator.return?.(undefined)?.catch(() => undefined);
  }
}

function sameBudget(a: PartBudget, b: PartBudget): boolean {
  return a.maxRowsPerPart === b.maxRowsPerPart && a.maxBytesPerPart === b.maxBytesPerPart;
}

/**
 * Exports one day (or one hour of it). Returns `incomplete` when the deadline came first (call again to
 * continue); throws when the source or the store fails (the checkpoint of the last completed part stays,
 * so a retry continues from there).
 */
export async function exportFeed(
  source: ExportSource,
  store: FeedObjectStore,
  scope: ExportScope,
  options: ExportOptions,
): Promise<ExportResult> {
  const { table, day, hour } = scope;
  if (!isValidDay(day)) throw new ExportArgumentError(`day must be a UTC day YYYY-MM-DD, got ${day}`);
  if (hour !== undefined && !/^([01]\d|2[0-3])$/.test(hour)) {
    throw new ExportArgumentError(`hour must be HH (00..23), got ${hour}`);
  }
  const { budget } = options;
  if (budget.maxRowsPerPart < 1 || budget.maxBytesPerPart < 1) {
    throw new ExportArgumentError('part budget must allow at least one row and one byte');
  }
  const now = options.now ?? Date.now;
  const remainingMs = options.remainingMs ?? (() => Number.POSITIVE_INFINITY);
  const safetyMs = options.safetyMs ?? 60_000;
  const log = options.log ?? (() => undefined);
  const nearDeadline = () => remainingMs() < safetyMs;
  const ckKey = checkpointKey(table, day, hour);

  let previous: ExportCheckpoint | undefined;
  const rawCheckpoint = await store.getJson(ckKey);
  if (rawCheckpoint !== undefined) {
    try {
      const ck = parseCheckpoint(rawCheckpoint);
      const sameScope =
        ck.feed === table.feed &&
        ck.version === table.version &&
        ck.format === table.format &&
        ck.date === day &&
        ck.hour === hour &&
        ck.cursors.length === source.shards;
      if (sameScope && sameBudget(ck.budget, budget)) previous = ck;
      else log('checkpoint ignored (different scope or part budget); starting over', { key: ckKey });
    } catch (err) {
      if (!(err instanceof FeedStateFormatError)) throw err;
      log('checkpoint unreadable; starting over', { key: ckKey, reason: err.message });
    }
  }

  const startedAt = new Date(now()).toISOString();
  const ck: ExportCheckpoint = previous
    ? { ...previous, invocations: previous.invocations + 1, updatedAt: startedAt }
    : {
        checkpointVersion: 1,
        feed: table.feed,
        version: table.version,
        format: table.format,
        date: day,
        ...(hour !== undefined && { hour }),
        budget,
        cursors: Array.from({ length: source.shards }, () => null),
        files: [],
        currentHour: null,
        nextPartIndex: 0,
        rows: 0,
        startedAt,
        updatedAt: startedAt,
        invocations: 1,
      };
  if (previous) log('resuming export', { day, hour, files: ck.files.length, rows: ck.rows });

  const readers = ck.cursors.map(
    (cursor, shard) =>
      new ShardReader(
        source.pages(day, shard, {
          ...(cursor !== null && { exclusiveStartKey: cursor }),
          ...(cursor === null && hour !== undefined && { fromHour: hour }),
        }),
      ),
  );
  const rowsRead = () => readers.reduce((n, r) => n + r.read, 0);
  const result = (status: ExportResult['status'], extra: Partial<ExportResult> = {}): ExportResult => ({
    status,
    day,
    ...(hour !== undefined && { hour }),
    rows: ck.rows,
    files: ck.files.length,
    rowsRead: rowsRead(),
    resumed: previous !== undefined,
    invocations: ck.invocations,
    staleRemoved: 0,
    ...extra,
  });

  // Closes the shard queries left open when a run stops early (their prefetched pages are dropped).
  const stopReaders = (r: ExportResult): ExportResult => {
    for (const reader of readers) reader.finish();
    return r;
  };

  // The part being written.
  let writer: PartWriter | undefined;
  let writerHour = '';
  let writerIndex = 0;
  let writerRows = 0;
  let writerBytes = 0;
  const pendingCursors: (ExportCursor | null)[] = [...ck.cursors];

  const closePart = async (): Promise<void> => {
    const w = writer as PartWriter;
    writer = undefined;
    const uploaded = await w.finish();
    const file: ManifestFile = {
      hour: writerHour,
      fileName: partFileName(table, writerIndex),
      key: partKey(table, day, writerHour, writerIndex),
      rows: writerRows,
      bytes: uploaded.bytes,
      sha256: uploaded.sha256,
    };
    ck.files.push(file);
    ck.rows += writerRows;
    ck.cursors = [...pendingCursors];
    ck.currentHour = writerHour;
    ck.nextPartIndex = writerIndex + 1;
    ck.updatedAt = new Date(now()).toISOString();
    await store.putJson(ckKey, ck);
    log('part written', { key: file.key, rows: file.rows, bytes: file.bytes });
  };

  try {
    await Promise.all(readers.map((r) => r.fill()));
    let sinceCheck = 0;
    for (;;) {
      let best: ShardReader | undefined;
      let bestShard = -1;
      let bestItem: ExportItem | undefined;
      for (let i = 0; i < readers.length; i++) {
        const item = (readers[i] as ShardReader).head();
        if (item !== undefined && (bestItem === undefined || item.exportSk < bestItem.exportSk)) {
          best = readers[i];
          bestShard = i;
          bestItem = item;
        }
      }
      if (!best || !bestItem) break;
      const item = bestItem;
      const h = hourOf(item.createdAt);
      if (hour !== undefined && h !== hour) {
        // Rows are in createdAt order per shard: past the hour, this shard has nothing more for us.
        if (h > hour) best.finish();
        else best.take();
        if (best.needsFill()) await best.fill();
        continue;
      }
      best.take();

      if (
        writer &&
        (h !== writerHour || writerRows >= budget.maxRowsPerPart || writerBytes >= budget.maxBytesPerPart)
      ) {
        await closePart();
        if (nearDeadline()) return stopReaders(result('incomplete'));
      }
      if (!writer) {
        writerHour = h;
        writerIndex = h === ck.currentHour ? ck.nextPartIndex : 0;
        writerRows = 0;
        writerBytes = 0;
        writer = store.openPart(partKey(table, day, h, writerIndex));
      }
      const line = feedLine(
        toFeedRow(item, options.companyMarker === undefined ? {} : { companyMarker: options.companyMarker }),
      );
      await writer.write(line);
      writerRows++;
      // UTF-16 length is a cheap, deterministic stand-in for bytes; the budget is a target, not a limit.
      writerBytes += line.length;
      pendingCursors[bestShard] = source.cursorOf(item);

      if (best.needsFill()) await best.fill();
      if (++sinceCheck >= 1000) {
        sinceCheck = 0;
        if (nearDeadline()) {
          await writer.abort();
          writer = undefined;
          log('stopping before the deadline; the part in progress will be redone', { day, hour });
          return stopReaders(result('incomplete'));
        }
      }
    }
    if (writer) await closePart();
  } catch (err) {
    await writer?.abort();
    for (const r of readers) r.finish();
    throw err;
  }

  // Finished reading: publish the manifest, then remove what an earlier export left that this one did not write.
  const mKey = manifestKey(table, day);
  let previousManifest: FeedManifest | undefined;
  if (hour !== undefined) {
    const raw = await store.getJson(mKey);
    if (raw !== undefined) {
      try {
        previousManifest = parseManifest(raw);
      } catch (err) {
        if (!(err instanceof FeedStateFormatError)) throw err;
        log('previous manifest unreadable; replaced by this hour only', { key: mKey, reason: err.message });
      }
    }
  }
  const manifest = buildManifest({
    feed: table.feed,
    version: table.version,
    format: table.format,
    date: day,
    columns: UTTERANCE_FEED_COLUMNS,
    files: ck.files,
    exportedAt: new Date(now()).toISOString(),
    ...(hour !== undefined && { hour }),
    ...(previousManifest !== undefined && { previous: previousManifest }),
  });
  await store.putJson(mKey, manifest);

  const keep = new Set(ck.files.map((f) => f.key));
  const stale: string[] = [];
  for await (const key of store.listKeys(hour === undefined ? dayPrefix(table, day) : hourPrefix(table, day, hour))) {
    if (!keep.has(key)) stale.push(key);
  }
  if (stale.length > 0) {
    await store.deleteKeys(stale);
    log('stale files removed', { count: stale.length });
  }
  await store.deleteKeys([ckKey]);
  return result('complete', { manifest, staleRemoved: stale.length });
}

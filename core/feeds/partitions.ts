/**
 * Names and places of the batch feeds in the bucket (docs/feeds.md): Hive-style partitions so Athena's
 * partition projection and any `aws s3 sync` see the same tree, and every export of the same day writes
 * the same keys (a re-run replaces, never duplicates).
 *
 * ```
 * feeds/<feed>/version=<v>/format=<f>/dt=YYYY-MM-DD/hr=HH/part-NNNNN.jsonl.gz   data (gzip'd JSON Lines)
 * feeds/<feed>/version=<v>/format=<f>/_manifests/dt=YYYY-MM-DD.json             one per exported day, written last
 * feeds/<feed>/version=<v>/format=<f>/_checkpoints/dt=YYYY-MM-DD[/hr=HH].json   while an export is unfinished
 * feeds/_requests/<feed>/version=<v>/format=<f>/dt=YYYY-MM-DD[/hr=HH]/<id>.json on-demand export requests
 * ```
 *
 * Underscore prefixes keep manifests and checkpoints out of every Hive/Athena partition (`dt=/hr=` only).
 */

/** Top-level prefix of every feed object. */
export const FEED_ROOT = 'feeds';

/** Prefix of on-demand export requests (an S3 notification on it invokes the export function). */
export const EXPORT_REQUESTS_PREFIX = `${FEED_ROOT}/_requests/`;

/** The one feed we ship (api-contract.md §4 [REC]). */
export const UTTERANCES_FEED = 'utterances';

/** Current version of the utterances feed's columns (docs/feeds.md). */
export const UTTERANCES_FEED_VERSION = '1';

/** Format of the feed files. */
export const JSONL_FORMAT = 'jsonl';

/** File extension per format: gzip'd, so Athena infers the compression from the name. */
export const FORMAT_EXTENSIONS: Readonly<Record<string, string>> = { jsonl: '.jsonl.gz' };

/** What the File Exporter can serve: feed → version → formats. */
export const FEED_CATALOG: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>> = {
  [UTTERANCES_FEED]: { [UTTERANCES_FEED_VERSION]: [JSONL_FORMAT] },
};

/**
 * The versions of a feed, or undefined for an unknown one. Only the catalog's own keys count: a name like
 * `constructor` or `__proto__` from a request must never reach the object prototype.
 */
export function feedVersions(feed: string): Readonly<Record<string, readonly string[]>> | undefined {
  return Object.hasOwn(FEED_CATALOG, feed) ? FEED_CATALOG[feed] : undefined;
}

/** The formats of a feed version, or undefined for an unknown feed or version (own keys only). */
export function feedFormats(feed: string, version: string): readonly string[] | undefined {
  const versions = feedVersions(feed);
  return versions !== undefined && Object.hasOwn(versions, version) ? versions[version] : undefined;
}

/** Whether the File Exporter serves this feed, version and format. */
export function isServedTable(t: FeedTable): boolean {
  return feedFormats(t.feed, t.version)?.includes(t.format) === true;
}

/** Identifies one feed table (one Glue table, one Hive tree). */
export interface FeedTable {
  readonly feed: string;
  readonly version: string;
  readonly format: string;
}

/** The utterances feed, v1, JSON Lines. */
export const UTTERANCES_TABLE: FeedTable = {
  feed: UTTERANCES_FEED,
  version: UTTERANCES_FEED_VERSION,
  format: JSONL_FORMAT,
};

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
const PART_FILE = /^part-(\d{5})\.jsonl\.gz$/;

/** True for a real calendar day written `YYYY-MM-DD` (2025-02-30 is not one). */
export function isValidDay(day: string): boolean {
  const m = DAY.exec(day);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.toISOString().slice(0, 10) === day;
}

/** `HH` for an hour 0..23. */
export function formatHour(hour: number): string {
  if (!Number.isInteger(hour) || hour < 0 || hour > 23) throw new RangeError(`hour must be 0..23, got ${hour}`);
  return String(hour).padStart(2, '0');
}

/** UTC day (`YYYY-MM-DD`) of an ISO-8601 UTC timestamp as stored (`createdAt`). */
export function dayOf(isoUtc: string): string {
  return isoUtc.slice(0, 10);
}

/** UTC hour (`HH`) of an ISO-8601 UTC timestamp as stored (`createdAt`). */
export function hourOf(isoUtc: string): string {
  return isoUtc.slice(11, 13);
}

/** The UTC day before the one containing `epochMs`: what the 02:00 UTC schedule exports. */
export function previousUtcDay(epochMs: number): string {
  const d = new Date(epochMs);
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - 1)).toISOString().slice(0, 10);
}

/** `feeds/<feed>/version=<v>/format=<f>/`: the Glue table's location. */
export function tablePrefix(t: FeedTable): string {
  return `${FEED_ROOT}/${t.feed}/version=${t.version}/format=${t.format}/`;
}

/** `…/dt=YYYY-MM-DD/` */
export function dayPrefix(t: FeedTable, day: string): string {
  return `${tablePrefix(t)}dt=${day}/`;
}

/** `…/dt=YYYY-MM-DD/hr=HH/` */
export function hourPrefix(t: FeedTable, day: string, hour: string): string {
  return `${dayPrefix(t, day)}hr=${hour}/`;
}

/** `part-NNNNN.jsonl.gz`: the n-th file (from 0) of an hour. */
export function partFileName(t: FeedTable, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index > 99_999)
    throw new RangeError(`part index out of range: ${index}`);
  const ext = Object.hasOwn(FORMAT_EXTENSIONS, t.format) ? FORMAT_EXTENSIONS[t.format] : `.${t.format}`;
  return `part-${String(index).padStart(5, '0')}${ext}`;
}

/** Index of a part file name, or undefined when it is not one of ours. */
export function partIndexOf(fileName: string): number | undefined {
  const m = PART_FILE.exec(fileName);
  return m ? Number(m[1]) : undefined;
}

/** Object key of one part file. */
export function partKey(t: FeedTable, day: string, hour: string, index: number): string {
  return `${hourPrefix(t, day, hour)}${partFileName(t, index)}`;
}

/** Prefix under which the day manifests live (one object per day: listing it lists the dates). */
export function manifestsPrefix(t: FeedTable): string {
  return `${tablePrefix(t)}_manifests/`;
}

/** Object key of a day's manifest. */
export function manifestKey(t: FeedTable, day: string): string {
  return `${manifestsPrefix(t)}dt=${day}.json`;
}

/** The day of a manifest key listed under {@link manifestsPrefix}, or undefined. */
export function dayOfManifestKey(t: FeedTable, key: string): string | undefined {
  const prefix = manifestsPrefix(t);
  if (!key.startsWith(prefix)) return undefined;
  const m = /^dt=(\d{4}-\d{2}-\d{2})\.json$/.exec(key.slice(prefix.length));
  return m?.[1] !== undefined && isValidDay(m[1]) ? m[1] : undefined;
}

/** Object key of an unfinished export's checkpoint (a day run and an hour run never share one). */
export function checkpointKey(t: FeedTable, day: string, hour?: string): string {
  return `${tablePrefix(t)}_checkpoints/dt=${day}${hour === undefined ? '' : `/hr=${hour}`}.json`;
}

/** What to export: a whole UTC day, or one hour of it. */
export interface ExportScope {
  readonly table: FeedTable;
  readonly day: string;
  /** `HH`; absent for the whole day. */
  readonly hour?: string;
}

/** Object key of an on-demand export request; `id` makes each request a new object. */
export function exportRequestKey(scope: ExportScope, id: string): string {
  const t = scope.table;
  const hour = scope.hour === undefined ? '' : `hr=${scope.hour}/`;
  return `${EXPORT_REQUESTS_PREFIX}${t.feed}/version=${t.version}/format=${t.format}/dt=${scope.day}/${hour}${id}.json`;
}

const REQUEST_KEY =
  /^feeds\/_requests\/([a-z0-9_]+)\/version=([0-9]+)\/format=([a-z0-9]+)\/dt=(\d{4}-\d{2}-\d{2})\/(?:hr=(\d{2})\/)?[A-Za-z0-9._-]+\.json$/;

/** The scope named by an export request key, or undefined when the key is not a valid request. */
export function parseExportRequestKey(key: string): ExportScope | undefined {
  const m = REQUEST_KEY.exec(key);
  if (!m) return undefined;
  const [, feed = '', version = '', format = '', day = '', hour] = m;
  if (!isValidDay(day) || !isServedTable({ feed, version, format })) return undefined;
  if (hour !== undefined && Number(hour) > 23) return undefined;
  return { table: { feed, version, format }, day, ...(hour !== undefined && { hour }) };
}

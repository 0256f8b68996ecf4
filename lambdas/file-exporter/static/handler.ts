/**
 * The File Exporter routes, `POST /fileexporter/v1/static/<operation>` (api-contract.md §4; docs/feeds.md):
 * list feeds, versions, formats, dates, intervals and files, and hand out a file as a short-lived
 * pre-signed URL. One entry serves all seven routes (they share the bucket, the rules and the permissions);
 * it dispatches on the last path segment.
 *
 * - Inputs accept bare or prefixed values and `fileName` or `file` (A11); outputs are bare, intervals
 *   `hr=HH`. Malformed selector → `400-01`; unknown feed, version, format, date, interval or file →
 *   `404-01`; no feed bucket configured (feeds not enabled) → `403-01`.
 * - Dates, intervals and files come from the day manifests, which the export writes last: a day being
 *   exported for the first time is not listed until it is complete.
 * - `getfeedfile` answers `url` plus [EXT] `expiresAt`, `rows`, `bytes`, `sha256` (of the gzip'd object).
 */
import { ApiError } from '../../../core/api/errors';
import {
  type FeedManifest,
  FeedStateFormatError,
  type ManifestFile,
  parseManifest,
} from '../../../core/feeds/manifest';
import {
  dayOfManifestKey,
  FEED_CATALOG,
  type FeedTable,
  feedFormats,
  feedVersions,
  manifestKey,
  manifestsPrefix,
} from '../../../core/feeds/partitions';
import {
  FeedSelectorError,
  type FeedSelectors,
  intervalLabel,
  parseSelectors,
  type SelectorName,
} from '../../../core/feeds/selectors';
import { loadConfig } from '../../shared/config';
import { type ApiDeps, depsFromConfig, type FeedsAccess } from '../../shared/deps';
import { parseJsonBody, type RouteHandler, type RouteResponse, runRoute } from '../../shared/http';

/** The seven operations, as the last path segment spells them. */
export const FILE_EXPORTER_OPERATIONS = [
  'listfeeds',
  'listfeedversions',
  'listfeedformats',
  'listfeeddates',
  'listfeedintervals',
  'listfeedfiles',
  'getfeedfile',
] as const;

/** One File Exporter operation. */
export type FileExporterOperation = (typeof FILE_EXPORTER_OPERATIONS)[number];

/** What the routes need. */
export type FileExporterDeps = Pick<ApiDeps, 'feeds' | 'logger' | 'metrics' | 'now'>;

const REQUIRED: Readonly<Record<FileExporterOperation, readonly SelectorName[]>> = {
  listfeeds: [],
  listfeedversions: ['feed'],
  listfeedformats: ['feed', 'version'],
  listfeeddates: ['feed', 'version', 'format'],
  listfeedintervals: ['feed', 'version', 'format', 'date'],
  listfeedfiles: ['feed', 'version', 'format', 'date'],
  getfeedfile: ['feed', 'version', 'format', 'date', 'fileName'],
};

const OPTIONAL: Readonly<Partial<Record<FileExporterOperation, readonly SelectorName[]>>> = {
  listfeedfiles: ['interval'],
  getfeedfile: ['interval'],
};

function notFound(message: string): never {
  throw new ApiError('404-01', message);
}

function feedsOrForbidden(deps: FileExporterDeps): FeedsAccess {
  if (!deps.feeds) throw new ApiError('403-01', 'File Exporter feeds are not enabled for this deployment');
  return deps.feeds;
}

function tableOf(s: FeedSelectors): FeedTable {
  const feed = s.feed as string;
  if (feedVersions(feed) === undefined) notFound(`Unknown feed '${feed}'; listfeeds lists the feeds`);
  const version = s.version as string;
  const formats = feedFormats(feed, version) ?? notFound(`Feed '${feed}' has no version '${version}'`);
  const format = s.format as string;
  if (!formats.includes(format)) notFound(`Feed '${feed}' version ${version} has no format '${format}'`);
  return { feed, version, format };
}

async function manifestOf(feeds: FeedsAccess, table: FeedTable, date: string): Promise<FeedManifest> {
  const raw = await feeds.store.getJson(manifestKey(table, date));
  if (raw === undefined) notFound(`No ${table.feed} feed files for date ${date}; listfeeddates lists the dates`);
  try {
    return parseManifest(raw);
  } catch (err) {
    if (err instanceof FeedStateFormatError) throw new ApiError('500-01', undefined, { cause: err });
    throw err;
  }
}

function hourOfInterval(manifest: FeedManifest, interval: string): string {
  // Only hourly intervals exist; a finer one (`hr=01/mi=15`) is well-formed but never ours.
  if (!/^\d{2}$/.test(interval) || !manifest.hours.includes(interval)) {
    notFound(`No interval '${interval}' for date ${manifest.date}; listfeedintervals lists them`);
  }
  return interval;
}

function findFile(manifest: FeedManifest, s: FeedSelectors): ManifestFile {
  const requested = s.fileName as string;
  const qualified = /^hr=(\d{2})\/(.+)$/.exec(requested);
  let hour = s.interval === undefined ? undefined : hourOfInterval(manifest, s.interval);
  const name = qualified ? (qualified[2] as string) : requested;
  if (qualified) {
    if (hour !== undefined && hour !== qualified[1]) {
      throw new ApiError('400-01', `fileName ${requested} is not in interval hr=${hour}`);
    }
    hour = qualified[1];
  }
  const matches = manifest.files.filter((f) => f.fileName === name && (hour === undefined || f.hour === hour));
  if (matches.length === 0) notFound(`No file '${requested}' for date ${manifest.date}; listfeedfiles lists them`);
  if (matches.length > 1) {
    throw new ApiError('400-01', `fileName ${name} exists in several intervals of ${manifest.date}; give interval`);
  }
  return matches[0] as ManifestFile;
}

type Logic = (deps: FileExporterDeps, s: FeedSelectors) => Promise<Record<string, unknown>>;

const LOGIC: Readonly<Record<FileExporterOperation, Logic>> = {
  listfeeds: async () => ({ feeds: Object.keys(FEED_CATALOG) }),
  listfeedversions: async (_deps, s) => {
    const feed = s.feed as string;
    const versions = feedVersions(feed) ?? notFound(`Unknown feed '${feed}'; listfeeds lists the feeds`);
    return { feed, versions: Object.keys(versions) };
  },
  listfeedformats: async (_deps, s) => {
    const feed = s.feed as string;
    if (feedVersions(feed) === undefined) notFound(`Unknown feed '${feed}'; listfeeds lists the feeds`);
    const version = s.version as string;
    const formats = feedFormats(feed, version) ?? notFound(`Feed '${feed}' has no version '${version}'`);
    return { feed, version, formats: [...formats] };
  },
  listfeeddates: async (deps, s) => {
    const feeds = feedsOrForbidden(deps);
    const table = tableOf(s);
    const dates: string[] = [];
    for await (const key of feeds.store.listKeys(manifestsPrefix(table))) {
      const day = dayOfManifestKey(table, key);
      if (day !== undefined) dates.push(day);
    }
    return { ...table, dates };
  },
  listfeedintervals: async (deps, s) => {
    const table = tableOf(s);
    const manifest = await manifestOf(feedsOrForbidden(deps), table, s.date as string);
    const hours = [...new Set(manifest.files.map((f) => f.hour))].sort();
    return { ...table, date: manifest.date, intervals: hours.map(intervalLabel) };
  },
  listfeedfiles: async (deps, s) => {
    const table = tableOf(s);
    const manifest = await manifestOf(feedsOrForbidden(deps), table, s.date as string);
    if (s.interval === undefined) {
      // A whole day: names qualified by their hour, since every hour starts again at part-00000.
      const files = manifest.files.map((f) => `${intervalLabel(f.hour)}/${f.fileName}`);
      return { ...table, date: manifest.date, files };
    }
    const hour = hourOfInterval(manifest, s.interval);
    const files = manifest.files.filter((f) => f.hour === hour).map((f) => f.fileName);
    return { ...table, date: manifest.date, interval: intervalLabel(hour), files };
  },
  getfeedfile: async (deps, s) => {
    const feeds = feedsOrForbidden(deps);
    const table = tableOf(s);
    const manifest = await manifestOf(feeds, table, s.date as string);
    const file = findFile(manifest, s);
    const signed = await feeds.store.presignGet(file.key, feeds.urlTtlSec);
    return {
      ...table,
      date: manifest.date,
      interval: intervalLabel(file.hour),
      fileName: file.fileName,
      url: signed.url,
      expiresAt: signed.expiresAt,
      rows: file.rows,
      bytes: file.bytes,
      sha256: file.sha256,
    };
  },
};

/** The handler of one operation. */
export function makeOperationHandler(deps: FileExporterDeps, operation: FileExporterOperation): RouteHandler {
  return (event) =>
    runRoute(
      event,
      { route: `file-exporter-${operation}`, logger: deps.logger, metrics: deps.metrics },
      async ({ log }) => {
        // listfeeds takes no input: its body is not even read (the contract declares no 400 for it).
        const body = operation === 'listfeeds' ? undefined : parseJsonBody(event);
        let selectors: FeedSelectors;
        try {
          selectors = parseSelectors(body, REQUIRED[operation], OPTIONAL[operation] ?? []);
        } catch (err) {
          if (err instanceof FeedSelectorError) throw new ApiError('400-01', err.message, { cause: err });
          throw err;
        }
        const responseBody = await LOGIC[operation](deps, selectors);
        log.info('file exporter served', { operation, ...selectors });
        const response: RouteResponse = { status: 200, body: responseBody };
        return response;
      },
    );
}

/** One handler for every operation, dispatching on the path's last segment (`event.resource` in AWS). */
export function makeHandler(deps: FileExporterDeps): RouteHandler {
  const handlers = new Map(FILE_EXPORTER_OPERATIONS.map((op) => [op, makeOperationHandler(deps, op)]));
  return (event) => {
    const path = event.resource ?? event.path ?? '';
    const op = path.slice(path.lastIndexOf('/') + 1) as FileExporterOperation;
    const handler = handlers.get(op);
    if (handler) return handler(event);
    return runRoute(event, { route: 'file-exporter', logger: deps.logger, metrics: deps.metrics }, async () => {
      throw new ApiError('404-01');
    });
  };
}

let live: RouteHandler | undefined;

/** The Lambda entry point (every `/fileexporter/v1/static/*` route). */
export const handler: RouteHandler = (event) => {
  live ??= makeHandler(depsFromConfig(loadConfig(), 'file-exporter'));
  return live(event);
};

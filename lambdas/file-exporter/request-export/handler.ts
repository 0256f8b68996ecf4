/**
 * [EXT] `POST /fileexporter/v1/admin/exportfeed`: export (or re-export) a day, or one hour of it, on
 * demand (docs/feeds.md). The route records an export request object in the feed bucket and answers
 * `202`; the bucket's notification invokes the export function, which does the work (an export outlives
 * API Gateway's 29 s). Same authentication as every route.
 *
 * Body: `date` (`YYYY-MM-DD` or `dt=YYYY-MM-DD`, required, not in the future), optional `hour` / `interval`
 * (`HH` or `hr=HH`), optional `feed`/`version`/`format` (default the utterances feed v1 jsonl).
 * Malformed → `400-01`; unknown feed/version/format → `404-01`; feeds not enabled → `403-01`.
 */
import { ApiError } from '../../../core/api/errors';
import { type FeedTable, isServedTable, UTTERANCES_TABLE } from '../../../core/feeds/partitions';
import { FeedSelectorError, intervalLabel, parseSelectors } from '../../../core/feeds/selectors';
import { writeExportRequest } from '../../export/handler';
import { loadConfig } from '../../shared/config';
import { type ApiDeps, depsFromConfig } from '../../shared/deps';
import { parseJsonBody, type RouteHandler, runRoute } from '../../shared/http';

/** Builds the route handler around injected collaborators. */
export function makeHandler(deps: Pick<ApiDeps, 'feeds' | 'logger' | 'metrics' | 'now'>): RouteHandler {
  const now = deps.now ?? Date.now;
  return (event) =>
    runRoute(
      event,
      { route: 'request-export', logger: deps.logger, metrics: deps.metrics },
      async ({ log, requestId }) => {
        const body = parseJsonBody(event);
        if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) {
          throw new ApiError('400-01', 'Request body must be a JSON object');
        }
        const input = { ...((body ?? {}) as Record<string, unknown>) };
        if (input.interval === undefined && input.hour !== undefined) input.interval = input.hour;
        let s: ReturnType<typeof parseSelectors>;
        try {
          s = parseSelectors(input, ['date'], ['feed', 'version', 'format', 'interval']);
        } catch (err) {
          if (err instanceof FeedSelectorError) throw new ApiError('400-01', err.message, { cause: err });
          throw err;
        }
        if (s.interval !== undefined && !/^\d{2}$/.test(s.interval)) {
          throw new ApiError('400-01', 'hour must be HH or hr=HH (the feed is hourly)');
        }
        const table: FeedTable = {
          feed: s.feed ?? UTTERANCES_TABLE.feed,
          version: s.version ?? UTTERANCES_TABLE.version,
          format: s.format ?? UTTERANCES_TABLE.format,
        };
        if (!isServedTable(table)) {
          throw new ApiError('404-01', `No feed ${table.feed} version ${table.version} format ${table.format}`);
        }
        const date = s.date as string;
        const today = new Date(now()).toISOString().slice(0, 10);
        if (date > today) throw new ApiError('400-01', `date ${date} is in the future (UTC today is ${today})`);
        if (!deps.feeds) throw new ApiError('403-01', 'File Exporter feeds are not enabled for this deployment');
        const scope = { table, day: date, ...(s.interval !== undefined && { hour: s.interval }) };
        await writeExportRequest(deps.feeds.store, scope, now(), 'api', requestId);
        log.info('export requested', { date, hour: s.interval });
        return {
          status: 202,
          body: {
            ...table,
            date,
            ...(s.interval !== undefined && { interval: intervalLabel(s.interval) }),
            requestId,
            status: 'accepted',
          },
        };
      },
    );
}

let live: RouteHandler | undefined;

/** The Lambda entry point. */
export const handler: RouteHandler = (event) => {
  live ??= makeHandler(depsFromConfig(loadConfig(), 'request-export'));
  return live(event);
};

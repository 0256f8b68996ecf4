/**
 * The feed export function (docs/feeds.md). One handler for every trigger:
 *
 * - **Schedule**: EventBridge Scheduler, `cron(0 2 * * ? *)` in time zone `UTC`, input
 *   `{"source":"schedule","scheduledTime":"<aws.scheduler.scheduled-time>"}` → the UTC day before the
 *   scheduled time (not before "now": a retry hours later still exports the right day).
 * - **Direct invoke** (CLI, console, tests): `{"date":"YYYY-MM-DD","hour":"HH"?}`.
 * - **Export requests**: S3 `ObjectCreated` notifications for `feeds/_requests/…` objects, written by the
 *   REST route `POST /fileexporter/v1/admin/exportfeed` and by this function itself to continue an export
 *   that reached its deadline.
 *
 * Timeout-aware: the export stops cleanly `safetyMs` before the invocation's deadline (the checkpoint
 * covers every completed part), writes a continuation request, and the next invocation resumes. A failure
 * (thrown error) leaves the same checkpoint; the asynchronous invocation's retries resume from it.
 */

import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { AppError, type AppErrorOptions } from '../../core/errors';
import { type ExportResult, type ExportSource, exportFeed, type FeedObjectStore } from '../../core/feeds/exporter';
import type { PartBudget } from '../../core/feeds/manifest';
import {
  type ExportScope,
  exportRequestKey,
  isValidDay,
  parseExportRequestKey,
  previousUtcDay,
  UTTERANCES_TABLE,
} from '../../core/feeds/partitions';
import { createDocumentClient } from '../../store/dynamo';
import { createFeedsS3Client, S3FeedStore, utteranceExportSource } from '../../store/feeds';
import { UtterancesRepository } from '../../store/utterances';
import { type ExportConfig, loadExportConfig } from '../shared/export-config';
import { type ApiLogger, createObservability, type MetricsSink } from '../shared/observability';

/** The events the export understands. */
export type ExportEvent =
  | { source: 'schedule'; scheduledTime?: string }
  | { date: string; hour?: string | number }
  | { Records: { eventSource?: string; s3?: { bucket?: { name?: string }; object?: { key?: string } } }[] };

/** The slice of the Lambda context the export reads. */
export interface ExportContext {
  getRemainingTimeInMillis?: () => number;
}

/** Collaborators of the export. */
export interface ExportDeps {
  source: ExportSource;
  store: FeedObjectStore;
  budget: PartBudget;
  /** Stop this long before the deadline. */
  safetyMs: number;
  companyMarker?: string;
  logger: ApiLogger;
  metrics: MetricsSink;
  /** Epoch ms. @default Date.now */
  now?: () => number;
  /**
   * Arranges the next invocation of an export that stopped at its deadline (AWS: a request object, whose
   * S3 notification invokes this function). @default - none: the caller runs it again
   */
  continueLater?: (scope: ExportScope) => Promise<void>;
}

/** What one invocation did, per export scope. */
export interface ExportSummary {
  exports: (Omit<ExportResult, 'manifest'> & { manifestRows?: number })[];
  /** Export request keys that named nothing we export (ignored). */
  ignored: string[];
}

/** The event could not be understood. */
export class ExportEventError extends AppError {
  override readonly name = 'ExportEventError';
  declare readonly code: 'EXPORT_INVALID_EVENT';
  constructor(message: string, options?: AppErrorOptions) {
    super('EXPORT_INVALID_EVENT', message, options);
  }
}

function normalizeHour(hour: string | number | undefined): string | undefined {
  if (hour === undefined) return undefined;
  const text = String(hour).replace(/^hr=/i, '');
  if (!/^\d{1,2}$/.test(text) || Number(text) > 23) throw new ExportEventError(`hour must be 0..23, got ${hour}`);
  return text.padStart(2, '0');
}

/** The scopes an event asks for (and the request keys to clean up), in order. */
export function scopesOf(
  event: unknown,
  now: number,
): { scopes: { scope: ExportScope; requestKey?: string }[]; ignored: string[] } {
  if (typeof event !== 'object' || event === null) throw new ExportEventError('event must be an object');
  const e = event as Record<string, unknown>;
  if (Array.isArray(e.Records)) {
    const scopes: { scope: ExportScope; requestKey: string }[] = [];
    const ignored: string[] = [];
    for (const r of e.Records as { s3?: { object?: { key?: string } } }[]) {
      const raw = r.s3?.object?.key;
      if (raw === undefined) continue;
      // S3 notifications URL-encode keys, with '+' for spaces.
      const key = decodeURIComponent(raw.replace(/\+/g, ' '));
      const scope = parseExportRequestKey(key);
      if (scope) scopes.push({ scope, requestKey: key });
      else ignored.push(key);
    }
    return { scopes, ignored };
  }
  if (typeof e.date === 'string') {
    const day = e.date.replace(/^dt=/, '');
    if (!isValidDay(day)) throw new ExportEventError(`date must be YYYY-MM-DD, got ${e.date}`);
    const hour = normalizeHour(e.hour as string | number | undefined);
    return { scopes: [{ scope: { table: UTTERANCES_TABLE, day, ...(hour !== undefined && { hour }) } }], ignored: [] };
  }
  if (e.source === 'schedule' || e['detail-type'] === 'Scheduled Event') {
    const when =
      typeof e.scheduledTime === 'string' ? e.scheduledTime : typeof e.time === 'string' ? e.time : undefined;
    const at = when === undefined ? now : Date.parse(when);
    if (Number.isNaN(at)) throw new ExportEventError(`scheduledTime is not a time: ${String(when)}`);
    return { scopes: [{ scope: { table: UTTERANCES_TABLE, day: previousUtcDay(at) } }], ignored: [] };
  }
  throw new ExportEventError('unrecognized event: expected a schedule, {date[, hour]} or S3 export requests');
}

/** Writes an export request object (the REST route, and continuations); its notification runs the export. */
export async function writeExportRequest(
  store: Pick<FeedObjectStore, 'putJson'>,
  scope: ExportScope,
  now: number,
  reason: 'api' | 'continuation',
  requestId: string = randomUUID(),
): Promise<string> {
  const key = exportRequestKey(scope, `${now}-${requestId}`);
  await store.putJson(key, {
    feed: scope.table.feed,
    version: scope.table.version,
    format: scope.table.format,
    date: scope.day,
    ...(scope.hour !== undefined && { hour: scope.hour }),
    reason,
    requestId,
    requestedAt: new Date(now).toISOString(),
  });
  return key;
}

function summarize(r: ExportResult): ExportSummary['exports'][number] {
  const { manifest, ...rest } = r;
  return { ...rest, ...(manifest !== undefined && { manifestRows: manifest.rows }) };
}

/** Runs one scope within this invocation's time. */
async function runOne(deps: ExportDeps, scope: ExportScope, remainingMs: () => number): Promise<ExportResult> {
  const log = deps.logger;
  const result = await exportFeed(deps.source, deps.store, scope, {
    budget: deps.budget,
    safetyMs: deps.safetyMs,
    remainingMs,
    ...(deps.now !== undefined && { now: deps.now }),
    ...(deps.companyMarker !== undefined && { companyMarker: deps.companyMarker }),
    log: (message, attributes) => log.info(message, { day: scope.day, hour: scope.hour, ...attributes }),
  });
  deps.metrics.addMetric('ExportRowsRead', 'Count', result.rowsRead);
  if (result.status === 'complete') {
    deps.metrics.addMetric('ExportRows', 'Count', result.rows);
    deps.metrics.addMetric('ExportFiles', 'Count', result.files);
    log.info('export complete', { ...summarize(result) });
  } else {
    deps.metrics.addMetric('ExportIncomplete', 'Count', 1);
    log.warn('export stopped before the deadline; continuing in a new invocation', { ...summarize(result) });
    await deps.continueLater?.(scope);
  }
  return result;
}

/** Builds the handler around injected collaborators. */
export function makeExportHandler(deps: ExportDeps) {
  const now = deps.now ?? Date.now;
  return async (event: unknown, context?: ExportContext): Promise<ExportSummary> => {
    const remainingMs = () => context?.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY;
    const { scopes, ignored } = scopesOf(event, now());
    for (const key of ignored) deps.logger.warn('ignored an object that is not an export request', { key });
    const exports: ExportSummary['exports'] = [];
    try {
      for (const { scope, requestKey } of scopes) {
        exports.push(summarize(await runOne(deps, scope, remainingMs)));
        // The request is served (or continued by a new one); a failure above keeps it for the retry.
        if (requestKey !== undefined) await deps.store.deleteKeys([requestKey]);
      }
    } finally {
      deps.metrics.publish();
    }
    return { exports, ignored };
  };
}

/**
 * Runs an export until it is complete, invocation after invocation (the CLI and the local scheduler: no
 * Lambda deadline, so one pass normally suffices; a deadline given by `remainingMs` is honoured per pass).
 */
export async function exportUntilComplete(
  deps: Omit<ExportDeps, 'continueLater'>,
  scope: ExportScope,
  remainingMs: () => number = () => Number.POSITIVE_INFINITY,
  maxPasses = 1000,
): Promise<ExportResult> {
  for (let pass = 1; ; pass++) {
    const result = await runOne(deps, scope, remainingMs);
    if (result.status === 'complete' || pass >= maxPasses) return result;
  }
}

/** Builds the export's collaborators from its config (the Lambda, CLI and local composition roots). */
export function exportDepsFromConfig(
  config: ExportConfig,
  functionName = 'export',
  options: { credentials?: { accessKeyId: string; secretAccessKey: string } } = {},
): ExportDeps {
  const { logger, metrics } = createObservability(config, functionName);
  // Local runs pass the local S3's credentials (DynamoDB Local accepts any); in AWS the role's are used.
  const credentials = options.credentials;
  const dynamo = new DynamoDBClient({
    ...(config.awsRegion !== undefined && { region: config.awsRegion }),
    ...(config.dynamoDbEndpoint !== undefined && { endpoint: config.dynamoDbEndpoint }),
    ...(credentials !== undefined && { credentials }),
  });
  const repository = new UtterancesRepository(createDocumentClient(dynamo), { tableName: config.utterancesTable });
  const s3 = createFeedsS3Client({
    ...(config.awsRegion !== undefined && { region: config.awsRegion }),
    ...(config.s3Endpoint !== undefined && { endpoint: config.s3Endpoint }),
    ...(credentials !== undefined && { credentials }),
  });
  const store = new S3FeedStore(s3, { bucket: config.feedsBucket });
  return {
    source: utteranceExportSource(repository, { pageSize: config.pageSize }),
    store,
    budget: { maxRowsPerPart: config.maxRowsPerPart, maxBytesPerPart: config.maxBytesPerPart },
    safetyMs: config.safetyMs,
    ...(config.companyMarker !== undefined && { companyMarker: config.companyMarker }),
    logger,
    metrics,
    continueLater: async (scope) => {
      await writeExportRequest(store, scope, Date.now(), 'continuation');
    },
  };
}

let live: ReturnType<typeof makeExportHandler> | undefined;

/** The Lambda entry point. */
export const handler = (event: unknown, context?: ExportContext): Promise<ExportSummary> => {
  live ??= makeExportHandler(exportDepsFromConfig(loadExportConfig()));
  return live(event, context);
};

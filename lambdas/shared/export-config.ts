/**
 * Configuration of the feed export (lambdas/export/handler.ts; also read by the export CLI and the local
 * scheduler): the only place the export reads its environment. Validates every variable at once and fails
 * fast with one line per problem ({@link ConfigError}).
 */
import { z } from 'zod';
import { type Env, integer, nonEmpty, present, problemsOf, url } from '../../contract/env';
import type { EnvSchemaOf, EXPORT_ENV, LAMBDA_OBSERVABILITY_ENV } from '../../contract/env-names';
import { ConfigError } from '../../core/config-error';
import { API_CONFIG_SUBJECT, type ObservabilityConfig, observability, observabilitySchema } from './config';

/** Configuration of the feed export. Units are in the names. */
export interface ExportConfig extends ObservabilityConfig {
  /** `UTTERANCES_TABLE` (required) */
  utterancesTable: string;
  /** `FEEDS_BUCKET` (required) */
  feedsBucket: string;
  /** `DYNAMODB_ENDPOINT` @default - the regional endpoint */
  dynamoDbEndpoint?: string;
  /** `S3_ENDPOINT` (a local S3) @default - the regional endpoint */
  s3Endpoint?: string;
  /** `EXPORT_MAX_ROWS_PER_PART` @default 200000 */
  maxRowsPerPart: number;
  /** `EXPORT_MAX_BYTES_PER_PART`: uncompressed bytes per part file. @default 134217728 (128 MiB) */
  maxBytesPerPart: number;
  /** `EXPORT_PAGE_SIZE`: items per export-index query (two pages per shard are held). @default 1000 */
  pageSize: number;
  /** `EXPORT_SAFETY_MS`: stop cleanly when less than this remains of the invocation. @default 60000 */
  safetyMs: number;
  /** `FEED_COMPANY_MARKER`: `company_marker` of every row. @default - null */
  companyMarker?: string;
}

const exportSchema = observabilitySchema.extend({
  UTTERANCES_TABLE: nonEmpty('UTTERANCES_TABLE'),
  FEEDS_BUCKET: nonEmpty('FEEDS_BUCKET'),
  DYNAMODB_ENDPOINT: url('DYNAMODB_ENDPOINT', 'http://127.0.0.1:8000').optional(),
  S3_ENDPOINT: url('S3_ENDPOINT', 'http://127.0.0.1:4568').optional(),
  EXPORT_MAX_ROWS_PER_PART: integer('EXPORT_MAX_ROWS_PER_PART', 1, 10_000_000).default(200_000),
  EXPORT_MAX_BYTES_PER_PART: integer('EXPORT_MAX_BYTES_PER_PART', 1024, 4 * 1024 ** 3).default(128 * 1024 ** 2),
  EXPORT_PAGE_SIZE: integer('EXPORT_PAGE_SIZE', 1, 10_000).default(1000),
  EXPORT_SAFETY_MS: integer('EXPORT_SAFETY_MS', 0, 600_000).default(60_000),
  FEED_COMPANY_MARKER: z
    .string()
    .max(255, { message: 'FEED_COMPANY_MARKER must be at most 255 characters' })
    .optional(),
} satisfies EnvSchemaOf<Omit<typeof EXPORT_ENV, keyof typeof LAMBDA_OBSERVABILITY_ENV>, z.ZodType>);

/** Reads and validates the export's configuration. Throws {@link ConfigError}. */
export function loadExportConfig(env: Env = process.env): ExportConfig {
  const parsed = exportSchema.safeParse(present(env));
  if (!parsed.success) throw new ConfigError(problemsOf(parsed.error), API_CONFIG_SUBJECT);
  const v = parsed.data;
  return {
    ...observability(v),
    utterancesTable: v.UTTERANCES_TABLE,
    feedsBucket: v.FEEDS_BUCKET,
    ...(v.DYNAMODB_ENDPOINT !== undefined && { dynamoDbEndpoint: v.DYNAMODB_ENDPOINT }),
    ...(v.S3_ENDPOINT !== undefined && { s3Endpoint: v.S3_ENDPOINT }),
    maxRowsPerPart: v.EXPORT_MAX_ROWS_PER_PART,
    maxBytesPerPart: v.EXPORT_MAX_BYTES_PER_PART,
    pageSize: v.EXPORT_PAGE_SIZE,
    safetyMs: v.EXPORT_SAFETY_MS,
    ...(v.FEED_COMPANY_MARKER !== undefined && { companyMarker: v.FEED_COMPANY_MARKER }),
  };
}

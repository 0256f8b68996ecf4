/**
 * `npm run export -- --day YYYY-MM-DD [--hour HH]` (or `--yesterday`): runs the feed export in this
 * process with the same code as the export function, until complete, and prints where the files are.
 *
 * Configuration: the export's environment variables (lambdas/shared/export-config.ts); any that are unset
 * are taken from the running local stack's `.local/endpoints.json` (`dynamodb.endpoint`,
 * `dynamodb.tablePrefix`, `s3.endpoint`, `s3.bucket`), so inside `npm start`'s world no flags are needed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { tableNames } from '../contract/tables';
import { type ExportScope, isValidDay, previousUtcDay, UTTERANCES_TABLE } from '../core/feeds/partitions';
import { exportDepsFromConfig, exportUntilComplete } from '../lambdas/export/handler';
import { loadExportConfig } from '../lambdas/shared/export-config';
import { LOCAL_S3_CREDENTIALS } from './s3';

const ROOT = join(import.meta.dirname, '..');

/** What `.local/endpoints.json` may tell us. */
interface LocalEndpoints {
  dynamodb?: { endpoint?: string; tablePrefix?: string };
  s3?: { endpoint?: string; bucket?: string };
}

/**
 * The environment with defaults from `.local/endpoints.json` (when present) for every variable left unset,
 * and `LOCAL_S3=1` when the S3 endpoint is on loopback and no AWS credentials are set (use the local S3's).
 */
export function localExportEnv(
  env: Record<string, string | undefined>,
  endpointsFile: string = join(resolve(ROOT, env.LOCAL_DATA_DIR || '.local'), 'endpoints.json'),
): Record<string, string | undefined> {
  let local: LocalEndpoints = {};
  if (existsSync(endpointsFile)) local = JSON.parse(readFileSync(endpointsFile, 'utf8')) as LocalEndpoints;
  const prefix = local.dynamodb?.tablePrefix;
  const defaults: Record<string, string | undefined> = {
    UTTERANCES_TABLE: prefix === undefined ? undefined : tableNames(prefix).utterances,
    DYNAMODB_ENDPOINT: local.dynamodb?.endpoint,
    S3_ENDPOINT: local.s3?.endpoint,
    FEEDS_BUCKET: local.s3?.bucket,
    AWS_REGION: 'us-east-1',
    LOG_LEVEL: 'WARN',
  };
  const merged: Record<string, string | undefined> = { ...defaults };
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') merged[k] = v;
  // A loopback S3 is the local s3rver, which only accepts its own keys (unless the caller brought some).
  const s3Host = merged.S3_ENDPOINT === undefined ? undefined : new URL(merged.S3_ENDPOINT).hostname;
  if (
    (s3Host === '127.0.0.1' || s3Host === 'localhost' || s3Host === '[::1]') &&
    merged.AWS_ACCESS_KEY_ID === undefined
  ) {
    merged.LOCAL_S3 = '1';
  }
  return merged;
}

/** Parsed command line. */
export interface ExportCliArgs {
  scope: ExportScope;
}

/** Reads `--day YYYY-MM-DD | --yesterday` and `--hour HH`. Throws with a usage line on bad input. */
export function parseExportArgs(argv: string[], nowMs: number): ExportCliArgs {
  const usage = 'usage: npm run export -- --day YYYY-MM-DD [--hour HH]   (or --yesterday)';
  const { values } = parseArgs({
    args: argv,
    options: { day: { type: 'string' }, hour: { type: 'string' }, yesterday: { type: 'boolean', default: false } },
    strict: true,
  });
  const day = values.day ?? (values.yesterday ? previousUtcDay(nowMs) : undefined);
  if (day === undefined || !isValidDay(day))
    throw new Error(`${day === undefined ? 'a day is required' : `bad day ${day}`}\n${usage}`);
  let hour: string | undefined;
  if (values.hour !== undefined) {
    if (!/^\d{1,2}$/.test(values.hour) || Number(values.hour) > 23)
      throw new Error(`bad hour ${values.hour}\n${usage}`);
    hour = values.hour.padStart(2, '0');
  }
  return { scope: { table: UTTERANCES_TABLE, day, ...(hour !== undefined && { hour }) } };
}

async function main(): Promise<void> {
  // Known and handled: production targets Node 24 with pinned SDKs; keep the CLI's output readable here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { scope } = parseExportArgs(process.argv.slice(2), Date.now());
  const env = localExportEnv(process.env);
  const config = loadExportConfig(env);
  const deps = exportDepsFromConfig(
    config,
    'export-cli',
    env.LOCAL_S3 === '1' ? { credentials: LOCAL_S3_CREDENTIALS } : {},
  );
  const started = performance.now();
  const result = await exportUntilComplete(deps, scope);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const what = `${scope.day}${scope.hour === undefined ? '' : ` hour ${scope.hour}`}`;
  out(
    `exported ${what}: ${result.rows} rows in ${result.files} files (${seconds}s${result.resumed ? ', resumed' : ''})`,
  );
  const base = config.s3Endpoint === undefined ? undefined : `${config.s3Endpoint}/${config.feedsBucket}`;
  const manifest = result.manifest;
  out(`  manifest  s3://${config.feedsBucket}/feeds/utterances/version=1/format=jsonl/_manifests/dt=${scope.day}.json`);
  for (const f of (manifest?.files ?? []).filter((x) => scope.hour === undefined || x.hour === scope.hour)) {
    out(
      `  ${String(f.rows).padStart(8)} rows  s3://${config.feedsBucket}/${f.key}${base ? `  (${base}/${f.key})` : ''}`,
    );
  }
  if (result.files === 0) out('  (no utterances: the manifest records zero rows)');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    process.stderr.write(`export failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}

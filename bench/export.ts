/**
 * `npm run bench -- export [--count 100000[,1000000]] [--concurrency 8] [--part-rows 200000] [--disk]`: seeds one
 * UTC day of N utterances into DynamoDB Local (BatchWriteItem, parallel, items shaped exactly as
 * `UtterancesRepository.putFinal` writes them, spread over 24 hours and many conversations, so all 16
 * export shards are used), then exports that day to a local S3 in a separate process and reports:
 * seeding time and rate, export rows/second, and the export process's peak RSS. Running the export in its
 * own process keeps DynamoDB Local (a JVM) and s3rver out of the memory figure.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BatchWriteItemCommand, type WriteRequest } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { marshall } from '@aws-sdk/util-dynamodb';
import { utteranceIdOf } from '../core/transcript/utterance';
import { exportDepsFromConfig, exportUntilComplete } from '../lambdas/export/handler';
import { loadExportConfig } from '../lambdas/shared/export-config';
import { createLocalDynamoDbClient, startDynamoDbLocal } from '../local/dynamodb';
import { LOCAL_S3_CREDENTIALS, startLocalS3 } from '../local/s3';
import { createTables } from '../store/create-tables';
import { createFeedsS3Client } from '../store/feeds';
import { deterministicUlid, exportDayKey, exportShardOf, utteranceSk } from '../store/utterances';

const DAY = '2025-01-15';
const BUCKET = 'bench-feeds';
const WORKER_FLAG = '--export-worker';

interface WorkerResult {
  rows: number;
  files: number;
  seconds: number;
  maxRssMiB: number;
  invocations: number;
}

/** The child: exports the day with the export's own config loader, reports its numbers and peak RSS. */
async function worker(): Promise<void> {
  const config = loadExportConfig(process.env);
  const deps = exportDepsFromConfig(config, 'bench-export', { credentials: LOCAL_S3_CREDENTIALS });
  const started = performance.now();
  const result = await exportUntilComplete(deps, {
    table: { feed: 'utterances', version: '1', format: 'jsonl' },
    day: DAY,
  });
  const out: WorkerResult = {
    rows: result.rows,
    files: result.files,
    seconds: (performance.now() - started) / 1000,
    // ru_maxrss is in KiB on Linux.
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    invocations: result.invocations,
  };
  process.send?.(out);
}

function itemOf(i: number, conversations: number, count: number) {
  const conversationId = `bench-conv-${i % conversations}`;
  const role = i % 2 === 0 ? 'customer' : 'agent';
  const streamId = `stream-${role}`;
  const resultId = `r${i}`;
  const utteranceId = utteranceIdOf(conversationId, streamId, resultId);
  // Spread evenly over the day.
  const createdMs = Date.parse(`${DAY}T00:00:00.000Z`) + Math.floor((i / count) * 86_400_000);
  const createdAt = new Date(createdMs).toISOString();
  const startMs = Math.floor(i / conversations) * 1500;
  const sk = utteranceSk(startMs, role, utteranceId);
  return {
    conversationId,
    segment: 1,
    streamId,
    role,
    resultId,
    utteranceId,
    startMs,
    endMs: startMs + 1200,
    text: 'thanks for calling, how can I help you with your account today',
    language: 'en-US',
    confidence: 0.93,
    senderExternalId: role === 'customer' ? 'customer-42' : 'agent-7',
    sk,
    messageId: deterministicUlid(createdMs, utteranceId),
    createdAt,
    exportDay: exportDayKey(DAY, exportShardOf(conversationId)),
    exportSk: `${createdAt}#${conversationId}#${sk}`,
    // Far future: DynamoDB Local deletes expired items.
    ttl: Math.floor(Date.now() / 1000) + 30 * 86_400,
  };
}

async function seed(
  client: ReturnType<typeof createLocalDynamoDbClient>,
  table: string,
  count: number,
  concurrency: number,
): Promise<number> {
  const conversations = Math.max(64, Math.floor(count / 200));
  let next = 0;
  const started = performance.now();
  let lastReport = started;
  const writer = async () => {
    for (;;) {
      const from = next;
      if (from >= count) return;
      next = Math.min(count, from + 25);
      let requests: WriteRequest[] = [];
      for (let i = from; i < next; i++) {
        requests.push({
          PutRequest: { Item: marshall(itemOf(i, conversations, count), { removeUndefinedValues: true }) },
        });
      }
      for (let attempt = 0; requests.length > 0; attempt++) {
        const out = await client.send(new BatchWriteItemCommand({ RequestItems: { [table]: requests } }));
        requests = out.UnprocessedItems?.[table] ?? [];
        if (requests.length > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 20 * 2 ** attempt)));
      }
      const now = performance.now();
      if (now - lastReport > 10_000) {
        lastReport = now;
        process.stdout.write(`  seeded ${next.toLocaleString()} / ${count.toLocaleString()}\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, writer));
  return (performance.now() - started) / 1000;
}

async function runOnce(count: number, concurrency: number, partRows: number, disk: boolean): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-export-'));
  // In memory by default (the JVM's default heap, a quarter of RAM, holds a million items); `--disk` uses
  // DynamoDB Local's SQLite file, which on this kind of machine seeds at only ~150 items/s.
  const dynamo = await startDynamoDbLocal(disk ? { dataDir: join(dir, 'dynamodb') } : {});
  const s3 = await startLocalS3({ dataDir: join(dir, 's3') });
  const client = createLocalDynamoDbClient(dynamo.endpoint);
  try {
    const tables = await createTables(client, 'bench');
    const s3client = createFeedsS3Client({ endpoint: s3.endpoint, credentials: LOCAL_S3_CREDENTIALS });
    await s3client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    s3client.destroy();
    process.stdout.write(
      `\n${count.toLocaleString()} utterances, ${DAY}\n  seeding (BatchWriteItem × ${concurrency})…\n`,
    );
    const seedSeconds = await seed(client, tables.utterances, count, concurrency);
    process.stdout.write(
      `  seeded in ${seedSeconds.toFixed(1)} s (${Math.round(count / seedSeconds).toLocaleString()} items/s)\n  exporting…\n`,
    );
    const result = await new Promise<WorkerResult>((resolve, reject) => {
      const child = fork(import.meta.filename, [WORKER_FLAG], {
        execArgv: ['--import', 'tsx'],
        env: {
          ...process.env,
          UTTERANCES_TABLE: tables.utterances,
          FEEDS_BUCKET: BUCKET,
          DYNAMODB_ENDPOINT: dynamo.endpoint,
          S3_ENDPOINT: s3.endpoint,
          AWS_REGION: 'us-east-1',
          EXPORT_MAX_ROWS_PER_PART: String(partRows),
          LOG_LEVEL: 'WARN',
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        },
      });
      let got: WorkerResult | undefined;
      child.on('message', (m) => {
        got = m as WorkerResult;
      });
      child.on('error', reject);
      child.on('exit', (code) => (got ? resolve(got) : reject(new Error(`export worker exited with ${code}`))));
    });
    const rate = Math.round(result.rows / result.seconds);
    process.stdout.write(
      [
        `  exported ${result.rows.toLocaleString()} rows in ${result.files} files in ${result.seconds.toFixed(1)} s`,
        `  export rate        ${rate.toLocaleString()} utterances/s`,
        `  export peak RSS    ${result.maxRssMiB.toFixed(0)} MiB (export process only)`,
        `  seeding            ${seedSeconds.toFixed(1)} s`,
        '',
      ].join('\n'),
    );
    if (result.rows !== count) throw new Error(`exported ${result.rows} rows, expected ${count}`);
  } finally {
    client.destroy();
    await s3.stop();
    // DynamoDB Local's stop() holds no handle of its own while it waits for the JVM: keep the loop alive,
    // or Node exits here with code 0 before the next count runs.
    const keepAlive = setInterval(() => undefined, 1000);
    await dynamo.stop().finally(() => clearInterval(keepAlive));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Bench entry (bench/run.ts). */
export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      count: { type: 'string', default: '100000' },
      concurrency: { type: 'string', default: '8' },
      'part-rows': { type: 'string', default: '200000' },
      disk: { type: 'boolean', default: false },
    },
  });
  const counts = values.count.split(',').map((c) => Number(c.replace(/_/g, '')));
  if (counts.some((c) => !Number.isInteger(c) || c < 1))
    throw new Error('--count takes whole numbers, e.g. 100000,1000000');
  for (const count of counts)
    await runOnce(count, Number(values.concurrency), Number(values['part-rows']), values.disk);
}

if (process.argv.includes(WORKER_FLAG)) {
  worker().catch((err: unknown) => {
    process.stderr.write(`export worker failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}

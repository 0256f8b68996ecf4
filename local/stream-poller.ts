/**
 * Reads DynamoDB Local's stream the way a Lambda event source mapping reads a DynamoDB stream, and
 * invokes the same fan-out handler (`npm start`, tests, the realtime bench).
 *
 * Emulated semantics (the settings the CDK stack gives the real mapping, docs/realtime.md):
 * - shards are listed with DescribeStream and re-listed every `shardRefreshMs`; a child shard starts only
 *   once its parent is fully processed (DynamoDB Streams' per-key order survives shard splits);
 * - one shard is processed by one invocation at a time (parallelization factor 1), batches of up to
 *   `batchSize` records, polled every `pollIntervalMs` while the shard is idle;
 * - `ReportBatchItemFailures`: the handler's `batchItemFailures` make the poller retry from the lowest
 *   failed sequence number (everything after it is handed back too, as Lambda does); an identifier that
 *   is not in the batch counts as a failure of the whole batch;
 * - `BisectBatchOnFunctionError`: a handler that throws gets each half of the batch separately;
 * - `MaximumRetryAttempts`: a record (or a single-record batch) that keeps failing is sent to the
 *   on-failure destination (`onFailure`, shaped like Lambda's: shard, sequence range, reason) and skipped;
 * - checkpointing: the last fully processed sequence number per shard, in memory or in a JSON file, so
 *   a restarted `npm start` resumes where it stopped.
 *
 * There is no DynamoDB Streams client among our dependencies, so the three calls used (DescribeStream,
 * GetShardIterator, GetRecords) go over `fetch` with the JSON protocol; DynamoDB Local wants an
 * `Authorization` header but checks no signature.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { compareSequenceNumbers } from '../core/delivery/ordering';

/** The handler an event source mapping invokes. */
export type StreamHandler = (
  event: DynamoDBStreamEvent,
  context: { getRemainingTimeInMillis: () => number },
) => Promise<DynamoDBBatchResponse | undefined>;

/** What the on-failure destination receives (Lambda's shape, reduced). */
export interface StreamFailure {
  streamArn: string;
  shardId: string;
  startSequenceNumber: string;
  endSequenceNumber: string;
  batchSize: number;
  reason: 'RetryAttemptsExhausted';
  /** Attempts made on the failing batch or record. */
  retryAttempts: number;
  at: string;
}

/** Options of {@link StreamPoller}. */
export interface StreamPollerOptions {
  /** DynamoDB Local's endpoint. */
  endpoint: string;
  /** The table whose latest stream is read (its ARN comes from DescribeTable). */
  tableName: string;
  /** A client on the same endpoint (DescribeTable). */
  client: DynamoDBClient;
  handler: StreamHandler;
  /** @default 100 */
  batchSize?: number;
  /** Idle poll interval per shard. @default 100 */
  pollIntervalMs?: number;
  /** @default true */
  bisectBatchOnError?: boolean;
  /** Retries of a failing batch/record before the on-failure destination. -1 = forever. @default 1000 */
  maxRetryAttempts?: number;
  /** Pause before a retry. @default 50 */
  retryDelayMs?: number;
  /** Where a shard without a checkpoint starts. @default 'TRIM_HORIZON' */
  startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  /** JSON file keeping checkpoints across restarts. @default - in memory */
  checkpointFile?: string;
  /** The on-failure destination. @default - dropped after a log line */
  onFailure?: (failure: StreamFailure) => Promise<void> | void;
  /** The function timeout the handler's context reports. @default 60000 */
  functionTimeoutMs?: number;
  /** Re-list shards this often. @default 5000 */
  shardRefreshMs?: number;
  /** Diagnostics (never record contents). */
  log?: (message: string, attributes?: Record<string, unknown>) => void;
}

/** Counters, for tests and the bench. */
export interface StreamPollerStats {
  invocations: number;
  records: number;
  retries: number;
  bisections: number;
  sentToOnFailure: number;
}

interface Shard {
  ShardId: string;
  ParentShardId?: string;
  SequenceNumberRange?: { StartingSequenceNumber?: string; EndingSequenceNumber?: string };
}

interface ShardState {
  checkpoint?: string;
  finished?: boolean;
}

interface Checkpoints {
  streamArn: string;
  shards: Record<string, ShardState>;
}

/** A DynamoDB Streams API error (its `__type` name). */
export class StreamsApiError extends Error {
  override readonly name = 'StreamsApiError';
  readonly code = 'LOCAL_STREAMS_API_FAILED';
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

/** The three DynamoDB Streams calls we need, over the JSON protocol. */
export class StreamsApi {
  constructor(private readonly endpoint: string) {}

  async call<T>(operation: 'DescribeStream' | 'GetShardIterator' | 'GetRecords', body: unknown): Promise<T> {
    const res = await fetch(this.endpoint, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-amz-json-1.0',
        'X-Amz-Target': `DynamoDBStreams_20120810.${operation}`,
        // DynamoDB Local requires the header's presence (it parses the access key) but checks no signature.
        Authorization:
          'AWS4-HMAC-SHA256 Credential=local/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
      },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (!res.ok) {
      const type =
        String(json.__type ?? 'UnknownError')
          .split('#')
          .pop() ?? 'UnknownError';
      throw new StreamsApiError(type, `${operation}: ${type}: ${String(json.message ?? json.Message ?? '')}`);
    }
    return json as T;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The poller. `start()` begins reading; `stop()` finishes the batch in flight and stops. */
export class StreamPoller {
  readonly stats: StreamPollerStats = { invocations: 0, records: 0, retries: 0, bisections: 0, sentToOnFailure: 0 };
  private readonly api: StreamsApi;
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly bisect: boolean;
  private readonly maxRetryAttempts: number;
  private readonly retryDelayMs: number;
  private readonly functionTimeoutMs: number;
  private readonly shardRefreshMs: number;
  private checkpoints: Checkpoints = { streamArn: '', shards: {} };
  private readonly workers = new Map<string, Promise<void>>();
  private running = false;
  private loop: Promise<void> | undefined;
  private streamArn = '';
  private wake: (() => void) | undefined;

  constructor(private readonly options: StreamPollerOptions) {
    this.api = new StreamsApi(options.endpoint);
    this.batchSize = options.batchSize ?? 100;
    this.pollIntervalMs = options.pollIntervalMs ?? 100;
    this.bisect = options.bisectBatchOnError ?? true;
    this.maxRetryAttempts = options.maxRetryAttempts ?? 1000;
    this.retryDelayMs = options.retryDelayMs ?? 50;
    this.functionTimeoutMs = options.functionTimeoutMs ?? 60_000;
    this.shardRefreshMs = options.shardRefreshMs ?? 5000;
  }

  /** Starts reading. Resolves once the stream is found and the first shard listing is done. */
  async start(): Promise<void> {
    if (this.running) return;
    const { Table } = await this.options.client.send(new DescribeTableCommand({ TableName: this.options.tableName }));
    const arn = Table?.LatestStreamArn;
    if (!arn) throw new StreamsApiError('NoStream', `table ${this.options.tableName} has no stream`);
    this.streamArn = arn;
    this.checkpoints = this.loadCheckpoints(arn);
    this.running = true;
    await this.refreshShards();
    this.loop = this.shardLoop();
  }

  /** Stops after the batches in flight (their checkpoints are kept). */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    await Promise.all(this.workers.values());
  }

  private log(message: string, attributes?: Record<string, unknown>): void {
    this.options.log?.(message, attributes);
  }

  private loadCheckpoints(streamArn: string): Checkpoints {
    const file = this.options.checkpointFile;
    if (file && existsSync(file)) {
      try {
        const saved = JSON.parse(readFileSync(file, 'utf8')) as Checkpoints;
        // A recreated table has a new stream: old checkpoints mean nothing there.
        if (saved.streamArn === streamArn) return saved;
      } catch {
        this.log('checkpoint file unreadable; starting fresh', { file });
      }
    }
    return { streamArn, shards: {} };
  }

  private saveCheckpoints(): void {
    const file = this.options.checkpointFile;
    if (!file) return;
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.checkpoints));
    renameSync(tmp, file);
  }

  private async listShards(): Promise<Shard[]> {
    const shards: Shard[] = [];
    let start: string | undefined;
    do {
      const out = await this.api.call<{ StreamDescription: { Shards?: Shard[]; LastEvaluatedShardId?: string } }>(
        'DescribeStream',
        { StreamArn: this.streamArn, ...(start !== undefined && { ExclusiveStartShardId: start }) },
      );
      shards.push(...(out.StreamDescription.Shards ?? []));
      start = out.StreamDescription.LastEvaluatedShardId;
    } while (start);
    return shards;
  }

  /** Starts workers for new shards; resolves once each new worker holds its first iterator. */
  private async refreshShards(): Promise<void> {
    const shards = await this.listShards();
    const ready: Promise<void>[] = [];
    const known = new Set(shards.map((s) => s.ShardId));
    for (const shard of shards) {
      const state = this.checkpoints.shards[shard.ShardId];
      if (state?.finished || this.workers.has(shard.ShardId)) continue;
      // A child waits for its parent (when the parent is still listed and not finished).
      const parent = shard.ParentShardId;
      if (parent && known.has(parent) && !this.checkpoints.shards[parent]?.finished) continue;
      const isChild = parent !== undefined && known.has(parent);
      let markReady: () => void = () => {};
      ready.push(new Promise<void>((r) => (markReady = r)));
      const worker = this.shardWorker(shard, isChild, markReady).finally(() => {
        markReady();
        this.workers.delete(shard.ShardId);
      });
      this.workers.set(shard.ShardId, worker);
    }
    // A LATEST iterator taken after start() returned would miss what the caller writes right after.
    await Promise.all(ready);
  }

  private async shardLoop(): Promise<void> {
    while (this.running) {
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, this.shardRefreshMs).unref();
      });
      if (!this.running) break;
      try {
        await this.refreshShards();
      } catch (err) {
        this.log('shard listing failed', { error: err instanceof Error ? err.message : String(err) });
      }
    }
  }

  private async iterator(shard: Shard, isChild: boolean): Promise<string | undefined> {
    const checkpoint = this.checkpoints.shards[shard.ShardId]?.checkpoint;
    const type = checkpoint
      ? 'AFTER_SEQUENCE_NUMBER'
      : isChild
        ? 'TRIM_HORIZON'
        : (this.options.startingPosition ?? 'TRIM_HORIZON');
    const out = await this.api.call<{ ShardIterator?: string }>('GetShardIterator', {
      StreamArn: this.streamArn,
      ShardId: shard.ShardId,
      ShardIteratorType: type,
      ...(checkpoint && { SequenceNumber: checkpoint }),
    });
    return out.ShardIterator;
  }

  private async shardWorker(shard: Shard, isChild: boolean, ready: () => void): Promise<void> {
    let iterator: string | undefined;
    while (this.running) {
      try {
        iterator ??= await this.iterator(shard, isChild);
        ready();
        if (!iterator) break;
        const out = await this.api.call<{ Records?: DynamoDBRecord[]; NextShardIterator?: string }>('GetRecords', {
          ShardIterator: iterator,
          Limit: this.batchSize,
        });
        const records = (out.Records ?? []).map((r) => ({ ...r, eventSourceARN: this.streamArn }));
        if (records.length > 0) {
          // Stopped mid-batch: no checkpoint, so the batch is read again on restart (at least once).
          if (!(await this.processBatch(shard.ShardId, records))) break;
          const last = records[records.length - 1]?.dynamodb?.SequenceNumber;
          if (last) this.checkpoint(shard.ShardId, last);
        }
        if (!out.NextShardIterator) {
          this.checkpoints.shards[shard.ShardId] = { ...this.checkpoints.shards[shard.ShardId], finished: true };
          this.saveCheckpoints();
          this.log('shard finished', { shardId: shard.ShardId });
          // Its children may start now.
          await this.refreshShards();
          break;
        }
        iterator = out.NextShardIterator;
        if (records.length === 0) await sleep(this.pollIntervalMs);
      } catch (err) {
        // Never leave start() waiting on a shard that cannot be read yet.
        ready();
        const type = err instanceof StreamsApiError ? err.type : undefined;
        // An expired or trimmed iterator is re-created from the checkpoint.
        if (type === 'ExpiredIteratorException' || type === 'TrimmedDataAccessException') iterator = undefined;
        this.log('stream read failed', {
          shardId: shard.ShardId,
          error: err instanceof Error ? err.message : String(err),
        });
        await sleep(Math.max(this.pollIntervalMs, 500));
      }
    }
  }

  private checkpoint(shardId: string, sequenceNumber: string): void {
    this.checkpoints.shards[shardId] = { ...this.checkpoints.shards[shardId], checkpoint: sequenceNumber };
    this.saveCheckpoints();
  }

  private async invoke(records: DynamoDBRecord[]): Promise<DynamoDBBatchResponse | 'error'> {
    this.stats.invocations++;
    this.stats.records += records.length;
    const deadline = Date.now() + this.functionTimeoutMs;
    try {
      const out = await this.options.handler(
        { Records: records },
        { getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) },
      );
      return out ?? { batchItemFailures: [] };
    } catch (err) {
      this.log('handler failed', { records: records.length, error: err instanceof Error ? err.message : String(err) });
      return 'error';
    }
  }

  private async sendToOnFailure(shardId: string, records: DynamoDBRecord[], attempts: number): Promise<void> {
    this.stats.sentToOnFailure += records.length;
    const failure: StreamFailure = {
      streamArn: this.streamArn,
      shardId,
      startSequenceNumber: records[0]?.dynamodb?.SequenceNumber ?? '',
      endSequenceNumber: records[records.length - 1]?.dynamodb?.SequenceNumber ?? '',
      batchSize: records.length,
      reason: 'RetryAttemptsExhausted',
      retryAttempts: attempts,
      at: new Date().toISOString(),
    };
    this.log('records sent to the on-failure destination', { ...failure });
    await this.options.onFailure?.(failure);
  }

  private exhausted(attempts: number): boolean {
    return this.maxRetryAttempts >= 0 && attempts > this.maxRetryAttempts;
  }

  /**
   * Delivers a batch until every record succeeded or went to the on-failure destination. False when the
   * poller was stopped before that.
   */
  private async processBatch(shardId: string, batch: DynamoDBRecord[]): Promise<boolean> {
    let pending = batch;
    let headSeq: string | undefined;
    let attempts = 0;
    while (pending.length > 0) {
      if (!this.running) return false;
      const result = await this.invoke(pending);
      if (result === 'error') {
        if (this.bisect && pending.length > 1) {
          this.stats.bisections++;
          const mid = Math.ceil(pending.length / 2);
          if (!(await this.processBatch(shardId, pending.slice(0, mid)))) return false;
          return this.processBatch(shardId, pending.slice(mid));
        }
        attempts++;
        if (this.exhausted(attempts)) {
          await this.sendToOnFailure(shardId, pending, attempts - 1);
          return true;
        }
        this.stats.retries++;
        await sleep(this.retryDelayMs);
        continue;
      }
      const ids = result.batchItemFailures.map((f) => f.itemIdentifier);
      if (ids.length === 0) return true;
      const seqs = pending.map((r) => r.dynamodb?.SequenceNumber ?? '');
      const valid = ids.every((id) => typeof id === 'string' && seqs.includes(id));
      // Lambda reads an identifier that is not in the batch as a failure of the whole batch.
      const lowest = valid ? ids.reduce((a, b) => (compareSequenceNumbers(a, b) <= 0 ? a : b)) : seqs[0];
      const from = Math.max(0, seqs.indexOf(lowest as string));
      pending = pending.slice(from);
      const head = pending[0]?.dynamodb?.SequenceNumber;
      attempts = head === headSeq ? attempts + 1 : 1;
      headSeq = head;
      if (this.exhausted(attempts)) {
        await this.sendToOnFailure(shardId, pending.slice(0, 1), attempts - 1);
        pending = pending.slice(1);
        attempts = 0;
        headSeq = undefined;
        continue;
      }
      this.stats.retries++;
      await sleep(this.retryDelayMs);
    }
    return true;
  }
}

/** Settings of the poller when run as a script. */
export interface PollerScriptConfig {
  utterancesTable: string;
  dynamoDbEndpoint: string;
  batchSize: number;
  pollIntervalMs: number;
  maxRetryAttempts: number;
  checkpointFile?: string;
  failureFile?: string;
}

/**
 * Reads UTTERANCES_TABLE, DYNAMODB_ENDPOINT (both required), STREAM_BATCH_SIZE (100),
 * STREAM_POLL_MS (100), STREAM_MAX_RETRY_ATTEMPTS (1000), STREAM_CHECKPOINT_FILE,
 * STREAM_FAILURE_FILE (the on-failure destination, JSONL).
 */
export function loadPollerConfig(env: Record<string, string | undefined>): PollerScriptConfig {
  const problems: string[] = [];
  const int = (name: string, fallback: number, min: number, max: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) problems.push(`${name} must be a whole number in ${min}..${max}`);
    return n;
  };
  const utterancesTable = env.UTTERANCES_TABLE ?? '';
  const dynamoDbEndpoint = env.DYNAMODB_ENDPOINT ?? '';
  if (!utterancesTable) problems.push('UTTERANCES_TABLE is required');
  if (!dynamoDbEndpoint) problems.push('DYNAMODB_ENDPOINT is required (the poller reads DynamoDB Local)');
  const config: PollerScriptConfig = {
    utterancesTable,
    dynamoDbEndpoint,
    batchSize: int('STREAM_BATCH_SIZE', 100, 1, 1000),
    pollIntervalMs: int('STREAM_POLL_MS', 100, 10, 10_000),
    maxRetryAttempts: int('STREAM_MAX_RETRY_ATTEMPTS', 1000, -1, 100_000),
    ...(env.STREAM_CHECKPOINT_FILE && { checkpointFile: env.STREAM_CHECKPOINT_FILE }),
    ...(env.STREAM_FAILURE_FILE && { failureFile: env.STREAM_FAILURE_FILE }),
  };
  if (problems.length > 0) throw new Error(`Invalid stream poller configuration:\n  - ${problems.join('\n  - ')}`);
  return config;
}

/**
 * `tsx local/stream-poller.ts`: the fan-out of `npm start`. Environment: {@link loadPollerConfig} plus
 * the fan-out's own (lambdas/shared/realtime-config.ts `loadFanoutConfig`: SUBSCRIPTIONS_TABLE,
 * WEBSOCKET_MANAGEMENT_ENDPOINT, WEBHOOK_URL / WEBHOOK_AUTH / …).
 */
export async function main(env: Record<string, string | undefined> = process.env): Promise<void> {
  const [{ loadFanoutConfig }, { fanoutDepsFromConfig, makeHandler }, { createLocalDynamoDbClient }, { appendJsonl }] =
    await Promise.all([
      import('../lambdas/shared/realtime-config'),
      import('../lambdas/fanout/handler'),
      import('./dynamodb'),
      import('./dlq'),
    ]);
  const pollerConfig = loadPollerConfig(env);
  const fanoutConfig = loadFanoutConfig({ ...env, DYNAMODB_ENDPOINT: pollerConfig.dynamoDbEndpoint });
  const client = createLocalDynamoDbClient(pollerConfig.dynamoDbEndpoint);
  const deps = await fanoutDepsFromConfig(fanoutConfig, client);
  const handler = makeHandler(deps);
  const failureFile = pollerConfig.failureFile;
  const poller = new StreamPoller({
    endpoint: pollerConfig.dynamoDbEndpoint,
    tableName: pollerConfig.utterancesTable,
    client,
    handler,
    batchSize: pollerConfig.batchSize,
    pollIntervalMs: pollerConfig.pollIntervalMs,
    maxRetryAttempts: pollerConfig.maxRetryAttempts,
    ...(pollerConfig.checkpointFile !== undefined && { checkpointFile: pollerConfig.checkpointFile }),
    ...(failureFile !== undefined && { onFailure: (f: StreamFailure) => appendJsonl(failureFile, f) }),
    log: (message, attributes) => deps.logger.info(message, attributes),
  });
  await poller.start();
  deps.logger.info('stream poller started', {
    table: pollerConfig.utterancesTable,
    webhookTargets: deps.webhooks.map((w) => w.target.id),
    websocket: deps.websocket !== undefined,
  });
  const stop = () => {
    poller.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`stream poller failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}

/**
 * Reads DynamoDB Local's stream the way a Lambda event source mapping reads a DynamoDB stream, and
 * invokes the same fan-out handler (`npm start`, tests, the realtime bench).
 *
 * Emulated semantics (the settings the CDK stack gives the real mapping, docs/realtime.md):
 * - shards are listed with DescribeStream and re-listed every `shardRefreshMs`; a child shard starts only
 *   once its parent is fully processed (DynamoDB Streams' per-key order survives shard splits);
 * - one shard is processed by one invocation at a time (parallelization factor 1), batches of up to
 *   `batchSize` records, polled every `pollIntervalMs` while the shard is idle;
 * - `ReportBatchItemFailures`: the handler's `batchItemFailures` checkpoint the shard before the lowest
 *   failed sequence number, and the retry is a fresh read from that record (as Lambda "retries all
 *   records starting from that checkpoint"): the retried batch carries the failed record, everything
 *   after it, and records written since, up to `batchSize`. So one conversation's failing record holds
 *   back only its own conversation (the handler reports its later records failed too), as long as the
 *   backlog behind it fits one batch. An identifier that is not in the batch counts as a failure of the
 *   whole batch;
 * - retries of the same head record wait `retryDelayMs`, doubling per attempt up to `maxRetryDelayMs`,
 *   so a dead receiver costs a few invocations per second at most, not hundreds;
 * - `BisectBatchOnFunctionError`: a handler that throws gets each half of the batch separately;
 * - `MaximumRetryAttempts`: a record (or a single-record batch) that keeps failing is sent to the
 *   on-failure destination (`onFailure`, shaped like Lambda's: shard, sequence range, reason) and skipped;
 * - checkpointing: the last fully processed sequence number per shard (plus, while a record is being
 *   retried, that record's sequence number), in memory or in a JSON file, so a restarted `npm start`
 *   resumes where it stopped, at the failing record if there was one (at least once).
 *
 * The three DynamoDB Streams calls go over `fetch` (local/streams-api.ts); the checkpoints live in
 * local/stream-checkpoints.ts, the script's settings in local/stream-poller-config.ts.
 */

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { compareSequenceNumbers } from '../core/delivery/ordering';
import { ShardCheckpoints } from './stream-checkpoints';
import { type Shard, StreamsApi, StreamsApiError } from './streams-api';

export { loadPollerConfig, type PollerScriptConfig } from './stream-poller-config';
export { StreamsApi, StreamsApiError } from './streams-api';

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
  /** Pause before the first retry of a record; doubles per further attempt. @default 50 */
  retryDelayMs?: number;
  /** Cap of the pause between retries. @default 2000 */
  maxRetryDelayMs?: number;
  /** A record being retried is logged at most once per this interval (with the count since). @default 10000 */
  retryLogIntervalMs?: number;
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

/** Retries of the record at the head of a shard's partial batch failures. */
interface HeadRetry {
  sequenceNumber?: string;
  attempts: number;
  loggedAt: number;
  unlogged: number;
}

/** How a batch ended. */
type BatchOutcome =
  /** Every record succeeded or went to the on-failure destination. */
  | { kind: 'done' }
  /** The poller was stopped first. */
  | { kind: 'stopped' }
  /** Records before `from` are processed; read again from `from` after a pause. */
  | { kind: 'retry'; from: string; attempts: number }
  /** Records up to `through` are processed (it went to the on-failure destination); read on after it. */
  | { kind: 'skipped'; through: string };

/**
 * The pause before retry `attempt` (1-based) of the same record: `baseMs` doubling per attempt, at most
 * `maxMs`.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  const exponent = Math.min(Math.max(0, attempt - 1), 30);
  return Math.min(maxMs, baseMs * 2 ** exponent);
}

/** The poller. `start()` begins reading; `stop()` finishes the batch in flight and stops. */
export class StreamPoller {
  readonly stats: StreamPollerStats = { invocations: 0, records: 0, retries: 0, bisections: 0, sentToOnFailure: 0 };
  private readonly api: StreamsApi;
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly bisect: boolean;
  private readonly maxRetryAttempts: number;
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly retryLogIntervalMs: number;
  private readonly functionTimeoutMs: number;
  private readonly shardRefreshMs: number;
  private readonly checkpoints: ShardCheckpoints;
  private readonly workers = new Map<string, Promise<void>>();
  private running = false;
  private loop: Promise<void> | undefined;
  private streamArn = '';
  private wake: (() => void) | undefined;
  /** Pauses in progress; `stop()` ends them early. */
  private readonly sleepers = new Set<() => void>();

  constructor(private readonly options: StreamPollerOptions) {
    this.api = new StreamsApi(options.endpoint);
    this.checkpoints = new ShardCheckpoints(options.checkpointFile, (message, attributes) =>
      this.log(message, attributes),
    );
    this.batchSize = options.batchSize ?? 100;
    this.pollIntervalMs = options.pollIntervalMs ?? 100;
    this.bisect = options.bisectBatchOnError ?? true;
    this.maxRetryAttempts = options.maxRetryAttempts ?? 1000;
    this.retryDelayMs = options.retryDelayMs ?? 50;
    this.maxRetryDelayMs = Math.max(this.retryDelayMs, options.maxRetryDelayMs ?? 2000);
    this.retryLogIntervalMs = options.retryLogIntervalMs ?? 10_000;
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
    this.checkpoints.load(arn);
    this.running = true;
    await this.refreshShards();
    this.loop = this.shardLoop();
  }

  /** Stops after the batches in flight (their checkpoints are kept). */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    for (const wake of [...this.sleepers]) wake();
    await this.loop;
    await Promise.all(this.workers.values());
  }

  private log(message: string, attributes?: Record<string, unknown>): void {
    this.options.log?.(message, attributes);
  }

  /** Waits `ms`, or less when the poller stops (a stopping poller must not sit out a long backoff). */
  private pause(ms: number): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.sleepers.add(done);
    });
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
      const state = this.checkpoints.shard(shard.ShardId);
      if (state?.finished || this.workers.has(shard.ShardId)) continue;
      // A child waits for its parent (when the parent is still listed and not finished).
      const parent = shard.ParentShardId;
      if (parent && known.has(parent) && !this.checkpoints.shard(parent)?.finished) continue;
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
    const state = this.checkpoints.shard(shard.ShardId);
    const [type, sequenceNumber] = state?.resumeAt
      ? ['AT_SEQUENCE_NUMBER', state.resumeAt]
      : state?.checkpoint
        ? ['AFTER_SEQUENCE_NUMBER', state.checkpoint]
        : [isChild ? 'TRIM_HORIZON' : (this.options.startingPosition ?? 'TRIM_HORIZON'), undefined];
    const out = await this.api.call<{ ShardIterator?: string }>('GetShardIterator', {
      StreamArn: this.streamArn,
      ShardId: shard.ShardId,
      ShardIteratorType: type,
      ...(sequenceNumber && { SequenceNumber: sequenceNumber }),
    });
    return out.ShardIterator;
  }

  private async shardWorker(shard: Shard, isChild: boolean, ready: () => void): Promise<void> {
    let iterator: string | undefined;
    const retry: HeadRetry = { attempts: 0, loggedAt: 0, unlogged: 0 };
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
          const outcome = await this.processBatch(shard.ShardId, records, retry);
          // Stopped mid-batch: no checkpoint, so the batch is read again on restart (at least once).
          if (outcome.kind === 'stopped') break;
          if (outcome.kind === 'retry') {
            this.checkpoints.holdAt(shard.ShardId, records, outcome.from);
            const delayMs = backoffDelay(outcome.attempts, this.retryDelayMs, this.maxRetryDelayMs);
            this.logRetry(shard.ShardId, outcome.from, retry, delayMs);
            await this.pause(delayMs);
            // A fresh read from the failed record: it brings the records written since (Lambda's retry).
            iterator = undefined;
            continue;
          }
          if (retry.sequenceNumber !== undefined) this.endRetry(shard.ShardId, retry);
          if (outcome.kind === 'skipped') {
            this.checkpoints.checkpoint(shard.ShardId, outcome.through);
            iterator = undefined;
            continue;
          }
          const last = records[records.length - 1]?.dynamodb?.SequenceNumber;
          if (last) this.checkpoints.checkpoint(shard.ShardId, last);
        }
        if (!out.NextShardIterator) {
          this.checkpoints.finish(shard.ShardId);
          this.log('shard finished', { shardId: shard.ShardId });
          // Its children may start now.
          await this.refreshShards();
          break;
        }
        iterator = out.NextShardIterator;
        if (records.length === 0) await this.pause(this.pollIntervalMs);
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
        await this.pause(Math.max(this.pollIntervalMs, 500));
      }
    }
  }

  /** One line when a record starts being retried, then at most one per `retryLogIntervalMs`. */
  private logRetry(shardId: string, sequenceNumber: string, retry: HeadRetry, delayMs: number): void {
    retry.unlogged++;
    const now = Date.now();
    if (retry.attempts > 1 && now - retry.loggedAt < this.retryLogIntervalMs) return;
    this.log('stream record failed; retrying from it', {
      shardId,
      sequenceNumber,
      attempts: retry.attempts,
      retriesSinceLastLog: retry.unlogged,
      delayMs,
    });
    retry.loggedAt = now;
    retry.unlogged = 0;
  }

  /** The retried head record got through (or was skipped): one summary line, and a fresh count. */
  private endRetry(shardId: string, retry: HeadRetry): void {
    this.log('stream record retries ended', {
      shardId,
      sequenceNumber: retry.sequenceNumber,
      attempts: retry.attempts,
    });
    retry.sequenceNumber = undefined;
    retry.attempts = 0;
    retry.unlogged = 0;
    retry.loggedAt = 0;
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
   * Invokes the handler on a batch. A thrown handler bisects the batch (each half processed in turn) or,
   * on a single record, retries it in place until it goes to the on-failure destination. A partial batch
   * failure ends the batch with `retry` from its lowest failed record, or `skipped` once that record
   * used up its attempts (counted across re-reads in `retry`).
   */
  private async processBatch(shardId: string, batch: DynamoDBRecord[], retry: HeadRetry): Promise<BatchOutcome> {
    let thrown = 0;
    while (true) {
      if (!this.running) return { kind: 'stopped' };
      const result = await this.invoke(batch);
      if (result === 'error') {
        if (this.bisect && batch.length > 1) {
          this.stats.bisections++;
          const mid = Math.ceil(batch.length / 2);
          const first = await this.processBatch(shardId, batch.slice(0, mid), retry);
          // The second half is read again after whatever stopped the first: order before progress.
          if (first.kind !== 'done') return first;
          return this.processBatch(shardId, batch.slice(mid), retry);
        }
        thrown++;
        if (this.exhausted(thrown)) {
          await this.sendToOnFailure(shardId, batch, thrown - 1);
          return { kind: 'done' };
        }
        this.stats.retries++;
        await this.pause(backoffDelay(thrown, this.retryDelayMs, this.maxRetryDelayMs));
        continue;
      }
      const ids = result.batchItemFailures.map((f) => f.itemIdentifier);
      if (ids.length === 0) return { kind: 'done' };
      const seqs = batch.map((r) => r.dynamodb?.SequenceNumber ?? '');
      const valid = ids.every((id) => typeof id === 'string' && seqs.includes(id));
      // Lambda reads an identifier that is not in the batch as a failure of the whole batch.
      const lowest = valid ? ids.reduce((a, b) => (compareSequenceNumbers(a, b) <= 0 ? a : b)) : seqs[0];
      const head = batch[Math.max(0, seqs.indexOf(lowest as string))] as DynamoDBRecord;
      const headSeq = head.dynamodb?.SequenceNumber ?? '';
      if (retry.sequenceNumber !== headSeq) {
        if (retry.sequenceNumber !== undefined) this.endRetry(shardId, retry);
        retry.sequenceNumber = headSeq;
      }
      retry.attempts++;
      if (this.exhausted(retry.attempts)) {
        await this.sendToOnFailure(shardId, [head], retry.attempts - 1);
        return { kind: 'skipped', through: headSeq };
      }
      this.stats.retries++;
      return { kind: 'retry', from: headSeq, attempts: retry.attempts };
    }
  }
}

/**
 * `tsx local/stream-poller.ts`: the fan-out of `npm start` (local/stream-poller-main.ts, loaded on demand:
 * it imports this module, and the fan-out handler it wires is only needed when run as a script).
 */
export async function main(env: Record<string, string | undefined> = process.env): Promise<void> {
  const script = await import('./stream-poller-main');
  return script.main(env);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`stream poller failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}

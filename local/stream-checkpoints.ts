/**
 * The stream poller's checkpoints (local/stream-poller.ts): per shard, the last fully processed sequence
 * number, the record being retried (where a read resumes) and whether the shard is finished; kept in
 * memory or in a JSON file, so a restarted `npm start` resumes where it stopped.
 */

import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DynamoDBRecord } from 'aws-lambda';

/** Where reading a shard resumes. */
export interface ShardState {
  /** The last record processed (a read resumes after it). */
  checkpoint?: string;
  /** A record being retried: a read resumes at it (wins over `checkpoint`). */
  resumeAt?: string;
  finished?: boolean;
}

interface Checkpoints {
  streamArn: string;
  shards: Record<string, ShardState>;
}

/** The checkpoints of one stream, saved to `file` (when given) on every change. */
export class ShardCheckpoints {
  private checkpoints: Checkpoints = { streamArn: '', shards: {} };

  constructor(
    private readonly file: string | undefined,
    private readonly log: (message: string, attributes?: Record<string, unknown>) => void,
  ) {}

  /** Takes the saved checkpoints of `streamArn`, or starts empty. */
  load(streamArn: string): void {
    this.checkpoints = this.loadCheckpoints(streamArn);
  }

  /** The state of a shard, undefined when it has none yet. */
  shard(shardId: string): ShardState | undefined {
    return this.checkpoints.shards[shardId];
  }

  private loadCheckpoints(streamArn: string): Checkpoints {
    const file = this.file;
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
    const file = this.file;
    if (!file) return;
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.checkpoints));
    renameSync(tmp, file);
  }

  /** `sequenceNumber` and all before it are processed (a record held for retries is released). */
  checkpoint(shardId: string, sequenceNumber: string): void {
    const { resumeAt: _done, ...state } = this.checkpoints.shards[shardId] ?? {};
    this.checkpoints.shards[shardId] = { ...state, checkpoint: sequenceNumber };
    this.saveCheckpoints();
  }

  /**
   * Checkpoints the records of `batch` before `from` and marks `from` as where reading resumes, so a
   * restart during the retries starts at the failing record.
   */
  holdAt(shardId: string, batch: DynamoDBRecord[], from: string): void {
    const index = batch.findIndex((r) => r.dynamodb?.SequenceNumber === from);
    const before = index > 0 ? batch[index - 1]?.dynamodb?.SequenceNumber : undefined;
    const state = this.checkpoints.shards[shardId] ?? {};
    if (state.resumeAt === from && (before === undefined || state.checkpoint === before)) return;
    this.checkpoints.shards[shardId] = { ...state, ...(before && { checkpoint: before }), resumeAt: from };
    this.saveCheckpoints();
  }

  /** The shard is read to its end: its children may start. */
  finish(shardId: string): void {
    this.checkpoints.shards[shardId] = { ...this.checkpoints.shards[shardId], finished: true };
    this.saveCheckpoints();
  }
}

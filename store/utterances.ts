/**
 * The Utterances table: every final utterance of every conversation, written once (idempotent on a
 * deterministic key), read back oldest first for the messages API, and scanned per export day through
 * the sharded `byExportDay` index. Its stream (NEW_IMAGE) feeds the real-time fan-out. Layout:
 * docs/data-model.md.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import {
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { EXPORT_INDEX_NAME } from '../contract/tables';
import type { Clock } from '../core/ports';
import type { RecordedUtterance, Utterance } from '../core/transcript/utterance';
import { DEFAULT_RETENTION_SECONDS, isConditionalCheckFailed, ttlAfter } from './dynamo';
import { InvalidArgumentError, InvalidTokenError, toStoreError } from './errors';

/** Number of export shards per day (the nightly export queries each `YYYY-MM-DD#00..15`). */
export const EXPORT_SHARDS = 16;

/** Most utterances one `listByConversation` page returns (the ASAPP cap, api-contract.md §2.1). */
export const MAX_PAGE_SIZE = 1000;

/** What the gateway hands to {@link UtterancesRepository.putFinal}. */
export interface FinalUtteranceInput extends Utterance {
  /** `customerId` or `agentId` from start-streaming, echoed as `sender.externalId`. */
  senderExternalId?: string;
  /** When the final result was persisted (epoch ms). @default the repository clock */
  createdAt?: number;
}

/** An utterance as stored (and as seen on the table stream): the recorded utterance plus its index keys. */
export interface StoredUtterance extends RecordedUtterance {
  /** `YYYY-MM-DD#NN`: UTC day of createdAt and shard of the conversation. */
  exportDay: string;
  /** `<createdAt>#<conversationId>#<sk>`: export order within a shard. */
  exportSk: string;
  /** Expiry, epoch seconds. */
  ttl: number;
}

/** Result of {@link UtterancesRepository.putFinal}. */
export type PutFinalResult =
  | { outcome: 'created'; item: StoredUtterance }
  /** An item with the same key already exists (a retry or a replay); nothing was written. */
  | { outcome: 'duplicate'; conversationId: string; sk: string; utteranceId: string };

/** One page of {@link UtterancesRepository.listByConversation}. */
export interface UtterancePage {
  items: StoredUtterance[];
  /** Present when more utterances follow; pass it back unchanged. */
  nextToken?: string;
}

/** Position in an export-day query, JSON-serializable so an export can checkpoint and resume. */
export type ExportCursor = Record<string, unknown>;

/** One page of {@link UtterancesRepository.queryExportDay}. */
export interface ExportPage {
  items: StoredUtterance[];
  /** Resume after this page by passing it as `exclusiveStartKey`; absent on the last page. */
  lastEvaluatedKey?: ExportCursor;
}

/** Options of {@link UtterancesRepository}. */
export interface UtterancesRepositoryOptions {
  tableName: string;
  /** TTL after createdAt. @default 7 days (the hosted service's retention) */
  retentionSeconds?: number;
  /**
   * Key for the HMAC that makes `nextToken` tamper-evident. When absent, tokens are unsigned but still
   * strictly validated (structure, conversation, key format).
   */
  tokenKey?: string | Uint8Array;
  clock?: Pick<Clock, 'now'>;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const SK_PATTERN = /^\d{10}#(customer|agent)#[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DAY_PATTERN = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,1024}(\.[A-Za-z0-9_-]{22})?$/;
const MAX_START_MS = 9_999_999_999;

/**
 * A ULID whose time part is `timeMs` and whose 80 "random" bits come from a hash of `seed`, so the same
 * utterance stored at the same instant always gets the same messageId.
 */
export function deterministicUlid(timeMs: number, seed: string): string {
  let t = Math.floor(timeMs);
  const time: string[] = [];
  for (let i = 0; i < 10; i++) {
    time.unshift(CROCKFORD[t % 32] as string);
    t = Math.floor(t / 32);
  }
  let bits = BigInt(`0x${createHash('sha256').update(seed).digest('hex').slice(0, 20)}`);
  const rand: string[] = [];
  for (let i = 0; i < 16; i++) {
    rand.unshift(CROCKFORD[Number(bits & 31n)] as string);
    bits >>= 5n;
  }
  return time.join('') + rand.join('');
}

/** Export shard of a conversation: a stable hash of its id, mod {@link EXPORT_SHARDS}. */
export function exportShardOf(conversationId: string): number {
  return createHash('sha256').update(conversationId).digest().readUInt32BE(0) % EXPORT_SHARDS;
}

/** The `exportDay` partition value for a UTC day and shard. */
export function exportDayKey(day: string, shard: number): string {
  return `${day}#${String(shard).padStart(2, '0')}`;
}

/** Sort key of an utterance within its conversation. */
export function utteranceSk(startMs: number, role: string, utteranceId: string): string {
  return `${String(startMs).padStart(10, '0')}#${role}#${utteranceId}`;
}

function validate(u: FinalUtteranceInput): void {
  const fail = (msg: string): never => {
    throw new InvalidArgumentError(`utterance: ${msg}`);
  };
  if (!u.conversationId) fail('conversationId is required');
  if (u.role !== 'customer' && u.role !== 'agent') fail(`role must be customer or agent, got ${String(u.role)}`);
  if (!Number.isInteger(u.startMs) || u.startMs < 0 || u.startMs > MAX_START_MS) fail('startMs out of range');
  if (!Number.isInteger(u.endMs) || u.endMs < u.startMs) fail('endMs must be an integer ≥ startMs');
  if (!SK_PATTERN.test(utteranceSk(0, u.role, u.utteranceId))) fail('utteranceId must be a lowercase UUID');
  if (typeof u.text !== 'string' || u.text.length === 0) fail('text must be non-empty');
}

/** Repository of the Utterances table. */
export class UtterancesRepository {
  private readonly table: string;
  private readonly retentionSeconds: number;
  private readonly tokenKey: Uint8Array | undefined;
  private readonly clock: Pick<Clock, 'now'>;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    options: UtterancesRepositoryOptions,
  ) {
    this.table = options.tableName;
    this.retentionSeconds = options.retentionSeconds ?? DEFAULT_RETENTION_SECONDS;
    this.tokenKey = typeof options.tokenKey === 'string' ? Buffer.from(options.tokenKey, 'utf8') : options.tokenKey;
    this.clock = options.clock ?? { now: Date.now };
  }

  /**
   * Stores a final utterance once. The key is deterministic (start offset, role, utteranceId), and the
   * put is conditional on its absence: a retried or duplicated write answers `duplicate` and changes
   * nothing, so the table stream emits each utterance exactly once.
   */
  async putFinal(input: FinalUtteranceInput): Promise<PutFinalResult> {
    validate(input);
    const { createdAt: createdAtInput, ...utterance } = input;
    const createdMs = createdAtInput ?? this.clock.now();
    const createdAt = new Date(createdMs).toISOString();
    const sk = utteranceSk(input.startMs, input.role, input.utteranceId);
    const item: StoredUtterance = {
      ...utterance,
      sk,
      messageId: deterministicUlid(createdMs, input.utteranceId),
      createdAt,
      exportDay: exportDayKey(createdAt.slice(0, 10), exportShardOf(input.conversationId)),
      exportSk: `${createdAt}#${input.conversationId}#${sk}`,
      ttl: ttlAfter(createdMs, this.retentionSeconds),
    };
    try {
      await this.doc.send(
        new PutCommand({ TableName: this.table, Item: item, ConditionExpression: 'attribute_not_exists(sk)' }),
      );
      return { outcome: 'created', item };
    } catch (err) {
      if (isConditionalCheckFailed(err)) {
        return { outcome: 'duplicate', conversationId: input.conversationId, sk, utteranceId: input.utteranceId };
      }
      throw toStoreError(err, 'utterances.putFinal');
    }
  }

  /**
   * Utterances of a conversation, oldest first (by start offset, then role, then id), `limit` (1..1000,
   * default 1000) per page. `nextToken` is present only when more utterances exist, so 1,000 utterances
   * never end in an empty page. Throws {@link InvalidTokenError} for a token we did not issue for this
   * conversation.
   */
  async listByConversation(
    conversationId: string,
    options: { limit?: number; nextToken?: string; consistentRead?: boolean } = {},
  ): Promise<UtterancePage> {
    if (!conversationId) throw new InvalidArgumentError('conversationId is required');
    const limit = options.limit ?? MAX_PAGE_SIZE;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
      throw new InvalidArgumentError(`limit must be an integer in 1..${MAX_PAGE_SIZE}`);
    }
    let startKey: QueryCommandInput['ExclusiveStartKey'] =
      options.nextToken === undefined
        ? undefined
        : { conversationId, sk: this.decodeToken(options.nextToken, conversationId) };
    const items: StoredUtterance[] = [];
    try {
      // One item beyond the page tells whether a next page exists; a 1 MB response cap may split it.
      do {
        const page = await this.doc.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: 'conversationId = :c',
            ExpressionAttributeValues: { ':c': conversationId },
            ScanIndexForward: true,
            Limit: limit + 1 - items.length,
            ExclusiveStartKey: startKey,
            ConsistentRead: options.consistentRead ?? false,
          }),
        );
        items.push(...((page.Items ?? []) as StoredUtterance[]));
        startKey = page.LastEvaluatedKey;
      } while (startKey && items.length <= limit);
    } catch (err) {
      throw toStoreError(err, 'utterances.listByConversation');
    }
    if (items.length <= limit) return { items };
    const pageItems = items.slice(0, limit);
    const last = pageItems[pageItems.length - 1] as StoredUtterance;
    return { items: pageItems, nextToken: this.encodeToken(conversationId, last.sk) };
  }

  /**
   * Pages through one shard of one UTC day on the `byExportDay` index, in createdAt order. Resume an
   * interrupted export with the last page's `lastEvaluatedKey`. Index reads are eventually consistent:
   * the export runs hours after the day ends.
   */
  async *queryExportDay(
    day: string,
    shard: number,
    options: { exclusiveStartKey?: ExportCursor; pageSize?: number } = {},
  ): AsyncGenerator<ExportPage> {
    if (!DAY_PATTERN.test(day)) throw new InvalidArgumentError(`day must be YYYY-MM-DD, got ${day}`);
    if (!Number.isInteger(shard) || shard < 0 || shard >= EXPORT_SHARDS) {
      throw new InvalidArgumentError(`shard must be an integer in 0..${EXPORT_SHARDS - 1}`);
    }
    let startKey = options.exclusiveStartKey;
    do {
      let page: QueryCommandOutput;
      try {
        page = await this.doc.send(
          new QueryCommand({
            TableName: this.table,
            IndexName: EXPORT_INDEX_NAME,
            KeyConditionExpression: 'exportDay = :d',
            ExpressionAttributeValues: { ':d': exportDayKey(day, shard) },
            ExclusiveStartKey: startKey,
            Limit: options.pageSize,
          }),
        );
      } catch (err) {
        throw toStoreError(err, 'utterances.queryExportDay');
      }
      startKey = page.LastEvaluatedKey;
      yield {
        items: (page.Items ?? []) as StoredUtterance[],
        ...(startKey ? { lastEvaluatedKey: startKey } : {}),
      };
    } while (startKey);
  }

  private mac(payload: string): string {
    if (!this.tokenKey) return '';
    return createHmac('sha256', this.tokenKey)
      .update(`utterances.v1.${payload}`)
      .digest()
      .subarray(0, 16)
      .toString('base64url');
  }

  private encodeToken(conversationId: string, sk: string): string {
    const payload = Buffer.from(JSON.stringify({ v: 1, c: conversationId, k: sk }), 'utf8').toString('base64url');
    return this.tokenKey ? `${payload}.${this.mac(payload)}` : payload;
  }

  private decodeToken(token: string, conversationId: string): string {
    const invalid = (why: string): never => {
      throw new InvalidTokenError(`nextToken is invalid: ${why}`);
    };
    if (typeof token !== 'string' || !TOKEN_PATTERN.test(token)) invalid('malformed');
    const [payload = '', mac] = token.split('.');
    if (this.tokenKey) {
      const expected = Buffer.from(this.mac(payload), 'utf8');
      const given = Buffer.from(mac ?? '', 'utf8');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) invalid('signature mismatch');
    } else if (mac !== undefined) {
      invalid('unexpected signature');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return invalid('not JSON');
    }
    const { v, c, k } = (parsed ?? {}) as { v?: unknown; c?: unknown; k?: unknown };
    if (v !== 1) invalid('unknown version');
    if (c !== conversationId) invalid('issued for another conversation');
    if (typeof k !== 'string' || !SK_PATTERN.test(k)) invalid('bad position');
    return k as string;
  }
}

/**
 * The Conversations table: desired transcription state (META), transcription segments (SEG#), and the
 * AudioHook sessions bound to a conversation (SES#). Used by the start/stop Lambdas (requestStart,
 * requestStop, listSessions, waitForSegmentClosed) and by the gateway (registerSession, openSegment,
 * startNextSegment, addSegmentCounters, closeSegment, closeSession). Layout and the start/stop race
 * argument: docs/data-model.md.
 *
 * Every state change that can race is an optimistic, conditional write on the version or state that was
 * read; a lost race re-reads and decides again (bounded), so concurrent start/stop requests never lose an
 * update. Every write that may be retried is idempotent at the domain level.
 */
import { randomUUID } from 'node:crypto';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Role } from '../core/audio/roles';
import type { RedactionOutput } from '../core/transcript/utterance';
import { DEFAULT_RETENTION_SECONDS, isConditionalCheckFailed, isTransactionContention, ttlAfter } from './dynamo';
import { InvalidArgumentError, NotFoundError, toStoreError } from './errors';
import { conversationPk, META_SK, SEGMENT_PREFIX, SESSION_PREFIX, segmentSk, sessionSk } from './keys';

/** The two roles, in the order summaries are reported. */
export const ROLES: readonly Role[] = ['customer', 'agent'];

/** Desired transcription state as last requested through start/stop. */
export type DesiredState = 'on' | 'off';

/**
 * Control status of a conversation: `idle` (a session is known, never started), `waiting-for-audio`
 * (started; no gateway has begun transcribing the segment yet), `transcribing` (a gateway opened the
 * segment), `stopped`.
 */
export type ConversationStatus = 'idle' | 'waiting-for-audio' | 'transcribing' | 'stopped';

/** The start-streaming parameters of a segment (api-contract.md §1.1, after defaults are applied). */
export interface StartParams {
  language: string;
  redactionOutput: RedactionOutput;
  detailedToken: boolean;
  audioRecordingAllowed: boolean;
  customerId: string;
  agentId: string;
}

/** Per-role stream ids handed out by start-streaming. */
export type StreamIds = Record<Role, string>;

/** The META item of a conversation. */
export interface ConversationMeta {
  conversationId: string;
  desired: DesiredState;
  /** +1 per accepted start or stop; 0 when only a session registration created the item. */
  desiredVersion: number;
  status: ConversationStatus;
  /** Params of the current (or last) segment. */
  params?: StartParams;
  /** Number of the current (or last) segment; absent until the first start. */
  currentSegment?: number;
  streamIds?: StreamIds;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  stoppedAt?: string;
  ttl: number;
}

/**
 * Lifecycle of a segment: `pending` (start recorded, no gateway streaming yet) → `active` (a gateway
 * opened the recognizer stream) → `closing` (stop requested, gateway finishing) → `closed`.
 * A stop of a `pending` segment closes it at once (nothing was streamed).
 */
export type SegmentState = 'pending' | 'active' | 'closing' | 'closed';

/** The stop-streaming `summary` of one participant (api-contract.md §1.2). */
export interface RoleSummary {
  /** 16-bit PCM bytes (samples × 2) after µ-law decode. */
  totalAudioBytes: number;
  audioDurationMs: number;
  streamingSeconds: number;
  transcripts: number;
}

/** The counters of {@link RoleSummary}, as names. */
export const SUMMARY_FIELDS: readonly (keyof RoleSummary)[] = [
  'totalAudioBytes',
  'audioDurationMs',
  'streamingSeconds',
  'transcripts',
];

/** One transcription segment (start → stop). */
export interface SegmentRecord {
  conversationId: string;
  segment: number;
  state: SegmentState;
  streamIds: StreamIds;
  params: StartParams;
  /** When the start was accepted. */
  startedAt: string;
  /** When a gateway opened it. */
  openedAt?: string;
  stopRequestedAt?: string;
  endedAt?: string;
  /**
   * Last sign of life of the gateway task streaming it (counter flush or heartbeat, every few seconds
   * while it streams): a stop uses it to tell a slow holder from a dead one.
   */
  heartbeatAt?: string;
  /** Why a segment was closed by someone other than its holder: `holder-lost` (see `abandonSegment`). */
  closeReason?: 'holder-lost';
  /** Gateway task and AudioHook session that stream it, once opened. */
  taskId?: string;
  sessionId?: string;
  summary: Record<Role, RoleSummary>;
  ttl: number;
}

/** An AudioHook session bound to a conversation. */
export interface SessionRecord {
  conversationId: string;
  sessionId: string;
  /** Gateway task (ECS task id, or a local id) holding the WebSocket. */
  taskId: string;
  state: 'open' | 'closed';
  openedAt: string;
  closedAt?: string;
  closeReason?: string;
  /** Negotiated channel order, e.g. `["external","internal"]`. */
  channels?: string[];
  mediaFormat?: string;
  correlationId?: string;
  ttl: number;
}

/** Result of {@link ConversationsRepository.requestStart}. */
export type StartResult =
  | { outcome: 'started' | 'already-active'; meta: ConversationMeta; segment: number; streamIds: StreamIds }
  /** Lost the optimistic race `maxAttempts` times in a row (maps to `409-202`). */
  | { outcome: 'conflict'; meta: ConversationMeta | undefined };

/** Result of {@link ConversationsRepository.requestStop}. */
export type StopResult =
  | {
      outcome: 'stopped';
      meta: ConversationMeta;
      segment: number;
      /** Segment state right after the stop: `closed` when nothing was streaming, else `closing`/`closed`. */
      segmentState: SegmentState;
    }
  | { outcome: 'already-stopped'; meta: ConversationMeta; segment: number }
  /** A session is known but no start was ever accepted. */
  | { outcome: 'not-started'; meta: ConversationMeta }
  /** Neither started nor seen. */
  | { outcome: 'unknown' }
  | { outcome: 'conflict'; meta: ConversationMeta | undefined };

/** Result of {@link ConversationsRepository.openSegment}. */
export type OpenSegmentResult =
  | { outcome: 'opened' | 'already-open'; segment: SegmentRecord }
  /** Another session/task already streams this segment. */
  | { outcome: 'taken'; segment: SegmentRecord }
  /** The segment was stopped or superseded (or never existed): do not stream. */
  | { outcome: 'stale'; segment: SegmentRecord | undefined };

/** Result of {@link ConversationsRepository.startNextSegment}. */
export type NextSegmentResult =
  /** The caller now holds segment `fromSegment + 1` (state `active`); META points at it with fresh streamIds. */
  | { outcome: 'opened'; meta: ConversationMeta; segment: SegmentRecord }
  /**
   * Nothing changed: transcription is off, META moved past `fromSegment`, or `fromSegment` is not closed
   * (another session still holds it, or a stop is being applied). Re-read META and decide again.
   */
  | { outcome: 'stale'; meta: ConversationMeta | undefined };

/** Result of {@link ConversationsRepository.closeSegment}. */
export type CloseSegmentOutcome = 'closed' | 'already-closed' | 'not-open';

/** Result of {@link ConversationsRepository.registerSession}. */
export interface RegisterSessionResult {
  /** `conflict`: that session id is already closed or held by another task. */
  outcome: 'registered' | 'conflict';
  /** META as of right after the registration (strongly consistent): act on it if `desired` is `on`. */
  meta: ConversationMeta;
}

/** Input of {@link ConversationsRepository.registerSession}. */
export interface RegisterSessionInput {
  conversationId: string;
  sessionId: string;
  taskId: string;
  channels?: readonly string[];
  mediaFormat?: string;
  correlationId?: string;
}

/** Options of {@link ConversationsRepository}. */
export interface ConversationsRepositoryOptions {
  tableName: string;
  /** TTL of every item, refreshed on each write. @default 7 days */
  retentionSeconds?: number;
  /** Read-decide-write rounds before a start/stop gives up with `conflict`. @default 8 */
  maxAttempts?: number;
  /** Stream id generator (tests inject a deterministic one). @default crypto.randomUUID */
  newStreamId?: () => string;
  /** Wall clock for {@link ConversationsRepository.waitForSegmentClosed}. @default Date.now */
  now?: () => number;
  /** Sleep used between polls and between contended attempts. @default setTimeout-based */
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function counterAttribute(role: Role, field: keyof RoleSummary): string {
  return `${role}${field[0]?.toUpperCase()}${field.slice(1)}`;
}

function emptySummary(): RoleSummary {
  return { totalAudioBytes: 0, audioDurationMs: 0, streamingSeconds: 0, transcripts: 0 };
}

type Item = Record<string, unknown>;

function toMeta(item: Item): ConversationMeta {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return rest as unknown as ConversationMeta;
}

function toSegment(item: Item): SegmentRecord {
  const summary = {} as Record<Role, RoleSummary>;
  const rest: Item = {};
  const counterNames = new Set<string>();
  for (const role of ROLES) {
    const s = emptySummary();
    for (const field of SUMMARY_FIELDS) {
      const name = counterAttribute(role, field);
      counterNames.add(name);
      const v = item[name];
      if (typeof v === 'number') s[field] = v;
    }
    summary[role] = s;
  }
  for (const [k, v] of Object.entries(item)) {
    if (k !== 'pk' && k !== 'sk' && !counterNames.has(k)) rest[k] = v;
  }
  return { ...(rest as unknown as Omit<SegmentRecord, 'summary'>), summary };
}

function toSession(item: Item): SessionRecord {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return rest as unknown as SessionRecord;
}

function requireId(value: string, what: string): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > 512) {
    throw new InvalidArgumentError(`${what} must be a non-empty string of at most 512 characters`);
  }
}

function requireSegment(segment: number): void {
  if (!Number.isInteger(segment) || segment < 1 || segment > 999_999) {
    throw new InvalidArgumentError(`segment must be an integer in 1..999999, got ${segment}`);
  }
}

/** Repository of the Conversations table (all items except the task inboxes: see control-inbox.ts). */
export class ConversationsRepository {
  private readonly table: string;
  private readonly retentionSeconds: number;
  private readonly maxAttempts: number;
  private readonly newStreamId: () => string;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    options: ConversationsRepositoryOptions,
  ) {
    this.table = options.tableName;
    this.retentionSeconds = options.retentionSeconds ?? DEFAULT_RETENTION_SECONDS;
    this.maxAttempts = options.maxAttempts ?? 8;
    this.newStreamId = options.newStreamId ?? randomUUID;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? defaultSleep;
  }

  /** The META item, strongly consistent by default (start/stop decide on it). */
  async getMeta(conversationId: string, options: { consistent?: boolean } = {}): Promise<ConversationMeta | undefined> {
    requireId(conversationId, 'conversationId');
    try {
      const { Item } = await this.doc.send(
        new GetCommand({
          TableName: this.table,
          Key: { pk: conversationPk(conversationId), sk: META_SK },
          ConsistentRead: options.consistent ?? true,
        }),
      );
      return Item ? toMeta(Item) : undefined;
    } catch (err) {
      throw toStoreError(err, 'conversations.getMeta');
    }
  }

  /**
   * Records a start-streaming request. A start while a segment is running is idempotent: it changes
   * nothing (not even params: stop, then start, to change them) and returns the running segment and its
   * streamIds. Otherwise it opens segment `currentSegment + 1` in state `pending` with fresh streamIds,
   * in one transaction with the META change (conditional on the version read).
   */
  async requestStart(conversationId: string, params: StartParams, now: number): Promise<StartResult> {
    requireId(conversationId, 'conversationId');
    let meta: ConversationMeta | undefined;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      meta = await this.getMeta(conversationId);
      if (meta?.desired === 'on' && meta.currentSegment !== undefined && meta.streamIds) {
        return { outcome: 'already-active', meta, segment: meta.currentSegment, streamIds: meta.streamIds };
      }
      const fromVersion = meta?.desiredVersion ?? 0;
      const segment = (meta?.currentSegment ?? 0) + 1;
      const streamIds: StreamIds = { customer: this.newStreamId(), agent: this.newStreamId() };
      const ttl = ttlAfter(now, this.retentionSeconds);
      const at = iso(now);
      const next: ConversationMeta = {
        conversationId,
        desired: 'on',
        desiredVersion: fromVersion + 1,
        status: 'waiting-for-audio',
        params: { ...params },
        currentSegment: segment,
        streamIds,
        createdAt: meta?.createdAt ?? at,
        updatedAt: at,
        startedAt: at,
        ttl,
      };
      const segmentItem: Item = {
        pk: conversationPk(conversationId),
        sk: segmentSk(segment),
        conversationId,
        segment,
        state: 'pending',
        streamIds,
        params: { ...params },
        startedAt: at,
        ttl,
      };
      for (const role of ROLES) {
        for (const field of SUMMARY_FIELDS) segmentItem[counterAttribute(role, field)] = 0;
      }
      try {
        await this.doc.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Update: {
                  TableName: this.table,
                  Key: { pk: conversationPk(conversationId), sk: META_SK },
                  UpdateExpression:
                    'SET conversationId = :id, desired = :on, desiredVersion = :v, #status = :status, params = :params, ' +
                    'currentSegment = :seg, streamIds = :ids, createdAt = if_not_exists(createdAt, :now), ' +
                    'updatedAt = :now, startedAt = :now, #ttl = :ttl REMOVE stoppedAt',
                  ConditionExpression: meta ? 'desiredVersion = :from' : 'attribute_not_exists(pk)',
                  ExpressionAttributeNames: { '#status': 'status', '#ttl': 'ttl' },
                  ExpressionAttributeValues: {
                    ':id': conversationId,
                    ':on': 'on',
                    ':v': next.desiredVersion,
                    ':status': next.status,
                    ':params': next.params,
                    ':seg': segment,
                    ':ids': streamIds,
                    ':now': at,
                    ':ttl': ttl,
                    ...(meta ? { ':from': fromVersion } : {}),
                  },
                },
              },
              {
                Put: {
                  TableName: this.table,
                  Item: segmentItem,
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
            ],
          }),
        );
        return { outcome: 'started', meta: next, segment, streamIds };
      } catch (err) {
        if (!isTransactionContention(err)) throw toStoreError(err, 'conversations.requestStart');
        await this.backoff(attempt);
      }
    }
    return { outcome: 'conflict', meta };
  }

  /**
   * Records a stop-streaming request: desired `off`, version +1, and in the same transaction the segment
   * moves `pending` → `closed` (nothing was streamed) or `active` → `closing` (the gateway finishes it and
   * writes the final summary; see {@link waitForSegmentClosed}).
   */
  async requestStop(conversationId: string, now: number): Promise<StopResult> {
    requireId(conversationId, 'conversationId');
    let meta: ConversationMeta | undefined;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      meta = await this.getMeta(conversationId);
      if (!meta) return { outcome: 'unknown' };
      if (meta.currentSegment === undefined) return { outcome: 'not-started', meta };
      if (meta.desired === 'off') return { outcome: 'already-stopped', meta, segment: meta.currentSegment };
      const segment = meta.currentSegment;
      const current = await this.getSegment(conversationId, segment);
      const at = iso(now);
      const ttl = ttlAfter(now, this.retentionSeconds);
      const next: ConversationMeta = {
        ...meta,
        desired: 'off',
        desiredVersion: meta.desiredVersion + 1,
        status: 'stopped',
        updatedAt: at,
        stoppedAt: at,
        ttl,
      };
      const transactItems: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']> = [
        {
          Update: {
            TableName: this.table,
            Key: { pk: conversationPk(conversationId), sk: META_SK },
            UpdateExpression:
              'SET desired = :off, desiredVersion = :v, #status = :stopped, updatedAt = :now, stoppedAt = :now, #ttl = :ttl',
            ConditionExpression: 'desiredVersion = :from',
            ExpressionAttributeNames: { '#status': 'status', '#ttl': 'ttl' },
            ExpressionAttributeValues: {
              ':off': 'off',
              ':v': next.desiredVersion,
              ':stopped': 'stopped',
              ':now': at,
              ':ttl': ttl,
              ':from': meta.desiredVersion,
            },
          },
        },
      ];
      let segmentState: SegmentState = current?.state ?? 'closed';
      if (current?.state === 'pending' || current?.state === 'active') {
        segmentState = current.state === 'pending' ? 'closed' : 'closing';
        transactItems.push({
          Update: {
            TableName: this.table,
            Key: { pk: conversationPk(conversationId), sk: segmentSk(segment) },
            UpdateExpression:
              segmentState === 'closed'
                ? 'SET #state = :next, stopRequestedAt = :now, endedAt = :now, #ttl = :ttl'
                : 'SET #state = :next, stopRequestedAt = :now, #ttl = :ttl',
            ConditionExpression: '#state = :seen',
            ExpressionAttributeNames: { '#state': 'state', '#ttl': 'ttl' },
            ExpressionAttributeValues: { ':next': segmentState, ':seen': current.state, ':now': at, ':ttl': ttl },
          },
        });
      }
      try {
        await this.doc.send(new TransactWriteCommand({ TransactItems: transactItems }));
        return { outcome: 'stopped', meta: next, segment, segmentState };
      } catch (err) {
        if (!isTransactionContention(err)) throw toStoreError(err, 'conversations.requestStop');
        await this.backoff(attempt);
      }
    }
    return { outcome: 'conflict', meta };
  }

  /**
   * Binds an AudioHook session to its conversation (gateway, on `open`), then returns META as it is right
   * after. The order matters (docs/data-model.md, "start/stop race"): the SES item is written before META
   * is read, and the read is the strongly consistent result of an upsert that creates META (`idle`,
   * version 0) if absent, so a start recorded before the session is never missed. Retrying is safe.
   */
  async registerSession(input: RegisterSessionInput, now: number): Promise<RegisterSessionResult> {
    requireId(input.conversationId, 'conversationId');
    requireId(input.sessionId, 'sessionId');
    requireId(input.taskId, 'taskId');
    const at = iso(now);
    const ttl = ttlAfter(now, this.retentionSeconds);
    let outcome: RegisterSessionResult['outcome'] = 'registered';
    const sets = [
      'conversationId = :cid',
      'sessionId = :sid',
      'taskId = :task',
      '#state = :open',
      'openedAt = if_not_exists(openedAt, :now)',
      '#ttl = :ttl',
    ];
    const values: Item = {
      ':cid': input.conversationId,
      ':sid': input.sessionId,
      ':task': input.taskId,
      ':open': 'open',
      ':now': at,
      ':ttl': ttl,
    };
    // Optional attributes are only SET when given: an undefined expression value is a ValidationException.
    const optional: [string, unknown][] = [
      ['channels', input.channels ? [...input.channels] : undefined],
      ['mediaFormat', input.mediaFormat],
      ['correlationId', input.correlationId],
    ];
    for (const [name, value] of optional) {
      if (value === undefined) continue;
      sets.push(`${name} = :${name}`);
      values[`:${name}`] = value;
    }
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: conversationPk(input.conversationId), sk: sessionSk(input.sessionId) },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: 'attribute_not_exists(pk) OR (taskId = :task AND #state = :open)',
          ExpressionAttributeNames: { '#state': 'state', '#ttl': 'ttl' },
          ExpressionAttributeValues: values,
        }),
      );
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw toStoreError(err, 'conversations.registerSession');
      outcome = 'conflict';
    }
    try {
      const { Attributes } = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: conversationPk(input.conversationId), sk: META_SK },
          UpdateExpression:
            'SET conversationId = :cid, desired = if_not_exists(desired, :off), ' +
            'desiredVersion = if_not_exists(desiredVersion, :zero), #status = if_not_exists(#status, :idle), ' +
            'createdAt = if_not_exists(createdAt, :now), updatedAt = :now, #ttl = :ttl',
          ExpressionAttributeNames: { '#status': 'status', '#ttl': 'ttl' },
          ExpressionAttributeValues: {
            ':cid': input.conversationId,
            ':off': 'off',
            ':zero': 0,
            ':idle': 'idle',
            ':now': at,
            ':ttl': ttl,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { outcome, meta: toMeta(Attributes ?? {}) };
    } catch (err) {
      throw toStoreError(err, 'conversations.registerSession');
    }
  }

  /** Marks a session closed (gateway, on `close` or disconnect). Idempotent. */
  async closeSession(
    conversationId: string,
    sessionId: string,
    now: number,
    reason?: string,
  ): Promise<'closed' | 'already-closed' | 'not-found'> {
    requireId(conversationId, 'conversationId');
    requireId(sessionId, 'sessionId');
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: conversationPk(conversationId), sk: sessionSk(sessionId) },
          UpdateExpression: `SET #state = :closed, closedAt = :now, #ttl = :ttl${reason ? ', closeReason = :reason' : ''}`,
          ConditionExpression: 'attribute_exists(pk) AND #state = :open',
          ExpressionAttributeNames: { '#state': 'state', '#ttl': 'ttl' },
          ExpressionAttributeValues: {
            ':closed': 'closed',
            ':open': 'open',
            ':now': iso(now),
            ':ttl': ttlAfter(now, this.retentionSeconds),
            ...(reason ? { ':reason': reason } : {}),
          },
        }),
      );
      return 'closed';
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw toStoreError(err, 'conversations.closeSession');
    }
    const sessions = await this.listSessions(conversationId);
    return sessions.some((s) => s.sessionId === sessionId) ? 'already-closed' : 'not-found';
  }

  /**
   * Sessions of a conversation, strongly consistent (the start/stop Lambda reads them right after writing
   * META to find the tasks to notify). `openOnly` filters closed ones.
   */
  async listSessions(conversationId: string, options: { openOnly?: boolean } = {}): Promise<SessionRecord[]> {
    const items = await this.queryPrefix(conversationId, SESSION_PREFIX, 'conversations.listSessions');
    const sessions = items.map(toSession);
    return options.openOnly ? sessions.filter((s) => s.state === 'open') : sessions;
  }

  /** Segments of a conversation, oldest first, strongly consistent. */
  async listSegments(conversationId: string): Promise<SegmentRecord[]> {
    const items = await this.queryPrefix(conversationId, SEGMENT_PREFIX, 'conversations.listSegments');
    return items.map(toSegment);
  }

  /** One segment, strongly consistent by default. */
  async getSegment(
    conversationId: string,
    segment: number,
    options: { consistent?: boolean } = {},
  ): Promise<SegmentRecord | undefined> {
    requireId(conversationId, 'conversationId');
    requireSegment(segment);
    try {
      const { Item } = await this.doc.send(
        new GetCommand({
          TableName: this.table,
          Key: { pk: conversationPk(conversationId), sk: segmentSk(segment) },
          ConsistentRead: options.consistent ?? true,
        }),
      );
      return Item ? toSegment(Item) : undefined;
    } catch (err) {
      throw toStoreError(err, 'conversations.getSegment');
    }
  }

  /**
   * Gateway: claims a `pending` segment for a session and marks the conversation `transcribing`. Only one
   * session can win; a retry by the winner answers `already-open`. `stale` means the segment was stopped
   * or superseded meanwhile: do not stream.
   */
  async openSegment(
    conversationId: string,
    segment: number,
    holder: { taskId: string; sessionId: string },
    now: number,
  ): Promise<OpenSegmentResult> {
    requireId(conversationId, 'conversationId');
    requireSegment(segment);
    const at = iso(now);
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.table,
                Key: { pk: conversationPk(conversationId), sk: segmentSk(segment) },
                UpdateExpression: 'SET #state = :active, openedAt = :now, taskId = :task, sessionId = :sid',
                ConditionExpression: '#state = :pending',
                ExpressionAttributeNames: { '#state': 'state' },
                ExpressionAttributeValues: {
                  ':active': 'active',
                  ':pending': 'pending',
                  ':now': at,
                  ':task': holder.taskId,
                  ':sid': holder.sessionId,
                },
              },
            },
            {
              Update: {
                TableName: this.table,
                Key: { pk: conversationPk(conversationId), sk: META_SK },
                UpdateExpression: 'SET #status = :transcribing, updatedAt = :now',
                ConditionExpression: 'desired = :on AND currentSegment = :seg',
                ExpressionAttributeNames: { '#status': 'status' },
                ExpressionAttributeValues: {
                  ':transcribing': 'transcribing',
                  ':now': at,
                  ':on': 'on',
                  ':seg': segment,
                },
              },
            },
          ],
        }),
      );
    } catch (err) {
      if (!isTransactionContention(err)) throw toStoreError(err, 'conversations.openSegment');
      const seen = await this.getSegment(conversationId, segment);
      if (seen?.state === 'active' || seen?.state === 'closing') {
        const mine = seen.taskId === holder.taskId && seen.sessionId === holder.sessionId;
        if (mine && seen.state === 'active') return { outcome: 'already-open', segment: seen };
        if (!mine) return { outcome: 'taken', segment: seen };
      }
      return { outcome: 'stale', segment: seen };
    }
    const opened = await this.getSegment(conversationId, segment);
    if (!opened) throw new NotFoundError(`segment ${segment} of ${conversationId} vanished after opening`);
    return { outcome: 'opened', segment: opened };
  }

  /**
   * Gateway: renews transcription for a conversation whose desired state is still `on` but whose current
   * segment `fromSegment` was closed by the end of the session that held it (a reconnect, a second
   * AudioHook session, a transfer). In one transaction, conditional on the META version read, on
   * `desired = on AND currentSegment = fromSegment` and on that segment being `closed`: META moves to
   * segment `fromSegment + 1` with fresh streamIds (so a later status/messages read sees them),
   * `status = transcribing` and `desiredVersion + 1` (a stop racing with the renewal then re-reads and
   * stops the new segment instead of reporting the old one); the new SEG item is created directly
   * `active`, held by `holder`, with the META params. Exactly one caller can win for a given
   * `fromSegment`; the others get `stale`. Not retried here: the caller re-reads META and converges.
   */
  async startNextSegment(
    conversationId: string,
    fromSegment: number,
    holder: { taskId: string; sessionId: string },
    now: number,
  ): Promise<NextSegmentResult> {
    requireId(conversationId, 'conversationId');
    requireSegment(fromSegment);
    requireId(holder.taskId, 'taskId');
    requireId(holder.sessionId, 'sessionId');
    const meta = await this.getMeta(conversationId);
    if (meta?.desired !== 'on' || meta.currentSegment !== fromSegment || !meta.params) {
      return { outcome: 'stale', meta };
    }
    const segment = fromSegment + 1;
    requireSegment(segment);
    const streamIds: StreamIds = { customer: this.newStreamId(), agent: this.newStreamId() };
    const at = iso(now);
    const ttl = ttlAfter(now, this.retentionSeconds);
    const next: ConversationMeta = {
      ...meta,
      desiredVersion: meta.desiredVersion + 1,
      status: 'transcribing',
      currentSegment: segment,
      streamIds,
      updatedAt: at,
      ttl,
    };
    const segmentItem: Item = {
      pk: conversationPk(conversationId),
      sk: segmentSk(segment),
      conversationId,
      segment,
      state: 'active',
      streamIds,
      params: { ...meta.params },
      startedAt: at,
      openedAt: at,
      taskId: holder.taskId,
      sessionId: holder.sessionId,
      ttl,
    };
    for (const role of ROLES) {
      for (const field of SUMMARY_FIELDS) segmentItem[counterAttribute(role, field)] = 0;
    }
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.table,
                Key: { pk: conversationPk(conversationId), sk: META_SK },
                UpdateExpression:
                  'SET desiredVersion = :v, #status = :transcribing, currentSegment = :seg, streamIds = :ids, ' +
                  'updatedAt = :now, #ttl = :ttl',
                ConditionExpression: 'desiredVersion = :from AND desired = :on AND currentSegment = :prev',
                ExpressionAttributeNames: { '#status': 'status', '#ttl': 'ttl' },
                ExpressionAttributeValues: {
                  ':v': next.desiredVersion,
                  ':transcribing': 'transcribing',
                  ':seg': segment,
                  ':ids': streamIds,
                  ':now': at,
                  ':ttl': ttl,
                  ':from': meta.desiredVersion,
                  ':on': 'on',
                  ':prev': fromSegment,
                },
              },
            },
            {
              ConditionCheck: {
                TableName: this.table,
                Key: { pk: conversationPk(conversationId), sk: segmentSk(fromSegment) },
                ConditionExpression: '#state = :closed',
                ExpressionAttributeNames: { '#state': 'state' },
                ExpressionAttributeValues: { ':closed': 'closed' },
              },
            },
            {
              Put: {
                TableName: this.table,
                Item: segmentItem,
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
          ],
        }),
      );
    } catch (err) {
      if (!isTransactionContention(err)) throw toStoreError(err, 'conversations.startNextSegment');
      return { outcome: 'stale', meta: await this.getMeta(conversationId) };
    }
    return { outcome: 'opened', meta: next, segment: toSegment(segmentItem) };
  }

  /**
   * Gateway: closes an `active` or `closing` segment. When `summary` is given (the gateway's final
   * totals), it replaces the running counters for the roles it names. Idempotent: `already-closed`.
   */
  async closeSegment(
    conversationId: string,
    segment: number,
    now: number,
    summary?: Partial<Record<Role, RoleSummary>>,
  ): Promise<CloseSegmentOutcome> {
    requireId(conversationId, 'conversationId');
    requireSegment(segment);
    const sets = ['#state = :closed', 'endedAt = :now', '#ttl = :ttl'];
    const values: Item = {
      ':closed': 'closed',
      ':active': 'active',
      ':closing': 'closing',
      ':now': iso(now),
      ':ttl': ttlAfter(now, this.retentionSeconds),
    };
    for (const role of ROLES) {
      const s = summary?.[role];
      if (!s) continue;
      for (const field of SUMMARY_FIELDS) {
        const name = counterAttribute(role, field);
        sets.push(`${name} = :${name}`);
        values[`:${name}`] = s[field];
      }
    }
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: conversationPk(conversationId), sk: segmentSk(segment) },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: '#state IN (:active, :closing)',
          ExpressionAttributeNames: { '#state': 'state', '#ttl': 'ttl' },
          ExpressionAttributeValues: values,
        }),
      );
      return 'closed';
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw toStoreError(err, 'conversations.closeSegment');
    }
    const seen = await this.getSegment(conversationId, segment);
    if (!seen) throw new NotFoundError(`segment ${segment} of conversation ${conversationId} does not exist`);
    return seen.state === 'closed' ? 'already-closed' : 'not-open';
  }

  /**
   * Gateway: adds to a segment's per-role counters with one atomic ADD (safe under concurrency; a retried
   * call after an ambiguous failure may count twice, which the final `closeSegment` summary corrects).
   * Throws {@link NotFoundError} when the segment does not exist.
   */
  async addSegmentCounters(
    conversationId: string,
    segment: number,
    role: Role,
    delta: Partial<RoleSummary>,
  ): Promise<void> {
    requireId(conversationId, 'conversationId');
    requireSegment(segment);
    const adds: string[] = [];
    const values: Item = {};
    for (const field of SUMMARY_FIELDS) {
      const v = delta[field];
      if (v === undefined || v === 0) continue;
      if (!Number.isFinite(v)) throw new InvalidArgumentError(`${field} must be a finite number`);
      const name = counterAttribute(role, field);
      adds.push(`${name} :${name}`);
      values[`:${name}`] = v;
    }
    if (adds.length === 0) return;
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: conversationPk(conversationId), sk: segmentSk(segment) },
          UpdateExpression: `ADD ${adds.join(', ')}`,
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: values,
        }),
      );
    } catch (err) {
      if (isConditionalCheckFailed(err)) {
        throw new NotFoundError(`segment ${segment} of conversation ${conversationId} does not exist`);
      }
      throw toStoreError(err, 'conversations.addSegmentCounters');
    }
  }

  /**
   * Gateway: records that this task still streams the segment (`heartbeatAt`), so a stop can tell a slow
   * holder from a dead one. Called on every counter flush period. `not-open` when the segment is no longer
   * `active`/`closing` (someone closed it); throws {@link NotFoundError} when it does not exist.
   */
  async heartbeatSegment(conversationId: string, segment: number, now: number): Promise<'ok' | 'not-open'> {
    requireId(conversationId, 'conversationId');
    requireSegment(segment);
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: conversationPk(conversationId), sk: segmentSk(segment) },
          UpdateExpression: 'SET heartbeatAt = :now',
          ConditionExpression: '#state IN (:active, :closing)',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':now': iso(now), ':active': 'active', ':closing': 'closing' },
        }),
      );
      return 'ok';
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw toStoreError(err, 'conversations.heartbeatSegment');
    }
    if (!(await this.getSegment(conversationId, segment))) {
      throw new NotFoundError(`segment ${segment} of conversation ${conversationId} does not exist`);
    }
    return 'not-open';
  }

  /**
   * Stop Lambda: closes an `active`/`closing` segment whose holder has shown no sign of life
   * (`heartbeatAt`, else `openedAt`) since `silentSince` — its gateway task died without closing it.
   * The counters stay as last flushed; `closeReason` says `holder-lost`. Conditional, so a holder that
   * is alive after all (a heartbeat after `silentSince`) keeps its segment: `alive`.
   */
  async abandonSegment(
    conversationId: string,
    segment: number,
    now: number,
    silentSince: number,
  ): Promise<'closed' | 'already-closed' | 'alive'> {
    requireId(conversationId, 'conversationId');
    requireSegment(segment);
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: conversationPk(conversationId), sk: segmentSk(segment) },
          UpdateExpression: 'SET #state = :closed, endedAt = :now, closeReason = :reason, #ttl = :ttl',
          // ISO-8601 UTC timestamps of one format compare correctly as strings.
          ConditionExpression:
            '#state IN (:active, :closing) AND (heartbeatAt < :cut OR (attribute_not_exists(heartbeatAt) AND openedAt < :cut))',
          ExpressionAttributeNames: { '#state': 'state', '#ttl': 'ttl' },
          ExpressionAttributeValues: {
            ':closed': 'closed',
            ':active': 'active',
            ':closing': 'closing',
            ':now': iso(now),
            ':reason': 'holder-lost',
            ':cut': iso(silentSince),
            ':ttl': ttlAfter(now, this.retentionSeconds),
          },
        }),
      );
      return 'closed';
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw toStoreError(err, 'conversations.abandonSegment');
    }
    const seen = await this.getSegment(conversationId, segment);
    if (!seen) throw new NotFoundError(`segment ${segment} of conversation ${conversationId} does not exist`);
    return seen.state === 'closed' ? 'already-closed' : 'alive';
  }

  /**
   * Stop Lambda: polls the segment (strongly consistent) until it is `closed` or `timeoutMs` passes.
   * On timeout it returns the segment as last read (its counters are the best summary there is).
   */
  async waitForSegmentClosed(
    conversationId: string,
    segment: number,
    options: { timeoutMs: number; pollMs?: number },
  ): Promise<{ closed: boolean; segment: SegmentRecord | undefined }> {
    const pollMs = options.pollMs ?? 100;
    const deadline = this.now() + options.timeoutMs;
    for (;;) {
      const seen = await this.getSegment(conversationId, segment);
      if (seen?.state === 'closed') return { closed: true, segment: seen };
      if (this.now() >= deadline) return { closed: false, segment: seen };
      await this.sleep(Math.min(pollMs, Math.max(0, deadline - this.now())));
    }
  }

  private async queryPrefix(conversationId: string, prefix: string, operation: string): Promise<Item[]> {
    requireId(conversationId, 'conversationId');
    const items: Item[] = [];
    let startKey: QueryCommandInput['ExclusiveStartKey'];
    try {
      do {
        const page = await this.doc.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
            ExpressionAttributeValues: { ':pk': conversationPk(conversationId), ':prefix': prefix },
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        );
        items.push(...(page.Items ?? []));
        startKey = page.LastEvaluatedKey;
      } while (startKey);
    } catch (err) {
      throw toStoreError(err, operation);
    }
    return items;
  }

  /** Jittered exponential backoff between contended attempts (≤ ~100 ms), so racers spread out. */
  private async backoff(attempt: number): Promise<void> {
    const cap = Math.min(100, 5 * 2 ** attempt);
    await this.sleep(Math.floor(Math.random() * cap));
  }
}

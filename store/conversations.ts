/**
 * The Conversations table's repository: desired transcription state (META), transcription segments (SEG#),
 * and the AudioHook sessions bound to a conversation (SES#). Used by the start/stop Lambdas (requestStart,
 * requestStop, listSessions, waitForSegmentClosed; the notify-and-await protocol around them is
 * control-service.ts) and by the gateway (registerSession, openSegment, startNextSegment,
 * flushSegment, closeSegment, closeSession). Layout and the start/stop race argument:
 * docs/data-model.md.
 *
 * The records are the domain's (core/conversation); conversation-items.ts maps them to items. Every state
 * change that can race is an optimistic, conditional write on the version or state that was read
 * (start-stop-writes.ts, segment-writes.ts); a lost race re-reads and decides again (bounded), so
 * concurrent start/stop requests never lose an update. Every write that may be retried is idempotent at
 * the domain level.
 */
import { randomUUID } from 'node:crypto';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Role } from '../core/audio/roles';
import type { ControlPolicy } from '../core/auth/api-keys';
import type { ConversationMeta, StartParams } from '../core/conversation/conversation';
import type { RoleSummary, SegmentHolder, SegmentRecord } from '../core/conversation/segment';
import type { SessionRecord } from '../core/conversation/session';
import {
  type ConversationTable,
  type Item,
  iso,
  queryPrefix,
  readMeta,
  readSegment,
  requireId,
  toMeta,
  toSegment,
  toSession,
} from './conversation-items';
import { DEFAULT_RETENTION_SECONDS, isConditionalCheckFailed, ttlAfter } from './dynamo';
import { toStoreError } from './errors';
import { conversationPk, META_SK, SEGMENT_PREFIX, SESSION_PREFIX, sessionSk } from './keys';
import {
  type CloseSegmentOutcome,
  type NextSegmentResult,
  type OpenSegmentResult,
  waitClosed,
  writeAbandon,
  writeCloseSegment,
  writeCounters,
  writeFlush,
  writeHeartbeat,
  writeNextSegment,
  writeOpenSegment,
} from './segment-writes';
import { type RequestClock, type StartResult, type StopResult, writeStart, writeStop } from './start-stop-writes';

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
  /**
   * The session's control policy. `genesys` is recorded on the SES item and on META (`control`), which
   * then stays `genesys` for the conversation's lifetime. @default - nothing recorded (`api`)
   */
  control?: ControlPolicy;
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

/** Repository of the Conversations table (all items except the task inboxes: see control-inbox.ts). */
export class ConversationsRepository {
  private readonly t: ConversationTable;

  constructor(doc: DynamoDBDocumentClient, options: ConversationsRepositoryOptions) {
    this.t = {
      doc,
      table: options.tableName,
      retentionSeconds: options.retentionSeconds ?? DEFAULT_RETENTION_SECONDS,
      maxAttempts: options.maxAttempts ?? 8,
      newStreamId: options.newStreamId ?? randomUUID,
      now: options.now ?? Date.now,
      sleep: options.sleep ?? defaultSleep,
    };
  }

  /** The META item, strongly consistent by default (start/stop decide on it). */
  getMeta(conversationId: string, options: { consistent?: boolean } = {}): Promise<ConversationMeta | undefined> {
    return readMeta(this.t, conversationId, options.consistent ?? true);
  }

  /**
   * Records a start-streaming request. A start while a segment is running is idempotent: it changes
   * nothing (not even params: stop, then start, to change them) and returns the running segment and its
   * streamIds. Otherwise it opens segment `currentSegment + 1` in state `pending` with fresh streamIds,
   * in one transaction with the META change (conditional on the version read).
   */
  requestStart(conversationId: string, params: StartParams, now: RequestClock): Promise<StartResult> {
    return writeStart(this.t, conversationId, params, now);
  }

  /**
   * Records a stop-streaming request: desired `off`, version +1, and in the same transaction the segment
   * moves `pending` → `closed` (nothing was streamed) or `active` → `closing` (the gateway finishes it and
   * writes the final summary; see {@link waitForSegmentClosed}).
   */
  requestStop(conversationId: string, now: RequestClock): Promise<StopResult> {
    return writeStop(this.t, conversationId, now);
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
    const ttl = ttlAfter(now, this.t.retentionSeconds);
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
      ['control', input.control === 'genesys' ? 'genesys' : undefined],
    ];
    for (const [name, value] of optional) {
      if (value === undefined) continue;
      sets.push(`${name} = :${name}`);
      values[`:${name}`] = value;
    }
    try {
      await this.t.doc.send(
        new UpdateCommand({
          TableName: this.t.table,
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
    const genesys = input.control === 'genesys';
    try {
      const { Attributes } = await this.t.doc.send(
        new UpdateCommand({
          TableName: this.t.table,
          Key: { pk: conversationPk(input.conversationId), sk: META_SK },
          UpdateExpression:
            'SET conversationId = :cid, desired = if_not_exists(desired, :off), ' +
            'desiredVersion = if_not_exists(desiredVersion, :zero), #status = if_not_exists(#status, :idle), ' +
            `createdAt = if_not_exists(createdAt, :now), updatedAt = :now, #ttl = :ttl${genesys ? ', control = :control' : ''}`,
          ExpressionAttributeNames: { '#status': 'status', '#ttl': 'ttl' },
          ExpressionAttributeValues: {
            ':cid': input.conversationId,
            ':off': 'off',
            ':zero': 0,
            ':idle': 'idle',
            ':now': at,
            ':ttl': ttl,
            ...(genesys && { ':control': 'genesys' }),
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
      await this.t.doc.send(
        new UpdateCommand({
          TableName: this.t.table,
          Key: { pk: conversationPk(conversationId), sk: sessionSk(sessionId) },
          UpdateExpression: `SET #state = :closed, closedAt = :now, #ttl = :ttl${reason ? ', closeReason = :reason' : ''}`,
          ConditionExpression: 'attribute_exists(pk) AND #state = :open',
          ExpressionAttributeNames: { '#state': 'state', '#ttl': 'ttl' },
          ExpressionAttributeValues: {
            ':closed': 'closed',
            ':open': 'open',
            ':now': iso(now),
            ':ttl': ttlAfter(now, this.t.retentionSeconds),
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
    const items = await queryPrefix(this.t, conversationId, SESSION_PREFIX, 'conversations.listSessions');
    const sessions = items.map(toSession);
    return options.openOnly ? sessions.filter((s) => s.state === 'open') : sessions;
  }

  /** Segments of a conversation, oldest first, strongly consistent. */
  async listSegments(conversationId: string): Promise<SegmentRecord[]> {
    const items = await queryPrefix(this.t, conversationId, SEGMENT_PREFIX, 'conversations.listSegments');
    return items.map(toSegment);
  }

  /** One segment, strongly consistent by default. */
  getSegment(
    conversationId: string,
    segment: number,
    options: { consistent?: boolean } = {},
  ): Promise<SegmentRecord | undefined> {
    return readSegment(this.t, conversationId, segment, options.consistent ?? true);
  }

  /**
   * Gateway: claims a `pending` segment for a session and marks the conversation `transcribing`. Only one
   * session can win; a retry by the winner answers `already-open`. `stale` means the segment was stopped
   * or superseded meanwhile: do not stream.
   */
  openSegment(conversationId: string, segment: number, holder: SegmentHolder, now: number): Promise<OpenSegmentResult> {
    return writeOpenSegment(this.t, conversationId, segment, holder, now);
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
  startNextSegment(
    conversationId: string,
    fromSegment: number,
    holder: SegmentHolder,
    now: number,
  ): Promise<NextSegmentResult> {
    return writeNextSegment(this.t, conversationId, fromSegment, holder, now);
  }

  /**
   * Gateway: closes an `active` or `closing` segment. When `summary` is given (the gateway's final
   * totals), it replaces the running counters for the roles it names. Idempotent: `already-closed`.
   */
  closeSegment(
    conversationId: string,
    segment: number,
    now: number,
    summary?: Partial<Record<Role, RoleSummary>>,
  ): Promise<CloseSegmentOutcome> {
    return writeCloseSegment(this.t, conversationId, segment, now, summary);
  }

  /**
   * Gateway: adds to a segment's per-role counters with one atomic ADD (safe under concurrency; a retried
   * call after an ambiguous failure may count twice, which the final `closeSegment` summary corrects).
   * Throws {@link NotFoundError} when the segment does not exist.
   */
  addSegmentCounters(conversationId: string, segment: number, role: Role, delta: Partial<RoleSummary>): Promise<void> {
    return writeCounters(this.t, conversationId, segment, role, delta);
  }

  /**
   * Gateway, once per counter flush period: adds every role's counter deltas and records that this task
   * still streams the segment (`heartbeatAt`), in one request. `not-open` when the segment is no longer
   * `active`/`closing` (someone closed it; the counters are added all the same); throws
   * {@link NotFoundError} when it does not exist.
   */
  flushSegment(
    conversationId: string,
    segment: number,
    deltas: Partial<Record<Role, Partial<RoleSummary>>>,
    now: number,
  ): Promise<'ok' | 'not-open'> {
    return writeFlush(this.t, conversationId, segment, deltas, now);
  }

  /**
   * Gateway: records that this task still streams the segment (`heartbeatAt`), so a stop can tell a slow
   * holder from a dead one. Called on every counter flush period. `not-open` when the segment is no longer
   * `active`/`closing` (someone closed it); throws {@link NotFoundError} when it does not exist.
   */
  heartbeatSegment(conversationId: string, segment: number, now: number): Promise<'ok' | 'not-open'> {
    return writeHeartbeat(this.t, conversationId, segment, now);
  }

  /**
   * Stop Lambda: closes an `active`/`closing` segment whose holder has shown no sign of life
   * (`heartbeatAt`, else `openedAt`) since `silentSince` — its gateway task died without closing it.
   * The counters stay as last flushed; `closeReason` says `holder-lost`. Conditional, so a holder that
   * is alive after all (a heartbeat after `silentSince`) keeps its segment: `alive`.
   */
  abandonSegment(
    conversationId: string,
    segment: number,
    now: number,
    silentSince: number,
  ): Promise<'closed' | 'already-closed' | 'alive'> {
    return writeAbandon(this.t, conversationId, segment, now, silentSince);
  }

  /**
   * Stop Lambda: polls the segment (strongly consistent) until it is `closed` or `timeoutMs` passes.
   * On timeout it returns the segment as last read (its counters are the best summary there is).
   */
  waitForSegmentClosed(
    conversationId: string,
    segment: number,
    options: { timeoutMs: number; pollMs?: number },
  ): Promise<{ closed: boolean; segment: SegmentRecord | undefined }> {
    return waitClosed(this.t, conversationId, segment, options);
  }
}

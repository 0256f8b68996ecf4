/**
 * The fan-out: triggered by the Utterances table stream (NEW_IMAGE), it turns each new final utterance
 * into the `transcript` message (api-contract.md §3.3) and delivers it to every webhook target and to
 * the WebSocket subscribers of its conversation (docs/realtime.md).
 *
 * - **Order.** Records are split into per-conversation lanes (core/delivery/ordering.ts); a lane is
 *   delivered one record after another, lanes in parallel (`concurrency`). A record that cannot be
 *   delivered yet blocks the rest of its lane, and the partial batch response lists it and every later
 *   record of its conversation, so nothing overtakes it.
 * - **Webhook.** Retries with exponential backoff and full jitter inside the invocation, then defers to
 *   the next invocation; dead-letters a record the receiver refused for good (4xx) or that kept failing
 *   past `maxRetryAgeMs` (core/delivery/retry-policy.ts). Receivers dedupe on `Idempotency-Key` (the
 *   utterance id): delivery is at least once.
 * - **WebSocket.** Best effort and live only: one `postToConnection` per subscriber, a gone connection
 *   is deleted; a failure never holds back the stream (a client that missed something reads the messages
 *   API).
 * - **Bad records** (not an INSERT, not an utterance) are logged and skipped: retrying cannot fix them.
 * - **Redrive.** Invoked with `{"action":"redrive"}` instead of a stream event, it re-sends the dead
 *   letters (see {@link redrive}).
 *
 * Never logs transcript text: ids, codes and statuses only.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { DeliveryError } from '../../core/delivery/errors';
import { batchItemFailures, conversationLanes } from '../../core/delivery/ordering';
import { type AttemptOutcome, nextStep, type RetryPolicy } from '../../core/delivery/retry-policy';
import {
  type DeliverableUtterance,
  parseUtteranceImage,
  toSubscriberMessage,
  toTranscriptMessage,
} from '../../core/delivery/transcript-message';
import { createDocumentClient } from '../../store/dynamo';
import {
  ALL_CONVERSATIONS,
  type DeadLetter,
  DeadLetterRepository,
  type StoredDeadLetter,
  SubscriptionsRepository,
} from '../../store/subscriptions';
import { type ApiLogger, createObservability, type MetricsSink, traceClient } from '../shared/observability';
import { type FanoutConfig, loadFanoutConfig } from '../shared/realtime-config';
import { unmarshallImage } from '../shared/stream-image';
import { type PostMeta, WebhookClient } from '../shared/webhook-client';
import { parseWebhookTargets } from '../shared/webhook-targets';
import { type ConnectionPusher, ManagementApiPusher, managementClient } from '../shared/websocket';

/** A webhook target as the fan-out uses it (a {@link WebhookClient}, or a test double). */
export interface WebhookSender {
  readonly target: { readonly id: string };
  post(body: string, meta: PostMeta): Promise<AttemptOutcome>;
}

/** Where dead letters go. */
export type DeadLetterStore = Pick<DeadLetterRepository, 'put' | 'list' | 'delete' | 'markRedriveFailed'>;

/** Collaborators of the fan-out. */
export interface FanoutDeps {
  webhooks: readonly WebhookSender[];
  /** WebSocket delivery; absent = webhook only. */
  websocket?: {
    subscriptions: Pick<SubscriptionsRepository, 'connectionsOf' | 'removeConnection'>;
    pusher: ConnectionPusher;
  };
  deadLetters: DeadLetterStore;
  retry: RetryPolicy;
  /** Conversations delivered in parallel. */
  concurrency: number;
  /** Time an invocation may use when the Lambda context gives none. */
  timeBudgetMs: number;
  logger: ApiLogger;
  metrics: MetricsSink;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** The Lambda context, reduced to what the fan-out reads. */
export interface FanoutContext {
  getRemainingTimeInMillis?: () => number;
}

/** The fan-out of stream batches. */
export type FanoutHandler = (event: DynamoDBStreamEvent, context?: FanoutContext) => Promise<DynamoDBBatchResponse>;

/** Time kept back from Lambda's remaining time to write the response and metrics. */
const RESPONSE_MARGIN_MS = 3000;

/** Entries kept in the per-container memories below. */
const MEMORY_LIMIT = 50_000;

interface ParsedRecord {
  sequenceNumber: string;
  conversationId: string;
  utterance: DeliverableUtterance;
  /** Epoch ms the utterance was stored. */
  storedAtMs: number;
}

/** A bounded insertion-ordered memory (per container: Lambda retries usually land on the same one). */
class Memory<V> {
  private readonly map = new Map<string, V>();
  get(key: string): V | undefined {
    return this.map.get(key);
  }
  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > MEMORY_LIMIT) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
  }
}

async function runLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

function describeError(err: unknown): Record<string, unknown> {
  if (err instanceof DeliveryError) return { code: err.code, error: err.message };
  return err instanceof Error ? { errorName: err.name, error: err.message } : { error: String(err) };
}

/** Builds the stream handler around injected collaborators (tests and the local poller use this). */
export function makeHandler(deps: FanoutDeps): FanoutHandler {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = deps.random ?? Math.random;
  // What this container already did, so a batch handed back after a partial failure does not re-send
  // what went through (at-least-once stays the contract; this only trims duplicates).
  const delivered = new Memory<true>();
  const pushed = new Memory<true>();
  const attempts = new Memory<number>();

  const parse = (record: DynamoDBRecord): ParsedRecord | undefined => {
    const sequenceNumber = record.dynamodb?.SequenceNumber ?? '';
    if (record.eventName !== 'INSERT') return undefined; // TTL expiries (REMOVE) and the like
    try {
      const image = record.dynamodb?.NewImage;
      const utterance = parseUtteranceImage(image ? unmarshallImage(image) : undefined);
      return {
        sequenceNumber,
        conversationId: utterance.conversationId,
        utterance,
        storedAtMs: Date.parse(utterance.createdAt),
      };
    } catch (err) {
      deps.logger.warn('stream record skipped', { sequenceNumber, eventId: record.eventID, ...describeError(err) });
      deps.metrics.addMetric('FanoutInvalidRecord', 'Count', 1);
      return undefined;
    }
  };

  const pushToSubscribers = async (r: ParsedRecord, supervisors: () => Promise<string[]>): Promise<void> => {
    const ws = deps.websocket;
    if (!ws || pushed.get(r.utterance.utteranceId)) return;
    const ids = { conversationId: r.conversationId, utteranceId: r.utterance.utteranceId };
    try {
      const [direct, all] = await Promise.all([ws.subscriptions.connectionsOf(r.conversationId, now()), supervisors()]);
      const connections = [...new Set([...direct, ...all])];
      if (connections.length === 0) return;
      const frame = JSON.stringify(toSubscriberMessage(r.utterance));
      await Promise.all(
        connections.map(async (connectionId) => {
          try {
            if ((await ws.pusher.post(connectionId, frame)) === 'gone') {
              deps.metrics.addMetric('WebSocketGone', 'Count', 1);
              await ws.subscriptions.removeConnection(connectionId);
              deps.logger.info('websocket connection gone; removed', { ...ids, connectionId });
              return;
            }
            deps.metrics.addMetric('WebSocketPushed', 'Count', 1);
            deps.metrics.addMetric('StoredToWebSocketMs', 'Milliseconds', Math.max(0, now() - r.storedAtMs));
          } catch (err) {
            deps.metrics.addMetric('WebSocketPushFailed', 'Count', 1);
            deps.logger.warn('websocket push failed', { ...ids, connectionId, ...describeError(err) });
          }
        }),
      );
      pushed.set(r.utterance.utteranceId, true);
    } catch (err) {
      deps.metrics.addMetric('WebSocketPushFailed', 'Count', 1);
      deps.logger.warn('websocket subscribers unavailable', { ...ids, ...describeError(err) });
    }
  };

  type TargetResult = 'delivered' | 'dead-lettered' | 'deferred';

  const deliverToTarget = async (
    r: ParsedRecord,
    sender: WebhookSender,
    body: string,
    deadline: number,
    tripped: Set<string>,
  ): Promise<TargetResult> => {
    const targetId = sender.target.id;
    const key = `${targetId}\u0000${r.utterance.utteranceId}`;
    if (delivered.get(key)) return 'delivered';
    const ids = {
      targetId,
      externalConversationId: r.conversationId,
      streamId: r.utterance.streamId,
      utteranceId: r.utterance.utteranceId,
      sequenceNumber: r.sequenceNumber,
    };
    // A target that already failed in this invocation gets one probe per record, not a full backoff run.
    const policy = tripped.has(targetId) ? { ...deps.retry, maxAttemptsPerRun: 1 } : deps.retry;
    for (let attempt = 1; ; attempt++) {
      const total = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, total);
      const outcome = await sender.post(body, { idempotencyKey: r.utterance.utteranceId, attempt: total });
      if (outcome.kind === 'delivered') {
        delivered.set(key, true);
        deps.metrics.addMetric('WebhookDelivered', 'Count', 1);
        deps.metrics.addMetric('StoredToWebhookMs', 'Milliseconds', Math.max(0, now() - r.storedAtMs));
        if (total > 1) deps.logger.info('webhook delivered after retries', { ...ids, attempts: total });
        return 'delivered';
      }
      const step = nextStep({
        outcome,
        attempt,
        ageMs: now() - r.storedAtMs,
        remainingMs: deadline - now(),
        policy,
        random,
      });
      const failure = {
        ...ids,
        attempt: total,
        code: outcome.code,
        ...(outcome.status !== undefined && { status: outcome.status }),
      };
      if (step.action === 'retry') {
        deps.metrics.addMetric('WebhookRetried', 'Count', 1);
        deps.logger.info('webhook attempt failed; retrying', { ...failure, delayMs: step.delayMs });
        await sleep(step.delayMs);
        continue;
      }
      if (step.action === 'defer') {
        tripped.add(targetId);
        deps.metrics.addMetric('WebhookDeferred', 'Count', 1);
        deps.logger.warn('webhook delivery deferred to the next invocation', failure);
        return 'deferred';
      }
      const letter: DeadLetter = {
        targetId,
        utteranceId: r.utterance.utteranceId,
        conversationId: r.conversationId,
        startMs: r.utterance.startMs,
        body,
        reason: step.reason,
        code: outcome.code,
        ...(outcome.status !== undefined && { status: outcome.status }),
        attempts: total,
        storedAt: r.utterance.createdAt,
        deadLetteredAt: new Date(now()).toISOString(),
        sequenceNumber: r.sequenceNumber,
      };
      try {
        await deps.deadLetters.put(letter, now());
      } catch (err) {
        // The dead letter could not be kept: keep the record in the stream instead of losing it.
        deps.logger.error('dead letter write failed; deferring', { ...failure, ...describeError(err) });
        return 'deferred';
      }
      delivered.set(key, true);
      deps.metrics.addMetric('WebhookDeadLettered', 'Count', 1);
      deps.logger.error('webhook delivery dead-lettered', { ...failure, reason: step.reason });
      return 'dead-lettered';
    }
  };

  return async (event, context) => {
    const started = now();
    const remaining = context?.getRemainingTimeInMillis?.();
    const budget = remaining === undefined ? deps.timeBudgetMs : Math.max(0, remaining - RESPONSE_MARGIN_MS);
    const deadline = started + budget;
    const records: ParsedRecord[] = [];
    for (const record of event.Records ?? []) {
      const parsed = parse(record);
      if (parsed) records.push(parsed);
    }
    deps.metrics.addMetric('FanoutRecords', 'Count', records.length);
    const failed = new Set<string>();
    const tripped = new Set<string>();
    // The "all conversations" subscribers are read once per batch, not once per record.
    let allSubscribers: Promise<string[]> | undefined;
    const supervisors = () => {
      const ws = deps.websocket;
      if (!ws) return Promise.resolve([]);
      allSubscribers ??= ws.subscriptions.connectionsOf(ALL_CONVERSATIONS, now()).catch((err: unknown) => {
        allSubscribers = undefined;
        throw err;
      });
      return allSubscribers;
    };
    await runLimited(conversationLanes(records), deps.concurrency, async (lane) => {
      let blocked = false;
      for (const r of lane) {
        await pushToSubscribers(r, supervisors);
        if (blocked || now() >= deadline) {
          failed.add(r.sequenceNumber);
          continue;
        }
        const body = JSON.stringify(toTranscriptMessage(r.utterance));
        const results = await Promise.all(
          deps.webhooks.map((sender) => deliverToTarget(r, sender, body, deadline, tripped)),
        );
        if (results.includes('deferred')) {
          failed.add(r.sequenceNumber);
          blocked = true;
        }
      }
    });
    const batchItems = batchItemFailures(records, failed);
    if (batchItems.length > 0) deps.metrics.addMetric('FanoutBatchItemFailures', 'Count', batchItems.length);
    deps.metrics.addMetric('FanoutDurationMs', 'Milliseconds', now() - started);
    try {
      deps.metrics.publish();
    } catch {
      // Metrics are best effort.
    }
    return { batchItemFailures: batchItems.map((itemIdentifier) => ({ itemIdentifier })) };
  };
}

/** The event that asks the fan-out function to redrive dead letters. */
export interface RedriveEvent {
  action: 'redrive';
  /** Only this target. @default every configured target */
  targetId?: string;
  /** Most dead letters re-sent per target. @default 1000 */
  limit?: number;
}

/** What {@link redrive} did, per target. */
export interface RedriveReport {
  targets: { targetId: string; redriven: number; failed: number; stoppedEarly: boolean }[];
}

/**
 * Re-sends dead letters, oldest stored utterance first, one POST each (same body bytes, same
 * `Idempotency-Key`, `X-Delivery-Redrive: 1`). A delivered one is deleted; the first failure of a target
 * is counted on its dead letter and stops that target's redrive (the receiver is still unwell: retrying
 * the rest now would only reorder and hammer it). Run it again once the receiver is fixed.
 */
export async function redrive(
  deps: Pick<FanoutDeps, 'webhooks' | 'deadLetters' | 'logger' | 'now'>,
  options: { targetId?: string; limit?: number } = {},
): Promise<RedriveReport> {
  const now = deps.now ?? Date.now;
  const limit = options.limit ?? 1000;
  const senders = deps.webhooks.filter((s) => options.targetId === undefined || s.target.id === options.targetId);
  if (options.targetId !== undefined && senders.length === 0) {
    throw new DeliveryError('DELIVERY_INVALID_TARGET', `no configured webhook target ${options.targetId}`);
  }
  const report: RedriveReport = { targets: [] };
  for (const sender of senders) {
    const targetId = sender.target.id;
    const entry = { targetId, redriven: 0, failed: 0, stoppedEarly: false };
    report.targets.push(entry);
    let startAfter: string | undefined;
    outer: while (entry.redriven < limit) {
      const page = await deps.deadLetters.list(targetId, {
        limit: Math.min(100, limit - entry.redriven),
        ...(startAfter !== undefined && { startAfter }),
      });
      for (const letter of page.items as StoredDeadLetter[]) {
        const outcome = await sender.post(letter.body, {
          idempotencyKey: letter.utteranceId,
          attempt: letter.attempts + (letter.redriveFailures ?? 0) + 1,
          redrive: true,
        });
        if (outcome.kind !== 'delivered') {
          await deps.deadLetters.markRedriveFailed(letter, now());
          entry.failed++;
          entry.stoppedEarly = true;
          deps.logger.warn('redrive failed; stopping for this target', {
            targetId,
            utteranceId: letter.utteranceId,
            code: outcome.code,
            ...(outcome.status !== undefined && { status: outcome.status }),
          });
          break outer;
        }
        await deps.deadLetters.delete(targetId, letter.sk);
        entry.redriven++;
      }
      if (page.next === undefined) break;
      startAfter = page.next;
    }
    deps.logger.info('redrive finished', entry);
  }
  return report;
}

/** Loads the webhook targets a config names (Secrets Manager in AWS). */
export async function loadTargets(config: FanoutConfig) {
  const w = config.webhooks;
  if (w.source === 'none') return [];
  if (w.source === 'inline') return w.targets;
  const client = new SecretsManagerClient({
    ...(config.awsRegion !== undefined && { region: config.awsRegion }),
    ...(w.endpoint !== undefined && { endpoint: w.endpoint }),
  });
  try {
    const out = await client.send(new GetSecretValueCommand({ SecretId: w.secretId }));
    return parseWebhookTargets(out.SecretString ?? '');
  } finally {
    client.destroy();
  }
}

/** Builds every collaborator of the fan-out from its config (the Lambda's and the local poller's root). */
export async function fanoutDepsFromConfig(config: FanoutConfig, dynamoClient?: DynamoDBClient): Promise<FanoutDeps> {
  const { logger, metrics, tracer } = createObservability(config, 'fanout');
  const client =
    dynamoClient ??
    traceClient(
      tracer,
      new DynamoDBClient({
        ...(config.awsRegion !== undefined && { region: config.awsRegion }),
        ...(config.dynamoDbEndpoint !== undefined && { endpoint: config.dynamoDbEndpoint }),
      }),
    );
  const doc = createDocumentClient(client);
  const targets = await loadTargets(config);
  return {
    webhooks: targets.map((t) => new WebhookClient(t, { defaultTimeoutMs: config.retry.requestTimeoutMs })),
    ...(config.managementEndpoint !== undefined && {
      websocket: {
        subscriptions: new SubscriptionsRepository(doc, { tableName: config.subscriptionsTable }),
        pusher: new ManagementApiPusher(
          managementClient(
            config.managementEndpoint,
            config.awsRegion !== undefined ? { region: config.awsRegion } : {},
          ),
        ),
      },
    }),
    deadLetters: new DeadLetterRepository(doc, {
      tableName: config.subscriptionsTable,
      retentionSeconds: config.deadLetterRetentionDays * 24 * 3600,
    }),
    retry: config.retry,
    concurrency: config.concurrency,
    timeBudgetMs: config.timeBudgetMs,
    logger,
    metrics,
  };
}

function isRedrive(event: unknown): event is RedriveEvent {
  return typeof event === 'object' && event !== null && (event as { action?: unknown }).action === 'redrive';
}

let live: Promise<{ deps: FanoutDeps; handle: FanoutHandler }> | undefined;

/** The Lambda entry point: stream batches, or `{"action":"redrive"}` invoked by an operator. */
export async function handler(
  event: DynamoDBStreamEvent | RedriveEvent,
  context?: FanoutContext,
): Promise<DynamoDBBatchResponse | RedriveReport> {
  live ??= fanoutDepsFromConfig(loadFanoutConfig()).then(
    (deps) => ({ deps, handle: makeHandler(deps) }),
    (err: unknown) => {
      // A failed start (secret unreadable) must not poison the container: try again next invocation.
      live = undefined;
      throw err;
    },
  );
  const { deps, handle } = await live;
  if (isRedrive(event)) {
    return redrive(deps, {
      ...(event.targetId !== undefined && { targetId: event.targetId }),
      ...(event.limit !== undefined && { limit: event.limit }),
    });
  }
  return handle(event, context);
}

/**
 * The fan-out: triggered by the Utterances table stream (NEW_IMAGE), it turns each new final utterance
 * into the `transcript` message (api-contract.md §3.3) and delivers it to every webhook target and to
 * the WebSocket subscribers of its conversation (docs/realtime.md). A thin handler: parse the records
 * (stream-records.ts) → deliver them in per-conversation lanes (delivery-lanes.ts) through Powertools'
 * `BatchProcessor` → the partial batch response.
 *
 * - **Order.** A record that cannot be delivered yet blocks the rest of its conversation's lane, and the
 *   partial batch response lists it and every later record of its conversation, so nothing overtakes it.
 * - **Webhook** (webhook-delivery.ts). Retries inside the invocation, then defers to the next one;
 *   dead-letters what the receiver refused for good or what kept failing past `maxRetryAgeMs`.
 * - **WebSocket** (websocket-push.ts). Best effort and live only; holds the stream back only while the
 *   subscribers cannot be read, for at most a minute after the utterance was stored.
 * - **Bad records** (not an INSERT, not an utterance) are logged and skipped: retrying cannot fix them.
 * - **Redrive.** Invoked with `{"action":"redrive"}` instead of a stream event, it re-sends the dead
 *   letters (redrive.ts).
 *
 * Never logs transcript text: ids, codes and statuses only.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { batchItemFailures } from '../../core/delivery/ordering';
import { toTranscriptMessage } from '../../core/delivery/transcript-message';
import { loadFanoutConfig } from '../shared/realtime-config';
import { DeliveryLanes } from './delivery-lanes';
import { type FanoutDeps, fanoutDepsFromConfig } from './deps';
import { isRedrive, type RedriveEvent, type RedriveReport, redrive } from './redrive';
import { type ParsedRecord, parseStreamRecord } from './stream-records';
import { WebhookDelivery } from './webhook-delivery';
import { SubscriberPush } from './websocket-push';

/** The Lambda context, reduced to what the fan-out reads. */
export interface FanoutContext {
  getRemainingTimeInMillis?: () => number;
}

/** The fan-out of stream batches. */
export type FanoutHandler = (event: DynamoDBStreamEvent, context?: FanoutContext) => Promise<DynamoDBBatchResponse>;

/** Time kept back from Lambda's remaining time to write the response and metrics. */
const RESPONSE_MARGIN_MS = 3000;

/** Builds the stream handler around injected collaborators (tests and the local poller use this). */
export function makeHandler(deps: FanoutDeps): FanoutHandler {
  const now = deps.now ?? Date.now;
  const webhooks = new WebhookDelivery(deps);
  const subscribers = new SubscriberPush(deps);

  return async (event, context) => {
    const started = now();
    const remaining = context?.getRemainingTimeInMillis?.();
    const budget = remaining === undefined ? deps.timeBudgetMs : Math.max(0, remaining - RESPONSE_MARGIN_MS);
    const deadline = started + budget;
    const all = event.Records ?? [];
    const parsed = new Map<DynamoDBRecord, ParsedRecord>();
    for (const record of all) {
      const r = parseStreamRecord(record, deps);
      if (r) parsed.set(record, r);
    }
    const records = [...parsed.values()];
    deps.metrics.addMetric('FanoutRecords', 'Count', records.length);
    const tripped = new Set<string>();
    const supervisors = subscribers.supervisorsOfBatch();
    const lanes = new DeliveryLanes(records, deps.concurrency, async (r, blocked) => {
      const pushed = await subscribers.push(r, supervisors);
      if (blocked || now() >= deadline) return false;
      const body = JSON.stringify(toTranscriptMessage(r.utterance));
      const results = await Promise.all(deps.webhooks.map((s) => webhooks.deliver(r, s, body, deadline, tripped)));
      // Webhook deliveries already made are remembered, so a record handed back for its subscribers is
      // not POSTed again by this container.
      return !results.includes('deferred') && pushed === 'done';
    });
    const processed = await processPartialResponse(
      { Records: all },
      async (record: DynamoDBRecord) => {
        const r = parsed.get(record);
        // Skipped records (logged by the parse) count as processed: retrying cannot fix them.
        if (r !== undefined && !(await lanes.run(r))) {
          // Only its sequence number leaves the processor: the record comes back in the next invocation.
          throw new Error('not delivered yet');
        }
      },
      new BatchProcessor(EventType.DynamoDBStreams),
      // A batch whose every record waits is still a partial response (Lambda retries from the first).
      { throwOnFullBatchFailure: false },
    );
    // The processor lists failures as they happen; the response lists them in stream order, with every
    // later record of a failed conversation (ordering.ts).
    const failed = new Set(processed.batchItemFailures.map((f) => f.itemIdentifier));
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

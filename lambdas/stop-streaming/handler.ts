/**
 * `POST /mg-autotranscribe/v1/stop-streaming` (api-contract.md §1.2): parse → record desired `off` →
 * notify the gateway tasks and wait (bounded) for the gateway to close the segment (store/control-service.ts
 * `settleStop`) → answer with the segment's per-role summary.
 *
 * - A segment no gateway ever opened is closed by the store in the stop transaction itself: the answer
 *   is immediate, with a zero summary.
 * - Otherwise the gateway finishes the recognizer stream and closes the segment with its final counters;
 *   we poll the segment (strongly consistent) for up to `stopWaitMs`. If the gateway does not confirm in
 *   time (task lost, overload), the answer is still 200 with the counters recorded so far, and a warning
 *   is logged and counted (`StopUnconfirmed`): the stop itself is recorded and will be applied.
 * - An unconfirmed segment whose holder has been silent (no heartbeat) for `SEGMENT_HOLDER_SILENT_MS` is
 *   closed here as `holder-lost` (`StopHolderLost`): its task died, and nothing else would ever close it.
 *   A repeated stop (already stopped: still `409-201`) applies the same rule to a segment left open.
 */
import { stopResponseBody } from '../../core/api/responses';
import { assertServedNamespace, stopRefusalError } from '../../core/api/start-stop-rules';
import type { SegmentRecord } from '../../core/conversation/segment';
import { settleRepeatedStop, settleStop } from '../../store/control-service';
import { loadConfig } from '../shared/config';
import { type ApiDeps, depsFromConfig } from '../shared/deps';
import { parseJsonBody, type RouteHandler, type RouteRequest, runRoute } from '../shared/http';
import { parseStopRequest } from '../shared/schemas';

/** Builds the route handler around injected collaborators. */
export function makeHandler(deps: ApiDeps): RouteHandler {
  const now = deps.now ?? Date.now;
  return (event) =>
    runRoute(
      event,
      { route: 'stop-streaming', logger: deps.logger, metrics: deps.metrics, internalErrorCode: '500-201' },
      async ({ log, metrics }) => {
        const request = parseStopRequest(parseJsonBody(event));
        assertServedNamespace(request.namespace);
        const conversationId = request.guid;
        const result = await deps.conversations.requestStop(conversationId, now);
        if (result.outcome === 'already-stopped') {
          // Still refused (the contract's 409-201), but a segment the first stop left open is judged again.
          const repeat = await settleRepeatedStop(deps.conversations, { conversationId, segment: result.segment }, now);
          if (repeat.holderLost) logHolderLost(log, metrics, conversationId, result.segment, repeat.record);
        }
        if (result.outcome !== 'stopped') throw stopRefusalError(result.outcome);
        const { segment } = result;
        const { record, confirmed, holderLost, notified, waitedMs } = await settleStop(
          deps,
          { conversationId, segment, version: result.meta.desiredVersion },
          { timeoutMs: deps.stopWaitMs, pollMs: deps.stopPollMs, now },
        );
        if (!record) {
          // The stop transaction guarantees the segment exists; its absence is an inconsistency.
          throw new Error(`segment ${segment} of the stopped conversation is missing`);
        }
        if (confirmed) {
          metrics.addMetric('StopConfirmed', 'Count', 1);
        } else if (holderLost) {
          logHolderLost(log, metrics, conversationId, segment, record);
        } else {
          metrics.addMetric('StopUnconfirmed', 'Count', 1);
          log.warn('gateway did not confirm the segment close in time; answering with the counters so far', {
            conversationId,
            segment,
            segmentState: record.state,
            waitedMs,
            taskId: record.taskId,
          });
        }
        log.info('stop recorded', {
          conversationId,
          segment,
          desiredVersion: result.meta.desiredVersion,
          confirmed,
          tasksNotified: notified,
        });
        return { status: 200, body: stopResponseBody(record.streamIds, record.summary) };
      },
    );
}

/** `StopHolderLost` and its warning: the segment's task stopped heartbeating and the stop closed it. */
function logHolderLost(
  log: RouteRequest['log'],
  metrics: RouteRequest['metrics'],
  conversationId: string,
  segment: number,
  record: SegmentRecord | undefined,
): void {
  metrics.addMetric('StopHolderLost', 'Count', 1);
  log.warn('the gateway task holding the segment stopped heartbeating; segment closed as holder-lost', {
    conversationId,
    segment,
    taskId: record?.taskId,
    heartbeatAt: record?.heartbeatAt,
    code: 'SEGMENT_HOLDER_LOST',
  });
}

let live: RouteHandler | undefined;

/** The Lambda entry point (collaborators built on first invocation, then reused by the container). */
export const handler: RouteHandler = (event) => {
  live ??= makeHandler(depsFromConfig(loadConfig(), 'stop-streaming'));
  return live(event);
};

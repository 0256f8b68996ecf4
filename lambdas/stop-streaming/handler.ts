/**
 * `POST /mg-autotranscribe/v1/stop-streaming` (api-contract.md §1.2): parse → record desired `off` →
 * notify the gateway tasks → wait (bounded) for the gateway to close the segment → answer with the
 * segment's per-role summary.
 *
 * - A segment no gateway ever opened is closed by the store in the stop transaction itself: the answer
 *   is immediate, with a zero summary.
 * - Otherwise the gateway finishes the recognizer stream and closes the segment with its final counters;
 *   we poll the segment (strongly consistent) for up to `stopWaitMs`. If the gateway does not confirm in
 *   time (task lost, overload), the answer is still 200 with the counters recorded so far, and a warning
 *   is logged and counted (`StopUnconfirmed`): the stop itself is recorded and will be applied.
 * - An unconfirmed segment whose holder has been silent (no heartbeat) for `SEGMENT_HOLDER_SILENT_MS` is
 *   closed here as `holder-lost` (`StopHolderLost`): its task died, and nothing else would ever close it.
 */
import { stopResponseBody } from '../../core/api/responses';
import { assertServedNamespace, SEGMENT_HOLDER_SILENT_MS, stopRefusalError } from '../../core/api/start-stop-rules';
import { loadConfig } from '../shared/config';
import { type ApiDeps, depsFromConfig } from '../shared/deps';
import { parseJsonBody, type RouteHandler, runRoute } from '../shared/http';
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
        const result = await deps.conversations.requestStop(conversationId, now());
        if (result.outcome !== 'stopped') throw stopRefusalError(result.outcome);
        const { segment } = result;
        let record = await deps.conversations.getSegment(conversationId, segment);
        let confirmed = record?.state === 'closed';
        let notified = 0;
        const waitStarted = now();
        if (!confirmed) {
          const sessions = await deps.conversations.listSessions(conversationId, { openOnly: true });
          const tasks = new Set(sessions.map((s) => s.taskId));
          if (record?.taskId) tasks.add(record.taskId);
          if (tasks.size > 0) {
            const r = await deps.inbox.notifyTasks(conversationId, result.meta.desiredVersion, tasks, {
              desired: 'off',
            });
            notified = r.notified.length;
          }
          const waited = await deps.conversations.waitForSegmentClosed(conversationId, segment, {
            timeoutMs: deps.stopWaitMs,
            pollMs: deps.stopPollMs,
          });
          confirmed = waited.closed;
          record = waited.segment ?? record;
        }
        let holderLost = false;
        if (!confirmed && record && (record.state === 'active' || record.state === 'closing')) {
          // No confirmation: a holder silent for long is dead (its task ended without closing the segment).
          const at = now();
          const outcome = await deps.conversations.abandonSegment(
            conversationId,
            segment,
            at,
            at - SEGMENT_HOLDER_SILENT_MS,
          );
          if (outcome !== 'alive') {
            holderLost = outcome === 'closed';
            record = (await deps.conversations.getSegment(conversationId, segment)) ?? record;
          }
        }
        if (!record) {
          // The stop transaction guarantees the segment exists; its absence is an inconsistency.
          throw new Error(`segment ${segment} of the stopped conversation is missing`);
        }
        if (confirmed) {
          metrics.addMetric('StopConfirmed', 'Count', 1);
        } else if (holderLost) {
          metrics.addMetric('StopHolderLost', 'Count', 1);
          log.warn('the gateway task holding the segment stopped heartbeating; segment closed as holder-lost', {
            conversationId,
            segment,
            taskId: record.taskId,
            heartbeatAt: record.heartbeatAt,
            code: 'SEGMENT_HOLDER_LOST',
          });
        } else {
          metrics.addMetric('StopUnconfirmed', 'Count', 1);
          log.warn('gateway did not confirm the segment close in time; answering with the counters so far', {
            conversationId,
            segment,
            segmentState: record.state,
            waitedMs: now() - waitStarted,
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

let live: RouteHandler | undefined;

/** The Lambda entry point (collaborators built on first invocation, then reused by the container). */
export const handler: RouteHandler = (event) => {
  live ??= makeHandler(depsFromConfig(loadConfig(), 'stop-streaming'));
  return live(event);
};

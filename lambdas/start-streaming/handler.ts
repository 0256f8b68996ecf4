/**
 * `POST /mg-autotranscribe/v1/start-streaming` (api-contract.md §1.1): parse → start rules → record the
 * desired state (store mints the per-role streamIds) → tell the gateway tasks holding the call → answer
 * the compatible body.
 *
 * A start before any AudioHook session is accepted and recorded (`waiting-for-audio`); the gateway applies
 * it when the session opens (it reads META on registration). A repeated start of a running segment is
 * idempotent: 200 with the same streamIds.
 */

import { startResponseBody } from '../../core/api/responses';
import { decideStart, startConflictError } from '../../core/api/start-stop-rules';
import { notifyHoldingTasks } from '../../store/control-service';
import { loadConfig } from '../shared/config';
import { type ApiDeps, depsFromConfig } from '../shared/deps';
import { parseJsonBody, type RouteHandler, runRoute } from '../shared/http';
import { parseStartRequest } from '../shared/schemas';

/** Builds the route handler around injected collaborators. */
export function makeHandler(deps: ApiDeps): RouteHandler {
  const now = deps.now ?? Date.now;
  return (event) =>
    runRoute(
      event,
      { route: 'start-streaming', logger: deps.logger, metrics: deps.metrics, internalErrorCode: '500-201' },
      async ({ log, metrics }) => {
        const request = parseStartRequest(parseJsonBody(event));
        const { conversationId, params } = decideStart(request, deps.policy);
        const result = await deps.conversations.requestStart(conversationId, params, now);
        if (result.outcome === 'conflict') throw startConflictError();
        // A repeated start of a segment no gateway has picked up yet notifies again: it covers a first
        // attempt that recorded the start but died before notifying.
        let notified = 0;
        if (result.outcome === 'started' || result.meta.status === 'waiting-for-audio') {
          const sent = await notifyHoldingTasks(deps, conversationId, result.meta.desiredVersion, 'on');
          notified = sent.answer?.notified.length ?? 0;
        }
        metrics.addMetric(result.outcome === 'started' ? 'StartAccepted' : 'StartRepeated', 'Count', 1);
        log.info('start recorded', {
          conversationId,
          outcome: result.outcome,
          segment: result.segment,
          desiredVersion: result.meta.desiredVersion,
          state: result.meta.status,
          language: params.language,
          redactionOutput: params.redactionOutput,
          tasksNotified: notified,
        });
        return { status: 200, body: startResponseBody(result.streamIds) };
      },
    );
}

let live: RouteHandler | undefined;

/** The Lambda entry point (collaborators built on first invocation, then reused by the container). */
export const handler: RouteHandler = (event) => {
  live ??= makeHandler(depsFromConfig(loadConfig(), 'start-streaming'));
  return live(event);
};

/**
 * What the observability construct reads and the thresholds it alarms at: the gateway and fan-out metrics
 * it uses (their names are contract/metrics.ts), the fan-out's dimensions, the alarm periods, and the
 * DynamoDB operations graphed. Plain settings, so the construct file holds only the wiring.
 */
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type { IConstruct } from 'constructs';
import { GATEWAY_METRIC_NAMES, WEBHOOK_METRIC_NAMES } from '../contract/metrics';
import { lambdaMetricsService } from './metrics-scope';
import { FANOUT_ROUTE } from './realtime-delivery';

const G = GATEWAY_METRIC_NAMES;
/**
 * The gateway metrics the observability construct reads (names: contract/metrics.ts; the list published is
 * in docs/deploy.md, "metrics"). `ActiveSessions` is a gauge per task; `UtteranceLatencyMs` is end of
 * speech → stored.
 */
export const GATEWAY_METRICS = {
  activeSessions: G.activeSessions,
  audioSeconds: G.audioSeconds,
  transcribeThrottled: G.transcribeThrottled,
  transcribeErrors: G.transcribeErrors,
  segmentFailures: G.segmentFailures,
  utterances: G.utterances,
  utterancePutFailures: G.utterancePutFailures,
  utteranceLatencyMs: G.utteranceLatencyMs,
  refusedUpgrades: G.refusedUpgrades,
  outOfRotation: G.outOfRotation,
  recordingsUnavailable: G.recordingsUnavailable,
  /** Recordings kept on disk after failed uploads, retried until stored (gauge per task; dashboard only). */
  recordingsKept: G.recordingsKept,
  utterancesHeld: G.utterancesHeld,
} as const;

/** The fan-out's webhook metrics (contract/metrics.ts), dimensions {@link fanoutDimensions}. */
export const WEBHOOK_METRICS = WEBHOOK_METRIC_NAMES;
/** The fan-out's Powertools dimensions in the stack of `scope` (its service name and its route). */
export function fanoutDimensions(scope: IConstruct): { service: string; route: string } {
  return { service: lambdaMetricsService(scope, 'fanout'), route: FANOUT_ROUTE };
}
/** Iterator age at which the fan-out is "behind": utterances reach subscribers a minute late. */
export const FANOUT_ITERATOR_AGE_ALARM_MS = 60_000;
/**
 * Gateway alarms on the load balancer and the gateway's own gauges and counts:
 * - healthy targets below `minTasks` (Minimum over each minute) for `healthyHostsLowMinutes` minutes in a row:
 *   deployments and scale-out add targets before old ones leave, so only lost capacity keeps it low that long;
 * - any upgrade refused at `MAX_SESSIONS` within `refusedUpgradesPeriodMin` minutes (calls did not start);
 * - any task's recordings spool unusable (Maximum of the gauge) within `recordingsUnavailablePeriodMin`;
 * - any task holding unstored utterances (Maximum of the gauge, each minute) for `utterancesHeldMinutes`
 *   minutes in a row: a throttling blip holds a few for seconds, an outage holds them for minutes.
 */
export const GATEWAY_ALARMS = {
  healthyHostsLowMinutes: 5,
  refusedUpgradesPeriodMin: 5,
  recordingsUnavailablePeriodMin: 5,
  utterancesHeldMinutes: 5,
} as const;

/** Operations our code performs (an alarm's math expression may hold at most 10 metrics). */
export const TABLE_OPERATIONS = [
  dynamodb.Operation.GET_ITEM,
  dynamodb.Operation.PUT_ITEM,
  dynamodb.Operation.UPDATE_ITEM,
  dynamodb.Operation.DELETE_ITEM,
  dynamodb.Operation.QUERY,
  dynamodb.Operation.TRANSACT_WRITE_ITEMS,
];

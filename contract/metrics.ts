/**
 * The custom metric names run time publishes and deploy time reads (alarms, dashboard, the scaling
 * policy), one definition each: the gateway's EMF lines (fargate/src/observability/emf.ts) and the
 * fan-out's Powertools metrics (lambdas/fanout/) on one side, lib/observability.ts and
 * lib/gateway-service.ts on the other. A name changed here changes on both sides.
 */

/**
 * The gateway's default `service` dimension (a process without `METRICS_SERVICE`); a deployed stack sets
 * its own scoped name (lib/metrics-scope.ts `gatewayMetricsService`).
 */
export const GATEWAY_METRICS_SERVICE = 'audiohook-gateway';

/**
 * What the gateway publishes, dimension `service = <stackName>-gateway`. Gauges (per task, read at each
 * interval): `ActiveSessions` (the scaling metric), `StreamingSessions`, `OutOfRotation`,
 * `RecordingsUnavailable`, `RecordingsKept`, `UtterancesHeld`. Counts per interval: the others but the three latency
 * series (`InboxLagMs`, `OpenDecisionMs`, `UtteranceLatencyMs`), published as raw samples.
 */
export const GATEWAY_METRIC_NAMES = {
  activeSessions: 'ActiveSessions',
  streamingSessions: 'StreamingSessions',
  audioSeconds: 'AudioSeconds',
  transcribeThrottled: 'TranscribeThrottled',
  transcribeErrors: 'TranscribeErrors',
  segmentFailures: 'SegmentFailures',
  utterances: 'Utterances',
  utterancePutFailures: 'UtterancePutFailures',
  transcribeStreamsOpened: 'TranscribeStreamsOpened',
  audioDroppedMs: 'AudioDroppedMs',
  registrationFailures: 'RegistrationFailures',
  inboxPollErrors: 'InboxPollErrors',
  inboxApplyErrors: 'InboxApplyErrors',
  closeFailures: 'CloseFailures',
  /** Live partial frames posted to WebSocket subscribers, and posts or subscriber reads that failed. */
  partialsSent: 'PartialsSent',
  partialsFailed: 'PartialsFailed',
  /** Upgrades a task refused at `MAX_SESSIONS` (count per interval): calls that could not start. */
  refusedUpgrades: 'RefusedUpgrades',
  /** Upgrades answered 429 by the per-source limit before any authentication (count per interval). */
  rateLimitedUpgrades: 'RateLimitedUpgrades',
  /** 1 while a task is out of the load balancer's rotation (self-drain), per task. */
  outOfRotation: 'OutOfRotation',
  /** 1 while a task's recordings spool is unusable (recordings are off on that task). */
  recordingsUnavailable: 'RecordingsUnavailable',
  /** Recordings a task keeps on disk after failed uploads, retried in the background until stored (gauge, per task). */
  recordingsKept: 'RecordingsKept',
  /** Utterances a task holds for retrying while DynamoDB is unavailable (gauge, per task). */
  utterancesHeld: 'UtterancesHeld',
  inboxLagMs: 'InboxLagMs',
  openDecisionMs: 'OpenDecisionMs',
  /** End of speech → utterance stored. */
  utteranceLatencyMs: 'UtteranceLatencyMs',
} as const;

/**
 * What the fan-out publishes with Powertools, dimensions `service` and `route`: a delivery given up on
 * (dead-lettered), and a delivery retried.
 */
export const WEBHOOK_METRIC_NAMES = { deadLettered: 'WebhookDeadLettered', retried: 'WebhookRetried' } as const;

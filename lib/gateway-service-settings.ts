/**
 * The gateway service's fixed settings, shared by the construct, its tests and the gateway's own defaults:
 * port and health route, metric names, the recordings prefix and spool mount, the target group's and the
 * container's health checks, the TLS policy, the task-storage sizing of the recordings spool, and the
 * deployment's start defaults in the container's environment.
 */
import { Duration } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { GATEWAY_METRIC_NAMES, GATEWAY_METRICS_SERVICE } from '../contract/metrics';

/** Port the gateway listens on inside the task (`PORT`). */
export const GATEWAY_PORT = 8080;
/** Gateway health route (503 while draining). */
export const HEALTH_CHECK_PATH = '/health';
/** The gateway's own default `METRICS_SERVICE` (contract/metrics.ts). */
export { GATEWAY_METRICS_SERVICE };
/** Custom metric: sessions currently held by one task (published by each task; Average = per task). */
export const ACTIVE_SESSIONS_METRIC = GATEWAY_METRIC_NAMES.activeSessions;
/** Key prefix of the recordings the gateway writes; its permissions stop there. */
export const RECORDINGS_PREFIX = 'recordings/';
/**
 * Writable task storage for the recordings spool (the root file system is read-only). Mounted where the
 * image already has a directory owned by the gateway's user (fargate/Dockerfile: `/app/.local`), so the
 * empty volume takes that ownership.
 */
export const SPOOL_MOUNT = { volume: 'spool', containerPath: '/app/.local', spoolDir: '/app/.local/recordings-spool' };
/** Open-file limit: each call holds its client socket plus two HTTP/2 sockets to Transcribe. */
export const GATEWAY_NOFILE_LIMIT = 65_536;

/**
 * The target group's health check (HTTP `GET /health` on the traffic port). ECS replaces a task the load
 * balancer reports unhealthy even when it is protected, so a task is marked unhealthy only after
 * `unhealthyThreshold` consecutive failures `intervalSec` apart: 10 × 30 s = 5 minutes of a dead `/health`
 * (NLB limits: interval 5–300 s, timeout 2–120 s, thresholds 2–10). Two passes (about a minute) put a
 * new task in service.
 */
export const TARGET_HEALTH_CHECK = {
  intervalSec: 30,
  timeoutSec: 10,
  healthyThreshold: 2,
  unhealthyThreshold: 10,
} as const;
/**
 * The container's health check (`node -e fetch(…/health)` inside the task). ECS also replaces a task whose
 * essential container turns UNHEALTHY: 5 failures 30 s apart (each allowed 10 s: spawning node on a busy
 * task is slow) before that, and failures in the first 60 s do not count. A process that has not answered
 * for that long has lost its calls already (Genesys pings every 5 s and gives up on a silent server).
 */
export const CONTAINER_HEALTH_CHECK = { intervalSec: 30, timeoutSec: 10, retries: 5, startPeriodSec: 60 } as const;

/** The container's health check ({@link CONTAINER_HEALTH_CHECK}) as ECS takes it. */
export function containerHealthCheck(): ecs.HealthCheck {
  return {
    command: [
      'CMD',
      'node',
      '-e',
      `fetch('http://127.0.0.1:${GATEWAY_PORT}${HEALTH_CHECK_PATH}').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`,
    ],
    interval: Duration.seconds(CONTAINER_HEALTH_CHECK.intervalSec),
    timeout: Duration.seconds(CONTAINER_HEALTH_CHECK.timeoutSec),
    retries: CONTAINER_HEALTH_CHECK.retries,
    startPeriod: Duration.seconds(CONTAINER_HEALTH_CHECK.startPeriodSec),
  };
}
/** ECS ignores load balancer health for this long after a task starts (it needs ~1 minute to pass twice). */
export const HEALTH_CHECK_GRACE_PERIOD_SEC = 120;
/** `SELF_DRAIN_CHECK_SEC`: how often a task asks ECS whether it should leave the rotation. */
export const SELF_DRAIN_CHECK_SEC = 30;
/** TLS 1.2 and 1.3 only, forward-secret ciphers, hybrid post-quantum key exchange for clients offering it. */
export const GATEWAY_TLS_POLICY = elbv2.SslPolicy.TLS13_12_PQ;

/** Recorded audio per call-hour: two channels of 16-bit PCM at 8 kHz (fargate/src/recordings/spool.ts). */
export const RECORDING_BYTES_PER_CALL_HOUR = 8000 * 2 * 2 * 3600;
/**
 * Task storage sizing for the recordings spool. A segment's audio stays on disk until the segment closes and
 * its upload finishes, so the spool holds about the age of every recorded live segment. Rule: every session
 * of a full task (`maxSessionsPerTask`) holds an hour of audio (contact-center calls average minutes, so
 * that is several times the expected steady state), plus 20 % headroom (uploads retrying, files kept after a
 * failed upload), plus 2 GiB for the image and the container's writable layer. Every Fargate task has 20 GiB
 * without asking (and without charge); more is requested only when the rule needs it, up to Fargate's 200.
 * 50 sessions (the default): 50 × 115.2 MB × 1 h × 1.2 = 6.9 GB = 6.4 GiB, + 2 = 8.4 GiB → the default 20.
 * 300 sessions: 300 × 115.2 MB × 1.2 = 41.5 GB = 38.6 GiB, + 2 → 41 GiB.
 */
export const SPOOL_SIZING = { hoursPerSession: 1, headroom: 1.2, baseGiB: 2, includedGiB: 20, maxGiB: 200 } as const;

/**
 * Task storage to request for `maxSessionsPerTask` (see {@link SPOOL_SIZING}); `undefined` when the 20 GiB
 * every Fargate task has are enough.
 */
export function spoolStorageGiB(maxSessionsPerTask: number): number | undefined {
  const { hoursPerSession, headroom, baseGiB, includedGiB, maxGiB } = SPOOL_SIZING;
  const spoolGiB = (maxSessionsPerTask * RECORDING_BYTES_PER_CALL_HOUR * hoursPerSession * headroom) / 2 ** 30;
  const needed = Math.ceil(spoolGiB + baseGiB);
  return needed <= includedGiB ? undefined : Math.min(maxGiB, needed);
}

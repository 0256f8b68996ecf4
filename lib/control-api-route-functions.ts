/**
 * The control API's route handlers: one Lambda per route of `contract/routes.ts`, each with its environment
 * (the shared settings plus what only some routes need) and exactly the grants its route needs; and the
 * stop route's timeout, bounded by API Gateway's integration limit.
 */
import { Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import type { API_ENV, EnvironmentOf, LAMBDA_OBSERVABILITY_ENV } from '../contract/env-names';
import { ROUTES, type RouteSpec } from '../contract/routes';
import type { ControlApiProps } from './control-api';
import { EXPORT_REQUESTS_PREFIX, FEED_ROOT_PREFIX } from './feed-export';
import { HouseFunction } from './house-function';
import { startDefaultsEnvironment } from './start-defaults';
import { logicalIdOf } from './store';

/**
 * API Gateway gives up on a REST integration after 29 s by default (the caller then gets 503-01). A Regional
 * API may have that quota raised; the stack does not rely on it.
 */
export const API_GATEWAY_INTEGRATION_TIMEOUT_SEC = 29;
/**
 * What the stop route does besides waiting for the gateway (`STOP_WAIT_MS`): the stop transaction (a few
 * conditional writes, retried on contention with ≤ 100 ms backoff), the session query, one control-inbox
 * put per gateway task, the last segment poll after the deadline, and possibly `abandonSegment` plus a
 * re-read. Each is a single-digit-millisecond DynamoDB call; 5 s also covers SDK retries under throttling.
 */
export const STOP_ROUTE_OVERHEAD_SEC = 5;

/**
 * Timeout of the stop route's function: `ceil(stopWaitMs / 1000) + STOP_ROUTE_OVERHEAD_SEC`, which must
 * stay strictly below API Gateway's 29 s so the function ends (and answers) before API Gateway gives up.
 * With the largest `api.stopWaitMs` (20,000 ms): 20 + 5 = 25 s, 4 s under the limit for the invoke itself.
 * @throws Error when the result would not be below the integration limit
 */
export function stopRouteTimeoutSec(stopWaitMs: number): number {
  const timeoutSec = Math.ceil(stopWaitMs / 1000) + STOP_ROUTE_OVERHEAD_SEC;
  if (timeoutSec >= API_GATEWAY_INTEGRATION_TIMEOUT_SEC) {
    throw new Error(
      `ControlApi: stopWaitMs ${stopWaitMs} gives the stop function a ${timeoutSec} s timeout, not below API ` +
        `Gateway's ${API_GATEWAY_INTEGRATION_TIMEOUT_SEC} s integration limit; lower api.stopWaitMs`,
    );
  }
  return timeoutSec;
}

/** File Exporter routes that only read the feed (the seven static operations). */
const FILE_EXPORTER_READ_ROUTES: ReadonlySet<RouteSpec['id']> = new Set(
  ROUTES.filter((r) => r.id.startsWith('file-exporter-')).map((r) => r.id),
);

/**
 * Creates the handler of every route in `scope` (ids: the route id in PascalCase) and grants each what its
 * route needs. `observabilityEnv` is the Powertools settings the authorizer shares.
 */
export function createRouteFunctions(
  scope: Construct,
  props: ControlApiProps,
  observabilityEnv: EnvironmentOf<typeof LAMBDA_OBSERVABILITY_ENV>,
): ReadonlyMap<RouteSpec['id'], HouseFunction> {
  const routeEnv = {
    ...observabilityEnv,
    CONVERSATIONS_TABLE: props.conversationsTable.tableName,
    UTTERANCES_TABLE: props.utterancesTable.tableName,
    ...startDefaultsEnvironment(props),
    RETENTION_DAYS: String(props.retentionDays),
    STOP_WAIT_MS: String(props.stopWaitMs),
  } satisfies EnvironmentOf<typeof API_ENV>;
  const functions = new Map<RouteSpec['id'], HouseFunction>();
  for (const route of ROUTES) {
    const fn = new HouseFunction(scope, pascal(route.id), {
      entry: route.entry,
      description: `${route.method} ${route.path}`,
      // The stop route waits for the gateway (STOP_WAIT_MS) and must still answer inside API Gateway's 29 s.
      timeoutSec: route.id === 'stop-streaming' ? stopRouteTimeoutSec(props.stopWaitMs) : 10,
      logRetentionDays: props.logRetentionDays,
      environment: { ...routeEnv, ...routeExtraEnv(route.id, props) },
    });
    functions.set(route.id, fn);
  }
  grantRoutePermissions(props, functions);
  return functions;
}

/** Grants each route's function what its route does, and nothing more. */
function grantRoutePermissions(props: ControlApiProps, fns: ReadonlyMap<RouteSpec['id'], HouseFunction>): void {
  const get = (id: RouteSpec['id']) => fns.get(id) as HouseFunction;
  // start/stop: conditional writes, transactions, session query, control-inbox puts (data-model §access patterns 1–5).
  props.conversationsTable.grantReadWriteData(get('start-streaming'));
  props.conversationsTable.grantReadWriteData(get('stop-streaming'));
  // After-call reads: segments for timestamps and sender ids, then the utterances.
  props.conversationsTable.grantReadData(get('get-messages'));
  // The base table only: the export index belongs to the export.
  get('get-messages').addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'UtterancesOfAConversation',
      actions: ['dynamodb:Query', 'dynamodb:GetItem'],
      resources: [props.utterancesTable.tableArn],
    }),
  );
  props.conversationsTable.grantReadData(get('conversation-status'));
  // The nextToken key, read at run time; GetSecretValue only (grantRead would add DescribeSecret, never used).
  // The secret uses the account's aws/secretsmanager key, which needs no KMS grant.
  get('get-messages').addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'ReadPageTokenKey',
      actions: ['secretsmanager:GetSecretValue'],
      resources: [props.pageTokenSecret.secretArn],
    }),
  );

  const tokenSecret = props.realtime?.tokenSecret;
  if (tokenSecret) tokenSecret.grantRead(get('realtime-token'));

  const bucket = props.feedBucket;
  if (bucket) {
    const feedObjects = bucket.arnForObjects(`${FEED_ROOT_PREFIX}*`);
    for (const id of FILE_EXPORTER_READ_ROUTES) {
      // Manifests are read directly; a download URL is signed with this role, so GetObject covers it too.
      get(id).addToRolePolicy(
        new iam.PolicyStatement({ sid: 'ReadFeeds', actions: ['s3:GetObject'], resources: [feedObjects] }),
      );
      get(id).addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ListFeeds',
          actions: ['s3:ListBucket'],
          resources: [bucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': [`${FEED_ROOT_PREFIX}*`] } },
        }),
      );
      Validations.of(get(id).role as iam.Role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(bucket)}.Arn>/${FEED_ROOT_PREFIX}*]`,
        reason:
          'Feed files are named per day and hour at run time; read-only, and only under the feeds/ prefix ' +
          'of the feed bucket',
      });
    }
    // The on-demand route only drops a request object; the export function does the work.
    get('request-export').addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'WriteExportRequests',
        actions: ['s3:PutObject'],
        resources: [bucket.arnForObjects(`${EXPORT_REQUESTS_PREFIX}*`)],
      }),
    );
    Validations.of(get('request-export').role as iam.Role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(bucket)}.Arn>/${EXPORT_REQUESTS_PREFIX}*]`,
      reason:
        'Each export request is a new object named by day, hour and request id; write-only, and only under ' +
        'feeds/_requests/',
    });
  }
}

/** Environment only some routes need (the page-token key, the realtime token settings, the feed bucket). */
function routeExtraEnv(id: RouteSpec['id'], props: ControlApiProps): Record<string, string> {
  if (id === 'get-messages') {
    // The ARN only: the handler reads the key at run time (granted above) and refuses to start without it.
    return { PAGE_TOKEN_SECRET_ID: props.pageTokenSecret.secretArn } satisfies EnvironmentOf<typeof API_ENV>;
  }
  if (id === 'realtime-token' && props.realtime) {
    const r = props.realtime;
    return {
      WEBSOCKET_URL: r.webSocketUrl,
      REALTIME_SUPERVISOR_API_IDS: r.supervisorApiIds.join(','),
      REALTIME_TOKEN_TTL_SEC: String(r.tokenTtlSec),
      // The ARN only: the handler reads the key at run time (granted above).
      ...(r.tokenSecret && { REALTIME_TOKEN_SECRET_ID: r.tokenSecret.secretArn }),
    } satisfies EnvironmentOf<typeof API_ENV>;
  }
  if ((FILE_EXPORTER_READ_ROUTES.has(id) || id === 'request-export') && props.feedBucket) {
    return { FEEDS_BUCKET: props.feedBucket.bucketName } satisfies EnvironmentOf<typeof API_ENV>;
  }
  return {};
}

/** `start-streaming` → `StartStreaming`: construct ids from route ids and client names. */
export function pascal(id: string): string {
  return id
    .split(/[^A-Za-z0-9]+/)
    .filter((s) => s !== '')
    .map((s) => s[0]?.toUpperCase() + s.slice(1))
    .join('');
}

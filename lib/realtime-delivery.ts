/**
 * Real-time delivery (architecture §1.5): every final utterance stored in the Utterances table reaches
 * the webhook receiver and the WebSocket subscribers of its conversation within about a second.
 *
 * - The fan-out function reads the table's stream (NEW_IMAGE) through an event source mapping: batches of
 *   100, one batch per shard at a time (order per conversation), partial batch responses, bisection on
 *   error, and an encrypted SQS dead-letter queue for records that still fail after 24 h of retries.
 * - The WebSocket API (`$connect`, `$disconnect`, `subscribe`, `unsubscribe`, `$default`) keeps its
 *   connections and subscriptions in the Subscriptions table (built by the store from `contract/tables.ts`).
 *   `subscribe` also reads a conversation's utterances and state (history and status frames), read only.
 * - Webhook targets, credentials included, live in a Secrets Manager secret; only its id is in the
 *   environment.
 */
import { Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as apigwv2Integrations from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as lambdaEventSources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type {
  API_ENV,
  EnvironmentOf,
  FANOUT_ENV,
  LAMBDA_OBSERVABILITY_ENV,
  WEBSOCKET_ENV,
} from '../contract/env-names';
import { executionLogGroupName } from './control-api';
import { HouseFunction } from './house-function';
import { type LambdaMetricsRole, lambdaMetricsService } from './metrics-scope';

/** Stage of the WebSocket API (part of its URL: `wss://<id>.execute-api.<region>.amazonaws.com/live`). */
export const WEBSOCKET_STAGE_NAME = 'live';
/** Powertools `route` dimension of the fan-out's metrics (its function name in `createObservability`). */
export const FANOUT_ROUTE = 'fanout';

/** The event source mapping's settings: the real-time contract in numbers. */
export const FANOUT_STREAM_SETTINGS = {
  batchSize: 100,
  /** One batch per shard at a time: utterances of a conversation are delivered in order. */
  parallelizationFactor: 1,
  /** Enough for 24 h of retries at any backoff; `maxRecordAge` ends them first. */
  retryAttempts: 1000,
  maxRecordAgeHours: 24,
} as const;

/** Everything the subscriptions repository does (store/subscriptions.ts), on the table itself only. */
const SUBSCRIPTIONS_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:Query',
  'dynamodb:BatchWriteItem',
  'dynamodb:ConditionCheckItem',
];

/** The WebSocket routes and their handlers (entries relative to the repository root). */
export const WEBSOCKET_ROUTES: ReadonlyArray<{ id: string; routeKey: string; entry: string; replies: boolean }> = [
  { id: 'Connect', routeKey: '$connect', entry: 'lambdas/websocket/connect/handler.ts', replies: false },
  { id: 'Disconnect', routeKey: '$disconnect', entry: 'lambdas/websocket/disconnect/handler.ts', replies: false },
  { id: 'Subscribe', routeKey: 'subscribe', entry: 'lambdas/websocket/subscribe/handler.ts', replies: true },
  // The same handler serves both actions (it reads `action` from the frame).
  { id: 'Unsubscribe', routeKey: 'unsubscribe', entry: 'lambdas/websocket/subscribe/handler.ts', replies: true },
  { id: 'Default', routeKey: '$default', entry: 'lambdas/websocket/default/handler.ts', replies: true },
];

/** An `execute-api:ManageConnections` resource and the cdk-nag finding of its wildcard (acknowledge on the grantee). */
export interface WebSocketConnectionsResource {
  readonly arn: string;
  readonly nagFindingId: string;
}

/** Props of {@link RealtimeDelivery}. */
export interface RealtimeDeliveryProps {
  /** Utterances table; must have its stream enabled (contract/tables.ts: NEW_IMAGE). */
  readonly utterancesTable: dynamodb.ITable;
  /**
   * Conversations table: `subscribe` reads a conversation's state from it (the `status` frame: ended call,
   * timeline start). @default - no status frames (history only)
   */
  readonly conversationsTable?: dynamodb.ITable;
  readonly subscriptionsTable: dynamodb.ITable;
  /** Hashed API credentials: `$connect` accepts the REST API's credentials too. */
  readonly apiCredentialsSecret: secretsmanager.ISecret;
  /** Webhook targets (JSON array). @default - no webhook delivery */
  readonly webhookTargetsSecret?: secretsmanager.ISecret;
  /** Per-request webhook timeout. @default 5000 */
  readonly webhookTimeoutMs?: number;
  /**
   * Key of the browser connect tokens; `$connect` gets its ARN and may read it.
   * @default - tokens refused; API credentials only
   */
  readonly tokenSecret?: secretsmanager.ISecret;
  readonly supervisorApiIds: readonly string[];
  readonly throttleRatePerSec: number;
  readonly throttleBurst: number;
  readonly metricsNamespace: string;
  readonly logRetentionDays: logs.RetentionDays;
  /** Removal policy of the stage's execution-log group. @default RemovalPolicy.DESTROY */
  readonly executionLogsRemovalPolicy?: RemovalPolicy;
}

/** The fan-out, its dead-letter queue and the WebSocket API. */
export class RealtimeDelivery extends Construct {
  public readonly fanoutFunction: HouseFunction;
  /** Stream records the fan-out gave up on (after 24 h or on a poison record): alarmed, redriven by hand. */
  public readonly deadLetterQueue: sqs.Queue;
  public readonly eventSourceMapping: lambda.EventSourceMapping;
  public readonly webSocketApi: apigwv2.WebSocketApi;
  public readonly stage: apigwv2.WebSocketStage;
  /** Route handlers by construct id (Connect, Disconnect, Subscribe, Unsubscribe, Default). */
  public readonly routeFunctions: ReadonlyMap<string, HouseFunction>;
  public readonly accessLogGroup: logs.LogGroup;
  /** `API-Gateway-Execution-Logs_{apiId}/live`: the stage's error logs, with the configured retention. */
  public readonly executionLogGroup: logs.LogGroup;
  /** `wss://…/live`: what clients connect to (and the token route echoes). */
  public readonly webSocketUrl: string;
  /** `https://…/live`: the management endpoint the fan-out posts to. */
  public readonly callbackUrl: string;

  constructor(scope: Construct, id: string, props: RealtimeDeliveryProps) {
    super(scope, id);
    const streamArn = props.utterancesTable.tableStreamArn;
    if (streamArn === undefined) {
      throw new Error('RealtimeDelivery: the Utterances table has no stream (contract/tables.ts must set one)');
    }

    const observabilityEnv = (role: LambdaMetricsRole) =>
      ({
        POWERTOOLS_SERVICE_NAME: lambdaMetricsService(this, role),
        POWERTOOLS_METRICS_NAMESPACE: props.metricsNamespace,
        LOG_LEVEL: 'INFO',
      }) satisfies EnvironmentOf<typeof LAMBDA_OBSERVABILITY_ENV>;

    // ── WebSocket API ────────────────────────────────────────────────────────────────────────────────
    const routeEnv: Record<string, string> = {
      ...observabilityEnv('websocket'),
      SUBSCRIPTIONS_TABLE: props.subscriptionsTable.tableName,
      API_CREDENTIALS_SECRET_ID: props.apiCredentialsSecret.secretArn,
      REALTIME_SUPERVISOR_API_IDS: props.supervisorApiIds.join(','),
    } satisfies EnvironmentOf<typeof WEBSOCKET_ENV>;
    // Only $connect verifies tokens; it reads the key from the secret at run time, so no function
    // configuration holds the key itself.
    const connectEnv: Record<string, string> = {
      ...routeEnv,
      ...(props.tokenSecret && { REALTIME_TOKEN_SECRET_ID: props.tokenSecret.secretArn }),
    } satisfies EnvironmentOf<typeof WEBSOCKET_ENV>;

    // Only subscribe reads the conversation; names from API_ENV until WEBSOCKET_ENV lists them too.
    const subscribeEnv: Record<string, string> = {
      ...routeEnv,
      ...({
        UTTERANCES_TABLE: props.utterancesTable.tableName,
        ...(props.conversationsTable && { CONVERSATIONS_TABLE: props.conversationsTable.tableName }),
      } satisfies EnvironmentOf<Pick<typeof API_ENV, 'UTTERANCES_TABLE' | 'CONVERSATIONS_TABLE'>>),
    };
    const envOf = (routeId: string) =>
      routeId === 'Connect' ? connectEnv : routeId === 'Subscribe' ? subscribeEnv : routeEnv;

    const handlers = new Map<string, HouseFunction>();
    const byEntry = new Map<string, HouseFunction>();
    for (const route of WEBSOCKET_ROUTES) {
      let fn = byEntry.get(route.entry);
      if (!fn) {
        fn = new HouseFunction(this, `${route.id}Handler`, {
          entry: route.entry,
          description: `WebSocket ${route.routeKey} (real-time delivery)`,
          // $connect verifies scrypt hashes: more memory = more CPU.
          memorySizeMiB: route.id === 'Connect' ? 512 : 256,
          timeoutSec: 10,
          logRetentionDays: props.logRetentionDays,
          environment: envOf(route.id),
        });
        byEntry.set(route.entry, fn);
        this.grantSubscriptions(fn, props.subscriptionsTable);
        if (route.id === 'Subscribe') this.grantConversationReads(fn, props);
      }
      handlers.set(route.id, fn);
    }
    this.routeFunctions = handlers;
    props.apiCredentialsSecret.grantRead(handlers.get('Connect') as HouseFunction);
    props.tokenSecret?.grantRead(handlers.get('Connect') as HouseFunction);

    const integration = (routeId: string) =>
      new apigwv2Integrations.WebSocketLambdaIntegration(
        `${routeId}Integration`,
        handlers.get(routeId) as HouseFunction,
      );
    this.webSocketApi = new apigwv2.WebSocketApi(this, 'Api', {
      apiName: `${id}-audiohook-transcribe-realtime`,
      description: 'Real-time transcripts: subscribe to conversations, receive transcript messages',
      routeSelectionExpression: '$request.body.action',
      connectRouteOptions: { integration: integration('Connect') },
      disconnectRouteOptions: { integration: integration('Disconnect') },
      defaultRouteOptions: { integration: integration('Default') },
    });
    this.webSocketApi.addRoute('subscribe', { integration: integration('Subscribe') });
    this.webSocketApi.addRoute('unsubscribe', { integration: integration('Unsubscribe') });

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = new apigwv2.WebSocketStage(this, 'Stage', {
      webSocketApi: this.webSocketApi,
      stageName: WEBSOCKET_STAGE_NAME,
      autoDeploy: true,
      throttle: { rateLimit: props.throttleRatePerSec, burstLimit: props.throttleBurst },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogGroup),
        format: accessLogFormat(),
      },
    });
    this.webSocketUrl = this.stage.url;
    this.callbackUrl = this.stage.callbackUrl;

    // Execution logs at ERROR, never frame bodies (as the REST stage). API Gateway would create their group
    // on first write, without retention: it is created here first (the stage depends on it).
    const cfnStage = this.stage.node.defaultChild as apigwv2.CfnStage;
    cfnStage.addPropertyOverride('DefaultRouteSettings.LoggingLevel', 'ERROR');
    cfnStage.addPropertyOverride('DefaultRouteSettings.DataTraceEnabled', false);
    this.executionLogGroup = new logs.LogGroup(this, 'ExecutionLogs', {
      logGroupName: executionLogGroupName(this.webSocketApi.apiId, WEBSOCKET_STAGE_NAME),
      retention: props.logRetentionDays,
      removalPolicy: props.executionLogsRemovalPolicy ?? RemovalPolicy.DESTROY,
    });
    this.stage.node.addDependency(this.executionLogGroup);

    // $connect authenticates in its handler (API credentials or a connect token); API Gateway allows an
    // authorizer on $connect only, and the other routes run on an already authenticated connection.
    for (const child of this.webSocketApi.node.findAll()) {
      if (child instanceof apigwv2.CfnRoute) {
        Validations.of(child).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason:
            '$connect authenticates in its Lambda (asapp-api-id/secret headers or a short-lived token from ' +
            'POST /realtime/v1/token) and refuses the handshake with 401/403; the other routes only run on a ' +
            'connection $connect accepted, and WebSocket APIs allow authorizers on $connect only',
        });
      }
    }

    // ── Fan-out ──────────────────────────────────────────────────────────────────────────────────────
    this.deadLetterQueue = new sqs.Queue(this, 'FanoutDeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is the dead-letter destination of the fan-out event source mapping; a dead-letter queue ' +
        'of a dead-letter queue would only move the same records again',
    });

    this.fanoutFunction = new HouseFunction(this, 'Fanout', {
      entry: 'lambdas/fanout/handler.ts',
      description: 'Delivers stored utterances to the webhook and WebSocket subscribers (Utterances stream)',
      memorySizeMiB: 512,
      // Webhook retries inside a run are bounded by the remaining time; a minute leaves room for a slow receiver.
      timeoutSec: 60,
      logRetentionDays: props.logRetentionDays,
      environment: {
        ...observabilityEnv('fanout'),
        SUBSCRIPTIONS_TABLE: props.subscriptionsTable.tableName,
        WEBSOCKET_MANAGEMENT_ENDPOINT: this.callbackUrl,
        WEBHOOK_TIMEOUT_MS: String(props.webhookTimeoutMs ?? 5000),
        ...(props.webhookTargetsSecret && { WEBHOOK_TARGETS_SECRET_ID: props.webhookTargetsSecret.secretArn }),
      } satisfies EnvironmentOf<typeof FANOUT_ENV>,
    });
    this.grantSubscriptions(this.fanoutFunction, props.subscriptionsTable);
    props.webhookTargetsSecret?.grantRead(this.fanoutFunction);

    this.eventSourceMapping = new lambda.EventSourceMapping(this, 'UtterancesStream', {
      target: this.fanoutFunction,
      eventSourceArn: streamArn,
      startingPosition: lambda.StartingPosition.LATEST,
      batchSize: FANOUT_STREAM_SETTINGS.batchSize,
      parallelizationFactor: FANOUT_STREAM_SETTINGS.parallelizationFactor,
      reportBatchItemFailures: true,
      bisectBatchOnError: true,
      retryAttempts: FANOUT_STREAM_SETTINGS.retryAttempts,
      maxRecordAge: Duration.hours(FANOUT_STREAM_SETTINGS.maxRecordAgeHours),
      onFailure: new lambdaEventSources.SqsDlq(this.deadLetterQueue),
    });
    // This stream only; ListStreams (which Lambda checks when it creates the mapping) has no resource ARN.
    this.fanoutFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'UtterancesStream',
        actions: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
        resources: [streamArn],
      }),
    );
    this.fanoutFunction.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'ListStreams', actions: ['dynamodb:ListStreams'], resources: ['*'] }),
    );
    Validations.of(this.fanoutFunction.role as iam.Role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'dynamodb:ListStreams, xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level ' +
        'permissions; the stream itself is read through statements scoped to its ARN',
    });
    if (props.utterancesTable instanceof dynamodb.Table) {
      this.eventSourceMapping.node.addDependency(props.utterancesTable);
    }
    // Lambda checks the role can read the stream when it creates the mapping: the policy must exist first.
    const fanoutPolicy = (this.fanoutFunction.role as iam.Role).node.tryFindChild('DefaultPolicy');
    if (fanoutPolicy) this.eventSourceMapping.node.addDependency(fanoutPolicy);

    // ── Management API: post (and delete gone) connections of this API's stage only ─────────────────
    const reasons = {
      POST: 'Connection ids exist only at run time; limited to posting to connections of this API and stage',
      DELETE: 'The fan-out closes connections the management API reports gone; limited to this API and stage',
    } as const;
    const manage = (grantee: HouseFunction, methods: ReadonlyArray<'POST' | 'DELETE'>) => {
      grantee.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ManageWebSocketConnections',
          actions: ['execute-api:ManageConnections'],
          resources: methods.map((method) => this.connectionsResource(method).arn),
        }),
      );
      for (const method of methods) {
        const { nagFindingId } = this.connectionsResource(method);
        Validations.of(grantee.role as iam.Role).acknowledge({ id: nagFindingId, reason: reasons[method] });
      }
    };
    manage(this.fanoutFunction, ['POST', 'DELETE']);
    // Subscribe/unsubscribe and $default answer with a control frame on the caller's own connection.
    for (const route of WEBSOCKET_ROUTES) {
      const fn = handlers.get(route.id) as HouseFunction;
      if (route.replies && route.id !== 'Unsubscribe') manage(fn, ['POST']);
    }
  }

  /**
   * This stage's connections for one management method (`POST` sends, `DELETE` closes): a least-privilege
   * `execute-api:ManageConnections` resource, `…:<apiId>/live/<method>/@connections/*`.
   */
  public connectionsResource(method: 'POST' | 'DELETE'): WebSocketConnectionsResource {
    const stack = Stack.of(this);
    const resourceName = `${WEBSOCKET_STAGE_NAME}/${method}/@connections/*`;
    // cdk-nag names the finding after the rendered ARN, tokens as <…>; a configured account is literal.
    const partition = Token.isUnresolved(stack.partition) ? '<AWS::Partition>' : stack.partition;
    const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
    const api = `<${stack.getLogicalId(this.webSocketApi.node.defaultChild as apigwv2.CfnApi)}>`;
    const arn = stack.formatArn({ service: 'execute-api', resource: this.webSocketApi.apiId, resourceName });
    const rendered = `arn:${partition}:execute-api:${stack.region}:${account}:${api}/${resourceName}`;
    return { arn, nagFindingId: `AwsSolutions-IAM5[Resource::${rendered}]` };
  }

  /**
   * Read only, and only what `subscribe` does: Query the Utterances table's base table (a conversation's
   * history, no index), GetItem + Query the Conversations table (META and the SES# items of one conversation).
   */
  private grantConversationReads(fn: HouseFunction, props: RealtimeDeliveryProps): void {
    const read = (sid: string, actions: string[], table: dynamodb.ITable) =>
      fn.addToRolePolicy(new iam.PolicyStatement({ sid, actions, resources: [table.tableArn] }));
    read('UtterancesHistoryRead', ['dynamodb:Query'], props.utterancesTable);
    if (props.conversationsTable) {
      read('ConversationStateRead', ['dynamodb:GetItem', 'dynamodb:Query'], props.conversationsTable);
    }
  }

  private grantSubscriptions(fn: HouseFunction, table: dynamodb.ITable): void {
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'SubscriptionsTable',
        actions: SUBSCRIPTIONS_ACTIONS,
        resources: [table.tableArn],
      }),
    );
  }
}

/** JSON access log line of the WebSocket stage: ids and outcomes, never frame bodies. */
function accessLogFormat(): apigw.AccessLogFormat {
  // The v2 stage takes the REST package's format class.
  return apigw.AccessLogFormat.custom(
    JSON.stringify({
      requestId: '$context.requestId',
      extendedRequestId: '$context.extendedRequestId',
      time: '$context.requestTimeEpoch',
      ip: '$context.identity.sourceIp',
      routeKey: '$context.routeKey',
      eventType: '$context.eventType',
      connectionId: '$context.connectionId',
      status: '$context.status',
      integrationStatus: '$context.integrationStatus',
      error: '$context.error.message',
      integrationError: '$context.integrationErrorMessage',
    }),
  );
}

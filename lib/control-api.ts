/**
 * Control API: the ASAPP-compatible REST surface (api-contract.md §1, §2, §5) on API Gateway. Every route
 * sits behind the REQUEST authorizer (`asapp-api-id` + `asapp-api-secret`), is served at the root of a
 * custom domain (base-path mapping, no stage segment, so a customer only swaps the host name), with stage
 * throttling, optional per-client usage plans, JSON access logs without bodies, and gateway responses that
 * speak the contract's error envelope. WAF is optional.
 */
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import type * as acm from 'aws-cdk-lib/aws-certificatemanager';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as route53Targets from 'aws-cdk-lib/aws-route53-targets';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import type { API_ENV, AUTHORIZER_ENV, EnvironmentOf, LAMBDA_OBSERVABILITY_ENV } from '../contract/env-names';
import { AUTHORIZER_ENTRY, ROUTES, type RouteSpec } from '../contract/routes';
import { EXPORT_REQUESTS_PREFIX, FEED_ROOT_PREFIX } from './feed-export';
import { HouseFunction } from './house-function';
import { lambdaMetricsService } from './metrics-scope';
import { logicalIdOf } from './store';

/** Stage name (never visible to callers: the custom domain maps the stage at the root). */
export const API_STAGE_NAME = 'live';

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

/** Name of the execution-log group API Gateway writes to for a stage (it creates it itself if missing). */
export function executionLogGroupName(apiId: string, stageName: string): string {
  return `API-Gateway-Execution-Logs_${apiId}/${stageName}`;
}

/** One API client metered by its own usage plan. */
export interface ApiClientProps {
  readonly name: string;
  /** The credential's `usageKey` (the authorizer returns it as `usageIdentifierKey`). */
  readonly usageKey: string;
  readonly throttleRatePerSec?: number;
  readonly throttleBurst?: number;
  readonly quotaPerDay?: number;
}

/** Props of {@link ControlApi}. */
export interface ControlApiProps {
  /** Public host name, e.g. `transcribe.example.com`. */
  readonly domainName: string;
  readonly certificate: acm.ICertificate;
  /** Creates an alias record when given. @default - no DNS record */
  readonly hostedZone?: route53.IHostedZone;
  readonly conversationsTable: dynamodb.ITable;
  readonly utterancesTable: dynamodb.ITable;
  readonly apiCredentialsSecret: secretsmanager.ISecret;
  /** Stage-wide steady rate (api-contract §5: 100 requests/s spike arrest). */
  readonly throttleRatePerSec: number;
  readonly throttleBurst: number;
  /**
   * Clients with their own usage plan. When any is given, every method requires a usage key (supplied by
   * the authorizer): a credential whose `usageKey` is not registered here is refused with 403.
   * @default - no usage plans; the stage throttle applies to all callers together
   */
  readonly clients?: readonly ApiClientProps[];
  /** Default daily quota of client plans. @default - no quota */
  readonly quotaPerDay?: number;
  readonly waf: boolean;
  readonly supportedLanguages: readonly string[];
  readonly defaultLanguage: string;
  readonly redaction: boolean;
  readonly retentionDays: number;
  readonly stopWaitMs: number;
  /**
   * Create the account-level CloudWatch role of API Gateway (`AWS::ApiGateway::Account`, one per account and
   * region: it replaces the account's current setting). With false, the account must already have one:
   * access and execution logging need it. @default true
   */
  readonly manageCloudWatchRole?: boolean;
  readonly metricsNamespace: string;
  readonly logRetentionDays: logs.RetentionDays;
  /** Removal policy of the stage's execution-log group. @default RemovalPolicy.DESTROY */
  readonly executionLogsRemovalPolicy?: RemovalPolicy;
  /** The WebSocket API, for `POST /realtime/v1/token`. @default - the token route answers 404-01 */
  readonly realtime?: RealtimeTokenRouteProps;
  /** The feed bucket, for the File Exporter routes. @default - those routes answer 403-01 */
  readonly feedBucket?: s3.IBucket;
}

/** What the realtime-token route needs. */
export interface RealtimeTokenRouteProps {
  /** `wss://…`: echoed to the caller with the token. */
  readonly webSocketUrl: string;
  readonly supervisorApiIds: readonly string[];
  readonly tokenTtlSec: number;
  /** Key of the connect tokens (shared with `$connect`). @default - no tokens: the route answers 404-01 */
  readonly tokenSecret?: secretsmanager.ISecret;
}

/** File Exporter routes that only read the feed (the seven static operations). */
const FILE_EXPORTER_READ_ROUTES: ReadonlySet<RouteSpec['id']> = new Set(
  ROUTES.filter((r) => r.id.startsWith('file-exporter-')).map((r) => r.id),
);

/** Error envelope of api-contract.md §1.3, rendered by API Gateway itself. */
function envelope(message: string, code: string): string {
  return `{"error":{"requestId":"$context.requestId","message":"${message}","code":"${code}"}}`;
}

/** Answers API Gateway gives before any Lambda runs, in the contract's own terms. */
const GATEWAY_RESPONSES: ReadonlyArray<{
  id: string;
  type: apigw.ResponseType;
  status: string;
  message: string;
  code: string;
}> = [
  { id: 'Unauthorized', type: apigw.ResponseType.UNAUTHORIZED, status: '401', message: 'Unauthorized', code: '401-01' },
  { id: 'AccessDenied', type: apigw.ResponseType.ACCESS_DENIED, status: '403', message: 'Forbidden', code: '403-01' },
  {
    id: 'InvalidApiKey',
    type: apigw.ResponseType.INVALID_API_KEY,
    status: '403',
    message: 'Forbidden',
    code: '403-01',
  },
  { id: 'Throttled', type: apigw.ResponseType.THROTTLED, status: '429', message: 'Too Many Requests', code: '429-01' },
  {
    id: 'QuotaExceeded',
    type: apigw.ResponseType.QUOTA_EXCEEDED,
    status: '429',
    message: 'Too Many Requests',
    code: '429-01',
  },
  // REST APIs answer an unknown route with 403 "Missing Authentication Token": the contract wants a 404.
  {
    id: 'UnknownRoute',
    type: apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
    status: '404',
    message: 'Not Found',
    code: '404-01',
  },
  {
    id: 'BadRequestParameters',
    type: apigw.ResponseType.BAD_REQUEST_PARAMETERS,
    status: '400',
    message: 'Bad request',
    code: '400-01',
  },
  {
    id: 'BadRequestBody',
    type: apigw.ResponseType.BAD_REQUEST_BODY,
    status: '400',
    message: 'Bad request',
    code: '400-01',
  },
  {
    id: 'TooLarge',
    type: apigw.ResponseType.REQUEST_TOO_LARGE,
    status: '413',
    message: 'Request Entity Too Large',
    code: '413-01',
  },
  { id: 'Default4xx', type: apigw.ResponseType.DEFAULT_4XX, status: '400', message: 'Bad request', code: '400-01' },
  {
    id: 'IntegrationTimeout',
    type: apigw.ResponseType.INTEGRATION_TIMEOUT,
    status: '503',
    message: 'Service Unavailable',
    code: '503-01',
  },
  {
    id: 'Default5xx',
    type: apigw.ResponseType.DEFAULT_5XX,
    status: '500',
    message: 'Internal server error',
    code: '500-01',
  },
];

/** The REST API with its Lambdas, authorizer, domain, throttling and logs. */
export class ControlApi extends Construct {
  public readonly api: apigw.RestApi;
  public readonly authorizerFunction: HouseFunction;
  /** Route handlers by route id. */
  public readonly routeFunctions: ReadonlyMap<RouteSpec['id'], HouseFunction>;
  public readonly accessLogGroup: logs.LogGroup;
  /** `API-Gateway-Execution-Logs_{apiId}/live`, with the configured retention. */
  public readonly executionLogGroup: logs.LogGroup;
  public readonly domain: apigw.DomainName;
  public readonly usagePlans: readonly apigw.UsagePlan[];
  public readonly webAcl?: wafv2.CfnWebACL;
  /** `https://<domainName>`: the base URL of every route. */
  public readonly baseUrl: string;

  constructor(scope: Construct, id: string, props: ControlApiProps) {
    super(scope, id);
    this.baseUrl = `https://${props.domainName}`;
    const clients = props.clients ?? [];
    const manageCloudWatchRole = props.manageCloudWatchRole ?? true;
    const requireUsageKey = clients.length > 0;

    const observabilityEnv = {
      POWERTOOLS_SERVICE_NAME: lambdaMetricsService(this, 'api'),
      POWERTOOLS_METRICS_NAMESPACE: props.metricsNamespace,
      LOG_LEVEL: 'INFO',
    } satisfies EnvironmentOf<typeof LAMBDA_OBSERVABILITY_ENV>;

    this.authorizerFunction = new HouseFunction(this, 'Authorizer', {
      entry: AUTHORIZER_ENTRY,
      description: 'REST API authorizer: asapp-api-id + asapp-api-secret against the hashed credential set',
      // scrypt verification is CPU-bound: more memory = more CPU = faster cold verifications.
      memorySizeMiB: 512,
      timeoutSec: 10,
      logRetentionDays: props.logRetentionDays,
      environment: {
        ...observabilityEnv,
        API_CREDENTIALS_SECRET_ID: props.apiCredentialsSecret.secretArn,
      } satisfies EnvironmentOf<typeof AUTHORIZER_ENV>,
    });
    props.apiCredentialsSecret.grantRead(this.authorizerFunction);

    const routeEnv = {
      ...observabilityEnv,
      CONVERSATIONS_TABLE: props.conversationsTable.tableName,
      UTTERANCES_TABLE: props.utterancesTable.tableName,
      SUPPORTED_LANGUAGES: props.supportedLanguages.join(','),
      DEFAULT_LANGUAGE: props.defaultLanguage,
      REDACTION_ENABLED: String(props.redaction),
      RETENTION_DAYS: String(props.retentionDays),
      STOP_WAIT_MS: String(props.stopWaitMs),
    } satisfies EnvironmentOf<typeof API_ENV>;
    const functions = new Map<RouteSpec['id'], HouseFunction>();
    for (const route of ROUTES) {
      const fn = new HouseFunction(this, pascal(route.id), {
        entry: route.entry,
        description: `${route.method} ${route.path}`,
        // The stop route waits for the gateway (STOP_WAIT_MS) and must still answer inside API Gateway's 29 s.
        timeoutSec: route.id === 'stop-streaming' ? stopRouteTimeoutSec(props.stopWaitMs) : 10,
        logRetentionDays: props.logRetentionDays,
        environment: { ...routeEnv, ...routeExtraEnv(route.id, props) },
      });
      functions.set(route.id, fn);
    }
    this.routeFunctions = functions;
    this.grantRoutePermissions(props, functions);

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.api = new apigw.RestApi(this, 'Api', {
      restApiName: `${id}-audiohook-transcribe`,
      description: 'ASAPP-compatible transcription control API (start/stop, messages, status)',
      endpointConfiguration: { types: [apigw.EndpointType.REGIONAL] },
      // Callers use the custom domain only, where paths sit at the root as the contract requires.
      disableExecuteApiEndpoint: true,
      apiKeySourceType: apigw.ApiKeySourceType.AUTHORIZER,
      // API Gateway needs an account-level role to write access and execution logs. It is one setting per
      // account and region, so it is opt-out for accounts that already have one (api.manageCloudWatchRole).
      cloudWatchRole: manageCloudWatchRole,
      ...(manageCloudWatchRole && { cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN }),
      deployOptions: {
        stageName: API_STAGE_NAME,
        throttlingRateLimit: props.throttleRatePerSec,
        throttlingBurstLimit: props.throttleBurst,
        // Errors only, never request/response bodies: bodies carry transcript text and secrets.
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        metricsEnabled: true,
        tracingEnabled: true,
        accessLogDestination: new apigw.LogGroupLogDestination(this.accessLogGroup),
        accessLogFormat: apigw.AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            extendedRequestId: '$context.extendedRequestId',
            time: '$context.requestTimeEpoch',
            ip: '$context.identity.sourceIp',
            userAgent: '$context.identity.userAgent',
            method: '$context.httpMethod',
            path: '$context.path',
            status: '$context.status',
            responseLength: '$context.responseLength',
            latencyMs: '$context.responseLatency',
            integrationLatencyMs: '$context.integration.latency',
            apiId: '$context.authorizer.apiId',
            authorizerError: '$context.authorizer.error',
            error: '$context.error.message',
            wafStatus: '$context.waf.status',
          }),
        ),
      },
    });

    // The default `Endpoint` output names the execute-api URL, which is switched off: the domain output replaces it.
    this.api.node.tryRemoveChild('Endpoint');

    // Execution logs (errors only): API Gateway would create this group on first write, without retention.
    // Created here first (the stage depends on it) so it has one.
    this.executionLogGroup = new logs.LogGroup(this, 'ExecutionLogs', {
      logGroupName: executionLogGroupName(this.api.restApiId, API_STAGE_NAME),
      retention: props.logRetentionDays,
      removalPolicy: props.executionLogsRemovalPolicy ?? RemovalPolicy.DESTROY,
    });
    this.api.deploymentStage.node.addDependency(this.executionLogGroup);

    for (const r of GATEWAY_RESPONSES) {
      this.api.addGatewayResponse(r.id, {
        type: r.type,
        statusCode: r.status,
        responseHeaders: {
          'Content-Type': "'application/json'",
          ...(r.status === '429' && { 'Retry-After': "'1'" }),
        },
        templates: { 'application/json': envelope(r.message, r.code) },
      });
    }

    const authorizer = new apigw.RequestAuthorizer(this, 'RequestAuthorizer', {
      handler: this.authorizerFunction,
      identitySources: [apigw.IdentitySource.header('asapp-api-id'), apigw.IdentitySource.header('asapp-api-secret')],
      resultsCacheTtl: Duration.minutes(5),
    });

    // Checks the declared headers are present. Bodies have no API Gateway model (validateRequestBody is then a
    // no-op): the handlers validate them and answer in the contract's codes (400-201, 400-202…).
    const validator = this.api.addRequestValidator('RequiredHeaders', {
      validateRequestParameters: true,
      validateRequestBody: true,
    });
    for (const route of ROUTES) {
      const fn = functions.get(route.id) as HouseFunction;
      this.api.root.resourceForPath(route.path).addMethod(route.method, new apigw.LambdaIntegration(fn), {
        operationName: route.operationId,
        authorizer,
        authorizationType: apigw.AuthorizationType.CUSTOM,
        apiKeyRequired: requireUsageKey,
        requestValidator: validator,
        requestParameters: {
          'method.request.header.asapp-api-id': true,
          'method.request.header.asapp-api-secret': true,
        },
      });
    }

    for (const method of this.api.methods) {
      Validations.of(method).acknowledge({
        id: 'AwsSolutions-COG4',
        reason:
          'The ASAPP contract (api-contract.md §5) authenticates with the asapp-api-id/asapp-api-secret headers, ' +
          'verified by the REQUEST authorizer; callers (Genesys data actions) cannot obtain Cognito tokens',
      });
    }
    const cloudWatchRole = this.api.node.tryFindChild('CloudWatchRole');
    if (cloudWatchRole) {
      Validations.of(cloudWatchRole).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason:
          'The account-level role API Gateway needs to write execution and access logs; this AWS-managed policy is ' +
          'the documented one and is scoped to log delivery',
      });
    }
    if (!props.waf) {
      Validations.of(this.api.deploymentStage).acknowledge({
        id: 'AwsSolutions-APIG3',
        reason:
          'WAF is opt-in (audiohook.api.waf): every route needs the authorizer, the stage is throttled, and callers are ' +
          'a few known systems; enable it when the API is exposed more widely',
      });
    }

    const plans: apigw.UsagePlan[] = [];
    for (const client of clients) {
      const plan = this.api.addUsagePlan(`Plan${pascal(client.name)}`, {
        name: `${id}-${client.name}`,
        description: `Usage plan of API client ${client.name}`,
        throttle: {
          rateLimit: client.throttleRatePerSec ?? props.throttleRatePerSec,
          burstLimit: client.throttleBurst ?? props.throttleBurst,
        },
        ...((client.quotaPerDay ?? props.quotaPerDay) !== undefined && {
          quota: { limit: client.quotaPerDay ?? props.quotaPerDay, period: apigw.Period.DAY },
        }),
        apiStages: [{ api: this.api, stage: this.api.deploymentStage }],
      });
      // Not a credential: the authorizer authenticates; this value only meters (it is the usageKey).
      const key = this.api.addApiKey(`Key${pascal(client.name)}`, {
        apiKeyName: `${id}-${client.name}`,
        value: client.usageKey,
      });
      plan.addApiKey(key);
      plans.push(plan);
    }
    this.usagePlans = plans;

    this.domain = new apigw.DomainName(this, 'Domain', {
      domainName: props.domainName,
      certificate: props.certificate,
      endpointType: apigw.EndpointType.REGIONAL,
      securityPolicy: apigw.SecurityPolicy.TLS_1_2,
    });
    // Empty base path: /mg-autotranscribe/v1/... is served exactly at the root.
    this.domain.addBasePathMapping(this.api, { stage: this.api.deploymentStage });
    if (props.hostedZone) {
      new route53.ARecord(this, 'Alias', {
        zone: props.hostedZone,
        recordName: props.domainName,
        target: route53.RecordTarget.fromAlias(new route53Targets.ApiGatewayDomain(this.domain)),
      });
    }

    if (props.waf) {
      this.webAcl = this.createWebAcl(props);
      new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', {
        resourceArn: this.api.deploymentStage.stageArn,
        webAclArn: this.webAcl.attrArn,
      });
    }
  }

  private grantRoutePermissions(props: ControlApiProps, fns: ReadonlyMap<RouteSpec['id'], HouseFunction>): void {
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

  private createWebAcl(props: ControlApiProps): wafv2.CfnWebACL {
    const managed = (name: string, priority: number): wafv2.CfnWebACL.RuleProperty => ({
      name,
      priority,
      overrideAction: { none: {} },
      statement: { managedRuleGroupStatement: { vendorName: 'AWS', name } },
      visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: name, sampledRequestsEnabled: true },
    });
    return new wafv2.CfnWebACL(this, 'WebAcl', {
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: 'ControlApi', sampledRequestsEnabled: true },
      rules: [
        managed('AWSManagedRulesCommonRuleSet', 1),
        managed('AWSManagedRulesKnownBadInputsRuleSet', 2),
        {
          name: 'RatePerIp',
          priority: 3,
          action: { block: {} },
          // Per source IP over 5 minutes: well above the stage throttle, so only floods are blocked.
          statement: {
            rateBasedStatement: { limit: Math.max(100, props.throttleRatePerSec * 300), aggregateKeyType: 'IP' },
          },
          visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: 'RatePerIp', sampledRequestsEnabled: true },
        },
      ],
    });
  }
}

/** Environment only some routes need (the realtime token settings, the feed bucket). */
function routeExtraEnv(id: RouteSpec['id'], props: ControlApiProps): Record<string, string> {
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

function pascal(id: string): string {
  return id
    .split(/[^A-Za-z0-9]+/)
    .filter((s) => s !== '')
    .map((s) => s[0]?.toUpperCase() + s.slice(1))
    .join('');
}

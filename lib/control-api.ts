/**
 * Control API: the ASAPP-compatible REST surface (api-contract.md §1, §2, §5) on API Gateway. Every route
 * sits behind the REQUEST authorizer (`asapp-api-id` + `asapp-api-secret`), is served at the root of a
 * custom domain (base-path mapping, no stage segment, so a customer only swaps the host name), with stage
 * throttling, optional per-client usage plans, JSON access logs without bodies, and gateway responses that
 * speak the contract's error envelope. A WAF web ACL (AWS managed rule groups and a per-IP rate limit, both
 * evaluated before the authorizer runs) is attached by default; `waf: false` opts out.
 */
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import type * as acm from 'aws-cdk-lib/aws-certificatemanager';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as route53Targets from 'aws-cdk-lib/aws-route53-targets';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import type { AUTHORIZER_ENV, EnvironmentOf, LAMBDA_OBSERVABILITY_ENV } from '../contract/env-names';
import { AUTHORIZER_ENTRY, ROUTES, type RouteSpec } from '../contract/routes';
import { addContractGatewayResponses } from './control-api-gateway-responses';
import { createRouteFunctions, pascal } from './control-api-route-functions';
import { HouseFunction } from './house-function';
import { lambdaMetricsService } from './metrics-scope';

/** Stage name (never visible to callers: the custom domain maps the stage at the root). */
export const API_STAGE_NAME = 'live';

export {
  API_GATEWAY_INTEGRATION_TIMEOUT_SEC,
  STOP_ROUTE_OVERHEAD_SEC,
  stopRouteTimeoutSec,
} from './control-api-route-functions';

/** The window WAF counts a source IP's requests over for the rate-based rule, seconds (WAF's default). */
export const WAF_RATE_WINDOW_SEC = 300;
/** Floor of {@link wafRateLimitPer5Min}: a client retrying a burst of errors must never be locked out. */
export const WAF_MIN_RATE_LIMIT_PER_5_MIN = 100;

/**
 * Requests one source IP may send per 5 minutes; WAF blocks the address while it stays above: a quarter of
 * what the stage admits in that time (`throttleRatePerSec × 300 / 4`, at least 100). One address can then take
 * at most a quarter of the stage rate (after WAF's detection delay of under a minute), leaving the rest to
 * the legitimate callers that share it, and make the authorizer run scrypt at most that often. At the default
 * 100 requests/s it is 7,500 (25 requests/s sustained), several times what a Genesys organization's start,
 * stop and messages calls from one egress address reach at 1,000 concurrent calls.
 */
export function wafRateLimitPer5Min(throttleRatePerSec: number): number {
  if (!(throttleRatePerSec > 0)) {
    throw new Error(
      `ControlApi: throttleRatePerSec must be positive to derive the WAF rate limit, got ${throttleRatePerSec}`,
    );
  }
  return Math.max(WAF_MIN_RATE_LIMIT_PER_5_MIN, Math.floor((throttleRatePerSec * WAF_RATE_WINDOW_SEC) / 4));
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
  /**
   * Key of the messages route's `nextToken`s (`SecretString` is the key): its ARN goes into that function's
   * environment, which may read it (GetSecretValue) and nothing else.
   */
  readonly pageTokenSecret: secretsmanager.ISecret;
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
  /**
   * Attach a WAF web ACL to the stage: AWS managed rule groups (common, known bad inputs) and a per-IP
   * rate-based rule ({@link wafRateLimitPer5Min}), evaluated before the authorizer. @default true
   */
  readonly waf?: boolean;
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
    const waf = props.waf ?? true;

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

    this.routeFunctions = createRouteFunctions(this, props, observabilityEnv);

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

    addContractGatewayResponses(this.api);

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
      const fn = this.routeFunctions.get(route.id) as HouseFunction;
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
    if (!waf) {
      Validations.of(this.api.deploymentStage).acknowledge({
        id: 'AwsSolutions-APIG3',
        reason:
          'The operator switched the default web ACL off (audiohook.api.waf=false, docs/deploy.md "WAF"), e.g. for a ' +
          'WAF managed centrally by Firewall Manager; every route still needs the authorizer and the stage is throttled',
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

    if (waf) {
      this.webAcl = this.createWebAcl(props);
      new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', {
        resourceArn: this.api.deploymentStage.stageArn,
        webAclArn: this.webAcl.attrArn,
      });
    }
  }

  private createWebAcl(props: ControlApiProps): wafv2.CfnWebACL {
    const visibility = (metricName: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
      cloudWatchMetricsEnabled: true,
      metricName,
      sampledRequestsEnabled: true,
    });
    const managed = (
      name: string,
      priority: number,
      countOnly: readonly string[] = [],
    ): wafv2.CfnWebACL.RuleProperty => ({
      name,
      priority,
      overrideAction: { none: {} },
      statement: {
        managedRuleGroupStatement: {
          vendorName: 'AWS',
          name,
          ...(countOnly.length > 0 && {
            ruleActionOverrides: countOnly.map((rule) => ({ name: rule, actionToUse: { count: {} } })),
          }),
        },
      },
      visibilityConfig: visibility(name),
    });
    return new wafv2.CfnWebACL(this, 'WebAcl', {
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('ControlApi'),
      rules: [
        {
          // First, so every request counts towards its address's rate, including those a later rule blocks.
          name: 'RatePerIp',
          priority: 0,
          action: { block: {} },
          statement: {
            rateBasedStatement: {
              limit: wafRateLimitPer5Min(props.throttleRatePerSec),
              evaluationWindowSec: WAF_RATE_WINDOW_SEC,
              aggregateKeyType: 'IP',
            },
          },
          visibilityConfig: visibility('RatePerIp'),
        },
        // Callers are machines (data actions, CRMs, scripts), some of whose HTTP clients send no User-Agent:
        // that rule only counts, so its metric shows whether it would have mattered.
        managed('AWSManagedRulesCommonRuleSet', 1, ['NoUserAgent_HEADER']),
        managed('AWSManagedRulesKnownBadInputsRuleSet', 2),
      ],
    });
  }
}

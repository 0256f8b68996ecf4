/**
 * Gateway service: the AudioHook WebSocket front door. A Fargate service built from `fargate/Dockerfile`
 * behind an internet-facing ALB with TLS, answering only `wss://<gatewayDomainName><audiohookPaths>`.
 *
 * Long calls and shutdown (architecture §5): a call cannot be moved or resumed, so the timers line up:
 * - ECS deregisters a task from the target group first and waits up to `deregistrationDelaySec` while
 *   its connections finish (the ALB completes early once none remain), only then sends SIGTERM;
 * - on SIGTERM the gateway turns /health to 503, refuses upgrades and lets calls run for
 *   `DRAIN_TIMEOUT_SEC` = `stopTimeoutSec` − margin, then disconnects the rest politely before ECS's
 *   SIGKILL at `stopTimeoutSec` (at most 120 s on Fargate);
 * - so the real protection for calls is task scale-in protection: a task holding calls protects itself
 *   (ECS agent endpoint, `ecs:UpdateTaskProtection`) and neither scale-in nor a deployment stops it;
 * - the ALB idle timeout spans many AudioHook pings (every 5 s, even while paused).
 */
import { Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import type * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as route53Targets from 'aws-cdk-lib/aws-route53-targets';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { PROJECT_ROOT } from './house-function';
import { logicalIdOf } from './store';

/** Port the gateway listens on inside the task (`PORT`). */
export const GATEWAY_PORT = 8080;
/** Gateway health route (503 while draining). */
export const HEALTH_CHECK_PATH = '/health';
/** The gateway's service dimension value on its custom metrics. */
export const GATEWAY_METRICS_SERVICE = 'audiohook-gateway';
/** Custom metric: sessions currently held by one task (published by each task; Average = per task). */
export const ACTIVE_SESSIONS_METRIC = 'ActiveSessions';
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

/** Props of {@link GatewayService}. */
export interface GatewayServiceProps {
  readonly vpc: ec2.IVpc;
  /** Host name Genesys connects to, e.g. `audiohook.example.com`. */
  readonly domainName: string;
  /** TLS certificate covering `domainName` (same region). */
  readonly certificate: acm.ICertificate;
  /** Creates an alias record for `domainName` when given. @default - no DNS record (create a CNAME yourself) */
  readonly hostedZone?: route53.IHostedZone;
  /** WebSocket paths accepted (first one goes into the Connection URI). */
  readonly audiohookPaths: readonly string[];
  /** CIDRs allowed to reach the load balancer on 443 (Genesys Cloud egress ranges, or 0.0.0.0/0). */
  readonly ingressCidrs: readonly string[];
  readonly cpu: number;
  readonly memoryMiB: number;
  readonly architecture: 'arm64' | 'x86_64';
  readonly minTasks: number;
  readonly maxTasks: number;
  /** Scaling target: average active sessions per task. */
  readonly targetSessionsPerTask: number;
  /** `MAX_SESSIONS`: a task refuses upgrades beyond it. */
  readonly maxSessionsPerTask: number;
  /** Container `stopTimeout` (≤ 120 on Fargate). */
  readonly stopTimeoutSec: number;
  /** Gateway `DRAIN_TIMEOUT_SEC`; must be below `stopTimeoutSec`. */
  readonly drainTimeoutSec: number;
  readonly deregistrationDelaySec: number;
  readonly idleTimeoutSec: number;
  readonly conversationsTable: dynamodb.ITable;
  readonly utterancesTable: dynamodb.ITable;
  readonly apiKeysSecret: secretsmanager.ISecret;
  /** Where the gateway writes call recordings (under {@link RECORDINGS_PREFIX}). */
  readonly recordingsBucket: s3.IBucket;
  /** Bucket for the load balancer's access logs (SSE-S3). */
  readonly accessLogsBucket: s3.IBucket;
  readonly logRetentionDays: logs.RetentionDays;
  /** CloudWatch namespace of the gateway's custom metrics. */
  readonly metricsNamespace: string;
  readonly supportedLanguages: readonly string[];
  readonly logLevel: string;
}

/** The AudioHook gateway on Fargate behind an ALB. */
export class GatewayService extends Construct {
  public readonly cluster: ecs.Cluster;
  public readonly service: ecs.FargateService;
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  public readonly container: ecs.ContainerDefinition;
  public readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  public readonly listener: elbv2.ApplicationListener;
  public readonly targetGroup: elbv2.ApplicationTargetGroup;
  public readonly logGroup: logs.LogGroup;
  /** Average sessions per task: the scaling metric. */
  public readonly sessionsPerTaskMetric: cloudwatch.Metric;
  /** Sum of sessions over all tasks. */
  public readonly activeSessionsMetric: cloudwatch.Metric;
  /** `wss://<domain><first path>`: paste into the Genesys AudioHook Monitor integration. */
  public readonly connectionUri: string;

  constructor(scope: Construct, id: string, props: GatewayServiceProps) {
    super(scope, id);
    if (props.drainTimeoutSec >= props.stopTimeoutSec) {
      throw new Error(
        `GatewayService: drainTimeoutSec (${props.drainTimeoutSec}) must be below stopTimeoutSec (${props.stopTimeoutSec}) ` +
          'so the gateway disconnects calls itself before ECS kills it',
      );
    }
    if (props.audiohookPaths.length > 4) {
      throw new Error(
        'GatewayService: at most 4 audiohookPaths (an ALB rule takes 5 condition values, one is the host)',
      );
    }
    const [firstPath] = props.audiohookPaths;
    if (firstPath === undefined) throw new Error('GatewayService: audiohookPaths must list at least one path');
    this.connectionUri = `wss://${props.domainName}${firstPath}`;

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });

    const arm = props.architecture === 'arm64';
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: props.cpu,
      memoryLimitMiB: props.memoryMiB,
      runtimePlatform: {
        cpuArchitecture: arm ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.container = this.taskDefinition.addContainer('gateway', {
      // Build context = repository root (the gateway bundles core/ and store/); .dockerignore keeps it small.
      image: ecs.ContainerImage.fromAsset(PROJECT_ROOT, {
        file: 'fargate/Dockerfile',
        platform: arm ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64,
      }),
      logging: ecs.LogDrivers.awsLogs({
        streamPrefix: 'gateway',
        logGroup: this.logGroup,
        // Never block the event loop on a slow log pipe during a call.
        mode: ecs.AwsLogDriverMode.NON_BLOCKING,
      }),
      portMappings: [{ containerPort: GATEWAY_PORT, protocol: ecs.Protocol.TCP }],
      readonlyRootFilesystem: true,
      stopTimeout: Duration.seconds(props.stopTimeoutSec),
      ulimits: [{ name: ecs.UlimitName.NOFILE, softLimit: GATEWAY_NOFILE_LIMIT, hardLimit: GATEWAY_NOFILE_LIMIT }],
      healthCheck: {
        command: [
          'CMD',
          'node',
          '-e',
          `fetch('http://127.0.0.1:${GATEWAY_PORT}${HEALTH_CHECK_PATH}').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`,
        ],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(20),
      },
      environment: {
        PORT: String(GATEWAY_PORT),
        AUDIOHOOK_PATHS: props.audiohookPaths.join(','),
        AUDIOHOOK_API_KEYS_SECRET_ID: props.apiKeysSecret.secretArn,
        // The ALB forwards the client's Host unchanged, so signatures verify against the public name.
        AUDIOHOOK_EXPECTED_AUTHORITY: props.domainName,
        MAX_SESSIONS: String(props.maxSessionsPerTask),
        DRAIN_TIMEOUT_SEC: String(props.drainTimeoutSec),
        SUPPORTED_LANGUAGES: props.supportedLanguages.join(','),
        LOG_LEVEL: props.logLevel,
        AWS_REGION: Stack.of(this).region,
        CONVERSATIONS_TABLE: props.conversationsTable.tableName,
        UTTERANCES_TABLE: props.utterancesTable.tableName,
        RECORDINGS_BUCKET: props.recordingsBucket.bucketName,
        RECORDINGS_SPOOL_DIR: SPOOL_MOUNT.spoolDir,
        // Contract with the gateway for scaling and scale-in protection (docs/deploy.md "Gateway contract").
        METRICS_NAMESPACE: props.metricsNamespace,
        METRICS_SERVICE: GATEWAY_METRICS_SERVICE,
        TASK_PROTECTION_ENABLED: 'true',
      },
    });

    // Fargate task storage (ephemeral, 20 GiB by default), the only writable path of the container.
    this.taskDefinition.addVolume({ name: SPOOL_MOUNT.volume });
    this.container.addMountPoints({
      sourceVolume: SPOOL_MOUNT.volume,
      containerPath: SPOOL_MOUNT.containerPath,
      readOnly: false,
    });

    this.grantTaskPermissions(props);
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'Environment variables carry only non-secret configuration (port, paths, table names, the API-key secret ARN, ' +
        'limits); the gateway reads the secret value itself from Secrets Manager at start and on refresh',
    });
    Validations.of(this.taskDefinition.obtainExecutionRole()).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Image pull: ecr:GetAuthorizationToken supports no resource-level permissions (the repository actions are scoped)',
    });

    const lbSecurityGroup = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc: props.vpc,
      description: 'AudioHook load balancer: wss from Genesys Cloud',
      allowAllOutbound: false,
    });
    for (const cidr of props.ingressCidrs) {
      lbSecurityGroup.addIngressRule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(443), 'AudioHook wss from Genesys Cloud');
    }
    if (props.ingressCidrs.includes('0.0.0.0/0')) {
      Validations.of(lbSecurityGroup).acknowledge({
        id: 'AwsSolutions-EC23',
        reason:
          'Genesys Cloud connects from AWS-hosted egress addresses that change per region and over time; port 443 only, ' +
          'TLS, host/path rules, and API key + HTTP message signature at the upgrade. Narrow it with gateway.ingressCidrs',
      });
    }

    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      internetFacing: true,
      securityGroup: lbSecurityGroup,
      idleTimeout: Duration.seconds(props.idleTimeoutSec),
      dropInvalidHeaderFields: true,
      desyncMitigationMode: elbv2.DesyncMitigationMode.STRICTEST,
      deletionProtection: false,
    });
    this.loadBalancer.logAccessLogs(props.accessLogsBucket, 'gateway-alb');

    const serviceSecurityGroup = new ec2.SecurityGroup(this, 'ServiceSecurityGroup', {
      vpc: props.vpc,
      description: 'AudioHook gateway tasks: traffic from the load balancer only',
      // Outbound: Transcribe, DynamoDB, Secrets Manager, ECR, CloudWatch over HTTPS.
      allowAllOutbound: false,
    });
    serviceSecurityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'AWS APIs over HTTPS');
    serviceSecurityGroup.addIngressRule(lbSecurityGroup, ec2.Port.tcp(GATEWAY_PORT), 'from the load balancer');
    lbSecurityGroup.addEgressRule(serviceSecurityGroup, ec2.Port.tcp(GATEWAY_PORT), 'to the gateway tasks');

    this.service = new ecs.FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount: props.minTasks,
      securityGroups: [serviceSecurityGroup],
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      assignPublicIp: false,
      // New tasks first, old ones only once drained: a deployment never lowers capacity during calls.
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      healthCheckGracePeriod: Duration.seconds(30),
      enableExecuteCommand: false,
    });
    // AZ rebalancing stops running tasks to even out zones; a stopped task ends its calls.
    (this.service.node.defaultChild as ecs.CfnService).availabilityZoneRebalancing = 'DISABLED';

    this.targetGroup = new elbv2.ApplicationTargetGroup(this, 'Targets', {
      vpc: props.vpc,
      port: GATEWAY_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targetType: elbv2.TargetType.IP,
      targets: [this.service],
      deregistrationDelay: Duration.seconds(props.deregistrationDelaySec),
      healthCheck: {
        path: HEALTH_CHECK_PATH,
        protocol: elbv2.Protocol.HTTP,
        healthyHttpCodes: '200',
        interval: Duration.seconds(10),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 2,
      },
    });

    this.listener = this.loadBalancer.addListener('Https', {
      port: 443,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates: [props.certificate],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      open: false,
      // Anything not addressed to our host name (scanners hitting the ALB's own name or IP).
      defaultAction: elbv2.ListenerAction.fixedResponse(403, { contentType: 'text/plain', messageBody: 'Forbidden' }),
    });
    this.listener.addAction('AudioHook', {
      priority: 10,
      conditions: [
        elbv2.ListenerCondition.hostHeaders([props.domainName]),
        elbv2.ListenerCondition.pathPatterns([...props.audiohookPaths]),
      ],
      action: elbv2.ListenerAction.forward([this.targetGroup]),
    });
    // Our host, any other path (including /health: the ALB checks targets directly, not through the listener).
    this.listener.addAction('UnknownPath', {
      priority: 20,
      conditions: [elbv2.ListenerCondition.hostHeaders([props.domainName])],
      action: elbv2.ListenerAction.fixedResponse(404, { contentType: 'text/plain', messageBody: 'Not Found' }),
    });

    if (props.hostedZone) {
      new route53.ARecord(this, 'Alias', {
        zone: props.hostedZone,
        recordName: props.domainName,
        target: route53.RecordTarget.fromAlias(new route53Targets.LoadBalancerTarget(this.loadBalancer)),
      });
    }

    const sessionMetric = (statistic: string) =>
      new cloudwatch.Metric({
        namespace: props.metricsNamespace,
        metricName: ACTIVE_SESSIONS_METRIC,
        dimensionsMap: { service: GATEWAY_METRICS_SERVICE },
        statistic,
        period: Duration.minutes(1),
      });
    this.sessionsPerTaskMetric = sessionMetric('Average');
    this.activeSessionsMetric = sessionMetric('Sum');

    const scaling = this.service.autoScaleTaskCount({ minCapacity: props.minTasks, maxCapacity: props.maxTasks });
    scaling.scaleToTrackCustomMetric('SessionsPerTask', {
      metric: this.sessionsPerTaskMetric,
      targetValue: props.targetSessionsPerTask,
      // Out fast (a call storm at 9 am), in slowly: scale-in only ever picks unprotected (idle) tasks anyway.
      scaleOutCooldown: Duration.seconds(60),
      scaleInCooldown: Duration.minutes(10),
    });
  }

  private grantTaskPermissions(props: GatewayServiceProps): void {
    const role = this.taskDefinition.taskRole;
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'TranscribeStreaming',
        actions: ['transcribe:StartStreamTranscription'],
        // Transcribe streaming has no resource-level permissions.
        resources: ['*'],
      }),
    );
    // Exactly what the gateway does (data-model.md access patterns 6–9), on the tables themselves: no
    // index, no Scan, no table administration.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ConversationsTable',
        actions: [
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:DeleteItem',
          'dynamodb:Query',
          'dynamodb:ConditionCheckItem',
        ],
        resources: [props.conversationsTable.tableArn],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'UtterancesTable',
        actions: ['dynamodb:PutItem', 'dynamodb:GetItem'],
        resources: [props.utterancesTable.tableArn],
      }),
    );
    props.apiKeysSecret.grantRead(role);
    // Write-only: the gateway uploads recordings (multipart for long calls) and never reads, lists or deletes.
    const recordings = props.recordingsBucket.arnForObjects(`${RECORDINGS_PREFIX}*`);
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'WriteRecordings',
        actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
        resources: [recordings],
      }),
    );
    const stack = Stack.of(this);
    const taskArns = stack.formatArn({
      service: 'ecs',
      resource: 'task',
      resourceName: `${this.cluster.clusterName}/*`,
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'TaskScaleInProtection',
        actions: ['ecs:GetTaskProtection', 'ecs:UpdateTaskProtection'],
        // A task id is only known at run time; scoped to this cluster's tasks.
        resources: [taskArns],
      }),
    );
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'transcribe:StartStreamTranscription supports no resource-level permissions',
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(props.recordingsBucket)}.Arn>/${RECORDINGS_PREFIX}*]`,
      reason:
        'Recording object keys are created per call at run time; writes are limited to the recordings/ prefix ' +
        'of the one recordings bucket, with no read, list or delete',
    });
    Validations.of(role).acknowledge({
      // cdk-nag names the finding after the rendered ARN; the partition is a token unless the region pins it.
      id:
        `AwsSolutions-IAM5[Resource::arn:${Token.isUnresolved(stack.partition) ? '<AWS::Partition>' : stack.partition}:ecs:` +
        `${stack.region}:<AWS::AccountId>:task/<${stack.getLogicalId(this.cluster.node.defaultChild as ecs.CfnCluster)}>/*]`,
      reason:
        'Scale-in protection: a task protects itself through the ECS agent, and its own task id is only known at run ' +
        'time; the wildcard is limited to the tasks of this cluster',
    });
  }
}

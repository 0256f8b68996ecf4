/**
 * Gateway service: the AudioHook WebSocket front door. A Fargate service built from `fargate/Dockerfile`
 * behind an internet-facing network load balancer (NLB) that terminates TLS on 443 and forwards the bytes
 * over TCP to the tasks; the gateway itself answers unknown paths with 404 and verifies the signed
 * `@authority` (`AUDIOHOOK_EXPECTED_AUTHORITY`).
 *
 * Calls last hours and cannot move to another task (architecture §5), so nothing routine may end one:
 * - **Why an NLB.** When a deregistered target's deregistration delay ends, an ALB closes its remaining
 *   connections (the delay is at most 3600 s). An NLB with connection termination off (set explicitly here)
 *   keeps established connections of a deregistered target until they end, however long that is.
 * - **Scale-in protection.** A task holding calls protects itself (ECS agent endpoint,
 *   `ecs:UpdateTaskProtection`), so neither scale-in nor a deployment stops it; it releases the protection
 *   once idle.
 * - **Self-drain.** A protected task that stays registered keeps receiving calls and never goes idle, so a
 *   deployment or a scale-in would never finish. The gateway (`SELF_DRAIN_ENABLED`) therefore asks ECS every
 *   `SELF_DRAIN_CHECK_SEC` whether it was superseded or chosen for scale-in and, if so, deregisters its own
 *   IP:port from {@link GatewayService.targetGroup} (`TARGET_GROUP_ARN`): no new calls, live calls go on.
 * - **Health checks cannot kill a busy task quickly.** ECS replaces a task that fails the target group's or
 *   the container's health check, protected or not; both checks need minutes of consecutive failures
 *   ({@link TARGET_HEALTH_CHECK}, {@link CONTAINER_HEALTH_CHECK}). `/health` reads one flag (503 only while
 *   draining) and never depends on DynamoDB, Transcribe or Secrets Manager.
 * - **Shutdown.** When ECS does stop a task it deregisters it, waits `deregistrationDelaySec`, then sends
 *   SIGTERM: the gateway turns `/health` to 503, refuses upgrades, lets calls run for `DRAIN_TIMEOUT_SEC` =
 *   `stopTimeoutSec` − margin, then disconnects the rest politely before SIGKILL at `stopTimeoutSec`
 *   (at most 120 s on Fargate). With protection and self-drain, a task reaches this point idle.
 * - **Idle timeout.** The TLS listener's is fixed at 350 s; AudioHook pings every 5 s, even while paused.
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
import type { EnvironmentOf, GATEWAY_ENV } from '../contract/env-names';
import { PROJECT_ROOT } from './house-function';
import { gatewayMetricsService } from './metrics-scope';
import { logicalIdOf } from './store';

/** Port the gateway listens on inside the task (`PORT`). */
export const GATEWAY_PORT = 8080;
/** Gateway health route (503 while draining). */
export const HEALTH_CHECK_PATH = '/health';
/**
 * The gateway's own default `METRICS_SERVICE` (fargate/src/config.ts), what a local run publishes under. A
 * deployed stack sets its scoped name instead ({@link gatewayMetricsService}).
 */
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

export { gatewayMetricsService };

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
  /** Second scaling target: the service's average CPU utilization, in percent. */
  readonly targetCpuPercent: number;
  /** `MAX_SESSIONS`: a task refuses upgrades beyond it. */
  readonly maxSessionsPerTask: number;
  /** Fargate task storage (21–200). @default - {@link spoolStorageGiB}(maxSessionsPerTask): 20 GiB when that suffices */
  readonly ephemeralStorageGiB?: number;
  /** Container `stopTimeout` (≤ 120 on Fargate). */
  readonly stopTimeoutSec: number;
  /** Gateway `DRAIN_TIMEOUT_SEC`; must be below `stopTimeoutSec`. */
  readonly drainTimeoutSec: number;
  /** How long ECS waits after deregistering a task before SIGTERM (≤ 3600); connections survive it. */
  readonly deregistrationDelaySec: number;
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

/** The AudioHook gateway on Fargate behind a network load balancer. */
export class GatewayService extends Construct {
  public readonly cluster: ecs.Cluster;
  public readonly service: ecs.FargateService;
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  public readonly container: ecs.ContainerDefinition;
  /** The internet-facing NLB (the DNS target of the gateway host name). */
  public readonly loadBalancer: elbv2.NetworkLoadBalancer;
  /** TLS on 443. */
  public readonly listener: elbv2.NetworkListener;
  /** TCP, IP targets on {@link GATEWAY_PORT}: the group tasks leave and rejoin themselves (self-drain). */
  public readonly targetGroup: elbv2.NetworkTargetGroup;
  public readonly logGroup: logs.LogGroup;
  /** The `service` dimension of the gateway's custom metrics (`METRICS_SERVICE`), scoped to the stack. */
  public readonly metricsService: string;
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
    const [firstPath] = props.audiohookPaths;
    if (firstPath === undefined) throw new Error('GatewayService: audiohookPaths must list at least one path');
    this.connectionUri = `wss://${props.domainName}${firstPath}`;
    this.metricsService = gatewayMetricsService(this);
    const ephemeralStorageGiB = props.ephemeralStorageGiB ?? spoolStorageGiB(props.maxSessionsPerTask);

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });

    // Created before the task: its ARN is part of the container's environment (self-drain).
    this.targetGroup = new elbv2.NetworkTargetGroup(this, 'Targets', {
      vpc: props.vpc,
      port: GATEWAY_PORT,
      protocol: elbv2.Protocol.TCP,
      targetType: elbv2.TargetType.IP,
      deregistrationDelay: Duration.seconds(props.deregistrationDelaySec),
      // Explicit although it is the default for TCP: a deregistered task keeps its calls past the delay.
      connectionTermination: false,
      healthCheck: {
        protocol: elbv2.Protocol.HTTP,
        path: HEALTH_CHECK_PATH,
        port: 'traffic-port',
        healthyHttpCodes: '200',
        interval: Duration.seconds(TARGET_HEALTH_CHECK.intervalSec),
        timeout: Duration.seconds(TARGET_HEALTH_CHECK.timeoutSec),
        healthyThresholdCount: TARGET_HEALTH_CHECK.healthyThreshold,
        unhealthyThresholdCount: TARGET_HEALTH_CHECK.unhealthyThreshold,
      },
    });
    // An unhealthy target keeps its established connections (state unhealthy.draining) instead of the
    // default reset; ECS replaces the task anyway, which stops it through the normal drain.
    this.targetGroup.setAttribute('target_health_state.unhealthy.connection_termination.enabled', 'false');
    this.targetGroup.setAttribute(
      'target_health_state.unhealthy.draining_interval_seconds',
      String(props.deregistrationDelaySec),
    );
    this.targetGroup.setAttribute('load_balancing.cross_zone.enabled', 'true');

    const arm = props.architecture === 'arm64';
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: props.cpu,
      memoryLimitMiB: props.memoryMiB,
      ...(ephemeralStorageGiB !== undefined && { ephemeralStorageGiB }),
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
        interval: Duration.seconds(CONTAINER_HEALTH_CHECK.intervalSec),
        timeout: Duration.seconds(CONTAINER_HEALTH_CHECK.timeoutSec),
        retries: CONTAINER_HEALTH_CHECK.retries,
        startPeriod: Duration.seconds(CONTAINER_HEALTH_CHECK.startPeriodSec),
      },
      environment: {
        PORT: String(GATEWAY_PORT),
        AUDIOHOOK_PATHS: props.audiohookPaths.join(','),
        AUDIOHOOK_API_KEYS_SECRET_ID: props.apiKeysSecret.secretArn,
        // The NLB passes the decrypted bytes through unchanged: the request's Host is the public name.
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
        // Contract with the gateway for scaling, scale-in protection and self-drain (docs/deploy.md §5).
        METRICS_NAMESPACE: props.metricsNamespace,
        METRICS_SERVICE: this.metricsService,
        TASK_PROTECTION_ENABLED: 'true',
        SELF_DRAIN_ENABLED: 'true',
        TARGET_GROUP_ARN: this.targetGroup.targetGroupArn,
        SELF_DRAIN_CHECK_SEC: String(SELF_DRAIN_CHECK_SEC),
      } satisfies EnvironmentOf<typeof GATEWAY_ENV>,
    });

    // Fargate task storage (sized for the spool), the only writable path of the container.
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
        'the target group ARN, limits); the gateway reads the secret value itself from Secrets Manager at start and on refresh',
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
          'TLS, and API key + HTTP message signature at the upgrade (unknown paths get 404). Narrow it with gateway.ingressCidrs',
      });
    }

    // WAF cannot attach to a network load balancer; the gateway authenticates every upgrade itself.
    this.loadBalancer = new elbv2.NetworkLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      internetFacing: true,
      securityGroups: [lbSecurityGroup],
      crossZoneEnabled: true,
      deletionProtection: false,
    });
    // A TLS listener's connections are logged (NLB access logs cover TLS listeners only).
    this.loadBalancer.logAccessLogs(props.accessLogsBucket, 'gateway-nlb');

    this.listener = this.loadBalancer.addListener('Tls', {
      port: 443,
      protocol: elbv2.Protocol.TLS,
      certificates: [elbv2.ListenerCertificate.fromCertificateManager(props.certificate)],
      sslPolicy: GATEWAY_TLS_POLICY,
      // WebSocket upgrades are HTTP/1.1.
      alpnPolicy: elbv2.AlpnPolicy.HTTP1_ONLY,
      defaultTargetGroups: [this.targetGroup],
    });

    const serviceSecurityGroup = new ec2.SecurityGroup(this, 'ServiceSecurityGroup', {
      vpc: props.vpc,
      description: 'AudioHook gateway tasks: traffic and health checks from the load balancer only',
      // Outbound: Transcribe, DynamoDB, Secrets Manager, ECR, CloudWatch, ECS and ELB APIs over HTTPS.
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
      healthCheckGracePeriod: Duration.seconds(HEALTH_CHECK_GRACE_PERIOD_SEC),
      enableExecuteCommand: false,
    });
    // AZ rebalancing stops running tasks to even out zones; a stopped task ends its calls.
    (this.service.node.defaultChild as ecs.CfnService).availabilityZoneRebalancing = 'DISABLED';
    this.targetGroup.addTarget(this.service);

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
        dimensionsMap: { service: this.metricsService },
        statistic,
        period: Duration.minutes(1),
      });
    this.sessionsPerTaskMetric = sessionMetric('Average');
    this.activeSessionsMetric = sessionMetric('Sum');

    // Two target-tracking policies: ECS scales out when either asks and in only when both agree. Out fast
    // (a call storm at 9 am), in slowly: scale-in only ever stops unprotected (idle) tasks anyway.
    const scaling = this.service.autoScaleTaskCount({ minCapacity: props.minTasks, maxCapacity: props.maxTasks });
    scaling.scaleToTrackCustomMetric('SessionsPerTask', {
      metric: this.sessionsPerTaskMetric,
      targetValue: props.targetSessionsPerTask,
      scaleOutCooldown: Duration.seconds(60),
      scaleInCooldown: Duration.minutes(10),
    });
    // Sessions are not the only cost: Transcribe streaming and recordings make some calls heavier.
    scaling.scaleOnCpuUtilization('CpuPerTask', {
      targetUtilizationPercent: props.targetCpuPercent,
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
    // Task and service ids are only known at run time; the cluster name is. The service cannot be named
    // exactly: the service depends on this task definition, so its ARN here would be a dependency cycle (the
    // gateway reads its service name from DescribeTasks `group`). The cluster holds this service alone.
    const taskArns = stack.formatArn({
      service: 'ecs',
      resource: 'task',
      resourceName: `${this.cluster.clusterName}/*`,
    });
    const serviceArns = stack.formatArn({
      service: 'ecs',
      resource: 'service',
      resourceName: `${this.cluster.clusterName}/*`,
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'TaskScaleInProtection',
        actions: ['ecs:GetTaskProtection', 'ecs:UpdateTaskProtection'],
        resources: [taskArns],
      }),
    );
    // Self-drain (fargate/src/observability/self-drain.ts): read what ECS intends for this task, then leave
    // or rejoin the one target group. Nothing else in ECS or Elastic Load Balancing.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SelfDrainDescribeTasks',
        actions: ['ecs:DescribeTasks'],
        resources: [taskArns],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SelfDrainDescribeService',
        actions: ['ecs:DescribeServices'],
        resources: [serviceArns],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SelfDrainListTasks',
        actions: ['ecs:ListTasks'],
        // ListTasks takes no task or service resource; the ecs:cluster condition limits it to this cluster.
        resources: ['*'],
        conditions: { ArnEquals: { 'ecs:cluster': this.cluster.clusterArn } },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SelfDrainRotation',
        actions: ['elasticloadbalancing:DeregisterTargets', 'elasticloadbalancing:RegisterTargets'],
        resources: [this.targetGroup.targetGroupArn],
      }),
    );
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'transcribe:StartStreamTranscription supports no resource-level permissions; ecs:ListTasks takes no task or ' +
        'service resource and is limited to this cluster by an ArnEquals ecs:cluster condition',
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(props.recordingsBucket)}.Arn>/${RECORDINGS_PREFIX}*]`,
      reason:
        'Recording object keys are created per call at run time; writes are limited to the recordings/ prefix ' +
        'of the one recordings bucket, with no read, list or delete',
    });
    // cdk-nag names the finding after the rendered ARN: the partition is a token unless the region pins it, the
    // account unless the configuration names it (audiohook.account, needed with vpc.vpcId).
    const ecsArnPrefix =
      `arn:${Token.isUnresolved(stack.partition) ? '<AWS::Partition>' : stack.partition}:ecs:` +
      `${stack.region}:${Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account}`;
    const clusterRef = `<${stack.getLogicalId(this.cluster.node.defaultChild as ecs.CfnCluster)}>`;
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${ecsArnPrefix}:task/${clusterRef}/*]`,
      reason:
        'Scale-in protection and self-drain: a task protects and describes itself (and its service siblings) by task ' +
        'id, known only at run time; the wildcard is limited to the tasks of this cluster',
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${ecsArnPrefix}:service/${clusterRef}/*]`,
      reason:
        'Self-drain reads its own service (deployments, desired count); naming it exactly would make the task ' +
        'definition depend on the service that depends on it, so the wildcard is limited to this cluster, which ' +
        'holds this one service',
    });
  }
}

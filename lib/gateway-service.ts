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
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as route53Targets from 'aws-cdk-lib/aws-route53-targets';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { EnvironmentOf, GATEWAY_ENV } from '../contract/env-names';
import * as permissions from './gateway-service-permissions';
import {
  ACTIVE_SESSIONS_METRIC,
  containerHealthCheck,
  GATEWAY_NOFILE_LIMIT,
  GATEWAY_PORT,
  GATEWAY_TLS_POLICY,
  HEALTH_CHECK_GRACE_PERIOD_SEC,
  HEALTH_CHECK_PATH,
  SELF_DRAIN_CHECK_SEC,
  SPOOL_MOUNT,
  spoolStorageGiB,
  TARGET_HEALTH_CHECK,
} from './gateway-service-settings';
import { PROJECT_ROOT } from './house-function';
import { gatewayMetricsService } from './metrics-scope';
import { type StartDefaults, startDefaultsEnvironment } from './start-defaults';

export {
  ACTIVE_SESSIONS_METRIC,
  CONTAINER_HEALTH_CHECK,
  GATEWAY_METRICS_SERVICE,
  GATEWAY_NOFILE_LIMIT,
  GATEWAY_PORT,
  GATEWAY_TLS_POLICY,
  HEALTH_CHECK_GRACE_PERIOD_SEC,
  HEALTH_CHECK_PATH,
  RECORDING_BYTES_PER_CALL_HOUR,
  RECORDINGS_PREFIX,
  SELF_DRAIN_CHECK_SEC,
  SPOOL_MOUNT,
  SPOOL_SIZING,
  spoolStorageGiB,
  TARGET_HEALTH_CHECK,
} from './gateway-service-settings';

export { gatewayMetricsService };

/** Props of {@link GatewayService}. */
export interface GatewayServiceProps extends StartDefaults {
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
  private livePartials = false;

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
      // The gateway's per-source upgrade limit (fargate/src/upgrade-guard.ts) must see callers, not the NLB's
      // private addresses (off by default for IP targets over TCP). The service security group references
      // the load balancer's, which admits its traffic with client IPs preserved too.
      preserveClientIp: true,
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
      healthCheck: containerHealthCheck(),
      environment: {
        PORT: String(GATEWAY_PORT),
        AUDIOHOOK_PATHS: props.audiohookPaths.join(','),
        AUDIOHOOK_API_KEYS_SECRET_ID: props.apiKeysSecret.secretArn,
        // The NLB passes the decrypted bytes through unchanged: the request's Host is the public name.
        AUDIOHOOK_EXPECTED_AUTHORITY: props.domainName,
        MAX_SESSIONS: String(props.maxSessionsPerTask),
        DRAIN_TIMEOUT_SEC: String(props.drainTimeoutSec),
        // The start Lambda gets the same values: `genesys` sessions start like API starts (docs/genesys.md §0).
        ...startDefaultsEnvironment(props),
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

    permissions.grantGatewayTaskPermissions(this, props);
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

  /** With real-time delivery: the gateway posts live partials to WebSocket subscribers itself. Call it once. */
  public enableLivePartials(props: permissions.GatewayLivePartialsProps): void {
    if (this.livePartials) throw new Error('GatewayService: enableLivePartials was already called; call it once');
    this.livePartials = true;
    permissions.grantGatewayLivePartials(this, props);
  }
}

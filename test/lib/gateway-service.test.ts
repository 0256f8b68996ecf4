import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAppConfig } from '../../bin/config';
import {
  type AppConfigInput,
  AUDIOHOOK_PING_INTERVAL_SEC,
  FARGATE_MAX_STOP_TIMEOUT_SEC,
  NLB_MAX_DEREGISTRATION_DELAY_SEC,
  NLB_TLS_IDLE_TIMEOUT_SEC,
} from '../../contract/app-config';
import {
  CONTAINER_HEALTH_CHECK,
  GATEWAY_TLS_POLICY,
  HEALTH_CHECK_GRACE_PERIOD_SEC,
  RECORDING_BYTES_PER_CALL_HOUR,
  SELF_DRAIN_CHECK_SEC,
  spoolStorageGiB,
  TARGET_HEALTH_CHECK,
} from '../../lib/gateway-service';
import { BASE_CONFIG, onlyResource, type Synthesized, synthesize } from './fixtures';

type Attr = { Key: string; Value: unknown };
type Env = { Name: string; Value: unknown };
type Statement = { Sid?: string; Action: string | string[]; Resource: unknown; Condition?: unknown };
type Container = {
  StopTimeout: number;
  Environment: Env[];
  HealthCheck: Record<string, unknown>;
  [k: string]: unknown;
};

/** A second deployment in the same account: another stack name, no hosted zone, WAF on, narrowed ingress. */
const STAGING = {
  stackName: 'AudiohookStaging',
  domain: {
    gatewayDomainName: 'audiohook.staging.example.com',
    apiDomainName: 'api.staging.example.com',
    certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0b5e3a52-2d6c-4a7e-9d0e-1f2a3b4c5d6e',
  },
  gateway: { ingressCidrs: ['52.0.0.0/16'], targetCpuPercent: 65, ephemeralStorageGiB: 60 },
  api: { waf: true },
} satisfies Partial<AppConfigInput>;

function containerOf(s: Synthesized): Container {
  const [, task] = onlyResource(s.template, 'AWS::ECS::TaskDefinition');
  return (task.ContainerDefinitions as Container[])[0] as Container;
}

function taskRoleStatements(s: Synthesized): Statement[] {
  const roleId = s.stack.getLogicalId(s.stack.gateway.taskDefinition.taskRole.node.defaultChild as never);
  const policies = Object.values(
    s.template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } }),
  ) as Array<{ Properties: { PolicyDocument: { Statement: Statement[] } } }>;
  return policies.flatMap((p) => p.Properties.PolicyDocument.Statement);
}

describe('gateway service', () => {
  let s: Synthesized;
  let staging: Synthesized;
  let container: Container;
  let targetGroup: Record<string, unknown>;
  let targetGroupAttrs: Attr[];
  let lbAttrs: Attr[];
  const id = (c: { node: { defaultChild?: unknown } }) => s.stack.getLogicalId(c.node.defaultChild as never);
  const envValue = (name: string, c: Container = container) => c.Environment.find((e) => e.Name === name)?.Value;
  const attr = (attrs: Attr[], key: string) => attrs.find((a) => a.Key === key)?.Value;

  beforeAll(() => {
    s = synthesize();
    staging = synthesize(STAGING);
    container = containerOf(s);
    targetGroup = onlyResource(s.template, 'AWS::ElasticLoadBalancingV2::TargetGroup')[1];
    targetGroupAttrs = targetGroup.TargetGroupAttributes as Attr[];
    lbAttrs = onlyResource(s.template, 'AWS::ElasticLoadBalancingV2::LoadBalancer')[1].LoadBalancerAttributes as Attr[];
  });

  describe('network load balancer (deployments and scale-ins never cut a live call)', () => {
    it('is one internet-facing NLB with a security group, cross-zone, and access logs', () => {
      s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
        Type: 'network',
        Scheme: 'internet-facing',
        SecurityGroups: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('LoadBalancerSecurityGroup'), 'GroupId'] }],
      });
      expect(attr(lbAttrs, 'load_balancing.cross_zone.enabled')).toBe('true');
      expect(attr(lbAttrs, 'access_logs.s3.enabled')).toBe('true');
      expect(attr(lbAttrs, 'access_logs.s3.bucket')).toEqual({ Ref: id(s.stack.store.accessLogsBucket) });
      expect(
        s.template.findResources('AWS::ElasticLoadBalancingV2::LoadBalancer', { Properties: { Type: 'application' } }),
      ).toEqual({});
    });

    it('admits 443 from the configured CIDRs only', () => {
      const [, sg] = onlyResource(staging.template, 'AWS::EC2::SecurityGroup', {
        GroupDescription: Match.stringLikeRegexp('AudioHook load balancer'),
      });
      expect(sg.SecurityGroupIngress).toEqual([
        expect.objectContaining({ CidrIp: '52.0.0.0/16', FromPort: 443, ToPort: 443, IpProtocol: 'tcp' }),
      ]);
    });

    it('terminates TLS 1.2/1.3 on 443 with the certificate and forwards everything to the one target group', () => {
      const [, listener] = onlyResource(s.template, 'AWS::ElasticLoadBalancingV2::Listener');
      expect(listener).toMatchObject({
        Port: 443,
        Protocol: 'TLS',
        SslPolicy: GATEWAY_TLS_POLICY,
        AlpnPolicy: ['HTTP1Only'],
        Certificates: [{ CertificateArn: { Ref: expect.stringMatching(/^Certificate/) } }],
      });
      expect(GATEWAY_TLS_POLICY).toMatch(/^ELBSecurityPolicy-TLS13-1-2-/);
      expect(listener.DefaultActions).toEqual([
        { Type: 'forward', TargetGroupArn: { Ref: id(s.stack.gateway.targetGroup) } },
      ]);
    });

    it('has none of the ALB-only routing: no listener rules, fixed responses or HTTP attributes', () => {
      expect(s.template.findResources('AWS::ElasticLoadBalancingV2::ListenerRule')).toEqual({});
      expect(lbAttrs.filter((a) => a.Key.startsWith('routing.http.'))).toEqual([]);
    });

    it('leaves the idle timeout at the fixed 350 s of TLS listeners, far above the 5 s AudioHook pings', () => {
      const [, listener] = onlyResource(s.template, 'AWS::ElasticLoadBalancingV2::Listener');
      expect(listener.ListenerAttributes).toBeUndefined();
      expect(NLB_TLS_IDLE_TIMEOUT_SEC).toBeGreaterThanOrEqual(6 * AUDIOHOOK_PING_INTERVAL_SEC);
      expect(() => parseAppConfig({ ...BASE_CONFIG, gateway: { idleTimeoutSec: 120 } })).toThrow(
        /gateway\.idleTimeoutSec: is no longer a setting.*350 s/,
      );
    });

    it('forwards TCP to IP targets on the gateway port', () => {
      expect(targetGroup).toMatchObject({ Protocol: 'TCP', TargetType: 'ip', Port: 8080 });
    });

    it('keeps a deregistered task connected: delay at the NLB maximum, connection termination explicitly off', () => {
      expect(attr(targetGroupAttrs, 'deregistration_delay.timeout_seconds')).toBe(
        String(NLB_MAX_DEREGISTRATION_DELAY_SEC),
      );
      expect(attr(targetGroupAttrs, 'deregistration_delay.connection_termination.enabled')).toBe('false');
    });

    it('keeps an unhealthy target connected too (unhealthy.draining instead of a reset)', () => {
      expect(attr(targetGroupAttrs, 'target_health_state.unhealthy.connection_termination.enabled')).toBe('false');
      expect(attr(targetGroupAttrs, 'target_health_state.unhealthy.draining_interval_seconds')).toBe('3600');
      expect(attr(targetGroupAttrs, 'load_balancing.cross_zone.enabled')).toBe('true');
    });

    it('preserves client addresses, so the per-source upgrade limit sees callers, not the NLB', () => {
      expect(attr(targetGroupAttrs, 'preserve_client_ip.enabled')).toBe('true');
    });

    it('does not let ECS rebalance zones by stopping tasks that hold calls', () => {
      s.template.hasResourceProperties('AWS::ECS::Service', { AvailabilityZoneRebalancing: 'DISABLED' });
    });

    it('attaches no WAF to the gateway (WAF cannot protect an NLB; the API stage keeps its own)', () => {
      const associations = Object.values(staging.template.findResources('AWS::WAFv2::WebACLAssociation'));
      expect(associations).toHaveLength(1);
      const lbId = staging.stack.getLogicalId(staging.stack.gateway.loadBalancer.node.defaultChild as never);
      expect(JSON.stringify(associations)).not.toContain(lbId);
    });
  });

  describe('draining timers', () => {
    it('gives ECS the Fargate maximum stopTimeout by default', () => {
      expect(container.StopTimeout).toBe(FARGATE_MAX_STOP_TIMEOUT_SEC);
    });

    it('lets the gateway finish its own drain before SIGKILL (DRAIN_TIMEOUT_SEC < stopTimeout)', () => {
      const drain = Number(envValue('DRAIN_TIMEOUT_SEC'));
      expect(drain).toBeGreaterThan(0);
      expect(drain).toBeLessThan(container.StopTimeout);
    });
  });

  describe('health checks cannot kill a busy task quickly', () => {
    it('checks /health on the traffic port over HTTP, wanting 200, every 30 s with a 10 s timeout', () => {
      expect(targetGroup).toMatchObject({
        HealthCheckProtocol: 'HTTP',
        HealthCheckPath: '/health',
        HealthCheckPort: 'traffic-port',
        Matcher: { HttpCode: '200' },
        HealthCheckIntervalSeconds: TARGET_HEALTH_CHECK.intervalSec,
        HealthCheckTimeoutSeconds: TARGET_HEALTH_CHECK.timeoutSec,
        HealthyThresholdCount: TARGET_HEALTH_CHECK.healthyThreshold,
        UnhealthyThresholdCount: TARGET_HEALTH_CHECK.unhealthyThreshold,
      });
      expect(TARGET_HEALTH_CHECK).toEqual({
        intervalSec: 30,
        timeoutSec: 10,
        healthyThreshold: 2,
        unhealthyThreshold: 10,
      });
    });

    it('marks a target unhealthy only after 5 minutes of consecutive failures (within the NLB limits)', () => {
      const { intervalSec, timeoutSec, healthyThreshold, unhealthyThreshold } = TARGET_HEALTH_CHECK;
      expect(intervalSec * unhealthyThreshold).toBeGreaterThanOrEqual(300);
      expect(intervalSec).toBeGreaterThanOrEqual(5);
      expect(intervalSec).toBeLessThanOrEqual(300);
      expect(timeoutSec).toBeGreaterThanOrEqual(2);
      expect(timeoutSec).toBeLessThan(intervalSec);
      for (const threshold of [healthyThreshold, unhealthyThreshold]) {
        expect(threshold).toBeGreaterThanOrEqual(2);
        expect(threshold).toBeLessThanOrEqual(10);
      }
    });

    it('runs the container check on the same route: 30 s apart, 10 s each, 5 retries after a 60 s start', () => {
      expect(JSON.stringify(container.HealthCheck.Command)).toContain('/health');
      expect(container.HealthCheck).toMatchObject({
        Interval: CONTAINER_HEALTH_CHECK.intervalSec,
        Timeout: CONTAINER_HEALTH_CHECK.timeoutSec,
        Retries: CONTAINER_HEALTH_CHECK.retries,
        StartPeriod: CONTAINER_HEALTH_CHECK.startPeriodSec,
      });
      expect(CONTAINER_HEALTH_CHECK).toEqual({ intervalSec: 30, timeoutSec: 10, retries: 5, startPeriodSec: 60 });
    });

    it('ignores load balancer health for at least a minute after a task starts', () => {
      expect(HEALTH_CHECK_GRACE_PERIOD_SEC).toBeGreaterThanOrEqual(60);
      s.template.hasResourceProperties('AWS::ECS::Service', {
        HealthCheckGracePeriodSeconds: HEALTH_CHECK_GRACE_PERIOD_SEC,
      });
    });
  });

  describe('gateway contract (environment)', () => {
    it('names the recordings bucket', () => {
      expect(envValue('RECORDINGS_BUCKET')).toEqual({ Ref: id(s.stack.store.recordingsBucket) });
    });

    it('spools recordings on task storage, the one writable mount of a read-only root file system', () => {
      expect(container.ReadonlyRootFilesystem).toBe(true);
      expect(container.MountPoints).toEqual([{ ContainerPath: '/app/.local', ReadOnly: false, SourceVolume: 'spool' }]);
      expect(String(envValue('RECORDINGS_SPOOL_DIR'))).toMatch(/^\/app\/\.local\//);
    });

    it('turns on scale-in protection and self-drain on this target group', () => {
      expect(envValue('TASK_PROTECTION_ENABLED')).toBe('true');
      expect(envValue('SELF_DRAIN_ENABLED')).toBe('true');
      expect(envValue('SELF_DRAIN_CHECK_SEC')).toBe(String(SELF_DRAIN_CHECK_SEC));
      expect(SELF_DRAIN_CHECK_SEC).toBe(30);
      expect(envValue('TARGET_GROUP_ARN')).toEqual({ Ref: id(s.stack.gateway.targetGroup) });
    });

    it('publishes its metrics under a service name scoped to the stack', () => {
      expect(envValue('METRICS_NAMESPACE')).toBe('AudiohookTranscribe');
      expect(envValue('METRICS_SERVICE')).toBe('AudiohookTest-gateway');
      expect(envValue('METRICS_SERVICE', containerOf(staging))).toBe('AudiohookStaging-gateway');
      expect(s.stack.gateway.metricsService).toBe('AudiohookTest-gateway');
    });
  });

  describe('task', () => {
    it('runs the image built from fargate/Dockerfile on arm64 with Container Insights on the cluster', () => {
      s.template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
        Cpu: '1024',
        Memory: '2048',
      });
      s.template.hasResourceProperties('AWS::ECS::Cluster', {
        ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
      });
    });

    it('sizes task storage for the recordings spool: maxSessions × 115.2 MB × 1 h × 1.2 + 2 GiB', () => {
      expect(RECORDING_BYTES_PER_CALL_HOUR).toBe(115_200_000);
      // The default 50 sessions: 50 × 115.2 MB × 1.2 = 6.9 GB = 6.4 GiB, + 2 GiB: Fargate's included 20 GiB.
      expect(spoolStorageGiB(50)).toBeUndefined();
      expect(spoolStorageGiB(100)).toBeUndefined();
      // 150 × 115.2 MB × 1.2 = 20.7 GB = 19.3 GiB, + 2 GiB = 21.3: more than the included 20.
      expect(spoolStorageGiB(150)).toBe(22);
      // 300 × 115.2 MB × 1.2 = 41.47 GB = 38.62 GiB, + 2 GiB, rounded up.
      expect(spoolStorageGiB(300)).toBe(41);
      expect(spoolStorageGiB(5000)).toBe(200);
      const [, task] = onlyResource(s.template, 'AWS::ECS::TaskDefinition');
      expect(task.EphemeralStorage).toBeUndefined();
      staging.template.hasResourceProperties('AWS::ECS::TaskDefinition', { EphemeralStorage: { SizeInGiB: 60 } });
    });

    it('raises the open-file limit (each call holds three sockets) and keeps the root file system read-only', () => {
      expect(container.Ulimits).toEqual([{ Name: 'nofile', SoftLimit: 65536, HardLimit: 65536 }]);
      expect(container.ReadonlyRootFilesystem).toBe(true);
    });

    it('tells the gateway its tables, paths, key secret and limits', () => {
      expect(envValue('AUDIOHOOK_PATHS')).toBe(
        '/mg-genesysaudiohook-autotranscribe/,/mg-genesysaudiohook-autotranscribe',
      );
      expect(envValue('MAX_SESSIONS')).toBe('50');
      expect(envValue('CONVERSATIONS_TABLE')).toEqual({ Ref: id(s.stack.store.conversationsTable) });
      expect(envValue('UTTERANCES_TABLE')).toEqual({ Ref: id(s.stack.store.utterancesTable) });
      expect(envValue('AUDIOHOOK_API_KEYS_SECRET_ID')).toEqual({ Ref: id(s.stack.store.audiohookApiKeysSecret) });
      expect(envValue('AUDIOHOOK_EXPECTED_AUTHORITY')).toBe('audiohook.cc.example.com');
    });

    it('puts tasks in private subnets without public addresses, new tasks before old ones', () => {
      s.template.hasResourceProperties('AWS::ECS::Service', {
        NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED' }) },
        DeploymentConfiguration: Match.objectLike({
          MinimumHealthyPercent: 100,
          MaximumPercent: 200,
          DeploymentCircuitBreaker: { Enable: true, Rollback: true },
        }),
        LoadBalancers: [
          { ContainerName: 'gateway', ContainerPort: 8080, TargetGroupArn: { Ref: id(s.stack.gateway.targetGroup) } },
        ],
      });
    });
  });

  describe('task role (least privilege)', () => {
    let statements: Statement[];
    beforeAll(() => {
      statements = taskRoleStatements(s);
    });
    const bySid = (sid: string) => statements.find((st) => st.Sid === sid);
    const actionsOf = (sid: string) => [bySid(sid)?.Action ?? []].flat().sort();
    const allActions = () => statements.flatMap((st) => (Array.isArray(st.Action) ? st.Action : [st.Action]));
    const arnOf = (c: { node: { defaultChild?: unknown } }) => ({ 'Fn::GetAtt': [id(c), 'Arn'] });
    const ecsArn = (resource: 'task' | 'service') => ({
      'Fn::Join': [
        '',
        [
          'arn:aws:ecs:eu-west-1:',
          { Ref: 'AWS::AccountId' },
          `:${resource}/`,
          { Ref: id(s.stack.gateway.cluster) },
          '/*',
        ],
      ],
    });

    it('may start Transcribe streams (an action without resource-level permissions)', () => {
      expect(bySid('TranscribeStreaming')).toMatchObject({
        Action: 'transcribe:StartStreamTranscription',
        Resource: '*',
      });
    });

    it('reaches the Conversations table itself, with exactly the item operations the gateway performs', () => {
      expect(actionsOf('ConversationsTable')).toEqual([
        'dynamodb:ConditionCheckItem',
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:UpdateItem',
      ]);
      expect(bySid('ConversationsTable')?.Resource).toEqual(arnOf(s.stack.store.conversationsTable));
    });

    it('only writes and reads single utterances, on the table (not its export index)', () => {
      expect(actionsOf('UtterancesTable')).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem']);
      expect(bySid('UtterancesTable')?.Resource).toEqual(arnOf(s.stack.store.utterancesTable));
    });

    it('reads the AudioHook key secret and nothing else in Secrets Manager', () => {
      const secretStatements = statements.filter((st) => JSON.stringify(st.Action).includes('secretsmanager:'));
      expect(secretStatements).toHaveLength(1);
      expect(secretStatements[0]?.Resource).toEqual({ Ref: id(s.stack.store.audiohookApiKeysSecret) });
    });

    it('may protect its own tasks from scale-in, in this cluster only', () => {
      expect(actionsOf('TaskScaleInProtection')).toEqual(['ecs:GetTaskProtection', 'ecs:UpdateTaskProtection']);
      expect(bySid('TaskScaleInProtection')?.Resource).toEqual(ecsArn('task'));
    });

    it('self-drain: describes the tasks and the service of this cluster only', () => {
      expect(bySid('SelfDrainDescribeTasks')).toMatchObject({ Action: 'ecs:DescribeTasks', Resource: ecsArn('task') });
      expect(bySid('SelfDrainDescribeService')).toMatchObject({
        Action: 'ecs:DescribeServices',
        Resource: ecsArn('service'),
      });
    });

    it('self-drain: lists tasks only with the condition that the cluster is this one', () => {
      expect(bySid('SelfDrainListTasks')).toEqual({
        Sid: 'SelfDrainListTasks',
        Effect: 'Allow',
        Action: 'ecs:ListTasks',
        Resource: '*',
        Condition: { ArnEquals: { 'ecs:cluster': arnOf(s.stack.gateway.cluster) } },
      });
    });

    it('self-drain: deregisters and registers targets of the gateway target group only', () => {
      expect(actionsOf('SelfDrainRotation')).toEqual([
        'elasticloadbalancing:DeregisterTargets',
        'elasticloadbalancing:RegisterTargets',
      ]);
      expect(bySid('SelfDrainRotation')?.Resource).toEqual({ Ref: id(s.stack.gateway.targetGroup) });
      expect(
        allActions()
          .filter((a) => a.startsWith('elasticloadbalancing:'))
          .sort(),
      ).toEqual(['elasticloadbalancing:DeregisterTargets', 'elasticloadbalancing:RegisterTargets']);
      expect(
        allActions()
          .filter((a) => a.startsWith('ecs:'))
          .sort(),
      ).toEqual([
        'ecs:DescribeServices',
        'ecs:DescribeTasks',
        'ecs:GetTaskProtection',
        'ecs:ListTasks',
        'ecs:UpdateTaskProtection',
      ]);
    });

    it('uses Resource "*" only where the action takes no resource (ListTasks with its cluster condition)', () => {
      const unscoped = statements.filter((st) => st.Resource === '*');
      expect(unscoped.map((st) => st.Sid).sort()).toEqual(['SelfDrainListTasks', 'TranscribeStreaming']);
    });

    it('only writes recordings, under recordings/ of the recordings bucket (no read, list or delete)', () => {
      expect(actionsOf('WriteRecordings')).toEqual(['s3:AbortMultipartUpload', 's3:PutObject']);
      expect(bySid('WriteRecordings')?.Resource).toEqual({
        'Fn::Join': ['', [arnOf(s.stack.store.recordingsBucket), '/recordings/*']],
      });
      expect(
        allActions()
          .filter((a) => a.startsWith('s3:'))
          .sort(),
      ).toEqual(['s3:AbortMultipartUpload', 's3:PutObject']);
    });

    it('grants no wildcard action', () => {
      expect(allActions().filter((a) => a.includes('*'))).toEqual([]);
    });

    it('never scans and never administers tables', () => {
      expect(
        allActions().filter((a) => a === 'dynamodb:Scan' || a === 'dynamodb:*' || a === 'dynamodb:DeleteTable'),
      ).toEqual([]);
    });
  });

  describe('scaling', () => {
    const policies = (t: Synthesized) =>
      Object.values(t.template.findResources('AWS::ApplicationAutoScaling::ScalingPolicy')).map(
        (r) => (r as { Properties: { TargetTrackingScalingPolicyConfiguration: Record<string, unknown> } }).Properties,
      );

    it('keeps between minTasks and maxTasks tasks', () => {
      s.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
        MinCapacity: 2,
        MaxCapacity: 10,
        ScalableDimension: 'ecs:service:DesiredCount',
      });
    });

    it('tracks the average active sessions per task, read under this stack’s service dimension', () => {
      s.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingScalingPolicyConfiguration: Match.objectLike({
          TargetValue: 35,
          CustomizedMetricSpecification: Match.objectLike({
            MetricName: 'ActiveSessions',
            Namespace: 'AudiohookTranscribe',
            Statistic: 'Average',
            Dimensions: [{ Name: 'service', Value: 'AudiohookTest-gateway' }],
          }),
          ScaleOutCooldown: 60,
          ScaleInCooldown: 600,
        }),
      });
    });

    it('also tracks the service’s average CPU (target gateway.targetCpuPercent, 50 % by default)', () => {
      s.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingScalingPolicyConfiguration: Match.objectLike({
          TargetValue: 50,
          PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
          ScaleOutCooldown: 60,
          ScaleInCooldown: 600,
        }),
      });
      staging.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        TargetTrackingScalingPolicyConfiguration: Match.objectLike({
          TargetValue: 65,
          PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
        }),
      });
      expect(policies(s)).toHaveLength(2);
    });

    it('gives two stacks in one account different scaling dimensions', () => {
      const dims = (t: Synthesized) =>
        policies(t).flatMap(
          (p) =>
            (p.TargetTrackingScalingPolicyConfiguration.CustomizedMetricSpecification as { Dimensions?: unknown })
              ?.Dimensions ?? [],
        );
      expect(dims(s)).toEqual([{ Name: 'service', Value: 'AudiohookTest-gateway' }]);
      expect(dims(staging)).toEqual([{ Name: 'service', Value: 'AudiohookStaging-gateway' }]);
    });
  });

  describe('outputs and DNS', () => {
    it('outputs the Connection URI to paste into Genesys', () => {
      s.template.hasOutput('ConnectionUri', {
        Value: 'wss://audiohook.cc.example.com/mg-genesysaudiohook-autotranscribe/',
      });
    });

    it('points the gateway host name at the NLB (alias record)', () => {
      const lbId = id(s.stack.gateway.loadBalancer);
      s.template.hasResourceProperties('AWS::Route53::RecordSet', {
        Name: 'audiohook.cc.example.com.',
        Type: 'A',
        HostedZoneId: 'Z0123456789ABC',
        AliasTarget: {
          DNSName: { 'Fn::Join': ['', ['dualstack.', { 'Fn::GetAtt': [lbId, 'DNSName'] }]] },
          HostedZoneId: { 'Fn::GetAtt': [lbId, 'CanonicalHostedZoneID'] },
        },
      });
    });

    it('without a hosted zone, outputs the NLB name as the CNAME target', () => {
      const lbId = staging.stack.getLogicalId(staging.stack.gateway.loadBalancer.node.defaultChild as never);
      staging.template.hasOutput('GatewayDnsTarget', { Value: { 'Fn::GetAtt': [lbId, 'DNSName'] } });
    });

    it('validates one certificate for both host names in the hosted zone', () => {
      s.template.hasResourceProperties('AWS::CertificateManager::Certificate', {
        DomainName: 'audiohook.cc.example.com',
        SubjectAlternativeNames: ['api.cc.example.com'],
        ValidationMethod: 'DNS',
      });
    });
  });
});

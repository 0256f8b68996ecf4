import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { AUDIOHOOK_PING_INTERVAL_SEC, FARGATE_MAX_STOP_TIMEOUT_SEC } from '../../bin/config';
import { onlyResource, type Synthesized, synthesize } from './fixtures';

type Attr = { Key: string; Value: string };
type Env = { Name: string; Value: unknown };

describe('gateway service', () => {
  let s: Synthesized;
  let container: { StopTimeout: number; Environment: Env[]; [k: string]: unknown };
  let targetGroupAttrs: Attr[];
  let lbAttrs: Attr[];
  const envValue = (name: string) => container.Environment.find((e) => e.Name === name)?.Value;
  const attr = (attrs: Attr[], key: string) => attrs.find((a) => a.Key === key)?.Value;

  beforeAll(() => {
    s = synthesize();
    const [, task] = onlyResource(s.template, 'AWS::ECS::TaskDefinition');
    container = (task.ContainerDefinitions as (typeof container)[])[0] as typeof container;
    targetGroupAttrs = onlyResource(s.template, 'AWS::ElasticLoadBalancingV2::TargetGroup')[1]
      .TargetGroupAttributes as Attr[];
    lbAttrs = onlyResource(s.template, 'AWS::ElasticLoadBalancingV2::LoadBalancer')[1].LoadBalancerAttributes as Attr[];
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

    it('keeps deregistering targets at least as long as stopTimeout (the ALB maximum by default)', () => {
      const delay = Number(attr(targetGroupAttrs, 'deregistration_delay.timeout_seconds'));
      expect(delay).toBe(3600);
      expect(delay).toBeGreaterThanOrEqual(container.StopTimeout);
    });

    it('never cuts a paused call as idle: the LB idle timeout spans several AudioHook pings', () => {
      const idle = Number(attr(lbAttrs, 'idle_timeout.timeout_seconds'));
      expect(idle).toBeGreaterThanOrEqual(6 * AUDIOHOOK_PING_INTERVAL_SEC);
    });

    it('does not let ECS rebalance zones by stopping tasks that hold calls', () => {
      s.template.hasResourceProperties('AWS::ECS::Service', { AvailabilityZoneRebalancing: 'DISABLED' });
    });
  });

  describe('gateway contract (environment)', () => {
    it('names the recordings bucket', () => {
      expect(envValue('RECORDINGS_BUCKET')).toEqual({
        Ref: s.stack.getLogicalId(s.stack.store.recordingsBucket.node.defaultChild as never),
      });
    });

    it('spools recordings on task storage, the one writable mount of a read-only root file system', () => {
      expect(container.ReadonlyRootFilesystem).toBe(true);
      expect(container.MountPoints).toEqual([{ ContainerPath: '/app/.local', ReadOnly: false, SourceVolume: 'spool' }]);
      expect(String(envValue('RECORDINGS_SPOOL_DIR'))).toMatch(/^\/app\/\.local\//);
    });

    it('turns on task scale-in protection and the metrics the scaling policy reads', () => {
      expect(envValue('TASK_PROTECTION_ENABLED')).toBe('true');
      expect(envValue('METRICS_NAMESPACE')).toBe('AudiohookTranscribe');
      expect(envValue('METRICS_SERVICE')).toBe('audiohook-gateway');
    });
  });

  describe('health', () => {
    it('checks /health on the traffic port and wants 200 (the gateway answers 503 while draining)', () => {
      s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
        HealthCheckPath: '/health',
        Matcher: { HttpCode: '200' },
        TargetType: 'ip',
        Port: 8080,
      });
    });

    it('has a container health check on the same route', () => {
      expect(JSON.stringify(container.HealthCheck)).toContain('/health');
    });
  });

  describe('listener', () => {
    it('serves TLS only, with a recommended TLS 1.2/1.3 policy, and forbids unknown hosts', () => {
      s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
        Port: 443,
        Protocol: 'HTTPS',
        SslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
        DefaultActions: [
          Match.objectLike({ Type: 'fixed-response', FixedResponseConfig: Match.objectLike({ StatusCode: '403' }) }),
        ],
      });
      expect(Object.keys(s.template.findResources('AWS::ElasticLoadBalancingV2::Listener'))).toHaveLength(1);
    });

    it('forwards only our host name and the AudioHook paths', () => {
      s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
        Priority: 10,
        Conditions: Match.arrayWith([
          { Field: 'host-header', HostHeaderConfig: { Values: ['audiohook.cc.example.com'] } },
          {
            Field: 'path-pattern',
            PathPatternConfig: {
              Values: ['/mg-genesysaudiohook-autotranscribe/', '/mg-genesysaudiohook-autotranscribe'],
            },
          },
        ]),
        Actions: [Match.objectLike({ Type: 'forward' })],
      });
    });

    it('answers 404 for any other path on our host', () => {
      s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
        Priority: 20,
        Conditions: [{ Field: 'host-header', HostHeaderConfig: { Values: ['audiohook.cc.example.com'] } }],
        Actions: [
          Match.objectLike({ Type: 'fixed-response', FixedResponseConfig: Match.objectLike({ StatusCode: '404' }) }),
        ],
      });
    });

    it('drops invalid headers and logs access to the access-log bucket', () => {
      expect(attr(lbAttrs, 'routing.http.drop_invalid_header_fields.enabled')).toBe('true');
      expect(attr(lbAttrs, 'access_logs.s3.enabled')).toBe('true');
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

    it('raises the open-file limit (each call holds three sockets) and keeps the root file system read-only', () => {
      expect(container.Ulimits).toEqual([{ Name: 'nofile', SoftLimit: 65536, HardLimit: 65536 }]);
      expect(container.ReadonlyRootFilesystem).toBe(true);
    });

    it('tells the gateway its tables, paths, key secret and limits', () => {
      expect(envValue('AUDIOHOOK_PATHS')).toBe(
        '/mg-genesysaudiohook-autotranscribe/,/mg-genesysaudiohook-autotranscribe',
      );
      expect(envValue('MAX_SESSIONS')).toBe('300');
      expect(envValue('CONVERSATIONS_TABLE')).toEqual({
        Ref: s.stack.getLogicalId(s.stack.store.conversationsTable.node.defaultChild as never),
      });
      expect(envValue('UTTERANCES_TABLE')).toEqual({
        Ref: s.stack.getLogicalId(s.stack.store.utterancesTable.node.defaultChild as never),
      });
      expect(envValue('AUDIOHOOK_API_KEYS_SECRET_ID')).toEqual({
        Ref: s.stack.getLogicalId(s.stack.store.audiohookApiKeysSecret.node.defaultChild as never),
      });
      expect(envValue('AUDIOHOOK_EXPECTED_AUTHORITY')).toBe('audiohook.cc.example.com');
    });

    it('puts tasks in private subnets without public addresses', () => {
      s.template.hasResourceProperties('AWS::ECS::Service', {
        NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED' }) },
        DeploymentConfiguration: Match.objectLike({
          MinimumHealthyPercent: 100,
          DeploymentCircuitBreaker: { Enable: true, Rollback: true },
        }),
      });
    });
  });

  describe('task role (least privilege)', () => {
    let statements: Array<{ Sid?: string; Action: string | string[]; Resource: unknown }>;
    beforeAll(() => {
      const roleId = s.stack.getLogicalId(s.stack.gateway.taskDefinition.taskRole.node.defaultChild as never);
      const policies = Object.values(
        s.template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } }),
      ) as Array<{ Properties: { PolicyDocument: { Statement: typeof statements } } }>;
      statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement);
    });
    const bySid = (sid: string) => statements.find((st) => st.Sid === sid);
    const arnOf = (c: { node: { defaultChild?: unknown } }) => ({
      'Fn::GetAtt': [s.stack.getLogicalId(c.node.defaultChild as never), 'Arn'],
    });

    it('may start Transcribe streams (an action without resource-level permissions)', () => {
      expect(bySid('TranscribeStreaming')).toMatchObject({
        Action: 'transcribe:StartStreamTranscription',
        Resource: '*',
      });
    });

    const actionsOf = (sid: string) => [bySid(sid)?.Action ?? []].flat().sort();

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
      expect(secretStatements[0]?.Resource).toEqual({
        Ref: s.stack.getLogicalId(s.stack.store.audiohookApiKeysSecret.node.defaultChild as never),
      });
    });

    it('may protect its own tasks from scale-in, in this cluster only', () => {
      const st = bySid('TaskScaleInProtection');
      expect(actionsOf('TaskScaleInProtection')).toEqual(['ecs:GetTaskProtection', 'ecs:UpdateTaskProtection']);
      expect(JSON.stringify(st?.Resource)).toContain(
        s.stack.getLogicalId(s.stack.gateway.cluster.node.defaultChild as never),
      );
    });

    it('only writes recordings, under recordings/ of the recordings bucket (no read, list or delete)', () => {
      expect(actionsOf('WriteRecordings')).toEqual(['s3:AbortMultipartUpload', 's3:PutObject']);
      expect(bySid('WriteRecordings')?.Resource).toEqual({
        'Fn::Join': ['', [arnOf(s.stack.store.recordingsBucket), '/recordings/*']],
      });
      const s3Actions = statements
        .flatMap((st) => (Array.isArray(st.Action) ? st.Action : [st.Action]))
        .filter((a) => a.startsWith('s3:'));
      expect(s3Actions.sort()).toEqual(['s3:AbortMultipartUpload', 's3:PutObject']);
    });

    it('grants no wildcard action', () => {
      const actions = statements.flatMap((st) => (Array.isArray(st.Action) ? st.Action : [st.Action]));
      expect(actions.filter((a) => a.includes('*'))).toEqual([]);
    });

    it('never scans and never administers tables', () => {
      const actions = statements.flatMap((st) => (Array.isArray(st.Action) ? st.Action : [st.Action]));
      expect(
        actions.filter((a) => a === 'dynamodb:Scan' || a === 'dynamodb:*' || a === 'dynamodb:DeleteTable'),
      ).toEqual([]);
    });
  });

  describe('scaling', () => {
    it('keeps between minTasks and maxTasks tasks', () => {
      s.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
        MinCapacity: 2,
        MaxCapacity: 10,
        ScalableDimension: 'ecs:service:DesiredCount',
      });
    });

    it('tracks the average active sessions per task (the gateway metric), not CPU', () => {
      s.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingScalingPolicyConfiguration: Match.objectLike({
          TargetValue: 150,
          CustomizedMetricSpecification: Match.objectLike({
            MetricName: 'ActiveSessions',
            Namespace: 'AudiohookTranscribe',
            Statistic: 'Average',
            Dimensions: [{ Name: 'service', Value: 'audiohook-gateway' }],
          }),
          ScaleInCooldown: 600,
        }),
      });
    });
  });

  describe('outputs and DNS', () => {
    it('outputs the Connection URI to paste into Genesys', () => {
      s.template.hasOutput('ConnectionUri', {
        Value: 'wss://audiohook.cc.example.com/mg-genesysaudiohook-autotranscribe/',
      });
    });

    it('points the gateway host name at the load balancer', () => {
      s.template.hasResourceProperties('AWS::Route53::RecordSet', {
        Name: 'audiohook.cc.example.com.',
        Type: 'A',
        HostedZoneId: 'Z0123456789ABC',
      });
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

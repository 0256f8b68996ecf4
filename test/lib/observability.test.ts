import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_METRIC_NAMES } from '../../fargate/src/observability/emf';
import {
  FANOUT_ITERATOR_AGE_ALARM_MS,
  GATEWAY_ALARMS,
  GATEWAY_METRICS,
  gatewayMetricsService,
  lambdaMetricsService,
  WEBHOOK_METRICS,
} from '../../lib/observability';
import { onlyResource, type Synthesized, synthesize } from './fixtures';

type AlarmProps = {
  Namespace?: string;
  MetricName?: string;
  Dimensions?: Array<{ Name: string; Value: unknown }>;
  AlarmActions?: unknown[];
};

function alarmsOf(t: Synthesized): Array<[string, AlarmProps]> {
  return Object.entries(t.template.findResources('AWS::CloudWatch::Alarm')).map(([id, r]) => [
    id,
    (r as { Properties: AlarmProps }).Properties,
  ]);
}

function dashboardOf(t: Synthesized): string {
  const [, dashboard] = onlyResource(t.template, 'AWS::CloudWatch::Dashboard');
  return JSON.stringify(t.stack.resolve(dashboard.DashboardBody));
}

describe('observability', () => {
  let s: Synthesized;
  /** A second stack in the same account and region. */
  let other: Synthesized;
  let dashboardBody: string;
  beforeAll(() => {
    s = synthesize({ alarmEmail: 'oncall@example.com' });
    other = synthesize({ stackName: 'AudiohookStaging' });
    dashboardBody = dashboardOf(s);
  });

  it.each([
    'Active sessions',
    'Audio minutes streamed',
    'Transcribe errors and throttles',
    'Utterance latency (ms)',
    'Webhook failures',
    'Dead-letter queue depth',
    'API requests and errors',
    'Real-time fan-out',
    'Feed export',
    'Gateway load balancer',
    'Calls refused at MAX_SESSIONS',
    'Recordings spool unavailable',
  ])('has a "%s" widget', (title) => {
    expect(dashboardBody).toContain(title);
  });

  it('graphs the gateway metrics of the contract', () => {
    for (const name of Object.values(GATEWAY_METRICS).filter((n) => n !== 'Utterances'))
      expect(dashboardBody).toContain(name);
  });

  it('reads metric names the gateway actually publishes (fargate/src/observability/emf.ts)', () => {
    const published = new Set<string>(Object.values(GATEWAY_METRIC_NAMES));
    const missing = Object.values(GATEWAY_METRICS).filter((n) => !published.has(n));
    expect(missing).toEqual([]);
  });

  it("alarms on dead-lettered webhook deliveries, with the fan-out's Powertools dimensions", () => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: WEBHOOK_METRICS.deadLettered,
      Dimensions: Match.arrayWith([{ Name: 'route', Value: 'fanout' }]),
      Threshold: 1,
      EvaluationPeriods: 1,
    });
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: WEBHOOK_METRICS.deadLettered,
      Dimensions: Match.arrayWith([{ Name: 'service', Value: 'AudiohookTest-fanout' }]),
    });
  });

  it('alarms when the fan-out falls a minute behind the Utterances stream', () => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'IteratorAge',
      Statistic: 'Maximum',
      Threshold: FANOUT_ITERATOR_AGE_ALARM_MS,
      Dimensions: [
        {
          Name: 'FunctionName',
          Value: { Ref: s.stack.getLogicalId(s.stack.realtime?.fanoutFunction.node.defaultChild as never) },
        },
      ],
    });
  });

  it('alarms on the first message in either dead-letter queue', () => {
    for (const q of [s.stack.realtime?.deadLetterQueue, s.stack.feedExport?.deadLetterQueue]) {
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Threshold: 1,
        Dimensions: [
          {
            Name: 'QueueName',
            Value: { 'Fn::GetAtt': [s.stack.getLogicalId(q?.node.defaultChild as never), 'QueueName'] },
          },
        ],
      });
    }
  });

  it('alarms on a single failed export run', () => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      EvaluationPeriods: 1,
      Period: 300,
      Dimensions: [
        {
          Name: 'FunctionName',
          Value: { Ref: s.stack.getLogicalId(s.stack.feedExport?.exportFunction.node.defaultChild as never) },
        },
      ],
    });
  });

  it.each([
    ['TranscribeThrottled', 'Transcribe refused streams'],
    ['UtterancePutFailures', 'could not be stored'],
    ['SegmentFailures', 'not being transcribed'],
  ])('alarms on gateway metric %s', (metricName, description) => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: metricName,
      Namespace: 'AudiohookTranscribe',
      Dimensions: [{ Name: 'service', Value: 'AudiohookTest-gateway' }],
      AlarmDescription: Match.stringLikeRegexp(description),
      AlarmActions: [{ Ref: Match.stringLikeRegexp('AlarmTopic') }],
    });
  });

  it('alarms when tasks near MAX_SESSIONS (90 %) on average', () => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ActiveSessions',
      Statistic: 'Average',
      Threshold: 45,
    });
  });

  it('alarms on API 5xx, unhealthy tasks and every Lambda', () => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: '5XXError', Namespace: 'AWS/ApiGateway' });
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'UnHealthyHostCount',
      Namespace: 'AWS/NetworkELB',
      Statistic: 'Maximum',
    });
    const lambdaAlarms = Object.values(
      s.template.findResources('AWS::CloudWatch::Alarm', { Properties: { Namespace: 'AWS/Lambda' } }),
    );
    // REST routes + authorizer + fan-out + one per WebSocket handler (subscribe/unsubscribe share one)
    // + the fan-out's iterator age + the export's failures.
    const webSocketFunctions = new Set(s.stack.realtime?.routeFunctions.values()).size;
    expect(webSocketFunctions).toBe(4);
    expect(lambdaAlarms).toHaveLength(s.stack.controlApi.routeFunctions.size + 1 + 1 + webSocketFunctions + 1 + 1);
  });

  describe('gateway load balancer and capacity', () => {
    const lbDimensions = () => [
      {
        Name: 'LoadBalancer',
        Value: Match.objectLike({
          'Fn::Join': Match.arrayWith([
            Match.arrayWith([
              Match.objectLike({
                'Fn::Select': [
                  1,
                  {
                    'Fn::Split': [
                      '/',
                      { Ref: s.stack.getLogicalId(s.stack.gateway.listener.node.defaultChild as never) },
                    ],
                  },
                ],
              }),
            ]),
          ]),
        }),
      },
      {
        Name: 'TargetGroup',
        Value: {
          'Fn::GetAtt': [
            s.stack.getLogicalId(s.stack.gateway.targetGroup.node.defaultChild as never),
            'TargetGroupFullName',
          ],
        },
      },
    ];

    it('alarms when fewer than minTasks targets are healthy (minimum) for 5 minutes in a row', () => {
      expect(GATEWAY_ALARMS.healthyHostsLowMinutes).toBe(5);
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/NetworkELB',
        MetricName: 'HealthyHostCount',
        Statistic: 'Minimum',
        Period: 60,
        Threshold: 2,
        ComparisonOperator: 'LessThanThreshold',
        EvaluationPeriods: 5,
        DatapointsToAlarm: 5,
        TreatMissingData: 'breaching',
        Dimensions: lbDimensions(),
      });
    });

    it('alarms on any upgrade refused at MAX_SESSIONS within 5 minutes', () => {
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AudiohookTranscribe',
        MetricName: GATEWAY_METRICS.refusedUpgrades,
        Dimensions: [{ Name: 'service', Value: 'AudiohookTest-gateway' }],
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    });

    it('alarms when any task has no usable recordings spool', () => {
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AudiohookTranscribe',
        MetricName: GATEWAY_METRICS.recordingsUnavailable,
        Dimensions: [{ Name: 'service', Value: 'AudiohookTest-gateway' }],
        Statistic: 'Maximum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    });

    it('alarms when any task has held unstored utterances for 5 minutes in a row', () => {
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AudiohookTranscribe',
        MetricName: GATEWAY_METRICS.utterancesHeld,
        Dimensions: [{ Name: 'service', Value: 'AudiohookTest-gateway' }],
        Statistic: 'Maximum',
        Period: 60,
        EvaluationPeriods: 5,
        DatapointsToAlarm: 5,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        AlarmDescription: Match.stringLikeRegexp('PIPELINE_UTTERANCE_HELD'),
      });
    });

    it('reads no Application Load Balancer metric any more', () => {
      expect(alarmsOf(s).filter(([, a]) => a.Namespace === 'AWS/ApplicationELB')).toEqual([]);
      expect(dashboardBody).not.toContain('AWS/ApplicationELB');
      expect(dashboardBody).toContain('AWS/NetworkELB');
    });
  });

  describe('metrics scoped to the stack', () => {
    it('names the services after the stack', () => {
      expect(gatewayMetricsService(s.stack)).toBe('AudiohookTest-gateway');
      expect(lambdaMetricsService(s.stack, 'fanout')).toBe('AudiohookTest-fanout');
      expect(gatewayMetricsService(other.stack)).toBe('AudiohookStaging-gateway');
    });

    it('gives every custom-metric alarm this stack’s service dimension, and another stack another one', () => {
      const serviceDims = (t: Synthesized) =>
        alarmsOf(t)
          .filter(([, a]) => a.Namespace === 'AudiohookTranscribe')
          .map(([, a]) => a.Dimensions?.find((d) => d.Name === 'service')?.Value);
      const mine = serviceDims(s);
      const theirs = serviceDims(other);
      expect(mine.length).toBeGreaterThanOrEqual(8);
      expect(mine.every((v) => typeof v === 'string' && v.startsWith('AudiohookTest-'))).toBe(true);
      expect(theirs.every((v) => typeof v === 'string' && v.startsWith('AudiohookStaging-'))).toBe(true);
      expect(new Set(mine)).toEqual(new Set(['AudiohookTest-gateway', 'AudiohookTest-fanout']));
    });

    it('graphs only this stack’s services on the dashboard', () => {
      expect(dashboardBody).toContain('AudiohookTest-gateway');
      expect(dashboardBody).toContain('AudiohookTest-fanout');
      expect(dashboardBody).not.toContain('audiohook-gateway');
      expect(dashboardBody).not.toContain('audiohook-transcribe-fanout');
      const theirs = dashboardOf(other);
      expect(theirs).toContain('AudiohookStaging-gateway');
      expect(theirs).not.toContain('AudiohookTest-');
    });
  });

  it('encrypts the alarm topic with a rotated customer-managed key that CloudWatch may use', () => {
    const keyId = s.stack.getLogicalId(s.stack.observability.alarmTopicKey.node.defaultChild as never);
    s.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    s.template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
    // Every alarm of the stack (the network's too) notifies that topic.
    const topicId = s.stack.getLogicalId(s.stack.observability.alarmTopic.node.defaultChild as never);
    for (const [id, a] of alarmsOf(s)) expect(a.AlarmActions, id).toEqual([{ Ref: topicId }]);
  });

  it('sends alarms to an SSL-only topic with the configured e-mail subscribed', () => {
    s.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
    s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

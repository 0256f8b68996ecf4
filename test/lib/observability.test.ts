import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_METRIC_NAMES } from '../../fargate/src/observability/emf';
import { FANOUT_ITERATOR_AGE_ALARM_MS, GATEWAY_METRICS, WEBHOOK_METRICS } from '../../lib/observability';
import { onlyResource, type Synthesized, synthesize } from './fixtures';

describe('observability', () => {
  let s: Synthesized;
  let dashboardBody: string;
  beforeAll(() => {
    s = synthesize({ alarmEmail: 'oncall@example.com' });
    const [, dashboard] = onlyResource(s.template, 'AWS::CloudWatch::Dashboard');
    dashboardBody = JSON.stringify(s.stack.resolve(dashboard.DashboardBody));
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
      Dimensions: Match.arrayWith([{ Name: 'service', Value: 'audiohook-transcribe-fanout' }]),
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
      Dimensions: [{ Name: 'service', Value: 'audiohook-gateway' }],
      AlarmDescription: Match.stringLikeRegexp(description),
      AlarmActions: [{ Ref: Match.stringLikeRegexp('AlarmTopic') }],
    });
  });

  it('alarms when tasks near MAX_SESSIONS (90 %) on average', () => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ActiveSessions',
      Statistic: 'Average',
      Threshold: 270,
    });
  });

  it('alarms on API 5xx, unhealthy tasks and every Lambda', () => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: '5XXError', Namespace: 'AWS/ApiGateway' });
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'UnHealthyHostCount' });
    const lambdaAlarms = Object.values(
      s.template.findResources('AWS::CloudWatch::Alarm', { Properties: { Namespace: 'AWS/Lambda' } }),
    );
    // REST routes + authorizer + fan-out + one per WebSocket handler (subscribe/unsubscribe share one)
    // + the fan-out's iterator age + the export's failures.
    const webSocketFunctions = new Set(s.stack.realtime?.routeFunctions.values()).size;
    expect(webSocketFunctions).toBe(4);
    expect(lambdaAlarms).toHaveLength(s.stack.controlApi.routeFunctions.size + 1 + 1 + webSocketFunctions + 1 + 1);
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

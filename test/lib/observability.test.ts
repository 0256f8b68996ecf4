import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { FEED, FEED_COLUMNS } from '../../lib/feed-export';
import { GATEWAY_METRICS } from '../../lib/observability';
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
  ])('has a "%s" widget', (title) => {
    expect(dashboardBody).toContain(title);
  });

  it('graphs the gateway metrics of the contract', () => {
    for (const name of Object.values(GATEWAY_METRICS).filter((n) => n !== 'Utterances'))
      expect(dashboardBody).toContain(name);
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
    expect(lambdaAlarms).toHaveLength(s.stack.controlApi.routeFunctions.size + 1);
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

describe('feed export (Glue catalog)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthesize();
  });

  it('defines the utterances table over the feed bucket with partition projection on dt and hr', () => {
    const [, table] = onlyResource(s.template, 'AWS::Glue::Table');
    const input = table.TableInput as {
      Name: string;
      Parameters: Record<string, unknown>;
      PartitionKeys: Array<{ Name: string }>;
      StorageDescriptor: { Columns: Array<{ Name: string }>; SerdeInfo: { SerializationLibrary: string } };
    };
    expect(input.Name).toBe(FEED.name);
    expect(input.PartitionKeys.map((k) => k.Name)).toEqual(['dt', 'hr']);
    expect(input.StorageDescriptor.Columns.map((c) => c.Name)).toEqual(FEED_COLUMNS);
    expect(input.StorageDescriptor.SerdeInfo.SerializationLibrary).toBe('org.openx.data.jsonserde.JsonSerDe');
    expect(input.Parameters).toMatchObject({
      'projection.enabled': 'true',
      'projection.dt.type': 'date',
      'projection.hr.type': 'integer',
      'projection.hr.digits': '2',
    });
    expect(JSON.stringify(input.Parameters['storage.location.template'])).toContain(
      `/utterances/version=1/format=jsonl/dt=\${dt}/hr=\${hr}/`,
    );
  });

  it('can be turned off', () => {
    synthesize({ features: { feedExport: false } }).template.resourceCountIs('AWS::Glue::Table', 0);
  });
});

/**
 * Observability: one dashboard and the alarms an on-call engineer needs, all sent to one SNS topic
 * (encrypted with a customer-managed key CloudWatch may use: alarms cannot publish to a topic under the
 * AWS-managed `aws/sns` key).
 *
 * The gateway's custom metrics are a contract with `fargate/` ({@link GATEWAY_METRICS}): namespace from
 * the config, dimension `service = <stackName>-gateway` ({@link gatewayMetricsService}), published as
 * CloudWatch embedded-metric-format log lines (no PutMetricData permission needed). The Lambdas publish with
 * Powertools under the same namespace as `<stackName>-<role>` ({@link lambdaMetricsService}). Scoping the
 * dimension to the stack keeps two stacks in one account and region from reading each other's metrics.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as snsSubscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { gatewayMetricsService, lambdaMetricsService } from './metrics-scope';
import {
  FANOUT_ITERATOR_AGE_ALARM_MS,
  fanoutDimensions,
  GATEWAY_ALARMS,
  GATEWAY_METRICS,
  TABLE_OPERATIONS,
  WEBHOOK_METRICS,
} from './observability-settings';

export {
  FANOUT_ITERATOR_AGE_ALARM_MS,
  fanoutDimensions,
  GATEWAY_ALARMS,
  GATEWAY_METRICS,
  gatewayMetricsService,
  lambdaMetricsService,
  WEBHOOK_METRICS,
};

/** Props of {@link Observability}. */
export interface ObservabilityProps {
  readonly metricsNamespace: string;
  readonly service: ecs.FargateService;
  /** The gateway's network load balancer and its target group. */
  readonly loadBalancer: elbv2.NetworkLoadBalancer;
  readonly targetGroup: elbv2.NetworkTargetGroup;
  /** Alarm when fewer gateway targets than this are healthy (the service's `minTasks`). */
  readonly minHealthyTasks: number;
  readonly api: apigw.RestApi;
  /** Functions whose errors and throttles are graphed and alarmed, by display name. */
  readonly functions: Readonly<Record<string, lambda.IFunction>>;
  readonly tables: readonly dynamodb.ITable[];
  /** Alarm when the average sessions per task reaches this (tasks refuse calls at `MAX_SESSIONS`). */
  readonly sessionsPerTaskAlarmThreshold: number;
  /** Dead-letter queues whose depth is graphed and alarmed, by display name. @default - none */
  readonly deadLetterQueues?: Readonly<Record<string, sqs.IQueue>>;
  /** The stream fan-out: iterator age graphed and alarmed. @default - no real-time delivery */
  readonly fanoutFunction?: lambda.IFunction;
  /** The feed export: any failed run alarms. @default - no feed export */
  readonly exportFunction?: lambda.IFunction;
  /** Subscribes an e-mail address to the alarm topic. @default - no subscription */
  readonly alarmEmail?: string;
}

/** Dashboard, alarms and the alarm topic. */
export class Observability extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;
  /** Where every alarm of the stack goes (other constructs add theirs with `SnsAction`). */
  public readonly alarmTopic: sns.Topic;
  /** Customer-managed key of {@link alarmTopic}; its policy lets CloudWatch alarms publish. */
  public readonly alarmTopicKey: kms.Key;
  public readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    this.alarmTopicKey = new kms.Key(this, 'AlarmTopicKey', {
      description: 'audiohook-transcribe alarm topic (SNS server-side encryption)',
      enableKeyRotation: true,
      // Alarm notifications are not stored: nothing is left to decrypt once the stack is gone.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    // CloudWatch publishes alarm notifications as itself: SNS asks KMS for a data key on its behalf.
    this.alarmTopicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      enforceSSL: true,
      displayName: 'audiohook-transcribe alarms',
      masterKey: this.alarmTopicKey,
    });
    if (props.alarmEmail) this.alarmTopic.addSubscription(new snsSubscriptions.EmailSubscription(props.alarmEmail));

    // Unlabelled, so alarms get a plain MetricName/Statistic; the dashboard adds labels with `.with()`.
    const gatewayService = gatewayMetricsService(this);
    const gw = (metricName: string, statistic: string, period = Duration.minutes(1)) =>
      new cloudwatch.Metric({
        namespace: props.metricsNamespace,
        metricName,
        dimensionsMap: { service: gatewayService },
        statistic,
        period,
      });
    const label = (m: cloudwatch.Metric, text: string) => m.with({ label: text });

    const activeSessions = gw(GATEWAY_METRICS.activeSessions, 'Sum');
    const sessionsPerTask = gw(GATEWAY_METRICS.activeSessions, 'Average');
    const audioMinutes = new cloudwatch.MathExpression({
      expression: 'audio / 60',
      usingMetrics: { audio: gw(GATEWAY_METRICS.audioSeconds, 'Sum') },
      label: 'Audio minutes streamed',
      period: Duration.minutes(1),
    });
    const throttled = gw(GATEWAY_METRICS.transcribeThrottled, 'Sum');
    const transcribeErrors = gw(GATEWAY_METRICS.transcribeErrors, 'Sum');
    const segmentFailures = gw(GATEWAY_METRICS.segmentFailures, 'Sum');
    const putFailures = gw(GATEWAY_METRICS.utterancePutFailures, 'Sum');
    const latencyP50 = gw(GATEWAY_METRICS.utteranceLatencyMs, 'p50');
    const latencyP99 = gw(GATEWAY_METRICS.utteranceLatencyMs, 'p99');
    const refusedUpgrades = gw(GATEWAY_METRICS.refusedUpgrades, 'Sum');
    const refusedUpgradesAlarmMetric = gw(
      GATEWAY_METRICS.refusedUpgrades,
      'Sum',
      Duration.minutes(GATEWAY_ALARMS.refusedUpgradesPeriodMin),
    );
    const outOfRotation = gw(GATEWAY_METRICS.outOfRotation, 'Sum');
    const recordingsUnavailable = gw(
      GATEWAY_METRICS.recordingsUnavailable,
      'Maximum',
      Duration.minutes(GATEWAY_ALARMS.recordingsUnavailablePeriodMin),
    );
    const utterancesHeld = gw(GATEWAY_METRICS.utterancesHeld, 'Maximum');
    const fanoutDims = fanoutDimensions(this);
    const fanoutMetric = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: props.metricsNamespace,
        metricName,
        dimensionsMap: { ...fanoutDims },
        statistic: 'Sum',
        period: Duration.minutes(1),
      });
    const webhookFailures = fanoutMetric(WEBHOOK_METRICS.deadLettered);
    const webhookRetries = fanoutMetric(WEBHOOK_METRICS.retried);
    const fanout = props.fanoutFunction;
    const iteratorAge = fanout
      ? new cloudwatch.Metric({
          namespace: 'AWS/Lambda',
          metricName: 'IteratorAge',
          dimensionsMap: { FunctionName: fanout.functionName },
          statistic: 'Maximum',
          period: Duration.minutes(1),
        })
      : undefined;
    const exportErrors = props.exportFunction?.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' });

    const api5xx = props.api.metricServerError({ period: Duration.minutes(1), statistic: 'Sum' });
    const api4xx = props.api.metricClientError({ period: Duration.minutes(1), statistic: 'Sum' });
    const apiCount = props.api.metricCount({ period: Duration.minutes(1), statistic: 'Sum' });
    const apiLatency = props.api.metricLatency({ period: Duration.minutes(1), statistic: 'p99' });

    // AWS/NetworkELB, dimensions TargetGroup + LoadBalancer.
    const healthyHosts = props.targetGroup.metrics.healthyHostCount({
      period: Duration.minutes(1),
      statistic: 'Minimum',
    });
    const unhealthyHosts = props.targetGroup.metrics.unHealthyHostCount({
      period: Duration.minutes(1),
      statistic: 'Maximum',
    });
    const lbMetrics = props.loadBalancer.metrics;
    const activeFlows = lbMetrics.activeFlowCount({ period: Duration.minutes(1), statistic: 'Maximum' });
    const newFlows = lbMetrics.newFlowCount({ period: Duration.minutes(1), statistic: 'Sum' });
    const elbResets = lbMetrics.tcpElbResetCount({ period: Duration.minutes(1), statistic: 'Sum' });
    const targetResets = lbMetrics.tcpTargetResetCount({ period: Duration.minutes(1), statistic: 'Sum' });
    const tlsErrors = lbMetrics.custom('ClientTLSNegotiationErrorCount', {
      period: Duration.minutes(1),
      statistic: 'Sum',
    });

    const dlqs = Object.entries(props.deadLetterQueues ?? {});
    const dlqDepth = dlqs.map(([name, q]) =>
      q.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum', label: name }),
    );

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Active sessions',
            left: [label(activeSessions, 'Active sessions (all tasks)')],
            right: [label(sessionsPerTask, 'Sessions per task')],
            width: 8,
          }),
          new cloudwatch.GraphWidget({ title: 'Audio minutes streamed', left: [audioMinutes], width: 8 }),
          new cloudwatch.GraphWidget({
            title: 'Gateway tasks',
            left: [
              healthyHosts.with({ label: 'Healthy targets (min)' }),
              unhealthyHosts.with({ label: 'Unhealthy targets (max)' }),
              label(outOfRotation, 'Tasks out of rotation (self-drain)'),
            ],
            right: [props.service.metricCpuUtilization(), props.service.metricMemoryUtilization()],
            width: 8,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Gateway load balancer',
            left: [
              activeFlows.with({ label: 'Active connections (max)' }),
              newFlows.with({ label: 'New connections' }),
            ],
            right: [
              elbResets.with({ label: 'Resets by the load balancer' }),
              targetResets.with({ label: 'Resets by tasks' }),
              tlsErrors.with({ label: 'Client TLS negotiation errors' }),
            ],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Calls refused at MAX_SESSIONS',
            left: [label(refusedUpgrades, 'Upgrades refused (task full)')],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Recordings spool unavailable',
            left: [label(recordingsUnavailable, 'Tasks without a usable spool (max)')],
            right: [label(gw(GATEWAY_METRICS.recordingsKept, 'Sum'), 'Recordings kept for a retried upload')],
            width: 8,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Transcribe errors and throttles',
            left: [
              label(transcribeErrors, 'Transcribe errors'),
              label(throttled, 'Transcribe throttles'),
              label(segmentFailures, 'Segments failed'),
            ],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Utterance latency (ms)',
            left: [label(latencyP50, 'p50'), label(latencyP99, 'p99')],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Utterance writes failed and held',
            left: [label(putFailures, 'Utterance writes failed (given up)')],
            right: [label(utterancesHeld, 'Utterances held for retry (max per task)')],
            width: 8,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Webhook failures',
            left: [label(webhookFailures, 'Webhook deliveries dead-lettered'), label(webhookRetries, 'Retried')],
            width: 8,
          }),
          dlqDepth.length > 0
            ? new cloudwatch.GraphWidget({ title: 'Dead-letter queue depth', left: dlqDepth, width: 8 })
            : new cloudwatch.TextWidget({
                markdown:
                  '### Dead-letter queue depth\nNo dead-letter queue in this deployment (fan-out and export off).',
                width: 8,
                height: 6,
              }),
          new cloudwatch.GraphWidget({
            title: 'API requests and errors',
            left: [apiCount, api4xx, api5xx],
            right: [apiLatency],
            width: 8,
          }),
        ],
        [
          ...(fanout && iteratorAge
            ? [
                new cloudwatch.GraphWidget({
                  title: 'Real-time fan-out',
                  left: [
                    fanout.metricErrors({ period: Duration.minutes(1), statistic: 'Sum', label: 'Fan-out errors' }),
                  ],
                  right: [label(iteratorAge, 'Iterator age (ms, max)')],
                  width: 8,
                }),
              ]
            : []),
          ...(props.exportFunction && exportErrors
            ? [
                new cloudwatch.GraphWidget({
                  title: 'Feed export',
                  left: [
                    label(exportErrors, 'Export failures'),
                    props.exportFunction.metricInvocations({
                      period: Duration.minutes(5),
                      statistic: 'Sum',
                      label: 'Export runs',
                    }),
                  ],
                  width: 8,
                }),
              ]
            : []),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Lambda errors',
            left: Object.entries(props.functions).map(([name, fn]) =>
              fn.metricErrors({ period: Duration.minutes(1), statistic: 'Sum', label: name }),
            ),
            width: 8,
          }),
          // One widget per table: the per-operation expressions of two tables would share metric ids.
          ...props.tables.map(
            (t) =>
              new cloudwatch.GraphWidget({
                title: `DynamoDB throttled requests: ${t.node.id}`,
                left: [
                  t.metricThrottledRequestsForOperations({ operations: TABLE_OPERATIONS, period: Duration.minutes(1) }),
                ],
                width: 8,
              }),
          ),
        ],
      ],
    });

    const alarm = (
      alarmId: string,
      metric: cloudwatch.IMetric,
      threshold: number,
      description: string,
      periods = 1,
      below?: { treatMissingData: cloudwatch.TreatMissingData },
    ) => {
      const a = new cloudwatch.Alarm(this, alarmId, {
        metric,
        threshold,
        evaluationPeriods: periods,
        datapointsToAlarm: periods,
        comparisonOperator: below
          ? cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
          : cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: below?.treatMissingData ?? cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      a.addAlarmAction(new cwActions.SnsAction(this.alarmTopic));
      a.addOkAction(new cwActions.SnsAction(this.alarmTopic));
      this.alarms.push(a);
      return a;
    };

    alarm(
      'TranscribeThrottled',
      throttled,
      1,
      'Transcribe refused streams (concurrency quota, ~25 by default): request a quota increase; calls are buffered then lost',
      3,
    );
    alarm('TranscribeErrors', transcribeErrors, 5, 'Transcribe stream errors in 3 consecutive minutes', 3);
    alarm('SegmentFailures', segmentFailures, 1, 'A transcription segment failed: its call is not being transcribed');
    alarm('UtterancePutFailures', putFailures, 1, 'Utterances could not be stored in DynamoDB');
    alarm(
      'UtteranceLatencyP99',
      latencyP99,
      2000,
      'p99 utterance latency above 2 s for 5 minutes (contract: 200–600 ms)',
      5,
    );
    alarm(
      'SessionsPerTaskHigh',
      sessionsPerTask,
      props.sessionsPerTaskAlarmThreshold,
      'Gateway tasks are near MAX_SESSIONS and scaling has not caught up: raise maxTasks or the task size',
      3,
    );
    alarm(
      'UnhealthyGatewayTasks',
      unhealthyHosts,
      1,
      'A gateway task fails its load balancer health check: ECS replaces it (ending its calls) once it is unhealthy',
      3,
    );
    alarm(
      'GatewayHealthyHostsLow',
      healthyHosts,
      props.minHealthyTasks,
      `Fewer than ${props.minHealthyTasks} (minTasks) healthy gateway targets for ${GATEWAY_ALARMS.healthyHostsLowMinutes} ` +
        'minutes: new calls have too little capacity (tasks failing, lost zone, or a deployment that does not start)',
      GATEWAY_ALARMS.healthyHostsLowMinutes,
      // No data means no healthy target reported at all.
      { treatMissingData: cloudwatch.TreatMissingData.BREACHING },
    );
    alarm(
      'RefusedUpgrades',
      refusedUpgradesAlarmMetric,
      1,
      'A gateway task refused calls at MAX_SESSIONS: scaling did not keep up; raise maxTasks, lower ' +
        'targetSessionsPerTask, or check that new tasks start',
    );
    alarm(
      'RecordingsUnavailable',
      recordingsUnavailable,
      1,
      'A gateway task cannot write its recordings spool (full or unusable task storage): segments that allow ' +
        'recording are not recorded on it; see RECORDINGS_SPOOL_UNAVAILABLE in the gateway logs',
    );
    alarm(
      'UtterancesHeld',
      utterancesHeld,
      1,
      'A gateway task has held utterances it cannot store for 5 minutes (DynamoDB unavailable or throttling): ' +
        'they are retried and not lost unless the task stops; see PIPELINE_UTTERANCE_HELD in the gateway logs',
      GATEWAY_ALARMS.utterancesHeldMinutes,
    );
    alarm('Api5xx', api5xx, 5, 'The control API answered 5xx (start/stop/messages failing)', 2);
    alarm('ApiLatencyP99', apiLatency, 8000, 'Control API p99 latency above 8 s', 5);
    alarm(
      'WebhookDeadLettered',
      webhookFailures,
      1,
      'Webhook deliveries were given up after their retries: they wait as dead letters in the Subscriptions table (redrive per docs/realtime.md)',
    );
    for (const [name, fn] of Object.entries(props.functions)) {
      alarm(
        `${name}Errors`,
        fn.metricErrors({ period: Duration.minutes(1), statistic: 'Sum' }),
        1,
        `${name} Lambda errors`,
        2,
      );
    }
    for (const table of props.tables) {
      alarm(
        `${table.node.id}SystemErrors`,
        table.metricSystemErrorsForOperations({ operations: TABLE_OPERATIONS, period: Duration.minutes(1) }),
        1,
        `DynamoDB system errors on ${table.node.id}`,
        2,
      );
    }
    dlqs.forEach(([name, q]) => {
      alarm(
        `${name}DeadLetters`,
        q.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
        1,
        `Messages in the ${name} dead-letter queue: fix the cause, then redrive (docs/deploy.md)`,
      );
    });
    if (iteratorAge) {
      alarm(
        'FanoutIteratorAge',
        iteratorAge,
        FANOUT_ITERATOR_AGE_ALARM_MS,
        'The fan-out is more than a minute behind the Utterances stream for 5 minutes: real-time delivery is late',
        5,
      );
    }
    if (exportErrors) {
      // A single failed run matters (the export runs once a night): one 5-minute period is enough.
      alarm('ExportFailures', exportErrors, 1, 'A feed export run failed (it is retried; see the export DLQ)');
    }
  }
}

/**
 * Feed export (docs/feeds.md, architecture §1.7): the export function, what runs it, and the Glue table
 * Athena reads the result with.
 *
 * - **Nightly**: EventBridge Scheduler, `cron(0 2 * * ? *)` in time zone `UTC` (stated, not implied), invokes
 *   the function with `{"source":"schedule","scheduledTime":…}`; it exports the UTC day before.
 * - **On demand and continuations**: an object written under `feeds/_requests/` (by the REST route
 *   `POST /fileexporter/v1/admin/exportfeed`, or by the export itself when it nears its deadline) invokes the
 *   function through the bucket's event notification.
 * - One export per day at a time, by construction rather than by reserved concurrency (which accounts with a
 *   low concurrency quota cannot grant): the schedule starts one run a day; a continuation request is
 *   written only once a run has stopped exporting and saved its checkpoint, so the run it triggers never
 *   overlaps the export work of the one before; Lambda's retries of a failed run come after that run; and
 *   runs of different days write disjoint keys (the day's parts, checkpoint and manifest). Not covered: an
 *   export requested for a day while that day's export runs, and a duplicated delivery (S3 notifications and
 *   Lambda's asynchronous queue are at-least-once). Either can run two exports of one day side by side; the
 *   parts are deterministic (same keys, same bytes for the same rows), so the result is normally the same
 *   files, and a re-export of the day repairs it otherwise. `features.exportReservedConcurrency` reserves one
 *   execution for a hard guarantee.
 * - The Glue table is built from `contract/glue-schema.ts`, the same description the exporter's rows
 *   follow: location `feeds/utterances/version=1/format=jsonl/`, partition projection on `dt`/`hr`.
 */
import { Duration, Stack, TimeZone, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as lambdaDestinations from 'aws-cdk-lib/aws-lambda-destinations';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { EnvironmentOf, EXPORT_ENV } from '../contract/env-names';
import { type GlueTableSpec, utterancesGlueTable } from '../contract/glue-schema';
import { EXPORT_INDEX_NAME } from '../contract/tables';
import { HouseFunction } from './house-function';
import { lambdaMetricsService } from './metrics-scope';
import { logicalIdOf } from './store';

/** Everything the feed lives under in the bucket (data, manifests, checkpoints, requests). */
export const FEED_ROOT_PREFIX = 'feeds/';
/** Export requests: an object created here invokes the export. */
export const EXPORT_REQUESTS_PREFIX = 'feeds/_requests/';
/** The nightly schedule: 02:00 every day, read in {@link EXPORT_SCHEDULE_TIME_ZONE}. */
export const EXPORT_SCHEDULE_EXPRESSION = 'cron(0 2 * * ? *)';
export const EXPORT_SCHEDULE_TIME_ZONE = 'UTC';
/** Export function limits: the full Lambda timeout, memory for gzip and two pages per shard. */
export const EXPORT_FUNCTION = { timeoutSec: 900, memorySizeMiB: 1024 } as const;

/** Construct id of CDK's stack-wide bucket-notifications custom resource function. */
const BUCKET_NOTIFICATIONS_HANDLER_ID = 'BucketNotificationsHandler050a0587b7544547bf325f094a3db834';

/** Props of {@link FeedExport}. */
export interface FeedExportProps {
  readonly feedBucket: s3.IBucket;
  readonly utterancesTable: dynamodb.ITable;
  /** Glue database name (lower case, underscores). */
  readonly databaseName: string;
  /** First day partition projection considers (`YYYY-MM-DD`). */
  readonly projectionStartDay: string;
  readonly metricsNamespace: string;
  readonly logRetentionDays: logs.RetentionDays;
  /**
   * Reserve one concurrent execution: a hard one-export-at-a-time guarantee. Needs an account whose
   * concurrency quota leaves at least 100 unreserved after it. @default false
   */
  readonly reservedConcurrency?: boolean;
}

/** The export function, its schedule and triggers, and the Glue catalog entries over the feed bucket. */
export class FeedExport extends Construct {
  public readonly exportFunction: HouseFunction;
  public readonly schedule: scheduler.Schedule;
  /** Invocations that failed after Lambda's own retries (schedule, S3 notification). */
  public readonly deadLetterQueue: sqs.Queue;
  public readonly database: glue.CfnDatabase;
  public readonly table: glue.CfnTable;
  /** The table as `contract/glue-schema.ts` describes it (bucket name may be a token). */
  public readonly tableSpec: GlueTableSpec;

  constructor(scope: Construct, id: string, props: FeedExportProps) {
    super(scope, id);
    const account = Stack.of(this).account;

    this.deadLetterQueue = new sqs.Queue(this, 'ExportDeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is the on-failure destination of the export function (and of its schedule); a dead-letter ' +
        'queue of a dead-letter queue would only move the same events again',
    });

    this.exportFunction = new HouseFunction(this, 'Export', {
      entry: 'lambdas/export/handler.ts',
      description: 'Exports a UTC day (or hour) of utterances to the feed bucket (nightly, on request, continuations)',
      memorySizeMiB: EXPORT_FUNCTION.memorySizeMiB,
      timeoutSec: EXPORT_FUNCTION.timeoutSec,
      ...(props.reservedConcurrency === true && { reservedConcurrentExecutions: 1 }),
      logRetentionDays: props.logRetentionDays,
      environment: {
        POWERTOOLS_SERVICE_NAME: lambdaMetricsService(this, 'export'),
        POWERTOOLS_METRICS_NAMESPACE: props.metricsNamespace,
        LOG_LEVEL: 'INFO',
        UTTERANCES_TABLE: props.utterancesTable.tableName,
        FEEDS_BUCKET: props.feedBucket.bucketName,
      } satisfies EnvironmentOf<typeof EXPORT_ENV>,
    });
    // A failed run leaves its checkpoint; the retries resume from it, and what still fails lands in the queue.
    this.exportFunction.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
      onFailure: new lambdaDestinations.SqsDestination(this.deadLetterQueue),
    });
    this.grantExport(props);

    // Our own role (instead of the shared one the target would create) so its findings are answered here.
    const scheduleRole = new iam.Role(this, 'ScheduleRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: 'EventBridge Scheduler: invokes the nightly feed export',
    });
    Validations.of(scheduleRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(this.exportFunction.node.defaultChild as lambda.CfnFunction)}.Arn>:*]`,
      reason:
        'The scheduler target grant covers the export function and its versions/aliases (function ARN + ":*"); ' +
        'it allows lambda:InvokeFunction of this one function only',
    });

    this.schedule = new scheduler.Schedule(this, 'Nightly', {
      description: 'Nightly feed export of the previous UTC day',
      schedule: scheduler.ScheduleExpression.expression(
        EXPORT_SCHEDULE_EXPRESSION,
        TimeZone.of(EXPORT_SCHEDULE_TIME_ZONE),
      ),
      target: new schedulerTargets.LambdaInvoke(this.exportFunction, {
        input: scheduler.ScheduleTargetInput.fromObject({
          source: 'schedule',
          scheduledTime: scheduler.ContextAttribute.scheduledTime,
        }),
        role: scheduleRole,
        retryAttempts: 3,
        maxEventAge: Duration.hours(2),
        deadLetterQueue: this.deadLetterQueue,
      }),
    });

    props.feedBucket.addEventNotification(s3.EventType.OBJECT_CREATED, new s3n.LambdaDestination(this.exportFunction), {
      prefix: EXPORT_REQUESTS_PREFIX,
    });
    // CDK configures bucket notifications through one stack-wide custom resource function.
    const notificationsHandler = Stack.of(this).node.tryFindChild(BUCKET_NOTIFICATIONS_HANDLER_ID);
    if (notificationsHandler) {
      Validations.of(notificationsHandler).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason:
          "CDK's built-in bucket-notifications custom resource (it sets the feeds/_requests/ notification at deploy " +
          'time); its role and AWS-managed logging policy are not configurable',
      });
    }

    this.tableSpec = utterancesGlueTable({
      bucketName: props.feedBucket.bucketName,
      projectionStartDay: props.projectionStartDay,
    });
    const spec = this.tableSpec;
    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: account,
      databaseInput: { name: props.databaseName, description: 'audiohook-transcribe feeds (Athena)' },
    });
    const column = (c: GlueTableSpec['columns'][number]) => ({ name: c.name, type: c.type, comment: c.comment });
    this.table = new glue.CfnTable(this, 'UtterancesTable', {
      catalogId: account,
      databaseName: props.databaseName,
      tableInput: {
        name: spec.name,
        description: spec.description,
        tableType: spec.tableType,
        parameters: { ...spec.parameters },
        partitionKeys: spec.partitionKeys.map(column),
        storageDescriptor: {
          location: spec.location,
          inputFormat: spec.inputFormat,
          outputFormat: spec.outputFormat,
          compressed: true,
          serdeInfo: { serializationLibrary: spec.serializationLibrary, parameters: { ...spec.serdeParameters } },
          columns: spec.columns.map(column),
        },
      },
    });
    this.table.addResourceDependency(this.database);
  }

  private grantExport(props: FeedExportProps): void {
    const fn = this.exportFunction;
    // The export reads the day through the export index only (store/utterances.ts), never the base table.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ExportIndex',
        actions: ['dynamodb:Query'],
        resources: [`${props.utterancesTable.tableArn}/index/${EXPORT_INDEX_NAME}`],
      }),
    );
    // Data, manifests, checkpoints and requests are all under feeds/; nothing else in the bucket is touched.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'FeedObjects',
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
        resources: [props.feedBucket.arnForObjects(`${FEED_ROOT_PREFIX}*`)],
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ListFeeds',
        actions: ['s3:ListBucket'],
        resources: [props.feedBucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${FEED_ROOT_PREFIX}*`] } },
      }),
    );
    Validations.of(fn.role as iam.Role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(props.feedBucket)}.Arn>/${FEED_ROOT_PREFIX}*]`,
      reason:
        'Feed part, manifest, checkpoint and request keys are computed per day and hour at run time; the ' +
        'permission stops at the feeds/ prefix of the feed bucket',
    });
  }
}

/**
 * Feed export, the part that needs no runtime code yet: the Glue database and the `utterances` table over
 * the feed bucket, so Athena can query the nightly files at any scale (architecture §1.7). Partition
 * projection computes partitions from the `dt=`/`hr=` layout, so no crawler and no `MSCK REPAIR` run.
 * Feed v1 schema: api-contract.md §4.1 [REC]. The 02:00 UTC schedule and the export function arrive with
 * issue 6.
 */
import { Stack } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** Feed name, version and format as they appear in S3 keys (`utterances/version=1/format=jsonl/…`). */
export const FEED = { name: 'utterances', version: '1', format: 'jsonl' } as const;

/** Feed v1 columns (all strings: timestamps are ISO-8601 text, so no SerDe timestamp parsing can drift). */
export const FEED_COLUMNS: readonly string[] = [
  'instance_ts',
  'conversation_id',
  'external_conversation_id',
  'stream_id',
  'sender_role',
  'sender_id',
  'agent_id',
  'utterance',
  'utterance_start_ts',
  'utterance_end_ts',
  'created_ts',
  'event_uuid',
  'language',
  'redaction_output',
  'company_marker',
];

/** Props of {@link FeedExport}. */
export interface FeedExportProps {
  readonly feedBucket: s3.IBucket;
  /** Glue database name (lower case, underscores). */
  readonly databaseName: string;
  /** First day partition projection considers (`YYYY-MM-DD`). */
  readonly firstDay: string;
}

/** Glue catalog entries over the feed bucket. */
export class FeedExport extends Construct {
  public readonly database: glue.CfnDatabase;
  public readonly table: glue.CfnTable;
  /** `s3://<bucket>/utterances/version=1/format=jsonl/` */
  public readonly location: string;

  constructor(scope: Construct, id: string, props: FeedExportProps) {
    super(scope, id);
    const account = Stack.of(this).account;
    this.location = `s3://${props.feedBucket.bucketName}/${FEED.name}/version=${FEED.version}/format=${FEED.format}/`;

    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: account,
      databaseInput: { name: props.databaseName, description: 'audiohook-transcribe feeds (Athena)' },
    });

    this.table = new glue.CfnTable(this, 'UtterancesTable', {
      catalogId: account,
      databaseName: props.databaseName,
      tableInput: {
        name: FEED.name,
        description: 'Final utterances, one JSON object per line, gzip; exported daily at 02:00 UTC',
        tableType: 'EXTERNAL_TABLE',
        parameters: {
          classification: 'json',
          'projection.enabled': 'true',
          'projection.dt.type': 'date',
          'projection.dt.format': 'yyyy-MM-dd',
          'projection.dt.range': `${props.firstDay},NOW`,
          'projection.dt.interval': '1',
          'projection.dt.interval.unit': 'DAYS',
          'projection.hr.type': 'integer',
          'projection.hr.range': '0,23',
          'projection.hr.digits': '2',
          'storage.location.template': `${this.location}dt=\${dt}/hr=\${hr}/`,
        },
        partitionKeys: [
          { name: 'dt', type: 'string' },
          { name: 'hr', type: 'string' },
        ],
        storageDescriptor: {
          location: this.location,
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          compressed: true,
          serdeInfo: {
            serializationLibrary: 'org.openx.data.jsonserde.JsonSerDe',
            parameters: { 'ignore.malformed.json': 'false' },
          },
          columns: FEED_COLUMNS.map((name) => ({ name, type: 'string' })),
        },
      },
    });
    this.table.addResourceDependency(this.database);
  }
}

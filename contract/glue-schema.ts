/**
 * The Glue Data Catalog table over the utterances feed, as plain data for the CDK stack (lib/ may import
 * this file: it imports nothing). Partition projection computes the `dt`/`hr` partitions from the table
 * properties, so Athena queries new days with no crawler and no `MSCK REPAIR` (docs/feeds.md).
 */

/** One Glue column. */
export interface GlueColumnSpec {
  readonly name: string;
  /** Hive type. */
  readonly type: string;
  readonly comment: string;
}

/** Everything `AWS::Glue::Table` needs besides the database and catalog ids. */
export interface GlueTableSpec {
  readonly name: string;
  readonly description: string;
  readonly tableType: 'EXTERNAL_TABLE';
  readonly columns: readonly GlueColumnSpec[];
  readonly partitionKeys: readonly GlueColumnSpec[];
  /** `s3://<bucket>/feeds/utterances/version=1/format=jsonl/` */
  readonly location: string;
  readonly inputFormat: string;
  readonly outputFormat: string;
  readonly serializationLibrary: string;
  readonly serdeParameters: Readonly<Record<string, string>>;
  /** Table parameters, partition projection included. */
  readonly parameters: Readonly<Record<string, string>>;
}

/** Columns of the utterances feed v1, in file order, without the partition columns. */
export const UTTERANCES_GLUE_COLUMNS: readonly GlueColumnSpec[] = [
  { name: 'instance_ts', type: 'timestamp', comment: 'UTC hour window start of created_ts' },
  { name: 'conversation_id', type: 'string', comment: 'conversation id (Genesys conversationId, the start guid)' },
  { name: 'external_conversation_id', type: 'string', comment: 'same as conversation_id (File Exporter column)' },
  { name: 'stream_id', type: 'string', comment: 'per-role stream id of the transcription segment' },
  { name: 'segment', type: 'int', comment: 'transcription segment (start to stop) number, from 1' },
  { name: 'sender_role', type: 'string', comment: 'customer or agent' },
  { name: 'sender_id', type: 'string', comment: 'customerId or agentId given at start-streaming' },
  { name: 'agent_id', type: 'string', comment: 'agentId, on agent utterances only' },
  { name: 'utterance', type: 'string', comment: 'text (redacted when redaction was requested)' },
  { name: 'utterance_start_ms', type: 'bigint', comment: 'start offset on the conversation audio timeline, ms' },
  { name: 'utterance_end_ms', type: 'bigint', comment: 'end offset on the conversation audio timeline, ms' },
  { name: 'created_ts', type: 'timestamp', comment: 'when the final utterance was stored (UTC); decides dt/hr' },
  { name: 'event_uuid', type: 'string', comment: 'utterance id, unique and stable' },
  { name: 'message_id', type: 'string', comment: 'id of the utterance in the messages API (ULID)' },
  { name: 'language', type: 'string', comment: 'IETF language tag' },
  { name: 'confidence', type: 'double', comment: 'mean word confidence 0..1, null when unknown' },
  { name: 'company_marker', type: 'string', comment: 'deployment tenant marker, null when not configured' },
];

/** Partition columns (also present in every row, for readers of the raw files). */
export const UTTERANCES_GLUE_PARTITION_KEYS: readonly GlueColumnSpec[] = [
  { name: 'dt', type: 'string', comment: 'UTC day of created_ts, YYYY-MM-DD' },
  { name: 'hr', type: 'string', comment: 'UTC hour of created_ts, HH' },
];

/** Options of {@link utterancesGlueTable}. */
export interface UtterancesGlueTableOptions {
  /** Physical bucket name. */
  readonly bucketName: string;
  /** @default 'utterances_v1' */
  readonly tableName?: string;
  /** First day partition projection generates. @default '2024-01-01' */
  readonly projectionStartDay?: string;
}

/** The Glue table over `feeds/utterances/version=1/format=jsonl/`. */
export function utterancesGlueTable(options: UtterancesGlueTableOptions): GlueTableSpec {
  const location = `s3://${options.bucketName}/feeds/utterances/version=1/format=jsonl/`;
  return {
    name: options.tableName ?? 'utterances_v1',
    description: 'audiohook-transcribe utterances feed v1 (gzip JSON Lines, dt/hr = UTC day/hour of created_ts)',
    tableType: 'EXTERNAL_TABLE',
    columns: UTTERANCES_GLUE_COLUMNS,
    partitionKeys: UTTERANCES_GLUE_PARTITION_KEYS,
    location,
    inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
    outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
    serializationLibrary: 'org.apache.hive.hcatalog.data.JsonSerDe',
    // Our timestamps are ISO-8601 UTC with milliseconds and a literal Z (Date#toISOString).
    serdeParameters: { 'timestamp.formats': "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'" },
    parameters: {
      EXTERNAL: 'TRUE',
      classification: 'json',
      compressionType: 'gzip',
      typeOfData: 'file',
      'projection.enabled': 'true',
      'projection.dt.type': 'date',
      'projection.dt.format': 'yyyy-MM-dd',
      'projection.dt.range': `${options.projectionStartDay ?? '2024-01-01'},NOW`,
      'projection.dt.interval': '1',
      'projection.dt.interval.unit': 'DAYS',
      'projection.hr.type': 'integer',
      'projection.hr.range': '0,23',
      'projection.hr.digits': '2',
      'storage.location.template': `${location}dt=\${dt}/hr=\${hr}/`,
    },
  };
}

import { beforeAll, describe, expect, it } from 'vitest';
import { UTTERANCES_GLUE_COLUMNS, utterancesGlueTable } from '../../contract/glue-schema';
import { EXPORT_REQUESTS_PREFIX as CORE_REQUESTS_PREFIX } from '../../core/feeds/partitions';
import {
  EXPORT_FUNCTION,
  EXPORT_REQUESTS_PREFIX,
  EXPORT_SCHEDULE_EXPRESSION,
  EXPORT_SCHEDULE_TIME_ZONE,
} from '../../lib/feed-export';
import { onlyResource, type Synthesized, synthesize } from './fixtures';

type Statement = { Sid?: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

describe('feed export', () => {
  let s: Synthesized;
  const id = (c: { node: { defaultChild?: unknown } } | undefined) =>
    s.stack.getLogicalId(c?.node.defaultChild as never);
  const feed = () => {
    const f = s.stack.feedExport;
    if (!f) throw new Error('no feed export in the stack');
    return f;
  };
  const statementsOf = (fn: { role?: unknown }) => {
    const roleId = id(fn.role as never);
    return Object.values(
      s.template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } }),
    ).flatMap(
      (p) => (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement,
    );
  };
  const bucketArn = () => ({ 'Fn::GetAtt': [id(s.stack.store.feedBucket), 'Arn'] });

  beforeAll(() => {
    s = synthesize();
  });

  describe('export function', () => {
    it('runs up to 15 minutes with 1 GB, without reserved concurrency by default', () => {
      const fn = s.template.toJSON().Resources[id(feed().exportFunction)] as { Properties: Record<string, unknown> };
      expect(fn.Properties).toMatchObject({ Timeout: 900, MemorySize: 1024 });
      // Reserving any concurrency fails in accounts whose quota leaves fewer than 100 executions unreserved.
      expect(fn.Properties.ReservedConcurrentExecutions).toBeUndefined();
      expect(EXPORT_FUNCTION).toEqual({ timeoutSec: 900, memorySizeMiB: 1024 });
    });

    it('reserves one execution when features.exportReservedConcurrency is set', { timeout: 180_000 }, () => {
      const reserved = synthesize({ features: { exportReservedConcurrency: true } });
      const fn = reserved.stack.feedExport?.exportFunction;
      const resource = reserved.template.toJSON().Resources[
        reserved.stack.getLogicalId(fn?.node.defaultChild as never)
      ] as { Properties: Record<string, unknown> };
      expect(resource.Properties.ReservedConcurrentExecutions).toBe(1);
    });

    it('knows its table and bucket', () => {
      const fn = s.template.toJSON().Resources[id(feed().exportFunction)] as {
        Properties: { Environment: { Variables: Record<string, unknown> } };
      };
      expect(fn.Properties.Environment.Variables).toMatchObject({
        UTTERANCES_TABLE: { Ref: id(s.stack.store.utterancesTable) },
        FEEDS_BUCKET: { Ref: id(s.stack.store.feedBucket) },
      });
    });

    it('sends runs that still fail after Lambda retries to a dead-letter queue', () => {
      s.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: id(feed().exportFunction) },
        MaximumRetryAttempts: 2,
        DestinationConfig: {
          OnFailure: { Destination: { 'Fn::GetAtt': [id(feed().deadLetterQueue), 'Arn'] } },
        },
      });
    });

    it('queries the export index only, and touches the bucket under feeds/ only', () => {
      const statements = statementsOf(feed().exportFunction);
      const index = statements.find((st) => st.Sid === 'ExportIndex');
      expect(index?.Action).toBe('dynamodb:Query');
      expect(JSON.stringify(index?.Resource)).toContain('/index/byExportDay');
      const objects = statements.find((st) => st.Sid === 'FeedObjects');
      expect(objects?.Resource).toEqual({ 'Fn::Join': ['', [bucketArn(), '/feeds/*']] });
      const list = statements.find((st) => st.Sid === 'ListFeeds');
      expect(list).toMatchObject({
        Action: 's3:ListBucket',
        Resource: bucketArn(),
        Condition: { StringLike: { 's3:prefix': ['feeds/*'] } },
      });
      const actions = statements.flatMap((st) => [st.Action].flat());
      expect(actions.filter((a) => a.includes('*'))).toEqual([]);
    });
  });

  describe('nightly schedule', () => {
    it('runs at 02:00 with the time zone stated as UTC, passing the scheduled time', () => {
      const [, schedule] = onlyResource(s.template, 'AWS::Scheduler::Schedule');
      expect(schedule).toMatchObject({
        ScheduleExpression: 'cron(0 2 * * ? *)',
        ScheduleExpressionTimezone: 'UTC',
        State: 'ENABLED',
        FlexibleTimeWindow: { Mode: 'OFF' },
        Target: {
          Arn: { 'Fn::GetAtt': [id(feed().exportFunction), 'Arn'] },
          RoleArn: expect.anything(),
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [id(feed().deadLetterQueue), 'Arn'] } },
        },
      });
      expect(JSON.parse((schedule.Target as { Input: string }).Input)).toEqual({
        source: 'schedule',
        scheduledTime: '<aws.scheduler.scheduled-time>',
      });
      expect([EXPORT_SCHEDULE_EXPRESSION, EXPORT_SCHEDULE_TIME_ZONE]).toEqual(['cron(0 2 * * ? *)', 'UTC']);
    });

    it('may invoke the export function and nothing else', () => {
      const [, schedule] = onlyResource(s.template, 'AWS::Scheduler::Schedule');
      const roleRef = (schedule.Target as { RoleArn: { 'Fn::GetAtt': [string, string] } }).RoleArn['Fn::GetAtt'][0];
      const statements = Object.values(
        s.template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleRef }] } }),
      ).flatMap(
        (p) =>
          (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement,
      );
      const invoke = statements.filter((st) => [st.Action].flat().includes('lambda:InvokeFunction'));
      expect(invoke.length).toBeGreaterThan(0);
      expect(JSON.stringify(invoke.map((st) => st.Resource))).toContain(id(feed().exportFunction));
      const others = statements
        .flatMap((st) => [st.Action].flat())
        .filter((a) => a !== 'lambda:InvokeFunction' && a !== 'sqs:SendMessage');
      expect(others).toEqual([]);
    });
  });

  describe('on-demand exports', () => {
    it('invokes the export for objects created under feeds/_requests/ (the prefix core writes requests to)', () => {
      expect(EXPORT_REQUESTS_PREFIX).toBe(CORE_REQUESTS_PREFIX);
      s.template.hasResourceProperties('Custom::S3BucketNotifications', {
        BucketName: { Ref: id(s.stack.store.feedBucket) },
        NotificationConfiguration: {
          LambdaFunctionConfigurations: [
            {
              Events: ['s3:ObjectCreated:*'],
              Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'feeds/_requests/' }] } },
              LambdaFunctionArn: { 'Fn::GetAtt': [id(feed().exportFunction), 'Arn'] },
            },
          ],
        },
      });
    });

    it('lets the request route write requests only, under feeds/_requests/', () => {
      const fn = s.stack.controlApi.routeFunctions.get('request-export');
      if (!fn) throw new Error('no request-export function');
      const s3 = statementsOf(fn).filter((st) => JSON.stringify(st.Action).includes('s3:'));
      expect(s3).toEqual([
        expect.objectContaining({
          Action: 's3:PutObject',
          Resource: { 'Fn::Join': ['', [bucketArn(), '/feeds/_requests/*']] },
        }),
      ]);
    });

    it('lets the File Exporter routes read feeds/ and list under it, nothing more', () => {
      const fn = s.stack.controlApi.routeFunctions.get('file-exporter-get-feed-file');
      if (!fn) throw new Error('no file exporter function');
      const s3 = statementsOf(fn).filter((st) => JSON.stringify(st.Action).includes('s3:'));
      expect(s3.flatMap((st) => [st.Action].flat()).sort()).toEqual(['s3:GetObject', 's3:ListBucket']);
      expect(s3.find((st) => st.Action === 's3:GetObject')?.Resource).toEqual({
        'Fn::Join': ['', [bucketArn(), '/feeds/*']],
      });
      expect(s3.find((st) => st.Action === 's3:ListBucket')?.Condition).toEqual({
        StringLike: { 's3:prefix': ['feeds/*'] },
      });
    });
  });

  describe('Glue table', () => {
    it('is exactly utterancesGlueTable() of contract/glue-schema.ts over the feed bucket', () => {
      const [, table] = onlyResource(s.template, 'AWS::Glue::Table');
      const spec = s.stack.resolve(
        utterancesGlueTable({ bucketName: s.stack.store.feedBucket.bucketName, projectionStartDay: '2025-01-01' }),
      ) as ReturnType<typeof utterancesGlueTable>;
      const input = table.TableInput as {
        Name: string;
        TableType: string;
        Parameters: Record<string, unknown>;
        PartitionKeys: Array<{ Name: string; Type: string }>;
        StorageDescriptor: {
          Location: unknown;
          Columns: Array<{ Name: string; Type: string; Comment: string }>;
          SerdeInfo: { SerializationLibrary: string; Parameters: Record<string, string> };
          InputFormat: string;
          OutputFormat: string;
        };
      };
      expect(input.Name).toBe(spec.name);
      expect(input.TableType).toBe('EXTERNAL_TABLE');
      expect(input.StorageDescriptor.Location).toEqual(spec.location);
      expect(input.StorageDescriptor.Columns).toEqual(
        UTTERANCES_GLUE_COLUMNS.map((c) => ({ Name: c.name, Type: c.type, Comment: c.comment })),
      );
      expect(input.PartitionKeys.map((k) => [k.Name, k.Type])).toEqual([
        ['dt', 'string'],
        ['hr', 'string'],
      ]);
      expect(input.Parameters).toEqual(spec.parameters);
      expect(input.StorageDescriptor.SerdeInfo).toEqual({
        SerializationLibrary: spec.serializationLibrary,
        Parameters: spec.serdeParameters,
      });
      expect([input.StorageDescriptor.InputFormat, input.StorageDescriptor.OutputFormat]).toEqual([
        spec.inputFormat,
        spec.outputFormat,
      ]);
    });

    it('points at feeds/utterances/version=1/format=jsonl/ with partition projection on dt and hr', () => {
      const [, table] = onlyResource(s.template, 'AWS::Glue::Table');
      const text = JSON.stringify(table);
      expect(text).toContain('/feeds/utterances/version=1/format=jsonl/');
      expect(text).not.toMatch(/"\/utterances\/version=1/);
      expect(text).toContain('"projection.enabled":"true"');
      expect(text).toContain(`dt=\${dt}/hr=\${hr}/`);
    });
  });

  it('can be turned off (no function, schedule, notification or Glue table; the routes answer 403-01)', () => {
    const off = synthesize({ features: { feedExport: false } });
    off.template.resourceCountIs('AWS::Glue::Table', 0);
    off.template.resourceCountIs('AWS::Scheduler::Schedule', 0);
    off.template.resourceCountIs('Custom::S3BucketNotifications', 0);
    const fn = off.stack.controlApi.routeFunctions.get('file-exporter-list-feeds');
    const env = (
      off.template.toJSON().Resources[off.stack.getLogicalId(fn?.node.defaultChild as never)] as {
        Properties: { Environment: { Variables: Record<string, unknown> } };
      }
    ).Properties.Environment.Variables;
    expect(env.FEEDS_BUCKET).toBeUndefined();
  });
});

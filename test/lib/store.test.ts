import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { TABLE_SPECS, type TableSpec } from '../../contract/tables';
import { parseWebhookTargets } from '../../lambdas/shared/webhook-targets';
import { initialWebhookTargets, WEBHOOK_TARGET_ID } from '../../lib/store';
import { type Synthesized, synthesize } from './fixtures';

describe('store', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthesize({ webhook: { url: 'https://hooks.example.com/transcripts', auth: 'secret' } });
  });

  const tableOf = (spec: TableSpec) => {
    const table = s.stack.store.tables.get(spec.id);
    if (!table) throw new Error(`no ${spec.id} table in the stack`);
    return s.template.toJSON().Resources[s.stack.getLogicalId(table.node.defaultChild as never)] as {
      Properties: Record<string, unknown>;
      DeletionPolicy: string;
    };
  };

  it('creates one table per spec, no more', () => {
    expect(Object.keys(s.template.findResources('AWS::DynamoDB::Table'))).toHaveLength(TABLE_SPECS.length);
  });

  describe.each(TABLE_SPECS.map((spec) => [spec.id, spec] as const))(
    '%s table (from contract/tables.ts)',
    (_id, spec) => {
      it('has the keys of the spec', () => {
        const keys = [{ AttributeName: spec.partitionKey.name, KeyType: 'HASH' }];
        if (spec.sortKey) keys.push({ AttributeName: spec.sortKey.name, KeyType: 'RANGE' });
        expect(tableOf(spec).Properties.KeySchema).toEqual(keys);
        for (const k of [spec.partitionKey, spec.sortKey].filter((x) => x !== undefined)) {
          expect(tableOf(spec).Properties.AttributeDefinitions).toContainEqual({
            AttributeName: k.name,
            AttributeType: k.type,
          });
        }
      });

      it('has exactly the global secondary indexes of the spec', () => {
        const gsis = (tableOf(spec).Properties.GlobalSecondaryIndexes ?? []) as Array<Record<string, unknown>>;
        expect(gsis.map((g) => g.IndexName)).toEqual(spec.globalSecondaryIndexes.map((g) => g.indexName));
        for (const g of spec.globalSecondaryIndexes) {
          const keys = [{ AttributeName: g.partitionKey.name, KeyType: 'HASH' }];
          if (g.sortKey) keys.push({ AttributeName: g.sortKey.name, KeyType: 'RANGE' });
          expect(gsis.find((x) => x.IndexName === g.indexName)).toMatchObject({
            KeySchema: keys,
            Projection: { ProjectionType: g.projection.type },
          });
        }
      });

      it('has the stream of the spec (or none)', () => {
        const stream = tableOf(spec).Properties.StreamSpecification;
        if (spec.stream) expect(stream).toEqual({ StreamViewType: spec.stream });
        else expect(stream).toBeUndefined();
      });

      it('expires items on the spec TTL attribute', () => {
        expect(tableOf(spec).Properties.TimeToLiveSpecification).toEqual({
          AttributeName: spec.ttlAttribute,
          Enabled: true,
        });
      });

      it('is on-demand, KMS-encrypted, point-in-time recoverable, protected and retained', () => {
        expect(tableOf(spec).Properties).toMatchObject({
          BillingMode: 'PAY_PER_REQUEST',
          SSESpecification: { SSEEnabled: true },
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          DeletionProtectionEnabled: true,
        });
        expect(tableOf(spec).DeletionPolicy).toBe('Retain');
      });
    },
  );

  describe('feed bucket', () => {
    let props: Record<string, unknown>;
    let bucketId: string;
    beforeAll(() => {
      bucketId = s.stack.getLogicalId(s.stack.store.feedBucket.node.defaultChild as never);
      props = (s.template.toJSON().Resources[bucketId] as { Properties: Record<string, unknown> }).Properties;
    });

    it('blocks every kind of public access', () => {
      expect(props.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
    });

    it('is encrypted at rest and logs access to the access-log bucket', () => {
      expect(props.BucketEncryption).toEqual({
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      });
      expect(props.LoggingConfiguration).toMatchObject({ LogFilePrefix: 'feed-bucket/' });
    });

    it('expires feed files after the feed retention and cleans up failed uploads', () => {
      expect(props.LifecycleConfiguration).toEqual({
        Rules: [
          { Id: 'expire-feed-files', ExpirationInDays: 90, Status: 'Enabled' },
          {
            Id: 'abort-incomplete-uploads',
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
            Status: 'Enabled',
          },
        ],
      });
    });

    it('refuses any request without TLS (and TLS below 1.2)', () => {
      s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: bucketId },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            Match.objectLike({ Effect: 'Deny', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
          ]),
        },
      });
    });
  });

  describe('secrets', () => {
    it('generates the first AudioHook key with a 44-character alphanumeric (canonical base64) client secret', () => {
      s.template.hasResourceProperties('AWS::SecretsManager::Secret', {
        GenerateSecretString: {
          SecretStringTemplate: '{}',
          GenerateStringKey: 'genesys-audiohook-01',
          ExcludePunctuation: true,
          IncludeSpace: false,
          PasswordLength: 44,
        },
      });
    });

    it('starts the API credential set empty: no plain secret is ever in the template', () => {
      s.template.hasResourceProperties('AWS::SecretsManager::Secret', {
        Description: Match.stringLikeRegexp('REST API credentials'),
        SecretString: '{}',
      });
    });

    it('creates the webhook targets secret, empty until an operator adds the receiver credentials', () => {
      s.template.hasResourceProperties('AWS::SecretsManager::Secret', {
        Description: Match.stringLikeRegexp('^Webhook targets of the fan-out .* receiver auth secret'),
        SecretString: '[]',
      });
    });
  });

  describe('webhook targets without receiver authentication', () => {
    it('holds the complete target (no credential involved): id, URL and timeout from the config', () => {
      expect(
        JSON.parse(initialWebhookTargets({ url: 'https://hooks.example.com/t', auth: 'none', timeoutMs: 3000 })),
      ).toEqual([
        { id: WEBHOOK_TARGET_ID, url: 'https://hooks.example.com/t', auth: { type: 'none' }, timeoutMs: 3000 },
      ]);
    });

    it('parses as the targets the fan-out reads', () => {
      const json = initialWebhookTargets({ url: 'https://hooks.example.com/t', auth: 'none', timeoutMs: 3000 });
      expect(parseWebhookTargets(json).map((t) => t.url)).toEqual(['https://hooks.example.com/t']);
    });

    it('creates no webhook secret when no webhook is configured', () => {
      const plain = synthesize();
      plain.template.resourcePropertiesCountIs(
        'AWS::SecretsManager::Secret',
        { Description: Match.stringLikeRegexp('^Webhook targets') },
        0,
      );
    });
  });

  describe('recordings bucket', () => {
    let props: Record<string, unknown>;
    let bucketId: string;
    beforeAll(() => {
      bucketId = s.stack.getLogicalId(s.stack.store.recordingsBucket.node.defaultChild as never);
      props = (s.template.toJSON().Resources[bucketId] as { Properties: Record<string, unknown> }).Properties;
    });

    it('blocks every kind of public access and owns its objects', () => {
      expect(props.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(props.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
    });

    it('encrypts with KMS (bucket key on) and logs access', () => {
      expect(props.BucketEncryption).toEqual({
        ServerSideEncryptionConfiguration: [
          { ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' }, BucketKeyEnabled: true },
        ],
      });
      expect(props.LoggingConfiguration).toMatchObject({ LogFilePrefix: 'recordings-bucket/' });
    });

    it('expires recordings after the configured retention (30 days by default)', () => {
      expect(props.LifecycleConfiguration).toEqual({
        Rules: [
          { Id: 'expire-recordings', ExpirationInDays: 30, Status: 'Enabled' },
          {
            Id: 'abort-incomplete-uploads',
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
            Status: 'Enabled',
          },
        ],
      });
      const custom = synthesize({ retention: { recordingsDays: 3 } });
      const id = custom.stack.getLogicalId(custom.stack.store.recordingsBucket.node.defaultChild as never);
      expect(
        (custom.template.toJSON().Resources[id] as { Properties: { LifecycleConfiguration: unknown } }).Properties
          .LifecycleConfiguration,
      ).toMatchObject({ Rules: [{ Id: 'expire-recordings', ExpirationInDays: 3 }, {}] });
    });

    it('refuses any request without TLS (and TLS below 1.2)', () => {
      s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: bucketId },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            Match.objectLike({ Effect: 'Deny', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
          ]),
        },
      });
    });
  });
});

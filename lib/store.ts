/**
 * Store: everything that holds data. Both DynamoDB tables are built from the plain-data specs in
 * `contract/tables.ts` (the same specs create the local tables), so keys, indexes, stream and TTL cannot drift.
 * Also the feed bucket (nightly export), the recordings bucket (call audio the gateway keeps), the access-log
 * bucket (load balancer and S3 server access logs), and the secrets the runtime reads by id.
 */
import { Duration, RemovalPolicy, SecretValue, Stack, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { type KeyAttributeSpec, type ProjectionSpec, TABLE_SPECS, type TableSpec } from '../contract/tables';

/** Props of {@link Store}. */
export interface StoreProps {
  /** Keep tables, buckets and secrets when the stack is deleted (and protect tables from deletion). */
  readonly retainData: boolean;
  /** Feed files expire after this many days. */
  readonly feedRetentionDays: number;
  /** Access logs expire after this many days. */
  readonly accessLogRetentionDays: number;
  /** The AudioHook API key created with a generated client secret (Genesys integration credentials). */
  readonly initialAudiohookApiKey: string;
  /** Recordings expire after this many days. */
  readonly recordingsRetentionDays: number;
  /** Creates the webhook targets secret the fan-out reads. @default - no webhook */
  readonly webhook?: WebhookProps;
}

/** The webhook receiver of the deployment (AppConfig `webhook`). */
export interface WebhookProps {
  readonly url: string;
  readonly auth: 'none' | 'secret' | 'oauth2' | 'mtls';
  readonly timeoutMs: number;
}

/** Id of the single webhook target (its dead letters and metrics are keyed by it). */
export const WEBHOOK_TARGET_ID = 'primary';

/**
 * The first value of the webhook targets secret (the JSON array `lambdas/shared/webhook-targets.ts` reads).
 * Without receiver authentication it is the complete target; with it, the credentials are issued by the
 * receiver and entered by an operator (docs/deploy.md), so the list starts empty: nothing is delivered
 * unauthenticated, and the fan-out starts cleanly instead of failing on half a target.
 */
export function initialWebhookTargets(webhook: WebhookProps): string {
  if (webhook.auth !== 'none') return '[]';
  return JSON.stringify([
    { id: WEBHOOK_TARGET_ID, url: webhook.url, auth: { type: 'none' }, timeoutMs: webhook.timeoutMs },
  ]);
}

const KEY_TYPES: Record<KeyAttributeSpec['type'], dynamodb.AttributeType> = {
  S: dynamodb.AttributeType.STRING,
  N: dynamodb.AttributeType.NUMBER,
  B: dynamodb.AttributeType.BINARY,
};

const STREAM_TYPES: Record<NonNullable<TableSpec['stream']>, dynamodb.StreamViewType> = {
  NEW_IMAGE: dynamodb.StreamViewType.NEW_IMAGE,
  OLD_IMAGE: dynamodb.StreamViewType.OLD_IMAGE,
  NEW_AND_OLD_IMAGES: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
  KEYS_ONLY: dynamodb.StreamViewType.KEYS_ONLY,
};

const attribute = (k: KeyAttributeSpec): dynamodb.Attribute => ({ name: k.name, type: KEY_TYPES[k.type] });

function projection(
  p: ProjectionSpec,
): Pick<dynamodb.GlobalSecondaryIndexProps, 'projectionType' | 'nonKeyAttributes'> {
  if (p.type === 'INCLUDE')
    return { projectionType: dynamodb.ProjectionType.INCLUDE, nonKeyAttributes: [...p.nonKeyAttributes] };
  return { projectionType: p.type === 'ALL' ? dynamodb.ProjectionType.ALL : dynamodb.ProjectionType.KEYS_ONLY };
}

/** The data stores of the application. */
export class Store extends Construct {
  /** Every table of `TABLE_SPECS`, by spec id (construct id = spec id: stable, never rename). */
  public readonly tables: ReadonlyMap<TableSpec['id'], dynamodb.Table>;
  /** Conversations: desired state, segments, sessions, control inbox. */
  public readonly conversationsTable: dynamodb.Table;
  /** Utterances: final transcripts; stream NEW_IMAGE feeds the fan-out; GSI feeds the export. */
  public readonly utterancesTable: dynamodb.Table;
  /** Subscriptions: real-time delivery state (WebSocket connections), used by the fan-out. */
  public readonly subscriptionsTable: dynamodb.Table;
  /** Nightly feed files (`feeds/utterances/version=1/format=…/dt=…/hr=…/part-NNNNN.…`). */
  public readonly feedBucket: s3.Bucket;
  /** Call recordings written by the gateway under `recordings/`; expire after the recordings retention. */
  public readonly recordingsBucket: s3.Bucket;
  /** Load balancer and S3 server access logs (SSE-S3: ELB log delivery cannot use KMS keys). */
  public readonly accessLogsBucket: s3.Bucket;
  /** AudioHook API keys and client secrets (`{"<apiKey>": "<base64 secret>"}`) read by the gateway. */
  public readonly audiohookApiKeysSecret: secretsmanager.Secret;
  /** Hashed REST API credentials (`lambdas/authorizer/hash-secret.ts` entries) read by the authorizer. */
  public readonly apiCredentialsSecret: secretsmanager.Secret;
  /** Webhook targets with their credentials (JSON array), read by the fan-out; when a webhook is configured. */
  public readonly webhookTargetsSecret?: secretsmanager.Secret;
  /** HMAC key of the messages route's `nextToken`s (generated; `SecretString` is the key), read by that route. */
  public readonly pageTokenSecret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: StoreProps) {
    super(scope, id);
    const removalPolicy = props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    const tables = new Map<TableSpec['id'], dynamodb.Table>();
    for (const spec of TABLE_SPECS) tables.set(spec.id, this.table(spec, props.retainData, removalPolicy));
    this.tables = tables;
    const required = (id: TableSpec['id']) => {
      const table = tables.get(id);
      if (!table) throw new Error(`Store: contract/tables.ts defines no ${id} table`);
      return table;
    };
    this.conversationsTable = required('Conversations');
    this.utterancesTable = required('Utterances');
    this.subscriptionsTable = required('Subscriptions');

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(props.accessLogRetentionDays) }],
      removalPolicy,
    });

    // Both data buckets share the secure defaults (privateBucketProps); they differ in encryption and expiry.
    this.feedBucket = new s3.Bucket(this, 'Feed', {
      ...this.privateBucketProps('feed-bucket/', 'expire-feed-files', props.feedRetentionDays, removalPolicy),
      encryption: s3.BucketEncryption.S3_MANAGED,
    });

    this.recordingsBucket = new s3.Bucket(this, 'Recordings', {
      ...this.privateBucketProps(
        'recordings-bucket/',
        'expire-recordings',
        props.recordingsRetentionDays,
        removalPolicy,
      ),
      // KMS (the account's aws/s3 key): call audio is the most sensitive data here, and every use of the key
      // is in CloudTrail; the bucket key keeps KMS requests (and their cost) per object, not per part.
      encryption: s3.BucketEncryption.KMS_MANAGED,
      bucketKeyEnabled: true,
    });

    // The gateway refuses to start with no key at all, so the first key is generated at deploy time:
    // the secret is 44 alphanumeric characters, i.e. canonical base64 of 33 random bytes, as the gateway
    // requires for a signing client secret.
    this.audiohookApiKeysSecret = new secretsmanager.Secret(this, 'AudiohookApiKeys', {
      description:
        'AudioHook API keys and client secrets: {"<apiKey>": "<base64 client secret>"} (Genesys integration credentials)',
      generateSecretString: {
        secretStringTemplate: '{}',
        generateStringKey: props.initialAudiohookApiKey,
        excludePunctuation: true,
        includeSpace: false,
        passwordLength: 44,
      },
      removalPolicy,
    });

    // Starts empty (every request answers 401) until an operator adds hashed entries: the plain secrets
    // are never in CloudFormation.
    this.apiCredentialsSecret = new secretsmanager.Secret(this, 'ApiCredentials', {
      description: 'REST API credentials: hashed entries from lambdas/authorizer/hash-secret.ts, keyed by asapp-api-id',
      secretStringValue: SecretValue.unsafePlainText('{}'),
      removalPolicy,
    });

    Validations.of(this.audiohookApiKeysSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'An AudioHook key and client secret must change in Genesys Cloud and here together; automatic rotation ' +
        'would break every call. Rotation is an operator procedure: add the new key, update Genesys, remove the old (docs/deploy.md)',
    });
    Validations.of(this.apiCredentialsSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Holds only scrypt hashes of credentials issued to API callers; a new secret must reach the caller first, ' +
        'so rotation is an operator procedure per caller (docs/deploy.md), not a Lambda rotation',
    });

    // Generated at deploy time and never in CloudFormation: with it the messages route signs its nextTokens, so
    // a caller cannot forge a position or replay a token against another conversation. Not data: it signs only
    // short-lived pagination cursors, so it goes with the stack.
    this.pageTokenSecret = new secretsmanager.Secret(this, 'PageTokenKey', {
      description:
        'HMAC key of the nextTokens of GET /conversation/v1/conversation/messages (rotate with put-secret-value)',
      generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(this.pageTokenSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'A random HMAC key no other system holds: rotating it is a put-secret-value, which the messages route picks ' +
        'up within its 5-minute cache without a redeploy (docs/deploy.md); the only cost is that nextTokens issued ' +
        'before the change stop verifying and the caller restarts from the first page',
    });

    if (props.webhook !== undefined) {
      this.webhookTargetsSecret = new secretsmanager.Secret(this, 'WebhookTargets', {
        description:
          `Webhook targets of the fan-out (JSON array, lambdas/shared/webhook-targets.ts); receiver auth ` +
          `${props.webhook.auth}: complete the credentials per docs/deploy.md`,
        // Holds no credential yet: with auth none it is only the URL; otherwise it starts empty.
        secretStringValue: SecretValue.unsafePlainText(initialWebhookTargets(props.webhook)),
        removalPolicy,
      });
      Validations.of(this.webhookTargetsSecret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason: 'Webhook credentials are issued by the receiving system; they change when its owner rotates them',
      });
    }
  }

  private table(spec: TableSpec, retain: boolean, removalPolicy: RemovalPolicy): dynamodb.Table {
    const table = new dynamodb.Table(this, spec.id, {
      partitionKey: attribute(spec.partitionKey),
      sortKey: spec.sortKey && attribute(spec.sortKey),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      // AWS-managed KMS key: encrypted at rest, visible in CloudTrail, no key policy to maintain or grant.
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: retain,
      timeToLiveAttribute: spec.ttlAttribute,
      stream: spec.stream && STREAM_TYPES[spec.stream],
      removalPolicy,
    });
    for (const gsi of spec.globalSecondaryIndexes) {
      table.addGlobalSecondaryIndex({
        indexName: gsi.indexName,
        partitionKey: attribute(gsi.partitionKey),
        sortKey: gsi.sortKey && attribute(gsi.sortKey),
        ...projection(gsi.projection),
      });
    }
    return table;
  }

  /**
   * Private data bucket defaults: no public access, TLS 1.2+ only, owner-enforced objects, server access
   * logs, expiry after `retentionDays`, incomplete multipart uploads aborted after a day.
   */
  private privateBucketProps(
    logPrefix: string,
    expiryRuleId: string,
    retentionDays: number,
    removalPolicy: RemovalPolicy,
  ): s3.BucketProps {
    return {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: false,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: logPrefix,
      lifecycleRules: [
        { id: expiryRuleId, expiration: Duration.days(retentionDays) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy,
    };
  }
}

/** The logical id of a bucket's CloudFormation resource: cdk-nag names IAM findings after it (`<Id.Arn>`). */
export function logicalIdOf(bucket: s3.IBucket): string {
  const cfn = bucket.node.defaultChild as s3.CfnBucket | undefined;
  return cfn ? Stack.of(bucket).getLogicalId(cfn) : bucket.node.id;
}

/**
 * The collaborators every route handler is built from, and the one function that builds them from
 * {@link ApiConfig}: the DynamoDB client (endpoint override for DynamoDB Local), the repositories, the
 * control inbox and the Powertools trio. Each handler's module calls it once per container.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { StartPolicy } from '../../core/api/start-stop-rules';
import { ControlInbox } from '../../store/control-inbox';
import { ConversationsRepository } from '../../store/conversations';
import { createDocumentClient } from '../../store/dynamo';
import { createFeedsS3Client, S3FeedStore } from '../../store/feeds';
import { UtterancesRepository } from '../../store/utterances';
import type { ApiConfig } from './config';
import { type ApiLogger, createObservability, type MetricsSink, traceClient } from './observability';
import { keyedPageReader, type PageReader, pageTokenKeyFromConfig } from './page-token-key';
import { type TokenKey, tokenKeyFromConfig } from './token-key';

/** What the route handlers depend on. Tests and the local adapter build it around DynamoDB Local. */
export interface ApiDeps {
  conversations: ConversationsRepository;
  utterances: UtterancesRepository;
  inbox: ControlInbox;
  logger: ApiLogger;
  metrics: MetricsSink;
  /** Start rules' settings. */
  policy: StartPolicy;
  /** How long stop waits for the gateway to close the segment, and how often it looks. */
  stopWaitMs: number;
  stopPollMs: number;
  /** Wall clock (epoch ms). @default Date.now */
  now?: () => number;
  /** The feed bucket, for the File Exporter routes. @default - feeds not enabled (those routes answer 403-01) */
  feeds?: FeedsAccess;
  /** Connect tokens of the WebSocket API. @default - the token route answers 404-01 (not enabled) */
  realtime?: RealtimeTokenSettings;
  /**
   * How the messages route reads pages when its `nextToken` key is read from Secrets Manager
   * (`PAGE_TOKEN_SECRET_ID`). @default - `utterances`, signing with `PAGE_TOKEN_SECRET` (or unsigned)
   */
  pages?: PageReader;
}

/** What `POST /realtime/v1/token` needs. */
export interface RealtimeTokenSettings {
  /** HMAC key of the tokens (shared with the `$connect` handler): the key itself, or where to read it. */
  tokenSecret: TokenKey;
  /** Lifetime of a token, seconds. */
  ttlSec: number;
  /** Api ids that may ask for an "all conversations" token. */
  supervisorApiIds: ReadonlySet<string>;
  /** The WebSocket API's URL, echoed to the caller. */
  websocketUrl?: string;
}

/** The config fields the token route's settings come from. */
type RealtimeTokenFields = Partial<
  Pick<
    ApiConfig,
    | 'realtimeTokenSecret'
    | 'realtimeTokenSecretId'
    | 'realtimeTokenSecretCacheTtlSec'
    | 'secretsManagerEndpoint'
    | 'awsRegion'
    | 'realtimeTokenTtlSec'
    | 'realtimeSupervisorApiIds'
    | 'websocketUrl'
  >
>;

/** The token settings from a config, or undefined when no token key (value or secret id) is configured. */
export function realtimeOf(config: RealtimeTokenFields): RealtimeTokenSettings | undefined {
  const tokenSecret = tokenKeyFromConfig(config);
  if (tokenSecret === undefined) return undefined;
  return {
    tokenSecret,
    ttlSec: config.realtimeTokenTtlSec ?? 300,
    supervisorApiIds: new Set(config.realtimeSupervisorApiIds ?? []),
    ...(config.websocketUrl !== undefined && { websocketUrl: config.websocketUrl }),
  };
}

/** What the File Exporter routes need: the feed bucket and the download URL lifetime. */
export interface FeedsAccess {
  store: Pick<S3FeedStore, 'getJson' | 'putJson' | 'listKeys' | 'listPrefixes' | 'presignGet'>;
  /** Lifetime of a download URL, seconds. */
  urlTtlSec: number;
}

/** The feed bucket access from a config, or undefined when no bucket is configured (feeds off). */
export function feedsOf(
  config: Partial<Pick<ApiConfig, 'feedsBucket' | 's3Endpoint' | 'feedUrlTtlSec' | 'awsRegion'>>,
): FeedsAccess | undefined {
  if (config.feedsBucket === undefined) return undefined;
  const s3 = createFeedsS3Client({
    ...(config.awsRegion !== undefined && { region: config.awsRegion }),
    ...(config.s3Endpoint !== undefined && { endpoint: config.s3Endpoint }),
  });
  return { store: new S3FeedStore(s3, { bucket: config.feedsBucket }), urlTtlSec: config.feedUrlTtlSec ?? 900 };
}

/** The start rules' settings from a config. */
export function policyOf(config: ApiConfig): StartPolicy {
  return {
    supportedLanguages: config.supportedLanguages,
    defaultLanguage: config.defaultLanguage,
    redactionEnabled: config.redactionEnabled,
  };
}

/**
 * Builds the repositories over one document client (shared by every repository of a function), and the
 * feed bucket access when the config names a bucket.
 */
export function repositoriesOf(
  client: DynamoDBClient,
  config: Pick<ApiConfig, 'conversationsTable' | 'utterancesTable' | 'retentionDays' | 'pageTokenSecret'> &
    Partial<Pick<ApiConfig, 'feedsBucket' | 's3Endpoint' | 'feedUrlTtlSec' | 'awsRegion' | 'pageTokenSecretId'>> &
    RealtimeTokenFields,
): Pick<ApiDeps, 'conversations' | 'utterances' | 'inbox' | 'feeds' | 'realtime' | 'pages'> {
  const doc = createDocumentClient(client);
  const feeds = feedsOf(config);
  // Settings rather than a repository, but carried here so every composition root that spreads this
  // (the Lambdas, the local API) enables the token route from the same config.
  const realtime = realtimeOf(config);
  const retentionSeconds = config.retentionDays * 24 * 3600;
  const utterancesSignedWith = (tokenKey: string | undefined) =>
    new UtterancesRepository(doc, {
      tableName: config.utterancesTable,
      retentionSeconds,
      ...(tokenKey !== undefined && { tokenKey }),
    });
  const pageKey = pageTokenKeyFromConfig(config);
  return {
    conversations: new ConversationsRepository(doc, { tableName: config.conversationsTable, retentionSeconds }),
    utterances: utterancesSignedWith(config.pageTokenSecret),
    inbox: new ControlInbox(doc, { tableName: config.conversationsTable }),
    ...(feeds !== undefined && { feeds }),
    ...(realtime !== undefined && { realtime }),
    ...(pageKey !== undefined && { pages: keyedPageReader(pageKey, utterancesSignedWith) }),
  };
}

/** Builds every collaborator of a route handler from its config (the Lambda composition root). */
export function depsFromConfig(config: ApiConfig, functionName: string): ApiDeps {
  const { logger, metrics, tracer } = createObservability(config, functionName);
  const client = traceClient(
    tracer,
    new DynamoDBClient({
      ...(config.awsRegion !== undefined && { region: config.awsRegion }),
      ...(config.dynamoDbEndpoint !== undefined && { endpoint: config.dynamoDbEndpoint }),
    }),
  );
  return {
    ...repositoriesOf(client, config),
    logger,
    metrics,
    policy: policyOf(config),
    stopWaitMs: config.stopWaitMs,
    stopPollMs: config.stopPollMs,
  };
}

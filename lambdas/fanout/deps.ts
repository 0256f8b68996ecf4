/**
 * The fan-out's collaborators: what it needs (webhook senders, WebSocket subscribers, the dead letters,
 * the retry policy) and how the Lambda and the local stream poller build them from a {@link FanoutConfig}.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { AttemptOutcome, RetryPolicy } from '../../core/delivery/retry-policy';
import { createDocumentClient } from '../../store/dynamo';
import { DeadLetterRepository, SubscriptionsRepository } from '../../store/subscriptions';
import { type ApiLogger, createObservability, type MetricsSink, traceClient } from '../shared/observability';
import type { FanoutConfig } from '../shared/realtime-config';
import { type PostMeta, WebhookClient } from '../shared/webhook-client';
import { parseWebhookTargets } from '../shared/webhook-targets';
import { type ConnectionPusher, ManagementApiPusher, managementClient } from '../shared/websocket';

/** A webhook target as the fan-out uses it (a {@link WebhookClient}, or a test double). */
export interface WebhookSender {
  readonly target: { readonly id: string };
  post(body: string, meta: PostMeta): Promise<AttemptOutcome>;
}

/** Where dead letters go. */
export type DeadLetterStore = Pick<DeadLetterRepository, 'put' | 'list' | 'delete' | 'markRedriveFailed'>;

/** WebSocket delivery: the subscriptions and the management API pusher. */
export interface WebSocketDeps {
  subscriptions: Pick<SubscriptionsRepository, 'connectionsOf' | 'removeConnection'>;
  pusher: ConnectionPusher;
}

/** Collaborators of the fan-out. */
export interface FanoutDeps {
  webhooks: readonly WebhookSender[];
  /** WebSocket delivery; absent = webhook only. */
  websocket?: WebSocketDeps;
  deadLetters: DeadLetterStore;
  retry: RetryPolicy;
  /** Conversations delivered in parallel. */
  concurrency: number;
  /** Time an invocation may use when the Lambda context gives none. */
  timeBudgetMs: number;
  logger: ApiLogger;
  metrics: MetricsSink;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** Loads the webhook targets a config names (Secrets Manager in AWS). */
export async function loadTargets(config: FanoutConfig) {
  const w = config.webhooks;
  if (w.source === 'none') return [];
  if (w.source === 'inline') return w.targets;
  const client = new SecretsManagerClient({
    ...(config.awsRegion !== undefined && { region: config.awsRegion }),
    ...(w.endpoint !== undefined && { endpoint: w.endpoint }),
  });
  try {
    const out = await client.send(new GetSecretValueCommand({ SecretId: w.secretId }));
    return parseWebhookTargets(out.SecretString ?? '');
  } finally {
    client.destroy();
  }
}

/** Builds every collaborator of the fan-out from its config (the Lambda's and the local poller's root). */
export async function fanoutDepsFromConfig(config: FanoutConfig, dynamoClient?: DynamoDBClient): Promise<FanoutDeps> {
  const { logger, metrics, tracer } = createObservability(config, 'fanout');
  const client =
    dynamoClient ??
    traceClient(
      tracer,
      new DynamoDBClient({
        ...(config.awsRegion !== undefined && { region: config.awsRegion }),
        ...(config.dynamoDbEndpoint !== undefined && { endpoint: config.dynamoDbEndpoint }),
      }),
    );
  const doc = createDocumentClient(client);
  const targets = await loadTargets(config);
  return {
    webhooks: targets.map((t) => new WebhookClient(t, { defaultTimeoutMs: config.retry.requestTimeoutMs })),
    ...(config.managementEndpoint !== undefined && {
      websocket: {
        subscriptions: new SubscriptionsRepository(doc, { tableName: config.subscriptionsTable }),
        pusher: new ManagementApiPusher(
          managementClient(
            config.managementEndpoint,
            config.awsRegion !== undefined ? { region: config.awsRegion } : {},
          ),
        ),
      },
    }),
    deadLetters: new DeadLetterRepository(doc, {
      tableName: config.subscriptionsTable,
      retentionSeconds: config.deadLetterRetentionDays * 24 * 3600,
    }),
    retry: config.retry,
    concurrency: config.concurrency,
    timeBudgetMs: config.timeBudgetMs,
    logger,
    metrics,
  };
}

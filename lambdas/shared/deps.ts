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
import { UtterancesRepository } from '../../store/utterances';
import type { ApiConfig } from './config';
import { type ApiLogger, createObservability, type MetricsSink, traceClient } from './observability';

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
}

/** The start rules' settings from a config. */
export function policyOf(config: ApiConfig): StartPolicy {
  return {
    supportedLanguages: config.supportedLanguages,
    defaultLanguage: config.defaultLanguage,
    redactionEnabled: config.redactionEnabled,
  };
}

/** Builds the repositories over one document client (shared by every repository of a function). */
export function repositoriesOf(
  client: DynamoDBClient,
  config: Pick<ApiConfig, 'conversationsTable' | 'utterancesTable' | 'retentionDays' | 'pageTokenSecret'>,
): Pick<ApiDeps, 'conversations' | 'utterances' | 'inbox'> {
  const doc = createDocumentClient(client);
  const retentionSeconds = config.retentionDays * 24 * 3600;
  return {
    conversations: new ConversationsRepository(doc, { tableName: config.conversationsTable, retentionSeconds }),
    utterances: new UtterancesRepository(doc, {
      tableName: config.utterancesTable,
      retentionSeconds,
      ...(config.pageTokenSecret !== undefined && { tokenKey: config.pageTokenSecret }),
    }),
    inbox: new ControlInbox(doc, { tableName: config.conversationsTable }),
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

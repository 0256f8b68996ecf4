/**
 * Entry point of the local REST API (`tsx local/api/main.ts`, started by `npm start`): the real route
 * handlers and authorizer behind {@link createLocalApi}, on DynamoDB Local.
 *
 * Environment: the route handlers' variables (lambdas/shared/config.ts `loadConfig`: CONVERSATIONS_TABLE,
 * UTTERANCES_TABLE, DYNAMODB_ENDPOINT, …), the authorizer's (`loadAuthorizerConfig`: API_CREDENTIALS_FILE
 * or API_CREDENTIALS_JSON, …), plus LOCAL_API_HOST (default 127.0.0.1) and LOCAL_API_PORT (default 8082).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { handlerFromConfig } from '../../lambdas/authorizer/handler';
import { loadAuthorizerConfig, loadConfig } from '../../lambdas/shared/config';
import { policyOf, repositoriesOf } from '../../lambdas/shared/deps';
import { createObservability } from '../../lambdas/shared/observability';
import { createLocalDynamoDbClient } from '../dynamodb';
import { localRoutes } from './routes';
import { createLocalApi, LOCAL_SOURCE_LIMITS } from './server';

/** Where the local API listens. */
export interface LocalApiListenConfig {
  host: string;
  port: number;
}

/** Reads LOCAL_API_HOST / LOCAL_API_PORT. */
export function loadListenConfig(env: Record<string, string | undefined> = process.env): LocalApiListenConfig {
  const raw = env.LOCAL_API_PORT;
  const port = raw === undefined || raw === '' ? 8082 : Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`LOCAL_API_PORT must be a TCP port number (0-65535), got ${JSON.stringify(raw)}`);
  }
  return { host: env.LOCAL_API_HOST || '127.0.0.1', port };
}

async function main(): Promise<void> {
  const config = loadConfig();
  const authConfig = loadAuthorizerConfig();
  const listen = loadListenConfig();
  const { logger, metrics } = createObservability(config, 'local-api');
  // DynamoDB Local accepts any credentials; the dummy ones spare a local run the AWS credential chain.
  const client = config.dynamoDbEndpoint
    ? createLocalDynamoDbClient(config.dynamoDbEndpoint)
    : new DynamoDBClient(config.awsRegion ? { region: config.awsRegion } : {});
  const deps = {
    ...repositoriesOf(client, config),
    logger,
    metrics,
    policy: policyOf(config),
    stopWaitMs: config.stopWaitMs,
    stopPollMs: config.stopPollMs,
  };
  const server = createLocalApi({
    routes: localRoutes(deps),
    authorizer: handlerFromConfig(authConfig),
    // The WAF rate rule's local stand-in: a flood of bad credentials gets 429 before any scrypt.
    sourceLimits: LOCAL_SOURCE_LIMITS,
    onError: (err, ctx) =>
      logger.error('unhandled failure', { ...ctx, error: err instanceof Error ? err.message : String(err) }),
  });
  await new Promise<void>((resolve) => server.listen(listen.port, listen.host, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : listen.port;
  logger.info('local REST API listening', { url: `http://${listen.host}:${port}` });
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`local API failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

/**
 * The stream poller as a script, `tsx local/stream-poller.ts` (that module's entry check calls {@link main}
 * here): the fan-out of `npm start`, the real fan-out handler behind a {@link StreamPoller}.
 */

import { type StreamFailure, StreamPoller } from './stream-poller';
import { loadPollerConfig } from './stream-poller-config';

/**
 * `tsx local/stream-poller.ts`: the fan-out of `npm start`. Environment: {@link loadPollerConfig} plus
 * the fan-out's own (lambdas/shared/realtime-config.ts `loadFanoutConfig`: SUBSCRIPTIONS_TABLE,
 * WEBSOCKET_MANAGEMENT_ENDPOINT, WEBHOOK_URL / WEBHOOK_AUTH / …).
 */
export async function main(env: Record<string, string | undefined> = process.env): Promise<void> {
  const [
    { loadFanoutConfig },
    { fanoutDepsFromConfig },
    { makeHandler },
    { createLocalDynamoDbClient },
    { appendJsonl },
  ] = await Promise.all([
    import('../lambdas/shared/realtime-config'),
    import('../lambdas/fanout/deps'),
    import('../lambdas/fanout/handler'),
    import('./dynamodb'),
    import('./dlq'),
  ]);
  const pollerConfig = loadPollerConfig(env);
  const fanoutConfig = loadFanoutConfig({ ...env, DYNAMODB_ENDPOINT: pollerConfig.dynamoDbEndpoint });
  const client = createLocalDynamoDbClient(pollerConfig.dynamoDbEndpoint);
  const deps = await fanoutDepsFromConfig(fanoutConfig, client);
  const handler = makeHandler(deps);
  const failureFile = pollerConfig.failureFile;
  const poller = new StreamPoller({
    endpoint: pollerConfig.dynamoDbEndpoint,
    tableName: pollerConfig.utterancesTable,
    client,
    handler,
    batchSize: pollerConfig.batchSize,
    pollIntervalMs: pollerConfig.pollIntervalMs,
    maxRetryAttempts: pollerConfig.maxRetryAttempts,
    ...(pollerConfig.checkpointFile !== undefined && { checkpointFile: pollerConfig.checkpointFile }),
    ...(failureFile !== undefined && { onFailure: (f: StreamFailure) => appendJsonl(failureFile, f) }),
    log: (message, attributes) => deps.logger.info(message, attributes),
  });
  await poller.start();
  deps.logger.info('stream poller started', {
    table: pollerConfig.utterancesTable,
    webhookTargets: deps.webhooks.map((w) => w.target.id),
    websocket: deps.websocket !== undefined,
  });
  const stop = () => {
    poller.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

/**
 * Dead letters, locally and against AWS.
 *
 * Two kinds of "failed" exist (docs/realtime.md):
 * - **webhook dead letters**: deliveries the fan-out gave up on (a permanent 4xx, or still failing after
 *   `WEBHOOK_MAX_RETRY_SEC`). They live in the Subscriptions table (`DLQ#<targetId>`, store/subscriptions.ts)
 *   with the exact body, in AWS as locally, and this command lists, redrives or purges them;
 * - **stream failures**: batches the event source mapping itself gave up on (the handler kept throwing).
 *   In AWS they go to the mapping's on-failure SQS queue; the local poller appends them to a JSONL file
 *   ({@link appendJsonl}, `STREAM_FAILURE_FILE`).
 *
 *   npx tsx local/dlq.ts list    [--target <id>]
 *   npx tsx local/dlq.ts redrive [--target <id>] [--limit <n>]
 *   npx tsx local/dlq.ts purge   --target <id>
 *
 * Environment: the fan-out's (`loadFanoutConfig`: SUBSCRIPTIONS_TABLE, WEBHOOK_URL / WEBHOOK_AUTH / … or
 * WEBHOOK_TARGETS_JSON / WEBHOOK_TARGETS_SECRET_ID), DYNAMODB_ENDPOINT for DynamoDB Local. Defaults match
 * `npm start` under the same LOCAL_* variables: SUBSCRIPTIONS_TABLE=local-subscriptions,
 * DYNAMODB_ENDPOINT=http://$LOCAL_HOST:$LOCAL_DYNAMODB_PORT (127.0.0.1:8000 by default). Against
 * AWS, unset DYNAMODB_ENDPOINT and use the deployed table and targets secret (or invoke the fan-out
 * function with `{"action":"redrive"}`).
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { subscriptionsTableName } from '../contract/tables';
import { loadLocalConfig } from './config';

/** Appends one JSON line (the local on-failure destination). */
export function appendJsonl(file: string, value: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, `${JSON.stringify(value)}\n`, { mode: 0o600 });
}

/** Runs the CLI; returns the exit code. Output goes to `out` (one JSON document per command). */
export async function runDlqCli(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  out: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
): Promise<number> {
  const { positionals, values } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { target: { type: 'string' }, limit: { type: 'string' }, help: { type: 'boolean', default: false } },
  });
  const command = positionals[0];
  if (values.help || !command || !['list', 'redrive', 'purge'].includes(command)) {
    out('usage: npx tsx local/dlq.ts list|redrive|purge [--target <id>] [--limit <n>]');
    return values.help ? 0 : 2;
  }
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
    out('--limit must be a positive whole number');
    return 2;
  }
  const [{ loadFanoutConfig }, { fanoutDepsFromConfig }, { redrive }, { createLocalDynamoDbClient }] =
    await Promise.all([
      import('../lambdas/shared/realtime-config'),
      import('../lambdas/fanout/deps'),
      import('../lambdas/fanout/redrive'),
      import('./dynamodb'),
    ]);
  // The defaults are those of `npm start` with the same LOCAL_* environment (LOCAL_HOST, LOCAL_DYNAMODB_PORT).
  const local = loadLocalConfig(env, join(import.meta.dirname, '..'));
  const withDefaults = {
    SUBSCRIPTIONS_TABLE: subscriptionsTableName(local.tablePrefix),
    ...(env.AWS_REGION === undefined &&
      env.DYNAMODB_ENDPOINT === undefined && { DYNAMODB_ENDPOINT: `http://${local.host}:${local.dynamoDbPort}` }),
    LOG_LEVEL: 'WARN',
    ...Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')),
  };
  const config = loadFanoutConfig(withDefaults);
  const client = config.dynamoDbEndpoint ? createLocalDynamoDbClient(config.dynamoDbEndpoint) : undefined;
  const deps = await fanoutDepsFromConfig(config, client);
  try {
    const targetIds = values.target !== undefined ? [values.target] : deps.webhooks.map((w) => w.target.id);
    if (command === 'redrive') {
      const report = await redrive(deps, {
        ...(values.target !== undefined && { targetId: values.target }),
        ...(limit !== undefined && { limit }),
      });
      out(JSON.stringify(report));
      return report.targets.some((t) => t.failed > 0) ? 1 : 0;
    }
    if (command === 'purge' && values.target === undefined) {
      out('purge needs --target <id>');
      return 2;
    }
    const result: Record<string, unknown[]> = {};
    for (const targetId of targetIds) {
      const items: unknown[] = [];
      let startAfter: string | undefined;
      do {
        const page = await deps.deadLetters.list(targetId, {
          limit: 100,
          ...(startAfter !== undefined && { startAfter }),
        });
        for (const item of page.items) {
          if (command === 'purge') await deps.deadLetters.delete(targetId, item.sk);
          // The body holds transcript text: list shows ids and reasons only.
          const { body: _body, ...summary } = item;
          items.push(summary);
        }
        startAfter = page.next;
      } while (startAfter !== undefined && (limit === undefined || items.length < limit));
      result[targetId] = items;
    }
    out(
      JSON.stringify(
        command === 'purge'
          ? { purged: Object.fromEntries(Object.entries(result).map(([k, v]) => [k, v.length])) }
          : result,
      ),
    );
    return 0;
  } finally {
    for (const w of deps.webhooks) (w as { close?: () => void }).close?.();
    client?.destroy();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  runDlqCli(process.argv.slice(2), process.env).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`dlq: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

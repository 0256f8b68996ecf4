/** The settings of the stream poller run as a script (`tsx local/stream-poller.ts`), from its environment. */

/** Settings of the poller when run as a script. */
export interface PollerScriptConfig {
  utterancesTable: string;
  dynamoDbEndpoint: string;
  batchSize: number;
  pollIntervalMs: number;
  maxRetryAttempts: number;
  checkpointFile?: string;
  failureFile?: string;
}

/**
 * Reads UTTERANCES_TABLE, DYNAMODB_ENDPOINT (both required), STREAM_BATCH_SIZE (100),
 * STREAM_POLL_MS (100), STREAM_MAX_RETRY_ATTEMPTS (1000), STREAM_CHECKPOINT_FILE,
 * STREAM_FAILURE_FILE (the on-failure destination, JSONL).
 */
export function loadPollerConfig(env: Record<string, string | undefined>): PollerScriptConfig {
  const problems: string[] = [];
  const int = (name: string, fallback: number, min: number, max: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) problems.push(`${name} must be a whole number in ${min}..${max}`);
    return n;
  };
  const utterancesTable = env.UTTERANCES_TABLE ?? '';
  const dynamoDbEndpoint = env.DYNAMODB_ENDPOINT ?? '';
  if (!utterancesTable) problems.push('UTTERANCES_TABLE is required');
  if (!dynamoDbEndpoint) problems.push('DYNAMODB_ENDPOINT is required (the poller reads DynamoDB Local)');
  const config: PollerScriptConfig = {
    utterancesTable,
    dynamoDbEndpoint,
    batchSize: int('STREAM_BATCH_SIZE', 100, 1, 1000),
    pollIntervalMs: int('STREAM_POLL_MS', 100, 10, 10_000),
    maxRetryAttempts: int('STREAM_MAX_RETRY_ATTEMPTS', 1000, -1, 100_000),
    ...(env.STREAM_CHECKPOINT_FILE && { checkpointFile: env.STREAM_CHECKPOINT_FILE }),
    ...(env.STREAM_FAILURE_FILE && { failureFile: env.STREAM_FAILURE_FILE }),
  };
  if (problems.length > 0) throw new Error(`Invalid stream poller configuration:\n  - ${problems.join('\n  - ')}`);
  return config;
}

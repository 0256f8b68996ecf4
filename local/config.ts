/**
 * The one place the local stack (`npm start`) reads its environment. Default ports are fixed so the
 * banner, docs and scripts agree; each can be overridden.
 */
import { isAbsolute, join } from 'node:path';

export interface LocalConfig {
  host: string;
  gatewayPort: number;
  adminPort: number;
  apiPort: number;
  dynamoDbPort: number;
  transcribePort: number;
  websocketPort: number;
  /** The live transcript page (local/ui-server.ts). */
  uiPort: number;
  /** Local S3 (s3rver): the feed bucket and the recordings bucket. */
  s3Port: number;
  feedsBucket: string;
  recordingsBucket: string;
  /** Prefix of the local DynamoDB tables. */
  tablePrefix: string;
  audiohookPath: string;
  dataDir: string;
  logLevel: string;
  /** Start, write endpoints.json, print the banner, then stop (used by tests and CI smoke checks). */
  exitWhenReady: boolean;
}

function port(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65_535) {
    throw new Error(`${name} must be a TCP port number (1-65535), got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** Reads LOCAL_* variables; throws one clear message per bad value. */
export function loadLocalConfig(env: NodeJS.ProcessEnv, root: string): LocalConfig {
  const dataDirRaw = env.LOCAL_DATA_DIR || '.local';
  const dataDir = isAbsolute(dataDirRaw) ? dataDirRaw : join(root, dataDirRaw);
  return {
    host: env.LOCAL_HOST || '127.0.0.1',
    gatewayPort: port(env, 'LOCAL_GATEWAY_PORT', 8080),
    adminPort: port(env, 'LOCAL_GATEWAY_ADMIN_PORT', 8081),
    apiPort: port(env, 'LOCAL_API_PORT', 8082),
    dynamoDbPort: port(env, 'LOCAL_DYNAMODB_PORT', 8000),
    transcribePort: port(env, 'LOCAL_TRANSCRIBE_PORT', 8084),
    websocketPort: port(env, 'LOCAL_WS_PORT', 8083),
    uiPort: port(env, 'LOCAL_UI_PORT', 8085),
    s3Port: port(env, 'LOCAL_S3_PORT', 4568),
    feedsBucket: 'local-feeds',
    recordingsBucket: 'local-recordings',
    tablePrefix: 'local',
    audiohookPath: env.LOCAL_AUDIOHOOK_PATH || '/api/v1/audiohook/ws',
    dataDir,
    logLevel: env.LOG_LEVEL || 'info',
    exitWhenReady: env.LOCAL_EXIT_WHEN_READY === '1',
  };
}

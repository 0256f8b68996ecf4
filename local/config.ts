/**
 * The one place the local stack (`npm start`) reads its environment. Default ports are fixed so the
 * banner, docs and scripts agree; each can be overridden.
 */
import { isAbsolute, join } from 'node:path';
import { requireLoopbackHost } from './loopback';

export interface LocalConfig {
  /** `LOCAL_HOST`: where every local service listens; a loopback address (127.0.0.0/8, ::1, localhost). */
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
  /**
   * The recognizer behind the local Transcribe endpoint: `pocketsphinx` (speech), `tones` (decodes the
   * tone-coded utterance ids the soak harness plays: exact ground truth) or `scripted` (any energy is
   * "hello"). @default - pocketsphinx when installed, else scripted
   */
  recognizer: LocalRecognizer | undefined;
  /**
   * The DynamoDB endpoint the components use, when it is not DynamoDB Local itself (a fault proxy in front
   * of it, bench/soak/dynamodb-proxy.ts). @default - DynamoDB Local's endpoint
   */
  dynamoDbClientEndpoint: string | undefined;
  /**
   * Components restarted when they exit on their own, as ECS replaces a stopped task and Lambda retries an
   * event source; any other component that exits stops the stack. @default - none
   */
  restartComponents: ReadonlySet<RestartableComponent>;
  /** Seed of the local Transcribe endpoint's fault draws (which open stream a fault hits), for repeatable runs. */
  faultSeed: number | undefined;
}

export const LOCAL_RECOGNIZERS = ['pocketsphinx', 'tones', 'scripted'] as const;
export type LocalRecognizer = (typeof LOCAL_RECOGNIZERS)[number];
export const RESTARTABLE_COMPONENTS = ['gateway', 'fanout', 'api', 'websocket', 'scheduler', 'ui'] as const;
export type RestartableComponent = (typeof RESTARTABLE_COMPONENTS)[number];

function recognizer(env: NodeJS.ProcessEnv): LocalRecognizer | undefined {
  const raw = env.LOCAL_RECOGNIZER;
  if (raw === undefined || raw === '') return undefined;
  if (!(LOCAL_RECOGNIZERS as readonly string[]).includes(raw)) {
    throw new Error(`LOCAL_RECOGNIZER must be one of ${LOCAL_RECOGNIZERS.join(', ')}, got ${JSON.stringify(raw)}`);
  }
  return raw as LocalRecognizer;
}

function loopbackUrl(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${name} must be an http:// URL, got ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' || !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    throw new Error(`${name} must be an http:// URL on loopback, got ${JSON.stringify(raw)}`);
  }
  return raw.replace(/\/$/, '');
}

function restartComponents(env: NodeJS.ProcessEnv): ReadonlySet<RestartableComponent> {
  const raw = env.LOCAL_RESTART_COMPONENTS;
  if (raw === undefined || raw.trim() === '') return new Set();
  const names = raw.split(',').map((n) => n.trim());
  const unknown = names.filter((n) => !(RESTARTABLE_COMPONENTS as readonly string[]).includes(n));
  if (unknown.length > 0) {
    throw new Error(
      `LOCAL_RESTART_COMPONENTS names unknown components ${unknown.join(', ')} (known: ${RESTARTABLE_COMPONENTS.join(', ')})`,
    );
  }
  return new Set(names as RestartableComponent[]);
}

function faultSeed(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env.LOCAL_FAULT_SEED;
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new Error(`LOCAL_FAULT_SEED must be a whole number ≥ 0, got ${JSON.stringify(raw)}`);
  return n;
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
    host: requireLoopbackHost('LOCAL_HOST', env.LOCAL_HOST || '127.0.0.1'),
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
    recognizer: recognizer(env),
    dynamoDbClientEndpoint: loopbackUrl(env, 'LOCAL_DYNAMODB_PROXY_URL'),
    restartComponents: restartComponents(env),
    faultSeed: faultSeed(env),
  };
}

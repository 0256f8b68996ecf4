/**
 * `npm start`: the embedded local stack. Runs every component that exists as its own process on
 * loopback, with one log stream prefixed per component, a readiness banner, `.local/endpoints.json`
 * for scripts and tests, state under `.local/` across restarts (`--fresh` wipes it), and a clean
 * shutdown on Ctrl-C (children get SIGTERM, then SIGKILL after a grace period: no orphans), also when
 * the process that started it exits without a signal (local/parent-watch.ts).
 *
 * Components are started through their real entry points (the gateway's composition root is
 * fargate/src/main.ts) with local configuration: nothing here re-implements a business rule.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { subscriptionsTableName } from '../contract/tables';
import { createTables } from '../store/create-tables';
import { type Component, startComponent, stopAll, watchComponent } from './components';
import { type LocalConfig, loadLocalConfig, type RestartableComponent } from './config';
import { createLocalDynamoDbClient, type SupervisedDynamoDbLocal, superviseDynamoDbLocal } from './dynamodb';
import { audiohookKeysJson, credentialSetJson, type LocalCredentials, localCredentials } from './local-credentials';
import { formatLogLine } from './log-format';
import { urlHost } from './loopback';
import { MANAGEMENT_SECRET_ENV, managementEndpoint, newManagementSecret } from './management-secret';
import { watchParent } from './parent-watch';
import { makePrivateDir, PRIVATE_UMASK } from './private-files';
import { LOCAL_S3_CREDENTIALS, type LocalS3, startLocalS3 } from './s3';
import { createScriptedRecognizer, type RecognizerFactory } from './transcribe/recognizer';
import { type LocalTranscribe, startLocalTranscribe } from './transcribe/server';
import { createToneRecognizer } from './transcribe/tone-recognizer';

const ROOT = join(import.meta.dirname, '..');

/**
 * Credentials for SDK clients that only ever talk to loopback stand-ins (DynamoDB Local, the local
 * WebSocket management API): they accept any, and the default chain would otherwise look for real ones.
 */
const LOOPBACK_AWS_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' } as const;

async function waitForHealth(url: string, comp: Component, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (comp.child.exitCode !== null) throw new Error(`${comp.name} exited with code ${comp.child.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${comp.name} did not become ready within ${timeoutMs / 1000}s (${url})`);
}

/** The recognizer `LOCAL_RECOGNIZER` names, or undefined for the endpoint's default (pocketsphinx). */
function localRecognizer(cfg: LocalConfig): RecognizerFactory | undefined {
  if (cfg.recognizer === 'tones') return createToneRecognizer();
  if (cfg.recognizer === 'scripted') return createScriptedRecognizer();
  return undefined;
}

function banner(cfg: LocalConfig, creds: LocalCredentials, endpointsFile: string): string {
  const gw = `ws://${cfg.host}:${cfg.gatewayPort}${cfg.audiohookPath}`;
  const api = `http://${cfg.host}:${cfg.apiPort}`;
  const auth = `-H 'asapp-api-id: ${creds.apiId}' -H 'asapp-api-secret: ${creds.apiSecret}'`;
  return [
    '',
    '  audiohook-transcribe local stack is ready',
    '',
    `  AudioHook gateway   ${gw}`,
    `  gateway health      http://${cfg.host}:${cfg.gatewayPort}/health`,
    `  gateway metrics     http://${cfg.host}:${cfg.adminPort}/metrics`,
    `  REST API            ${api}`,
    `  WebSocket API       ws://${cfg.host}:${cfg.websocketPort}  (send {"action":"subscribe","conversationId":"<uuid>"})`,
    `  Live transcript page http://${cfg.host}:${cfg.uiPort}/?conversationId=<uuid>`,
    `  DynamoDB Local      http://${cfg.host}:${cfg.dynamoDbPort}  (tables ${cfg.tablePrefix}-*)`,
    `  local Transcribe    http://${cfg.host}:${cfg.transcribePort}  (${cfg.recognizer ?? 'pocketsphinx'})`,
    `  local S3            http://${cfg.host}:${cfg.s3Port}  (buckets ${cfg.feedsBucket}, ${cfg.recordingsBucket}; files under ${join(cfg.dataDir, 's3')})`,
    '  nightly export      02:00 UTC for the previous day; now: npm run export -- --day YYYY-MM-DD',
    `  endpoints file      ${endpointsFile}`,
    `  AudioHook keys      ${creds.apiKey} (control api: start/stop-streaming decides); ${creds.connectorApiKey} (control genesys + Transcription Connector); client secrets in the endpoints file`,
    `  API credentials     ${creds.apiId} (every scope); ${creds.controlApiId} (control only: start/stop, as a Genesys data action); secrets in the endpoints file`,
    '',
    '  Play a two-party demo call, printed live (in another terminal):',
    '    npm run demo',
    '  Simulate a 10-second call (in another terminal):',
    `    AUDIOHOOK_CLIENT_SECRET=${creds.clientSecret} npm run simulate -- --uri ${gw} --api-key ${creds.apiKey} --wav test/fixtures/speech/greeting.wav --conversation <uuid>`,
    '  Start / stop transcription of that conversation, then fetch its messages:',
    `    curl -s ${auth} -H 'content-type: application/json' -d '{"namespace":"genesysaudiohook","guid":"<uuid>","customerId":"c-1","agentId":"a-1"}' ${api}/mg-autotranscribe/v1/start-streaming`,
    `    curl -s ${auth} -H 'content-type: application/json' -d '{"namespace":"genesysaudiohook","guid":"<uuid>"}' ${api}/mg-autotranscribe/v1/stop-streaming`,
    `    curl -s ${auth} '${api}/conversation/v1/conversation/messages?externalId=<uuid>'`,
    '  Or let Genesys decide: the connector key (control "genesys", Transcription Connector on) transcribes',
    '  the whole call with no start-streaming, and sends the transcripts back as AudioHook events:',
    `    AUDIOHOOK_CLIENT_SECRET=${creds.connectorClientSecret} npm run simulate -- --uri ${gw} --api-key ${creds.connectorApiKey} --wav test/fixtures/speech/greeting.wav --transcription-connector`,
    '',
    '  Ctrl-C stops everything.',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  // The orchestrator itself loads the SDK (DynamoDB Local client, local Transcribe endpoint); the Node
  // notice is known (production targets Node 24 with pinned SDKs), so keep the local log readable.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { values } = parseArgs({ options: { fresh: { type: 'boolean', default: false } } });
  const cfg = loadLocalConfig(process.env, ROOT);
  // The data directory holds every transcript and the local secrets: whatever this process and its
  // children (DynamoDB Local, s3rver, the fan-out's checkpoints) create is the user's alone, and what an
  // older version left readable is tightened (directories 0700, files 0600).
  process.umask(PRIVATE_UMASK);
  if (values.fresh && existsSync(cfg.dataDir)) rmSync(cfg.dataDir, { recursive: true, force: true });
  makePrivateDir(cfg.dataDir);
  const creds = localCredentials(cfg.dataDir);
  // Guards the WebSocket front's management API (push to / drop a connection); new on every start.
  const managementSecret = newManagementSecret();
  const wsManagementEndpoint = managementEndpoint(`http://${urlHost(cfg.host)}:${cfg.websocketPort}`, managementSecret);

  const components: Component[] = [];
  let dynamo: SupervisedDynamoDbLocal | undefined;
  let transcribe: LocalTranscribe | undefined;
  let s3: LocalS3 | undefined;
  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    parentWatch.stop();
    process.stdout.write('\nstopping the local stack…\n');
    await stopAll(components);
    await transcribe?.close();
    await s3?.stop();
    await dynamo?.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));
  // A parent that dies without signalling (a crashed harness, kill -9) must not leave the stack running.
  const parentWatch = watchParent({
    onGone: (reason) => {
      process.stderr.write(`the process that started the local stack has exited: stopping (${reason})\n`);
      void shutdown(0);
    },
  });
  // A gone parent usually takes the read end of our stdout/stderr with it: a failed write stops the stack
  // in order instead of crashing this process past its children.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => void shutdown(0));
  // Rewrites endpoints.json (new pids) once the stack is ready; set below.
  let onRestart: (() => void) | undefined;
  const watch = (comp: Component) => {
    watchComponent(comp, {
      restart: cfg.restartComponents.has(comp.name as RestartableComponent),
      stopping: () => stopping,
      shutdown: (code) => void shutdown(code),
      onRestart: () => onRestart?.(),
    });
    components.push(comp);
    return comp;
  };

  try {
    // DynamoDB Local runs the official jar on this machine's Java; its data survives restarts.
    process.stdout.write(`${formatLogLine('dynamodb', `starting DynamoDB Local on port ${cfg.dynamoDbPort}…`)}\n`);
    // Supervised: killed or crashed, it is started again on the same port with the same data, so the rest
    // of the stack (which retries) carries on instead of running against a dead endpoint.
    dynamo = await superviseDynamoDbLocal({
      host: cfg.host,
      port: cfg.dynamoDbPort,
      dataDir: join(cfg.dataDir, 'dynamodb'),
      onEvent: (e) => {
        if (e.kind === 'restarted') onRestart?.();
        const line =
          e.kind === 'exited'
            ? `DynamoDB Local exited unexpectedly (code ${e.code}); restarting it with the same data…`
            : e.kind === 'restarted'
              ? `DynamoDB Local is back at http://${cfg.host}:${cfg.dynamoDbPort} (restart ${e.restarts})`
              : `DynamoDB Local did not restart (${e.error instanceof Error ? e.error.message : String(e.error)}); retrying in ${e.retryInMs} ms`;
        process.stderr.write(`${formatLogLine('dynamodb', line)}\n`);
      },
    });
    const client = createLocalDynamoDbClient(dynamo.endpoint);
    const tables = await createTables(client, cfg.tablePrefix);
    client.destroy();
    process.stdout.write(`${formatLogLine('dynamodb', `ready at ${dynamo.endpoint}`)}\n`);
    // What the components talk to: DynamoDB Local, or a fault proxy in front of it (the soak harness).
    const dynamoDbEndpoint = cfg.dynamoDbClientEndpoint ?? dynamo.endpoint;

    // Local S3 (s3rver) in this process: the feed bucket (nightly export, File Exporter) and the recordings
    // bucket (segments with audioRecordingAllowed); objects survive restarts under the data directory.
    s3 = await startLocalS3({
      host: cfg.host,
      port: cfg.s3Port,
      dataDir: join(cfg.dataDir, 's3'),
      bucket: cfg.feedsBucket,
      extraBuckets: [cfg.recordingsBucket],
    });
    const s3Env = {
      S3_ENDPOINT: s3.endpoint,
      // s3rver accepts only its own key pair; these credentials are meaningless anywhere else.
      AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
    };
    process.stdout.write(
      `${formatLogLine('s3', `local S3 at ${s3.endpoint} (${cfg.feedsBucket}, ${cfg.recordingsBucket})`)}\n`,
    );

    const wsUrl = `ws://${cfg.host}:${cfg.websocketPort}`;
    const credentialsJson = await credentialSetJson(creds);
    const api = watch(
      startComponent('api', ['local/api/main.ts'], {
        LOCAL_API_HOST: cfg.host,
        LOCAL_API_PORT: String(cfg.apiPort),
        CONVERSATIONS_TABLE: tables.conversations,
        UTTERANCES_TABLE: tables.utterances,
        DYNAMODB_ENDPOINT: dynamoDbEndpoint,
        ...s3Env,
        FEEDS_BUCKET: cfg.feedsBucket,
        API_CREDENTIALS_JSON: credentialsJson,
        REALTIME_TOKEN_SECRET: creds.realtimeTokenSecret,
        REALTIME_SUPERVISOR_API_IDS: creds.apiId,
        WEBSOCKET_URL: wsUrl,
        AWS_REGION: 'us-east-1',
        LOG_LEVEL: cfg.logLevel.toUpperCase(),
        POWERTOOLS_TRACE_ENABLED: 'false',
      }),
    );

    // Real-time delivery: the local WebSocket front (API Gateway WebSocket stand-in, with the management
    // API for postToConnection) and the stream poller driving the fan-out handler from DynamoDB Local's
    // stream the way a Lambda event source mapping would. WEBHOOK_* settings pass through from npm start.
    const subscriptionsTable = subscriptionsTableName(cfg.tablePrefix);
    const websocket = watch(
      startComponent('websocket', ['local/websocket-front.ts'], {
        LOCAL_WS_HOST: cfg.host,
        LOCAL_WS_PORT: String(cfg.websocketPort),
        [MANAGEMENT_SECRET_ENV]: managementSecret,
        SUBSCRIPTIONS_TABLE: subscriptionsTable,
        // subscribe reads (only) a conversation's history and state for pages opened mid-call or after it.
        UTTERANCES_TABLE: tables.utterances,
        CONVERSATIONS_TABLE: tables.conversations,
        DYNAMODB_ENDPOINT: dynamoDbEndpoint,
        ...LOOPBACK_AWS_CREDENTIALS,
        API_CREDENTIALS_JSON: credentialsJson,
        REALTIME_TOKEN_SECRET: creds.realtimeTokenSecret,
        REALTIME_SUPERVISOR_API_IDS: creds.apiId,
        AWS_REGION: 'us-east-1',
        LOG_LEVEL: cfg.logLevel.toUpperCase(),
        POWERTOOLS_TRACE_ENABLED: 'false',
      }),
    );
    // The live transcript page (web/transcript/): its config.json hands the browser a connect token from the
    // REST API's token route, so the page never sees the API secret.
    const ui = watch(
      startComponent('ui', ['local/ui-server.ts'], {
        LOCAL_UI_HOST: cfg.host,
        LOCAL_UI_PORT: String(cfg.uiPort),
        API_URL: `http://${cfg.host}:${cfg.apiPort}`,
        API_ID: creds.pageApiId,
        API_SECRET: creds.pageApiSecret,
        WEBSOCKET_URL: wsUrl,
      }),
    );
    const webhookEnv = Object.fromEntries(
      Object.entries(process.env).filter(
        (e): e is [string, string] => e[0].startsWith('WEBHOOK_') && e[1] !== undefined,
      ),
    );
    watch(
      startComponent('fanout', ['local/stream-poller.ts'], {
        ...webhookEnv,
        UTTERANCES_TABLE: tables.utterances,
        SUBSCRIPTIONS_TABLE: subscriptionsTable,
        DYNAMODB_ENDPOINT: dynamoDbEndpoint,
        WEBSOCKET_MANAGEMENT_ENDPOINT: wsManagementEndpoint,
        ...LOOPBACK_AWS_CREDENTIALS,
        STREAM_CHECKPOINT_FILE: join(cfg.dataDir, 'stream-checkpoints.json'),
        STREAM_FAILURE_FILE: join(cfg.dataDir, 'stream-failures.jsonl'),
        AWS_REGION: 'us-east-1',
        LOG_LEVEL: cfg.logLevel.toUpperCase(),
        POWERTOOLS_TRACE_ENABLED: 'false',
      }),
    );

    // The local stand-in for EventBridge Scheduler (02:00 UTC daily export of the previous day) and for the
    // S3 notification on export requests (POST /fileexporter/v1/admin/exportfeed).
    watch(
      startComponent('scheduler', ['local/scheduler.ts'], {
        ...s3Env,
        FEEDS_BUCKET: cfg.feedsBucket,
        UTTERANCES_TABLE: tables.utterances,
        DYNAMODB_ENDPOINT: dynamoDbEndpoint,
        AWS_REGION: 'us-east-1',
        LOG_LEVEL: cfg.logLevel.toUpperCase(),
        POWERTOOLS_TRACE_ENABLED: 'false',
      }),
    );

    // The local Transcribe-compatible endpoint (pocketsphinx by default) runs in this process; the gateway's real
    // Transcribe SDK client talks to it over HTTP/2 exactly as it would to AWS.
    // Fault control (loopback only) lets the end-to-end suite arm Transcribe faults in this process.
    const recognizer = localRecognizer(cfg);
    transcribe = await startLocalTranscribe({
      host: cfg.host,
      port: cfg.transcribePort,
      faultControl: true,
      ...(recognizer && { recognizer }),
      ...(cfg.faultSeed !== undefined && { faultSeed: cfg.faultSeed }),
    });
    process.stdout.write(`${formatLogLine('transcribe', `local Transcribe endpoint at ${transcribe.url}`)}\n`);

    const gateway = watch(
      startComponent('gateway', ['fargate/src/main.ts'], {
        HOST: cfg.host,
        PORT: String(cfg.gatewayPort),
        ADMIN_HOST: cfg.host,
        ADMIN_PORT: String(cfg.adminPort),
        AUDIOHOOK_PATHS: cfg.audiohookPath,
        AUDIOHOOK_API_KEYS: audiohookKeysJson(creds),
        // No SUPPORTED_LANGUAGES, DEFAULT_LANGUAGE or REDACTION_ENABLED, as for the API above: both use the same
        // defaults, so `genesys`-controlled sessions start like API starts (docs/genesys.md §0).
        CONVERSATIONS_TABLE: tables.conversations,
        UTTERANCES_TABLE: tables.utterances,
        DYNAMODB_ENDPOINT: dynamoDbEndpoint,
        TRANSCRIBE_ENDPOINT: transcribe.url,
        // pocketsphinx can lag real time on a busy machine: give a closing segment time for its last finals.
        TRANSCRIBE_END_TIMEOUT_MS: '30000',
        ...s3Env,
        RECORDINGS_BUCKET: cfg.recordingsBucket,
        // Live partials: the gateway posts interim results to the front's subscribers itself (docs/realtime.md §5).
        SUBSCRIPTIONS_TABLE: subscriptionsTable,
        WEBSOCKET_MANAGEMENT_ENDPOINT: wsManagementEndpoint,
        AWS_REGION: 'us-east-1',
        TASK_ID: 'local-gateway',
        LOG_LEVEL: cfg.logLevel,
        DRAIN_TIMEOUT_SEC: '5',
      }),
    );

    await Promise.all([
      waitForHealth(`http://${cfg.host}:${cfg.gatewayPort}/health`, gateway, 30_000),
      waitForHealth(`http://${cfg.host}:${cfg.apiPort}/health`, api, 30_000),
      waitForHealth(`http://${cfg.host}:${cfg.websocketPort}/health`, websocket, 30_000),
      waitForHealth(`http://${cfg.host}:${cfg.uiPort}/health`, ui, 30_000),
    ]);
  } catch (err) {
    process.stderr.write(`local stack failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    await shutdown(1);
    return;
  }

  const endpointsFile = join(cfg.dataDir, 'endpoints.json');
  // Both were set before the try block could complete.
  const ddb = dynamo as SupervisedDynamoDbLocal;
  const s3Local = s3 as LocalS3;
  const endpoints = () => ({
    gateway: {
      url: `ws://${cfg.host}:${cfg.gatewayPort}${cfg.audiohookPath}`,
      apiKey: creds.apiKey,
      clientSecret: creds.clientSecret,
      connectorApiKey: creds.connectorApiKey,
      connectorClientSecret: creds.connectorClientSecret,
      health: `http://${cfg.host}:${cfg.gatewayPort}/health`,
      metrics: `http://${cfg.host}:${cfg.adminPort}/metrics`,
    },
    api: {
      url: `http://${cfg.host}:${cfg.apiPort}`,
      apiId: creds.apiId,
      apiSecret: creds.apiSecret,
      controlApiId: creds.controlApiId,
      controlApiSecret: creds.controlApiSecret,
    },
    dynamodb: { endpoint: `http://${cfg.host}:${cfg.dynamoDbPort}`, tablePrefix: cfg.tablePrefix },
    transcribe: { endpoint: `http://${cfg.host}:${cfg.transcribePort}` },
    // The management endpoint carries its secret: this file is 0600, for local tests and tools only.
    websocket: { url: `ws://${cfg.host}:${cfg.websocketPort}`, managementEndpoint: wsManagementEndpoint },
    // Child pids by component, so tests can signal one (e.g. SIGTERM the gateway to see it drain), and the
    // process group of DynamoDB Local (the soak harness pauses it with SIGSTOP). Rewritten on restarts.
    processes: {
      ...Object.fromEntries(components.map((c) => [c.name, c.child.pid])),
      dynamodb: ddb.current().pid,
    },
    ui: { url: `http://${cfg.host}:${cfg.uiPort}` },
    s3: { endpoint: s3Local.endpoint, bucket: cfg.feedsBucket, recordingsBucket: cfg.recordingsBucket },
  });
  const writeEndpoints = () =>
    writeFileSync(endpointsFile, `${JSON.stringify(endpoints(), null, 2)}\n`, { mode: 0o600 });
  writeEndpoints();
  onRestart = () => {
    if (!stopping) writeEndpoints();
  };
  process.stdout.write(`${banner(cfg, creds, endpointsFile)}\n`);
  if (cfg.exitWhenReady) await shutdown(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`npm start failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

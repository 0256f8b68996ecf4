/**
 * A real gateway for the simulator's `--transcription-connector` tests, on loopback: createGateway wired
 * to the ConversationController, the real Transcribe SDK client against the local Transcribe-compatible
 * endpoint with the scripted recognizer (speech energy → fixed words: fast and deterministic), and the
 * repositories on DynamoDB Local. Unlike test/fargate/control/pipeline-harness.ts it accepts two keys: one
 * with the Transcription Connector feature (as a Genesys Transcription Connector integration is set up)
 * and a plain one, so a test can show which of key and `customConfig` turned the events on.
 */
import type { AddressInfo } from 'node:net';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { TableNames } from '../../../contract/tables';
import { Authenticator } from '../../../core/auth/authenticator';
import { NonceCache } from '../../../core/auth/nonce-cache';
import type { StartParams } from '../../../core/conversation/conversation';
import { silentLogger, systemClock, systemTimers } from '../../../core/ports';
import { ConversationController } from '../../../fargate/src/control/conversation-controller';
import { createGateway, type Gateway } from '../../../fargate/src/gateway';
import { StaticKeySource } from '../../../fargate/src/secrets';
import { createTranscribeClient } from '../../../fargate/src/transcribe/client';
import type { RecognizerFactory } from '../../../local/transcribe/recognizer';
import { type LocalTranscribe, startLocalTranscribe } from '../../../local/transcribe/server';
import { ControlInbox } from '../../../store/control-inbox';
import { ConversationsRepository } from '../../../store/conversations';
import { type StoredUtterance, UtterancesRepository } from '../../../store/utterances';

/** A key whose integration is a Transcription Connector (`features.transcriptionConnector`). */
export const CONNECTOR_KEY = {
  apiKey: 'sim-connector-itest-key',
  clientSecret: Buffer.from('simulator-connector-test-secret').toString('base64'),
};

/** A key without the feature: only `customConfig.transcriptionConnector` can turn events on. */
export const PLAIN_KEY = {
  apiKey: 'sim-plain-itest-key',
  clientSecret: Buffer.from('simulator-plain-test-secret').toString('base64'),
};

/** A running gateway. */
export interface ConnectorGateway {
  readonly url: string;
  /** What the start Lambda records before the session opens (honoured at open). */
  startTranscription(conversationId: string, params: StartParams): Promise<void>;
  listUtterances(conversationId: string): Promise<StoredUtterance[]>;
  close(): Promise<void>;
}

/** Starts the gateway on 127.0.0.1, port 0. */
export async function startConnectorGateway(opts: {
  db: { doc: DynamoDBDocumentClient; tables: TableNames };
  recognizer: RecognizerFactory;
}): Promise<ConnectorGateway> {
  const local: LocalTranscribe = await startLocalTranscribe({ port: 0, recognizer: opts.recognizer });
  const client = createTranscribeClient({
    region: 'us-east-1',
    endpoint: local.url,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    logger: silentLogger,
  });
  const { doc, tables } = opts.db;
  const conversations = new ConversationsRepository(doc, { tableName: tables.conversations });
  const utterances = new UtterancesRepository(doc, { tableName: tables.utterances });
  const controller = new ConversationController({
    taskId: 'sim-connector-task',
    conversations,
    inbox: new ControlInbox(doc, { tableName: tables.conversations }),
    utterances,
    transcribe: client,
    clock: systemClock,
    timers: systemTimers,
    logger: silentLogger,
    pollIntervalMs: 100,
  });
  const keySource = new StaticKeySource({
    [CONNECTOR_KEY.apiKey]: { secret: CONNECTOR_KEY.clientSecret, label: 'connector', transcriptionConnector: true },
    [PLAIN_KEY.apiKey]: { secret: PLAIN_KEY.clientSecret, label: 'plain' },
  });
  const gateway: Gateway = createGateway({
    paths: ['/api/v1/audiohook/ws'],
    maxSessions: 100,
    authenticator: new Authenticator({
      keys: keySource.store,
      clock: systemClock,
      nonceCache: new NonceCache({ clock: systemClock, windowSec: 16 }),
      maxSignatureAgeSec: 10,
      clockSkewSec: 3,
    }),
    sinkFactory: controller.sinkFactory,
    hooksFactory: controller.hooksFactory,
    sessionOptions: { supportedLanguages: ['en-US'] },
    clock: systemClock,
    timers: systemTimers,
    logger: silentLogger,
  });
  controller.attach(gateway);
  controller.start();
  await new Promise<void>((resolve, reject) => {
    gateway.server.once('error', reject);
    gateway.server.listen({ port: 0, host: '127.0.0.1' }, () => resolve());
  });
  const { port } = gateway.server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/api/v1/audiohook/ws`,
    async startTranscription(conversationId, params) {
      const result = await conversations.requestStart(conversationId, params, Date.now());
      if (result.outcome === 'conflict') throw new Error('start conflicted');
    },
    async listUtterances(conversationId) {
      return (await utterances.listByConversation(conversationId, { consistentRead: true })).items;
    },
    async close() {
      await gateway.closeAll('test over');
      await new Promise<void>((resolve) => {
        gateway.server.close(() => resolve());
        gateway.server.closeAllConnections();
      });
      await controller.stop();
      keySource.close();
      client.destroy();
      await local.close();
    },
  };
}

/**
 * What the WebSocket API's route handlers ($connect, $disconnect, subscribe/unsubscribe, $default) and
 * the fan-out share: the event shape API Gateway sends (WebSocket, Lambda proxy), the frames we send to
 * clients, the management API port ({@link ConnectionPusher}, defined in store/connection-pusher.ts and
 * re-exported here), and the collaborators of the handlers.
 *
 * Client protocol (docs/realtime.md): the client sends `{"action":"subscribe","conversationId":"…"}`,
 * `{"action":"subscribe","all":true}` (supervisors) or `{"action":"unsubscribe",…}`, optionally with an
 * `"id"` echoed in the answer; it receives `subscribed` / `unsubscribed` / `error` frames and one
 * `transcript` frame per final utterance of what it subscribed to. A subscription to one conversation
 * may ask for `"history": true` (the utterances stored so far, in `history` frames, then a `status`
 * frame) or `"status": true` (the `status` frame only).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ConversationStatus } from '../../core/conversation/conversation';
import type { SubscriberTranscriptMessage } from '../../core/delivery/transcript-message';
import { type ConnectionPusher, ManagementApiPusher, managementClient } from '../../store/connection-pusher';
import { ConversationsRepository } from '../../store/conversations';
import { createDocumentClient } from '../../store/dynamo';
import { SubscriptionsRepository } from '../../store/subscriptions';
import { UtterancesRepository } from '../../store/utterances';
import { credentialSourceOf } from '../authorizer/handler';
import { CredentialStore } from './credential-store';
import { type ApiLogger, createObservability, type MetricsSink, traceClient } from './observability';
import type { WebSocketConfig } from './realtime-config';
import { type TokenKey, tokenKeyFromConfig } from './token-key';

// The management API port moved to store/ (the gateway posts live partials too); re-exported for the
// route handlers, the fan-out and the local front, which import it from here.
export { type ConnectionPusher, ManagementApiPusher, managementClient };

/** The event API Gateway passes to a WebSocket route's Lambda proxy integration. */
export interface WebSocketEvent {
  requestContext: {
    routeKey: string;
    eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT';
    connectionId: string;
    domainName: string;
    stage: string;
    requestId: string;
    apiId?: string;
    connectedAt?: number;
    requestTimeEpoch?: number;
    disconnectStatusCode?: number;
    disconnectReason?: string;
  };
  /** Only on `$connect`: the handshake's headers and query. */
  headers?: Record<string, string | undefined>;
  multiValueHeaders?: Record<string, string[] | undefined>;
  queryStringParameters?: Record<string, string | undefined> | null;
  body?: string | null;
  isBase64Encoded?: boolean;
}

/** What a WebSocket route handler returns (on `$connect`, a non-2xx status refuses the handshake). */
export interface WebSocketResult {
  statusCode: number;
  body?: string;
}

/** A WebSocket route handler. */
export type WebSocketHandler = (event: WebSocketEvent) => Promise<WebSocketResult>;

/** Codes of `error` frames. */
export type ClientErrorCode =
  | 'BAD_REQUEST'
  | 'FORBIDDEN'
  | 'TOO_MANY_SUBSCRIPTIONS'
  | 'UNKNOWN_ACTION'
  /** The subscriptions store is throttled or unreachable: retry the same frame shortly. */
  | 'UNAVAILABLE'
  /** This deployment does not serve what was asked (`history` / `status`): the subscription itself stands. */
  | 'UNSUPPORTED'
  | 'INTERNAL';

/** A conversation's state as the `status` frame gives it: `unknown` when nothing is recorded (yet). */
export type ConversationState = ConversationStatus | 'unknown';

/** One page of a conversation's stored utterances, as `transcript` messages, oldest first. */
export interface HistoryFrame {
  type: 'history';
  conversationId: string;
  items: SubscriberTranscriptMessage[];
  /** `true` on the last page (also when there is no utterance at all). */
  complete: boolean;
  id?: string;
}

/** Where a conversation stands, so a client can anchor offsets and show an ended call. */
export interface StatusFrame {
  type: 'status';
  conversationId: string;
  /** Transcription control state (the status route's `state`). */
  state: ConversationState;
  /** Every AudioHook session of the call has closed (at least one was seen): nothing more will be said. */
  callEnded: boolean;
  /** ISO time the first AudioHook session opened: position 0 of the offsets (`start`, `end`). */
  timelineStartedAt?: string;
  /** ISO time the last session closed, when {@link callEnded}. */
  endedAt?: string;
  id?: string;
}

/** Frames we send to WebSocket clients (besides `transcript`). */
export type ControlFrame =
  | { type: 'subscribed' | 'unsubscribed'; conversationId?: string; all?: true; id?: string }
  | { type: 'error'; code: ClientErrorCode; message: string; id?: string }
  | HistoryFrame
  | StatusFrame;

/** The management endpoint of an event: `https://<domainName>/<stage>` (API Gateway's own domain). */
export function endpointOfEvent(event: Pick<WebSocketEvent, 'requestContext'>): string {
  return `https://${event.requestContext.domainName}/${event.requestContext.stage}`;
}

/** Collaborators of the WebSocket route handlers. */
export interface WebSocketDeps {
  subscriptions: SubscriptionsRepository;
  /** The management API for an event's connection (the endpoint may depend on the event). */
  pusherFor: (event: WebSocketEvent) => ConnectionPusher;
  /** API credentials, as the REST authorizer reads them. */
  credentials: Pick<CredentialStore, 'lookup'>;
  /** Key of the short-lived connect tokens (the key itself, or where to read it); absent = tokens are refused. */
  tokenKey?: TokenKey;
  /** Api ids allowed the "all conversations" subscription. */
  supervisorApiIds: ReadonlySet<string>;
  /** Reads a conversation's stored utterances (`"history": true`). @default - history unsupported */
  utterances?: Pick<UtterancesRepository, 'listByConversation'>;
  /** Reads a conversation's state (the `status` frame). @default - status unsupported */
  conversations?: Pick<ConversationsRepository, 'getMeta' | 'listSessions'>;
  logger: ApiLogger;
  metrics: MetricsSink;
  now?: () => number;
}

/** Sends a control frame, ignoring a connection that is already gone. */
export async function reply(deps: WebSocketDeps, event: WebSocketEvent, frame: ControlFrame): Promise<void> {
  await deps.pusherFor(event).post(event.requestContext.connectionId, JSON.stringify(frame));
}

/** Builds the WebSocket handlers' collaborators from a config (their Lambda composition root). */
export function webSocketDepsFromConfig(config: WebSocketConfig, functionName: string): WebSocketDeps {
  const { logger, metrics, tracer } = createObservability(config, functionName);
  const client = traceClient(
    tracer,
    new DynamoDBClient({
      ...(config.awsRegion !== undefined && { region: config.awsRegion }),
      ...(config.dynamoDbEndpoint !== undefined && { endpoint: config.dynamoDbEndpoint }),
    }),
  );
  const pushers = new Map<string, ConnectionPusher>();
  const pusherFor = (event: WebSocketEvent): ConnectionPusher => {
    const endpoint = config.managementEndpoint ?? endpointOfEvent(event);
    let pusher = pushers.get(endpoint);
    if (!pusher) {
      pusher = new ManagementApiPusher(
        managementClient(endpoint, config.awsRegion !== undefined ? { region: config.awsRegion } : {}),
      );
      pushers.set(endpoint, pusher);
    }
    return pusher;
  };
  const tokenKey = tokenKeyFromConfig(config);
  const doc = createDocumentClient(client);
  return {
    subscriptions: new SubscriptionsRepository(doc, {
      tableName: config.subscriptionsTable,
      connectionTtlSeconds: config.connectionTtlSec,
    }),
    ...(config.utterancesTable !== undefined && {
      utterances: new UtterancesRepository(doc, { tableName: config.utterancesTable }),
    }),
    ...(config.conversationsTable !== undefined && {
      conversations: new ConversationsRepository(doc, { tableName: config.conversationsTable }),
    }),
    pusherFor,
    credentials: new CredentialStore(credentialSourceOf({ ...config, negativeCacheTtlSec: 0 }), {
      ttlMs: config.cacheTtlSec * 1000,
    }),
    ...(tokenKey !== undefined && { tokenKey }),
    supervisorApiIds: new Set(config.supervisorApiIds),
    logger,
    metrics,
  };
}

/** A header of a `$connect` event, case-insensitively. */
export function eventHeader(event: WebSocketEvent, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(event.headers ?? {})) {
    if (k.toLowerCase() === wanted && v !== undefined && v !== '') return v;
  }
  return undefined;
}

/**
 * The WebSocket API's management API (`@connections`) as a small port, {@link ConnectionPusher}, and its
 * one adapter over the real `@aws-sdk/client-apigatewaymanagementapi` client. It lives in store/ because
 * both the Lambdas (route handlers, fan-out) and the gateway (live partials) post frames to subscribers,
 * and neither may import the other.
 */
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';

/** The management API, reduced to what we use. */
export interface ConnectionPusher {
  /** Sends one frame; `gone` when the connection no longer exists (HTTP 410). */
  post(connectionId: string, data: string): Promise<'sent' | 'gone'>;
  /** Closes a connection (idempotent). */
  disconnect(connectionId: string): Promise<void>;
}

/** A {@link ConnectionPusher} over the real management API client. */
export class ManagementApiPusher implements ConnectionPusher {
  constructor(private readonly client: ApiGatewayManagementApiClient) {}

  async post(connectionId: string, data: string): Promise<'sent' | 'gone'> {
    try {
      await this.client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(data) }));
      return 'sent';
    } catch (err) {
      if (isGone(err)) return 'gone';
      throw err;
    }
  }

  async disconnect(connectionId: string): Promise<void> {
    try {
      await this.client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    } catch (err) {
      if (!isGone(err)) throw err;
    }
  }
}

/** Whether a management API error means the connection no longer exists (`GoneException`, HTTP 410). */
export function isGone(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === 'GoneException' || e?.$metadata?.httpStatusCode === 410;
}

/**
 * The management API client for an endpoint. Locally the endpoint is the WebSocket front's HTTP port
 * (local/websocket-front.ts); dummy credentials spare a local run the AWS credential chain.
 */
export function managementClient(endpoint: string, options: { region?: string } = {}): ApiGatewayManagementApiClient {
  const local = /^http:\/\//i.test(endpoint);
  return new ApiGatewayManagementApiClient({
    endpoint,
    ...(options.region !== undefined && { region: options.region }),
    ...(local && {
      region: options.region ?? 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 2,
    }),
  });
}

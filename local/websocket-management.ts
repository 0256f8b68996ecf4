/**
 * The local WebSocket front's management API calls on one connection (postToConnection,
 * getConnection, deleteConnection), answered as API Gateway answers them so the real
 * `@aws-sdk/client-apigatewaymanagementapi` client works unchanged. Which requests get here (the secret
 * path prefix, local/management-secret.ts) is decided by local/websocket-front.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { WebSocket } from 'ws';

/** What the management API knows of an open connection. */
export interface ManagedConnection {
  ws: WebSocket;
  connectedAt: number;
  lastActiveAt: number;
  sourceIp: string;
  userAgent: string;
}

/** The call's target and the front's state. */
export interface ManagementCall {
  /** The connection id as it appears in the path (URI-encoded); a malformed escape rejects with URIError. */
  escapedId: string;
  live: ReadonlyMap<string, ManagedConnection>;
  /** API Gateway's message size limit: a larger POST is `413 PayloadTooLargeException`. */
  maxPayload: number;
}

/**
 * Answers `POST` (push the body as a text frame), `GET` (connection info) or `DELETE` (close) on one
 * connection: `410 GoneException` for an unknown or closed one, `405` for another method.
 */
export async function serveManagementCall(
  req: IncomingMessage,
  res: ServerResponse,
  call: ManagementCall,
): Promise<void> {
  const connectionId = decodeURIComponent(call.escapedId);
  const gone = () => {
    const body = JSON.stringify({ message: `connection ${connectionId} is gone` });
    res.writeHead(410, { 'Content-Type': 'application/json', 'x-amzn-ErrorType': 'GoneException' });
    res.end(body);
  };
  const conn = call.live.get(connectionId);
  const method = (req.method ?? 'GET').toUpperCase();
  if (method === 'POST') {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size <= call.maxPayload) chunks.push(c as Buffer);
    }
    if (size > call.maxPayload) {
      res.writeHead(413, { 'Content-Type': 'application/json', 'x-amzn-ErrorType': 'PayloadTooLargeException' });
      res.end(JSON.stringify({ message: 'payload too large' }));
      return;
    }
    if (!conn || conn.ws.readyState !== WebSocket.OPEN) return gone();
    const data = Buffer.concat(chunks);
    // API Gateway delivers postToConnection data as a text frame.
    await new Promise<void>((ok) => conn.ws.send(data.toString('utf8'), () => ok()));
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end();
    return;
  }
  if (!conn) return gone();
  if (method === 'DELETE') {
    conn.ws.close(1000, 'deleted by the management API');
    res.writeHead(204);
    res.end();
    return;
  }
  if (method === 'GET') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(
      JSON.stringify({
        ConnectedAt: new Date(conn.connectedAt).toISOString(),
        LastActiveAt: new Date(conn.lastActiveAt).toISOString(),
        Identity: { SourceIp: conn.sourceIp, UserAgent: conn.userAgent },
      }),
    );
    return;
  }
  res.writeHead(405);
  res.end();
}

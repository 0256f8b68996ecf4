/**
 * A WebSocket API stand-in for the transcript page tests (test/web/transcript/): a real `ws` server on
 * loopback that records every handshake's token and every frame, answers subscriptions, and lets a test
 * push frames, refuse handshakes or drop clients. The capture-server test uses a second one as the
 * attacker's server and counts its handshakes. Also builders of the frames the fan-out pushes.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

type Role = 'customer' | 'agent';

/** A final `transcript` frame as the fan-out pushes it (docs/realtime.md §5). */
export function transcriptFrame(conversationId: string, utteranceId: string, role: Role, start: number, text: string) {
  return {
    type: 'transcript',
    externalConversationId: conversationId,
    streamId: `${role}-stream`,
    sender: { externalId: role === 'customer' ? 'cust-1' : 'agent-7', role },
    autotranscribeResponse: { message: 'transcript', start, end: start + 900, utterance: [{ text }] },
    utteranceId,
    messageId: `01JABCDEF${utteranceId}`,
    createdTimestamp: '2026-12-08T03:14:05.310Z',
  };
}

/**
 * A `partial` frame (docs/realtime.md §5): the interim hypothesis of utterance `utteranceId`, whose final
 * `transcript` frame carries the same id.
 */
export function partialFrame(conversationId: string, utteranceId: string, role: Role, start: number, text: string) {
  return {
    type: 'partial',
    externalConversationId: conversationId,
    streamId: `${role}-stream`,
    sender: { role },
    utteranceId,
    autotranscribeResponse: { message: 'partial', start, end: start + 400, utterance: [{ text }] },
    language: 'en-US',
    sentTimestamp: '2026-12-08T03:14:05.010Z',
  };
}

/** A WebSocket API stand-in: records handshakes and frames, lets the test push frames or drop clients. */
export class ScriptedWebSocketApi {
  readonly http: Server = createServer((_req, res) => {
    res.writeHead(404);
    res.end();
  });
  readonly wss = new WebSocketServer({ noServer: true });
  readonly tokens: string[] = [];
  readonly frames: Record<string, unknown>[] = [];
  /** TCP connections accepted, handshake or not. */
  connections = 0;
  /** Answer handshakes with this status instead of accepting them. */
  refuseWith: number | undefined;
  /** Reply to subscribe frames with this (one frame, or several in order) instead of `subscribed`. */
  subscribeReply: ((frame: Record<string, unknown>) => Record<string, unknown> | Record<string, unknown>[]) | undefined;

  constructor() {
    this.http.on('connection', () => {
      this.connections += 1;
    });
    this.http.on('upgrade', (req, socket, head) => {
      const token = new URL(req.url ?? '/', 'http://x').searchParams.get('token') ?? '';
      this.tokens.push(token);
      if (this.refuseWith !== undefined) {
        socket.end(`HTTP/1.1 ${this.refuseWith} Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (data) => {
          const frame = JSON.parse(String(data)) as Record<string, unknown>;
          this.frames.push(frame);
          if (frame.action === 'subscribe') {
            const reply = this.subscribeReply?.(frame) ?? {
              type: 'subscribed',
              conversationId: frame.conversationId,
              id: frame.id,
            };
            for (const r of [reply].flat()) ws.send(JSON.stringify(r));
          }
        });
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((ok) => this.http.listen(0, '127.0.0.1', ok));
    return `ws://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  get clients(): WebSocket[] {
    return [...this.wss.clients].filter((c) => c.readyState === WebSocket.OPEN);
  }

  push(frame: unknown): void {
    for (const c of this.clients) c.send(JSON.stringify(frame));
  }

  /** Sends `text` as it is (not JSON-encoded): for frames that are not JSON. */
  pushRaw(text: string): void {
    for (const c of this.clients) c.send(text);
  }

  dropAll(): void {
    for (const c of this.wss.clients) c.terminate();
  }

  reset(): void {
    this.dropAll();
    this.tokens.length = 0;
    this.frames.length = 0;
    this.connections = 0;
    this.refuseWith = undefined;
    this.subscribeReply = undefined;
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((ok) => this.http.close(() => ok()));
  }
}

/**
 * A minimal AudioHook client for gateway tests: signs the upgrade like Genesys (via core's signer), opens a
 * real `ws` socket, sends protocol messages with correct sequencing, and records what the server sends.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { signAudioHookRequest } from '../../../core/auth/signature';

export const ORG_ID = 'd7934305-0972-4844-938e-9060eef73d05';

export interface UpgradeIds {
  sessionId: string;
  organizationId: string;
  correlationId: string;
}

export function newIds(overrides: Partial<UpgradeIds> = {}): UpgradeIds {
  return { sessionId: randomUUID(), organizationId: ORG_ID, correlationId: randomUUID(), ...overrides };
}

/** Upgrade headers as Genesys sends them; signed when a secret is given. */
export function audiohookHeaders(opts: {
  apiKey: string;
  secretBase64?: string;
  authority: string;
  target: string;
  ids: UpgradeIds;
  nowSec?: number;
}): Record<string, string> {
  const headers: Record<string, string> = {
    'Audiohook-Organization-Id': opts.ids.organizationId,
    'Audiohook-Session-Id': opts.ids.sessionId,
    'Audiohook-Correlation-Id': opts.ids.correlationId,
    'X-API-KEY': opts.apiKey,
  };
  if (opts.secretBase64 !== undefined) {
    const created = opts.nowSec ?? Math.floor(Date.now() / 1000);
    const sig = signAudioHookRequest({
      apiKey: opts.apiKey,
      clientSecretBase64: opts.secretBase64,
      target: opts.target,
      authority: opts.authority,
      organizationId: opts.ids.organizationId,
      sessionId: opts.ids.sessionId,
      correlationId: opts.ids.correlationId,
      created,
      expires: created + 30,
    });
    headers['Signature-Input'] = sig.signatureInput;
    headers.Signature = sig.signature;
  }
  return headers;
}

export type UpgradeResult =
  | { kind: 'open'; ws: WebSocket; elapsedMs: number }
  | { kind: 'rejected'; status: number; headers: IncomingMessage['headers']; body: string; elapsedMs: number };

/** Attempts a WebSocket upgrade and reports either the open socket or the HTTP answer. */
export function attemptUpgrade(url: string, headers: Record<string, string>): Promise<UpgradeResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    ws.once('open', () => resolve({ kind: 'open', ws, elapsedMs: performance.now() - started }));
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          kind: 'rejected',
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          elapsedMs: performance.now() - started,
        }),
      );
      res.on('error', reject);
    });
    ws.once('error', reject);
  });
}

export interface ServerMsg {
  version: string;
  id: string;
  type: string;
  seq: number;
  clientseq: number;
  parameters: Record<string, unknown>;
}

/** Protocol-level driver over an open socket. */
export class AudioHookTestClient {
  readonly received: ServerMsg[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private seq = 0;
  private waiters: Array<() => void> = [];

  constructor(
    readonly ws: WebSocket,
    readonly ids: UpgradeIds,
  ) {
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.received.push(JSON.parse(String(data)) as ServerMsg);
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString('utf8') });
        for (const w of this.waiters.splice(0)) w();
      });
    });
  }

  private lastServerSeq(): number {
    return this.received.at(-1)?.seq ?? 0;
  }

  send(type: string, parameters: Record<string, unknown>, position = 'PT0S'): void {
    this.seq += 1;
    this.ws.send(
      JSON.stringify({
        version: '2',
        id: this.ids.sessionId,
        type,
        seq: this.seq,
        serverseq: this.lastServerSeq(),
        position,
        parameters,
      }),
    );
  }

  sendOpen(overrides: { conversationId?: string; participantId?: string } = {}): void {
    this.send('open', {
      organizationId: this.ids.organizationId,
      conversationId: overrides.conversationId ?? randomUUID(),
      participant: {
        id: overrides.participantId ?? randomUUID(),
        ani: '+15551234567',
        aniName: 'Caller',
        dnis: '+15557654321',
      },
      media: [{ type: 'audio', format: 'PCMU', channels: ['external', 'internal'], rate: 8000 }],
      language: 'en-US',
    });
  }

  sendClose(position = 'PT0S'): void {
    this.send('close', { reason: 'end' }, position);
  }

  /** Resolves with the first message of `type` (already received or arriving within `timeoutMs`). */
  async waitFor(type: string, timeoutMs = 5000): Promise<ServerMsg> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.received.find((m) => m.type === type);
      if (found) return found;
      const left = deadline - performance.now();
      if (left <= 0 || this.ws.readyState === WebSocket.CLOSED) {
        throw new Error(`no "${type}" received; got ${JSON.stringify(this.received.map((m) => m.type))}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

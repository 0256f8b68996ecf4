/**
 * The live transcript page in headless Chromium, against a scripted WebSocket API: connection with a
 * token from `/config.json` (served by local/ui-server.ts with a stand-in token route), subscription,
 * utterances per role in call order, dedupe, escaping, reconnect, refusals. The same page against the
 * whole local stack is test/e2e/transcript-page.test.ts.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { DEFAULT_UI_ROOT, startUiServer, type UiServer } from '../../../local/ui-server';
import { launchChromium } from '../../helpers/chromium';

/** A WebSocket API stand-in: records handshakes and frames, lets the test push frames or drop clients. */
class ScriptedWebSocketApi {
  readonly http: Server = createServer((_req, res) => {
    res.writeHead(404);
    res.end();
  });
  readonly wss = new WebSocketServer({ noServer: true });
  readonly tokens: string[] = [];
  readonly frames: Record<string, unknown>[] = [];
  /** Answer handshakes with this status instead of accepting them. */
  refuseWith: number | undefined;
  /** Reply to subscribe frames with this instead of `subscribed`. */
  subscribeReply: ((frame: Record<string, unknown>) => Record<string, unknown>) | undefined;

  constructor() {
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
            ws.send(JSON.stringify(reply));
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

  dropAll(): void {
    for (const c of this.wss.clients) c.terminate();
  }

  reset(): void {
    this.dropAll();
    this.tokens.length = 0;
    this.frames.length = 0;
    this.refuseWith = undefined;
    this.subscribeReply = undefined;
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((ok) => this.http.close(() => ok()));
  }
}

/** A `transcript` frame as the fan-out pushes it (docs/realtime.md §5). */
function transcript(
  conversationId: string,
  utteranceId: string,
  role: 'customer' | 'agent',
  start: number,
  text: string,
  externalId: string | null = role === 'customer' ? 'cust-1' : 'agent-7',
) {
  return {
    type: 'transcript',
    externalConversationId: conversationId,
    streamId: `${role}-stream`,
    sender: { externalId, role },
    autotranscribeResponse: { message: 'transcript', start, end: start + 900, utterance: [{ text }] },
    utteranceId,
    messageId: `01JABCDEF${utteranceId}`,
    createdTimestamp: '2026-01-15T14:02:05.310Z',
  };
}

const CONV = '6d0f5c3e-2a4b-4f1e-9c7d-1b2a3c4d5e6f';
/** The page's longest reconnect delay (web/transcript/app.js). */
const RECONNECT_MAX_MS = 30_000;
/**
 * Init script: counts `close` events of the page's sockets in `window.socketsClosed` (its listener is added
 * in the constructor, so it runs before the page's own, in the same dispatch) and records every status
 * the page shows in `window.states`. A string, not a function, so nothing of the test's compiled code
 * ends up in the page.
 */
const OBSERVE_PAGE = `{
  const Native = window.WebSocket;
  window.socketsClosed = 0;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('close', () => { window.socketsClosed += 1; });
    }
  };
  window.states = [];
  new MutationObserver((records) => {
    for (const r of records) window.states.push(r.target.getAttribute('data-state'));
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
}`;

let api: ScriptedWebSocketApi;
let wsUrl: string;
let ui: UiServer;
let browser: Browser;
let page: Page;
const tokenRequests: Array<{ conversationId: unknown }> = [];
/** Uncaught errors in the page: every test ends with none. */
const pageErrors: string[] = [];

beforeAll(async () => {
  api = new ScriptedWebSocketApi();
  wsUrl = await api.listen();
  // The token route stand-in: numbered tokens, so the test can tell a fresh one from a reused one.
  const fakeFetch: typeof fetch = async (_url, init) => {
    const body = JSON.parse(String(init?.body)) as { conversationId: unknown };
    tokenRequests.push(body);
    return new Response(
      JSON.stringify({ token: `tok-${tokenRequests.length}`, expiresAt: new Date(Date.now() + 300_000).toISOString() }),
      { status: 200, headers: { 'content-type': 'application/json' } },
    );
  };
  ui = await startUiServer({
    host: '127.0.0.1',
    port: 0,
    apiUrl: 'http://127.0.0.1:9',
    apiId: 'page-test',
    apiSecret: 'never-in-the-page-secret',
    websocketUrl: wsUrl,
    root: DEFAULT_UI_ROOT,
    fetch: fakeFetch,
  });
  browser = await launchChromium();
});

afterEach(async () => {
  const errors = pageErrors.splice(0);
  await page?.close();
  api.reset();
  tokenRequests.length = 0;
  expect(errors).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await ui?.close();
  await api?.close();
});

async function open(query: string, prepare?: (page: Page) => Promise<void>): Promise<Page> {
  page = await browser.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await prepare?.(page);
  await page.goto(`${ui.url}/?${query}`);
  return page;
}

const status = () => page.locator('#status');
const items = () => page.locator('#utterances > li');

async function waitFor(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('live transcript page', () => {
  describe('connecting', () => {
    it('gets a token for the conversation from config.json, connects with it and subscribes', async () => {
      await open(`conversationId=${CONV}`);
      await expect.poll(() => status().textContent()).toBe(`Live: conversation ${CONV}`);
      expect(tokenRequests).toEqual([{ conversationId: CONV }]);
      expect(api.tokens).toEqual(['tok-1']);
      expect(api.frames).toEqual([{ action: 'subscribe', conversationId: CONV, id: '1' }]);
      expect(await status().getAttribute('data-state')).toBe('live');
      expect(await page.content()).not.toContain('never-in-the-page-secret');
    });

    it('takes the WebSocket URL and token from the query string, and drops the token from the address bar', async () => {
      await open(`conversationId=${CONV}&websocketUrl=${encodeURIComponent(wsUrl)}&token=query-token`);
      await expect.poll(() => status().getAttribute('data-state')).toBe('live');
      expect(api.tokens).toEqual(['query-token']);
      expect(tokenRequests).toEqual([]);
      expect(page.url()).not.toContain('query-token');
      expect(new URL(page.url()).searchParams.get('conversationId')).toBe(CONV);
    });

    it('waits for a conversation id from the form when none is given', async () => {
      await open('');
      expect(await status().textContent()).toBe('Enter a conversation id to watch');
      expect(api.tokens).toEqual([]);
      await page.getByLabel('Conversation id').fill('conv-from-form');
      await page.getByRole('button', { name: 'Watch' }).click();
      await expect.poll(() => status().textContent()).toBe('Live: conversation conv-from-form');
      expect(tokenRequests).toEqual([{ conversationId: 'conv-from-form' }]);
      expect(new URL(page.url()).searchParams.get('conversationId')).toBe('conv-from-form');
    });

    it('stops on a refused subscription instead of retrying', async () => {
      api.subscribeReply = () => ({ type: 'error', code: 'FORBIDDEN', message: 'not your conversation' });
      await open(`conversationId=${CONV}`, async (p) => {
        await p.clock.install();
        await p.addInitScript(OBSERVE_PAGE);
      });
      await expect.poll(() => status().getAttribute('data-state')).toBe('failed');
      expect(await status().textContent()).toBe('Subscription refused: FORBIDDEN (not your conversation)');
      // Once the page has handled the close of the socket it closed, any retry it scheduled falls due in
      // runFor; a retry would show `reconnecting` or `connecting` (synchronously, before any request).
      await expect.poll(() => page.evaluate('window.socketsClosed')).toBe(1);
      const states = (await page.evaluate('window.states')) as string[];
      expect(states.at(-1)).toBe('failed');
      await page.clock.runFor(RECONNECT_MAX_MS);
      expect(await page.evaluate('window.states')).toEqual(states);
      expect(api.tokens).toHaveLength(1);
    });
  });

  describe('utterances', () => {
    it('shows each utterance under its role with its offset, in call order, once', async () => {
      await open(`conversationId=${CONV}`);
      await expect.poll(() => status().getAttribute('data-state')).toBe('live');
      api.push(transcript(CONV, 'u1', 'agent', 800, 'thank you for calling'));
      api.push(transcript(CONV, 'u2', 'customer', 4500, 'i would like to check my order'));
      api.push(transcript(CONV, 'u1', 'agent', 800, 'thank you for calling')); // at-least-once redelivery
      api.push(transcript('another-conversation', 'x1', 'customer', 100, 'not this call'));
      api.push(transcript(CONV, 'u3', 'agent', 2500, 'arrived late, belongs second'));
      await expect.poll(() => items().count()).toBe(3);

      const rows = await items().evaluateAll((lis) =>
        lis.map((li) => ({
          role: li.getAttribute('data-role') ?? undefined,
          label: li.querySelector('.role')?.textContent,
          who: li.querySelector('.speaker')?.textContent,
          offset: li.querySelector('.offset')?.textContent,
          text: li.querySelector('.text')?.textContent,
        })),
      );
      expect(rows).toEqual([
        { role: 'agent', label: 'Agent', who: 'agent-7', offset: '0:00.8', text: 'thank you for calling' },
        { role: 'agent', label: 'Agent', who: 'agent-7', offset: '0:02.5', text: 'arrived late, belongs second' },
        {
          role: 'customer',
          label: 'Customer',
          who: 'cust-1',
          offset: '0:04.5',
          text: 'i would like to check my order',
        },
      ]);
      expect(await page.locator('#utterance-count').textContent()).toBe('3');
      expect(await page.locator('#empty').isHidden()).toBe(true);
    });

    it('writes text as text: markup in an utterance or an id is never interpreted', async () => {
      await open(`conversationId=${CONV}`);
      await expect.poll(() => status().getAttribute('data-state')).toBe('live');
      const evil = '<img src=x onerror="window.__pwned=1"><b>bold</b> & <script>window.__pwned=2</script>';
      api.push(transcript(CONV, 'e1', 'customer', 100, evil, '<i>cust</i>'));
      await expect.poll(() => items().count()).toBe(1);
      expect(await items().first().locator('.text').textContent()).toBe(evil);
      expect(await items().first().locator('.speaker').textContent()).toBe('<i>cust</i>');
      expect(await page.locator('#utterances img, #utterances b, #utterances script, #utterances i').count()).toBe(0);
      expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    });

    it('announces new utterances politely to screen readers and labels its controls', async () => {
      await open('');
      const list = page.locator('#utterances');
      expect(await list.getAttribute('aria-live')).toBe('polite');
      expect(await list.getAttribute('aria-relevant')).toBe('additions');
      expect(await page.locator('#status').getAttribute('role')).toBe('status');
      expect(await page.getByLabel('Conversation id').count()).toBe(1);
    });
  });

  describe('reconnecting', () => {
    it('reconnects with a fresh token after the connection drops, resubscribes, and keeps deduping', async () => {
      await open(`conversationId=${CONV}`);
      await expect.poll(() => status().getAttribute('data-state')).toBe('live');
      api.push(transcript(CONV, 'u1', 'customer', 1000, 'before the drop'));
      await expect.poll(() => items().count()).toBe(1);

      api.dropAll();
      await expect.poll(() => status().getAttribute('data-state')).toMatch(/reconnecting|connecting/);
      await waitFor(() => api.clients.length === 1 && api.frames.length === 2, 'the second subscription');
      await expect.poll(() => status().getAttribute('data-state')).toBe('live');
      expect(api.tokens).toEqual(['tok-1', 'tok-2']);
      expect(api.frames.map((f) => f.action)).toEqual(['subscribe', 'subscribe']);

      api.push(transcript(CONV, 'u1', 'customer', 1000, 'before the drop'));
      api.push(transcript(CONV, 'u2', 'agent', 3000, 'after the drop'));
      await expect.poll(() => items().count()).toBe(2);
      expect(await items().locator('.text').allTextContents()).toEqual(['before the drop', 'after the drop']);
    });

    it('keeps retrying while the handshake is refused, and says so', async () => {
      api.refuseWith = 401;
      await open(`conversationId=${CONV}`);
      await waitFor(() => api.tokens.length >= 2, 'a second attempt');
      expect(await status().textContent()).toMatch(/Disconnected \(connection lost or refused\)|Reconnecting/);
      api.refuseWith = undefined;
      await expect.poll(() => status().getAttribute('data-state'), { timeout: 10_000 }).toBe('live');
    });
  });
});

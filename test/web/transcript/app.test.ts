/**
 * The live transcript page in headless Chromium, against a scripted WebSocket API: connection with a
 * token from `/config.json` (served by local/ui-server.ts with a stand-in token route), subscription,
 * utterances per role in call order, dedupe, escaping, reconnect, refusals; and where it may connect: only
 * to config.json's WebSocket URL, never to one named in its own URL (a capture server), with the CSP header
 * pinning `connect-src`. The same page against the whole local stack is test/e2e/transcript-page.test.ts.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_UI_ROOT, startUiServer, type UiServer } from '../../../local/ui-server';
import { launchChromium } from '../../helpers/chromium';
import { ScriptedWebSocketApi } from './scripted-websocket-api';

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
/** An attacker's server: the page must never connect to it. */
let capture: ScriptedWebSocketApi;
let captureUrl: string;
let ui: UiServer;
let browser: Browser;
let page: Page;
const tokenRequests: Array<{ conversationId: unknown }> = [];
/** Uncaught errors in the page: every test ends with none. */
const pageErrors: string[] = [];

beforeAll(async () => {
  api = new ScriptedWebSocketApi();
  wsUrl = await api.listen();
  capture = new ScriptedWebSocketApi();
  captureUrl = await capture.listen();
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
  capture.reset();
  tokenRequests.length = 0;
  expect(errors).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await ui?.close();
  await api?.close();
  await capture?.close();
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
      expect(api.frames).toEqual([{ action: 'subscribe', conversationId: CONV, id: '1', history: true }]);
      expect(await status().getAttribute('data-state')).toBe('live');
      expect(await page.content()).not.toContain('never-in-the-page-secret');
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
      // Each connection subscribes with history; speech before the call's start is known also asks for status.
      const withHistory = () => api.frames.filter((f) => f.history === true);
      await waitFor(() => api.clients.length === 1 && withHistory().length === 2, 'the second subscription');
      await expect.poll(() => status().getAttribute('data-state')).toBe('live');
      expect(api.tokens).toEqual(['tok-1', 'tok-2']);
      expect(new Set(api.frames.map((f) => f.action))).toEqual(new Set(['subscribe']));

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

  describe('where it connects', () => {
    /** Answers the page's config.json with `body` (a static deployment's file) instead of the server's. */
    const serveConfig =
      (body: unknown, status = 200) =>
      async (p: Page) => {
        await p.route('**/config.json*', (route) =>
          route.fulfill({ status, contentType: 'application/json', body: JSON.stringify(body) }),
        );
      };

    it('ignores ?websocketUrl=: the token goes only to the configured API, never to a capture server', async () => {
      await open(`conversationId=${CONV}&websocketUrl=${encodeURIComponent(captureUrl)}`);
      await expect.poll(() => status().getAttribute('data-state')).toBe('live');
      expect(api.tokens).toEqual(['tok-1']);
      expect(api.frames).toEqual([{ action: 'subscribe', conversationId: CONV, id: '1', history: true }]);
      // The page connects once, and it is live on the real API: a connection elsewhere came before that.
      expect(capture.connections).toBe(0);
      expect(capture.tokens).toEqual([]);
      expect(new URL(page.url()).searchParams.has('websocketUrl')).toBe(false);
    });

    it('cannot reach another WebSocket server even from script: the CSP header pins connect-src', async () => {
      await open(`conversationId=${CONV}`);
      await expect.poll(() => status().getAttribute('data-state')).toBe('live');
      // A string, like OBSERVE_PAGE: the first of a CSP violation, an open socket or a thrown error wins.
      const outcome = await page.evaluate(`new Promise((resolve) => {
        document.addEventListener('securitypolicyviolation',
          (e) => resolve({ directive: e.effectiveDirective, blocked: e.blockedURI }), { once: true });
        try {
          new WebSocket(${JSON.stringify(captureUrl)}).addEventListener('open', () => resolve({ opened: true }));
        } catch (err) {
          resolve({ thrown: String(err) });
        }
      })`);
      expect(outcome).toEqual({ directive: 'connect-src', blocked: expect.stringContaining(captureUrl) });
      expect(capture.connections).toBe(0);
    });

    it('takes the token from #token= when config.json has none, and drops it from the address bar', async () => {
      await open(`conversationId=${CONV}#token=fragment-token`, serveConfig({ websocketUrl: wsUrl }));
      await expect.poll(() => status().getAttribute('data-state')).toBe('live');
      expect(api.tokens).toEqual(['fragment-token']);
      expect(page.url()).not.toContain('fragment-token');
      expect(new URL(page.url()).searchParams.get('conversationId')).toBe(CONV);
    });

    it('refuses a token in the query string, says to use #token=, and drops it from the address bar', async () => {
      await open(`conversationId=${CONV}&token=query-token`);
      await expect.poll(() => status().getAttribute('data-state')).toBe('failed');
      expect(await status().textContent()).toBe(
        'A token in the query string (?token=) is refused: it reaches server logs. Pass it as #token=… instead',
      );
      expect(tokenRequests).toEqual([]);
      expect(api.connections).toBe(0);
      expect(page.url()).not.toContain('query-token');
    });

    it.each([
      ['an http URL (browsers would upgrade it)', () => wsUrl.replace('ws:', 'http:')],
      ['a javascript: URL', () => 'javascript:alert(1)'],
    ])('refuses a config.json WebSocket URL that is %s, visibly', async (_what, bad) => {
      await open(`conversationId=${CONV}`, serveConfig({ websocketUrl: bad(), token: 'config-token' }));
      await expect.poll(() => status().getAttribute('data-state')).toBe('failed');
      expect(await status().textContent()).toBe(`Not a WebSocket URL: ${bad()}`);
      expect(api.connections).toBe(0);
    });

    it('says so when there is no config.json next to the page', async () => {
      await open(`conversationId=${CONV}#token=fragment-token`, serveConfig({}, 404));
      await expect.poll(() => status().getAttribute('data-state')).toBe('failed');
      expect(await status().textContent()).toBe('No config.json next to the page: it names the WebSocket URL');
      expect(api.connections).toBe(0);
    });
  });
});

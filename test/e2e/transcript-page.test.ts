/**
 * The live transcript page, served by the local stack (`npm start`'s `ui` component), in a real headless
 * Chromium: it gets a connect token from the page server's `/config.json`, subscribes over the WebSocket
 * API, and shows a simulated two-party call's utterances under the right role with exactly the stored
 * text (compared with the messages API). A stored utterance whose text is markup then travels the whole
 * path (table stream → fan-out → WebSocket → page) and must come out as text. A page opened after the
 * call shows the whole conversation from its history, says the call has ended, and shows when each
 * utterance was said in call order. During the call (started unredacted) the page first shows live
 * partials, each replaced in place by its final.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tableNames } from '../../contract/tables';
import { utteranceIdOf } from '../../core/transcript/utterance';
import { createLocalDynamoDbClient } from '../../local/dynamodb';
import { UtterancesRepository } from '../../store/utterances';
import { launchChromium } from '../helpers/chromium';
import { type ApiMessage, buildCall, loadFixture, messagesOf, startStreaming, stopStreaming } from './flow-support';
import { eventually, type LocalStack, startLocalStack } from './harness';

const greeting = loadFixture('greeting');
const orderStatus = loadFixture('order-status');

let stack: LocalStack;
let browser: Browser;
let page: Page;
let pageUrl: string;
const pageErrors: string[] = [];
const conversationId = randomUUID();

/**
 * Records in the page every state each row goes through, in DOM order (`globalThis.__rowStates`: `{id,
 * partial}` whenever a row appears or its partial marker changes). Plain JavaScript: it runs in the page.
 */
const ROW_STATE_RECORDER = `(() => {
  const seen = [];
  const last = new Map();
  const list = document.querySelector('#utterances');
  new MutationObserver(() => {
    for (const li of list.querySelectorAll('li')) {
      const id = li.dataset.utteranceId ?? '';
      const partial = li.dataset.partial === 'true';
      if (last.get(id) !== partial) seen.push({ id, partial });
      last.set(id, partial);
    }
  }).observe(list, { subtree: true, childList: true, attributes: true, characterData: true });
  globalThis.__rowStates = seen;
})()`;

/** What the page shows, row by row. */
interface Row {
  role: string | undefined;
  label: string | null | undefined;
  text: string | null | undefined;
  offset: string | null | undefined;
  /** The wall-clock instant shown (ISO), null while the page does not know the call's start. */
  said: string | null;
  elementsInText: number;
}

async function rows(on: Page = page): Promise<Row[]> {
  return on.locator('#utterances > li').evaluateAll((lis) =>
    lis.map((li) => ({
      role: li.getAttribute('data-role') ?? undefined,
      label: li.querySelector('.role')?.textContent,
      text: li.querySelector('.text')?.textContent,
      offset: li.querySelector('.offset')?.textContent,
      said: (() => {
        const clock = li.querySelector('time.clock') as unknown as { hidden: boolean; dateTime: string } | null;
        return clock && !clock.hidden ? clock.dateTime : null;
      })(),
      elementsInText: li.querySelector('.text')?.children.length ?? -1,
    })),
  );
}

/**
 * stop-streaming answers with the counters so far when the gateway takes long to confirm (a recognizer
 * still finishing on a busy machine): the transcript is complete once the segment is closed.
 */
async function segmentClosed(): Promise<void> {
  await eventually(
    async () => {
      const res = await stack.api(`/mg-autotranscribe/v1/conversations/${conversationId}/status`);
      const body = (await res.json()) as { segments?: Array<{ state?: string }> };
      return body.segments?.at(-1)?.state === 'closed';
    },
    30_000,
    'the segment to close',
  );
}

/** The gateway closes the call's session once the recognizer has finished: then the call has ended. */
async function callEnded(): Promise<void> {
  await eventually(
    async () => {
      const res = await stack.api(`/mg-autotranscribe/v1/conversations/${conversationId}/status`);
      const body = (await res.json()) as { sessions?: Array<{ state?: string }> };
      return (body.sessions?.length ?? 0) > 0 && body.sessions?.every((s) => s.state === 'closed') === true;
    },
    30_000,
    'the call session to close',
  );
}

beforeAll(async () => {
  stack = await startLocalStack({ name: 'page' });
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
}, 60_000);

describe('transcript page (local stack, headless Chromium)', () => {
  it('is served by the stack, with the page server listed in endpoints.json', async () => {
    expect(stack.endpoints.ui?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const ui = stack.endpoints.ui?.url as string;
    pageUrl = `${ui}/?conversationId=${conversationId}`;
    const res = await fetch(`${ui}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const config = (await (await fetch(`${ui}/config.json`)).json()) as { websocketUrl: string };
    expect(config.websocketUrl).toBe(stack.endpoints.websocket.url);
  });

  it('subscribes with a token from the page server', async () => {
    page = await browser.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(pageUrl);
    await expect.poll(() => page.locator('#status').getAttribute('data-state'), { timeout: 15_000 }).toBe('live');
    expect(await page.locator('#status').textContent()).toBe(`Live: conversation ${conversationId}`);
    expect(stack.log()).toContain('realtime token issued');
  });

  it('shows the call as it is transcribed: each utterance under its role, with the stored text', async () => {
    // Every state a row goes through, in DOM order: a row is first a partial (live, straight from the
    // gateway), then its final (through the table stream) replaces it.
    await page.evaluate(ROW_STATE_RECORDER);
    await startStreaming(stack, conversationId);
    const result = await stack.simulate({
      conversationId,
      audio: buildCall(
        [
          { role: 'agent', fixture: greeting, atMs: 500 },
          { role: 'customer', fixture: orderStatus, atMs: 4500 },
        ],
        9000,
      ),
      speed: 1,
      record: 'none',
    });
    expect(result.outcome).toBe('closed');
    await stopStreaming(stack, conversationId);
    await segmentClosed();
    const messages: ApiMessage[] = await messagesOf(stack, conversationId);
    expect(messages.map((m) => m.sender.role)).toEqual(expect.arrayContaining(['agent', 'customer']));

    await eventually(async () => (await rows()).length >= messages.length, 15_000, 'the page to show every message');
    const shown = await rows();
    // The page orders by offset, the messages API chronologically: the same order.
    expect(shown.map((r) => [r.role, r.text])).toEqual(messages.map((m) => [m.sender.role, m.text]));
    expect(shown.map((r) => r.label)).toEqual(messages.map((m) => (m.sender.role === 'agent' ? 'Agent' : 'Customer')));
    expect(shown.every((r) => /^\d+:\d\d\.\d$/.test(r.offset ?? ''))).toBe(true);
    expect(shown[0]?.role).toBe('agent');
    expect(await page.locator('#utterance-count').textContent()).toBe(String(messages.length));
    // Opened before the call, the page asked for the call's start with the first utterance: times in call order.
    await eventually(async () => (await rows()).every((r) => r.said !== null), 15_000, 'the wall-clock times');
    expectInCallOrder(await rows());
    expect(await page.locator('#utterances > li.partial').count()).toBe(0);

    // The call was started unredacted, so partials were live: at least one row was a partial before its
    // final replaced it, and no row went back to partial after its final.
    const states = (await page.evaluate(() => (globalThis as { __rowStates?: unknown }).__rowStates)) as Array<{
      id: string;
      partial: boolean;
    }>;
    const byId = new Map<string, boolean[]>();
    for (const s of states) byId.set(s.id, [...(byId.get(s.id) ?? []), s.partial]);
    const livedAsPartial = [...byId.values()].filter((seq) => seq[0] === true && seq.at(-1) === false);
    expect(livedAsPartial.length, JSON.stringify(states)).toBeGreaterThan(0);
    for (const seq of byId.values())
      expect(seq.indexOf(false) === -1 || !seq.slice(seq.indexOf(false)).includes(true)).toBe(true);
  }, 120_000);

  it('writes a stored utterance that is markup as text, end to end', async () => {
    const before = (await rows()).length;
    expect(before).toBeGreaterThan(0);
    const evil = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> & <b>bold</b>';
    const client = createLocalDynamoDbClient(stack.endpoints.dynamodb.endpoint);
    const doc = DynamoDBDocumentClient.from(client);
    try {
      const streamId = 'e2e-markup-stream';
      await new UtterancesRepository(doc, {
        tableName: tableNames(stack.endpoints.dynamodb.tablePrefix).utterances,
      }).putFinal({
        conversationId,
        segment: 1,
        streamId,
        role: 'customer',
        resultId: 'markup-1',
        utteranceId: utteranceIdOf(conversationId, streamId, 'markup-1'),
        startMs: 60_000,
        endMs: 61_000,
        text: evil,
        language: 'en-US',
        senderExternalId: '<i>cust</i>',
      });
    } finally {
      client.destroy();
    }

    await eventually(async () => (await rows()).length === before + 1, 15_000, 'the markup utterance on the page');
    const last = (await rows()).at(-1);
    expect(last).toMatchObject({ role: 'customer', text: evil, elementsInText: 0, offset: '1:00.0' });
    expect(await page.locator('#utterances img, #utterances script, #utterances b, #utterances i').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    const stored = await messagesOf(stack, conversationId);
    expect(stored.at(-1)?.text).toBe(evil);
    expect(pageErrors).toEqual([]);
  });

  it('opened after the call, shows every utterance from the history and says the call has ended', async () => {
    await callEnded();
    const messages = await messagesOf(stack, conversationId);
    const late = await browser.newPage();
    late.on('pageerror', (err) => pageErrors.push(err.message));
    try {
      await late.goto(pageUrl);
      await expect.poll(() => late.locator('#status').getAttribute('data-state'), { timeout: 15_000 }).toBe('ended');
      expect(await late.locator('#status').textContent()).toBe(`Call ended: conversation ${conversationId}`);
      const shown = await rows(late);
      expect(shown.map((r) => [r.role, r.text])).toEqual(messages.map((m) => [m.sender.role, m.text]));
      expect(await late.locator('#empty').isHidden()).toBe(true);
      expect(await late.locator('#utterance-count').textContent()).toBe(String(messages.length));
      expect(shown.every((r) => r.said !== null)).toBe(true);
      expectInCallOrder(shown);
      // The same call start anchors both pages: the same utterance shows the same time.
      expect(shown.map((r) => r.said)).toEqual((await rows()).map((r) => r.said));
    } finally {
      await late.close();
    }
    expect(pageErrors).toEqual([]);
  }, 60_000);
});

/** Wall-clock times never go back down the page (they did when the page showed when rows were stored). */
function expectInCallOrder(shown: Row[]): void {
  const instants = shown.map((r) => Date.parse(r.said ?? ''));
  expect(instants.every((t) => Number.isFinite(t))).toBe(true);
  expect(instants).toEqual([...instants].sort((a, b) => a - b));
}

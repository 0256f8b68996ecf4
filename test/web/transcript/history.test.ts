/**
 * The live transcript page opened mid-call or after the call, in headless Chromium against a scripted
 * WebSocket API: the history it asks for with its subscription, merged with live frames (each utterance
 * once, in call order), wall-clock times from the call's start (in call order, whatever order the
 * utterances were stored in), the ended state, and the quiet-page status check. Connection and security
 * behaviour: app.test.ts; the same page against the whole local stack: test/e2e/transcript-page.test.ts.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { UiServer } from '../../../local/ui-server';
import { launchChromium } from '../../helpers/chromium';
import { startScriptedPageServer } from './page-server';
import { ScriptedWebSocketApi } from './scripted-websocket-api';

const CONV = '0b7c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d';
/** When the call's first AudioHook session opened: offset 0. */
const CALL_START = '2026-12-08T03:14:00.000Z';
/** The page's quiet-page status check (web/transcript/app.js). */
const STATUS_RECHECK_MS = 20_000;

/**
 * A `transcript` message as pushed or replayed. `storedAt` plays the bug's part: the agent's long first
 * turn was stored after the customer's short later one.
 */
function transcript(utteranceId: string, role: 'customer' | 'agent', start: number, storedAt: string) {
  return {
    type: 'transcript',
    externalConversationId: CONV,
    streamId: `${role}-stream`,
    sender: { externalId: role === 'customer' ? 'cust-1' : 'agent-7', role },
    autotranscribeResponse: {
      message: 'transcript',
      start,
      end: start + 900,
      utterance: [{ text: `${role} ${start}` }],
    },
    utteranceId,
    createdTimestamp: storedAt,
  };
}

const U1 = transcript('u1', 'agent', 800, '2026-12-08T03:14:06.000Z');
const U2 = transcript('u2', 'customer', 4500, '2026-12-08T03:14:04.000Z');
const U3 = transcript('u3', 'agent', 2500, '2026-12-08T03:14:07.000Z');
const U4 = transcript('u4', 'customer', 7000, '2026-12-08T03:14:08.500Z');

const history = (items: unknown[], complete: boolean) => ({ type: 'history', conversationId: CONV, items, complete });
const status = (fields: Record<string, unknown>) => ({
  type: 'status',
  conversationId: CONV,
  state: 'transcribing',
  ...fields,
});
const subscribed = (frame: Record<string, unknown>) => ({ type: 'subscribed', conversationId: CONV, id: frame.id });

let api: ScriptedWebSocketApi;
let ui: UiServer;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  api = new ScriptedWebSocketApi();
  const websocketUrl = await api.listen();
  ui = await startScriptedPageServer(websocketUrl);
  browser = await launchChromium();
});

afterEach(async () => {
  const errors = pageErrors.splice(0);
  await page?.close();
  api.reset();
  expect(errors).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await ui?.close();
  await api?.close();
});

async function open(prepare?: (page: Page) => Promise<void>): Promise<Page> {
  page = await browser.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await prepare?.(page);
  await page.goto(`${ui.url}/?conversationId=${CONV}`);
  return page;
}

const state = () => page.locator('#status').getAttribute('data-state');
const statusText = () => page.locator('#status').textContent();

/** Each row: id, offset shown, and the wall-clock instant of its clock (null when hidden). */
async function rows() {
  return page.locator('#utterances > li').evaluateAll((lis) =>
    lis.map((li) => {
      const clock = li.querySelector('time.clock') as unknown as { hidden: boolean; dateTime: string } | null;
      return {
        id: li.getAttribute('data-utterance-id'),
        offset: li.querySelector('.offset')?.textContent,
        said: clock && !clock.hidden ? clock.dateTime : null,
      };
    }),
  );
}

const at = (offsetMs: number) => new Date(Date.parse(CALL_START) + offsetMs).toISOString();

describe('transcript page history', () => {
  it('shows the history, then live frames: each utterance once, in call order, times in call order', async () => {
    api.subscribeReply = (f) =>
      f.history === true
        ? [subscribed(f), history([U1, U3], false), history([U2], true), status({ timelineStartedAt: CALL_START })]
        : subscribed(f);
    await open();
    await expect.poll(async () => (await rows()).length).toBe(3);
    expect(api.frames[0]).toMatchObject({ action: 'subscribe', conversationId: CONV, history: true });

    api.push(U2); // pushed while the history was read: already shown
    api.push(U4);
    await expect.poll(async () => (await rows()).length).toBe(4);
    expect(await rows()).toEqual([
      { id: 'u1', offset: '0:00.8', said: at(800) },
      { id: 'u3', offset: '0:02.5', said: at(2500) },
      { id: 'u2', offset: '0:04.5', said: at(4500) },
      { id: 'u4', offset: '0:07.0', said: at(7000) },
    ]);
    // The times shown read in call order, though the stored times (createdTimestamp) do not.
    const shown = await page.locator('#utterances time.clock').allTextContents();
    const expected = await page.evaluate(
      (instants) => instants.map((i) => new Date(i).toLocaleTimeString()),
      [800, 2500, 4500, 7000].map(at),
    );
    expect(shown).toEqual(expected);
    expect(await page.locator('#utterance-count').textContent()).toBe('4');
    expect(await state()).toBe('live');
  });

  it('merges a history that arrives after live frames, and shows times only once the call start is known', async () => {
    api.subscribeReply = (f) => subscribed(f);
    await open();
    await expect.poll(state).toBe('live');
    api.push(U2);
    await expect.poll(async () => (await rows()).length).toBe(1);
    expect((await rows())[0]?.said).toBeNull();

    api.push(history([U1, U2], false));
    api.push(history([U3], true));
    api.push(status({ timelineStartedAt: CALL_START }));
    await expect.poll(async () => (await rows()).map((r) => r.id)).toEqual(['u1', 'u3', 'u2']);
    await expect.poll(async () => (await rows()).map((r) => r.said)).toEqual([at(800), at(2500), at(4500)]);
  });

  it('opened before the call: the first utterance makes it ask for the call start, then times show', async () => {
    api.subscribeReply = (f) => [
      subscribed(f),
      ...(f.history === true ? [history([], true)] : []),
      status(f.status === true ? { timelineStartedAt: CALL_START } : { state: 'unknown' }),
    ];
    await open();
    await expect.poll(() => api.frames.length).toBe(1);
    await expect.poll(state).toBe('live');
    api.push(U1);
    await expect.poll(async () => (await rows()).map((r) => r.said)).toEqual([at(800)]);
    expect(api.frames.map((f) => (f.history ? 'history' : f.status ? 'status' : 'plain'))).toEqual([
      'history',
      'status',
    ]);
  });

  it('says the call has ended, and that nothing was said in it when nothing was', async () => {
    api.subscribeReply = (f) => [
      subscribed(f),
      history([], true),
      status({ state: 'stopped', callEnded: true, timelineStartedAt: CALL_START, endedAt: at(95_000) }),
    ];
    await open();
    await expect.poll(state).toBe('ended');
    expect(await statusText()).toBe(`Call ended: conversation ${CONV}`);
    expect(await page.locator('#empty').textContent()).toBe('Nothing was transcribed in this call.');
    expect(await page.locator('#empty').isVisible()).toBe(true);
  });

  it('says transcription stopped while the call is still connected', async () => {
    api.subscribeReply = (f) => [subscribed(f), history([U1], true), status({ state: 'stopped', callEnded: false })];
    await open();
    await expect.poll(state).toBe('stopped');
    expect(await statusText()).toBe(`Transcription stopped: conversation ${CONV}`);
    expect(await page.locator('#empty').isHidden()).toBe(true);
  });
});

describe('learning that the call ended', () => {
  it('asks for the status when quiet, shows the end, and stops asking then', async () => {
    let ended = false;
    api.subscribeReply = (f) => [
      subscribed(f),
      ...(f.history === true ? [history([U1], true)] : []),
      status({ callEnded: ended, timelineStartedAt: CALL_START }),
    ];
    await open(async (p) => {
      await p.clock.install();
    });
    await expect.poll(async () => (await rows()).length).toBe(1);
    await expect.poll(state).toBe('live');

    ended = true;
    await page.clock.runFor(STATUS_RECHECK_MS);
    await expect.poll(state).toBe('ended');
    expect(api.frames.map((f) => (f.history ? 'history' : f.status ? 'status' : 'plain'))).toEqual([
      'history',
      'status',
    ]);
    expect(await statusText()).toBe(`Call ended: conversation ${CONV}`);

    await page.clock.runFor(STATUS_RECHECK_MS * 3);
    // Something said after the reported end makes the page ask once more: the next frame it sends. Had it
    // kept asking while quiet, those requests would come before this one on the same connection.
    api.push(U4);
    await expect.poll(() => api.frames.length).toBeGreaterThanOrEqual(3);
    expect(api.frames.map((f) => (f.history ? 'history' : f.status ? 'status' : 'plain'))).toEqual([
      'history',
      'status',
      'status',
    ]);
    await expect.poll(async () => (await rows()).map((r) => r.id)).toEqual(['u1', 'u4']);
  });

  it('stays live on a deployment without history (UNSUPPORTED), and never asks for the status', async () => {
    api.subscribeReply = (f) => [
      subscribed(f),
      { type: 'error', code: 'UNSUPPORTED', message: 'this deployment does not serve history; live only', id: f.id },
    ];
    await open(async (p) => {
      await p.clock.install();
    });
    await expect.poll(() => api.frames.length).toBe(1);
    await expect.poll(state).toBe('live');
    api.push(U1);
    await expect.poll(async () => (await rows()).length).toBe(1);
    await page.clock.runFor(STATUS_RECHECK_MS * 3);
    // Watching again reconnects: the next frame the page sends, which asks for no history either.
    await page.getByRole('button', { name: 'Watch' }).click();
    await expect.poll(() => api.frames.length).toBeGreaterThanOrEqual(2);
    expect(api.frames).toEqual([
      { action: 'subscribe', conversationId: CONV, id: '1', history: true },
      { action: 'subscribe', conversationId: CONV, id: '2' },
    ]);
    await expect.poll(state).toBe('live');
    expect((await rows()).map((r) => r.said)).toEqual([null]);
  });
});

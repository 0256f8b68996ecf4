/**
 * The live transcript page shows speech as it forms (issue #16), in headless Chromium against a scripted
 * WebSocket API: `partial` frames make one row per utterance marked in progress, grown in place and
 * replaced by the final with the same `utteranceId` (never two rows for one id); late, malformed and
 * post-call partials are ignored; partials sit in call order; a partial whose final never comes is
 * dropped once stale. Finals and history: app.test.ts and history.test.ts.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { UiServer } from '../../../local/ui-server';
import { launchChromium } from '../../helpers/chromium';
import { startScriptedPageServer } from './page-server';
import { partialFrame, ScriptedWebSocketApi, transcriptFrame } from './scripted-websocket-api';

const CONV = '5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d';
/** How long an open partial may go without growing (web/transcript/transcript-list.js). */
const STALE_PARTIAL_MS = 30_000;

const partial = (id: string, role: 'customer' | 'agent', start: number, text: string) =>
  partialFrame(CONV, id, role, start, text);
const final = (id: string, role: 'customer' | 'agent', start: number, text: string) =>
  transcriptFrame(CONV, id, role, start, text);

/**
 * Init script: after every DOM change, how many rows each utterance id has — counted record by record, so
 * a duplicate that exists only inside one task is seen too — as the peak per id in `window.peakRows`,
 * and each distinct state of the list in `window.snapshots`. A string, so none of the test's compiled
 * code runs in the page.
 */
const RECORD_ROWS = `{
  window.peakRows = {};
  window.snapshots = [];
  const rows = {};
  const count = (node, delta) => {
    // A removed row is detached by now: its parent is the record's target, checked by the caller.
    const id = node.nodeName === 'LI' ? node.dataset.utteranceId : undefined;
    if (id === undefined) return;
    rows[id] = (rows[id] ?? 0) + delta;
    window.peakRows[id] = Math.max(window.peakRows[id] ?? 0, rows[id]);
  };
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.target.id !== 'utterances') continue;
      for (const n of r.removedNodes) count(n, -1);
      for (const n of r.addedNodes) count(n, 1);
    }
    const list = document.getElementById('utterances');
    if (!list) return;
    const state = JSON.stringify([...list.children].map((li) => [
      li.dataset.utteranceId, li.dataset.partial === 'true', li.querySelector('.text')?.textContent,
    ]));
    if (window.snapshots.at(-1) !== state) window.snapshots.push(state);
  }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
}`;

let api: ScriptedWebSocketApi;
let ui: UiServer;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];
const warnings: string[] = [];

beforeAll(async () => {
  api = new ScriptedWebSocketApi();
  const websocketUrl = await api.listen();
  ui = await startScriptedPageServer(websocketUrl);
  browser = await launchChromium();
});

afterEach(async () => {
  const errors = pageErrors.splice(0);
  warnings.length = 0;
  await page?.close();
  api.reset();
  expect(errors).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await ui?.close();
  await api?.close();
});

/** Opens the page on CONV and waits until it is subscribed (live). */
async function open(prepare?: (page: Page) => Promise<void>): Promise<Page> {
  page = await browser.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'warning') warnings.push(msg.text());
  });
  await page.addInitScript(RECORD_ROWS);
  await prepare?.(page);
  await page.goto(`${ui.url}/?conversationId=${CONV}`);
  await expect.poll(() => page.locator('#status').getAttribute('data-state')).toBe('live');
  return page;
}

/** Each row: id, whether it is marked in progress (class, data attribute, aria-busy) and its text. */
async function rows() {
  return page.locator('#utterances > li').evaluateAll((lis) =>
    lis.map((li) => ({
      id: li.getAttribute('data-utterance-id'),
      partial: [
        li.classList.contains('partial'),
        li.getAttribute('data-partial') === 'true',
        li.getAttribute('aria-busy') === 'true',
      ],
      text: li.querySelector('.text')?.textContent,
    })),
  );
}
const inProgress = [true, true, true];
const done = [false, false, false];
const ids = async () => (await rows()).map((r) => r.id);
const snapshots = async () =>
  ((await page.evaluate('window.snapshots')) as string[]).map((s) => JSON.parse(s) as unknown[]);

describe('partials on the transcript page', () => {
  it('grows one row in place as partials arrive, then the final takes its place: one row for the id', async () => {
    await open();
    api.push(partial('p1', 'customer', 1200, 'i would'));
    await expect.poll(rows).toEqual([{ id: 'p1', partial: inProgress, text: 'i would' }]);
    expect(await page.locator('#empty').isHidden()).toBe(true);
    expect(await page.locator('#utterance-count').textContent()).toBe('0');
    expect(await page.locator('#utterances > li .role').textContent()).toBe('Customer');
    expect(await page.locator('#utterances > li .offset').textContent()).toBe('0:01.2');

    api.push(partial('p1', 'customer', 1200, 'i would like'));
    await expect.poll(rows).toEqual([{ id: 'p1', partial: inProgress, text: 'i would like' }]);

    api.push(final('p1', 'customer', 1200, 'i would like to check my order'));
    await expect.poll(rows).toEqual([{ id: 'p1', partial: done, text: 'i would like to check my order' }]);
    expect(await page.locator('#utterances > li').getAttribute('aria-busy')).toBeNull();
    expect(await page.locator('#utterance-count').textContent()).toBe('1');

    expect(await page.evaluate('window.peakRows')).toEqual({ p1: 1 });
    expect(await snapshots()).toEqual([
      [],
      [['p1', true, 'i would']],
      [['p1', true, 'i would like']],
      [['p1', false, 'i would like to check my order']],
    ]);
  });

  it('ignores a partial that arrives after its final', async () => {
    await open();
    api.push(final('f1', 'customer', 1000, 'the final words'));
    await expect.poll(ids).toEqual(['f1']);
    api.push(partial('f1', 'customer', 1000, 'the late hypothesis'));
    // Frames are handled in order: once the next utterance shows, the late partial has been handled.
    api.push(final('f2', 'agent', 2000, 'next'));
    await expect.poll(ids).toEqual(['f1', 'f2']);
    expect(await rows()).toEqual([
      { id: 'f1', partial: done, text: 'the final words' },
      { id: 'f2', partial: done, text: 'next' },
    ]);
    expect(await page.evaluate('window.peakRows')).toEqual({ f1: 1, f2: 1 });
  });

  it('ignores a malformed partial with a warning, keeps working, and writes markup as text', async () => {
    await open();
    const good = partial('m1', 'agent', 500, 'fine');
    api.push({ ...good, utteranceId: undefined });
    api.push({ ...good, autotranscribeResponse: { ...good.autotranscribeResponse, start: -5 } });
    api.push({ ...good, autotranscribeResponse: { ...good.autotranscribeResponse, utterance: [{ text: 7 }] } });
    api.push({ ...good, autotranscribeResponse: null });
    api.pushRaw('{"type":"partial","utteranceId":');
    const evil = '<img src=x onerror="window.__pwned=1"><b>bold</b> & <script>window.__pwned=2</script>';
    api.push(partial('m1', 'agent', 500, evil));
    await expect.poll(rows).toEqual([{ id: 'm1', partial: inProgress, text: evil }]);
    // The same on growth: the row's text is replaced in place, still as text.
    api.push(partial('m1', 'agent', 500, `${evil} <i>grown</i>`));
    await expect.poll(rows).toEqual([{ id: 'm1', partial: inProgress, text: `${evil} <i>grown</i>` }]);
    expect(await page.locator('#utterances img, #utterances b, #utterances script, #utterances i').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    await expect
      .poll(() => warnings)
      .toEqual([
        'Ignored a malformed partial frame: no utteranceId',
        'Ignored a malformed partial frame: autotranscribeResponse.start is not an offset in ms',
        'Ignored a malformed partial frame: no autotranscribeResponse.utterance[0].text',
        'Ignored a malformed partial frame: autotranscribeResponse.start is not an offset in ms',
      ]);

    api.push(final('m1', 'agent', 500, 'and the final'));
    await expect.poll(rows).toEqual([{ id: 'm1', partial: done, text: 'and the final' }]);
  });

  it("places a partial in call order: the agent's between two customer finals, and its final there too", async () => {
    await open();
    api.push(final('c1', 'customer', 1000, 'hello'));
    api.push(final('c2', 'customer', 6000, 'are you there'));
    api.push(partial('a1', 'agent', 6500, 'good'));
    await expect.poll(ids).toEqual(['c1', 'c2', 'a1']);
    // The recognizer moves the utterance's start as it hears more: the same row moves with it.
    api.push(partial('a1', 'agent', 3000, 'good morn'));
    await expect.poll(ids).toEqual(['c1', 'a1', 'c2']);
    expect(await page.locator('[data-utterance-id="a1"] .offset').textContent()).toBe('0:03.0');
    expect((await rows())[1]).toEqual({ id: 'a1', partial: inProgress, text: 'good morn' });

    api.push(final('a1', 'agent', 3000, 'good morning'));
    await expect.poll(rows).toEqual([
      { id: 'c1', partial: done, text: 'hello' },
      { id: 'a1', partial: done, text: 'good morning' },
      { id: 'c2', partial: done, text: 'are you there' },
    ]);
    expect(await page.evaluate('window.peakRows')).toEqual({ c1: 1, c2: 1, a1: 1 });
  });

  it('keeps an older open partial of the same role until it has not grown for 30 s, then drops it', async () => {
    await open(async (p) => {
      await p.clock.install();
    });
    api.push(partial('old', 'customer', 1000, 'first turn'));
    await expect.poll(ids).toEqual(['old']);
    await page.clock.runFor(10_000);
    api.push(partial('new', 'customer', 5000, 'second turn'));
    await expect.poll(ids).toEqual(['old', 'new']);

    // `old` last grew 10 s before `new` appeared: past the limit for `old` only.
    await page.clock.runFor(STALE_PARTIAL_MS - 10_000 + 1_000);
    api.push(partial('agent-1', 'agent', 8000, 'one moment'));
    await expect.poll(ids).toEqual(['new', 'agent-1']);
    // Its final, should it come after all, is still shown.
    api.push(final('old', 'customer', 1000, 'first turn, finally'));
    await expect.poll(rows).toEqual([
      { id: 'old', partial: done, text: 'first turn, finally' },
      { id: 'new', partial: inProgress, text: 'second turn' },
      { id: 'agent-1', partial: inProgress, text: 'one moment' },
    ]);
  });

  it('clears open partials when the call ends, and ignores partials after the end', async () => {
    await open();
    api.push(final('e1', 'agent', 400, 'goodbye'));
    api.push(partial('e2', 'customer', 2000, 'bye th'));
    await expect.poll(ids).toEqual(['e1', 'e2']);

    api.push({ type: 'status', conversationId: CONV, state: 'stopped', callEnded: true });
    await expect.poll(() => page.locator('#status').getAttribute('data-state')).toBe('ended');
    expect(await rows()).toEqual([{ id: 'e1', partial: done, text: 'goodbye' }]);

    api.push(partial('e3', 'customer', 3000, 'hello?'));
    api.push(final('e4', 'agent', 4000, 'said after the end'));
    await expect.poll(ids).toEqual(['e1', 'e4']);
  });
});

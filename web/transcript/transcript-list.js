/**
 * The transcript list of the live transcript page (app.js holds the connection): reads `transcript`
 * messages (pushed live or replayed in `history` frames, the same shape), shows each utterance once, in
 * call order, with its offset and — once the call's start is known — the wall-clock time it was said.
 * Kept apart from the connection logic so each file does one job.
 *
 * It also shows `partial` messages — the recognizer's interim hypothesis of an utterance still being
 * said — as a row marked in progress, grown in place by later partials of the same `utteranceId` and
 * replaced by that utterance's final `transcript` (never two rows for one id).
 *
 * Text from the network only ever reaches the DOM through `textContent`, never as HTML.
 */

const ROLE_LABELS = { customer: 'Customer', agent: 'Agent' };
/**
 * An open partial not grown for this long is dropped: its final will not come (the stream was lost, the
 * recognizer restarted). Measured from its last update, not its first: a long turn keeps growing.
 */
export const STALE_PARTIAL_MS = 30_000;

/**
 * `m:ss.s` of a stream offset in ms.
 * @param {number} ms
 */
export function formatOffset(ms) {
  const tenths = Math.max(0, Math.round(ms / 100));
  const minutes = Math.floor(tenths / 600);
  const seconds = (tenths % 600) / 10;
  return `${minutes}:${seconds.toFixed(1).padStart(4, '0')}`;
}

/**
 * @typedef {{ id: string, conversationId: string, role: string, externalId: string, startMs: number,
 *   text: string }} ShownUtterance
 */

/**
 * The fields of a `transcript` message the page shows, or null for anything else.
 * @param {unknown} frame
 * @returns {ShownUtterance | null}
 */
export function parseTranscript(frame) {
  if (typeof frame !== 'object' || frame === null) return null;
  const f = /** @type {Record<string, any>} */ (frame);
  if (f.type !== 'transcript') return null;
  const response = f.autotranscribeResponse;
  const first = Array.isArray(response?.utterance) ? response.utterance[0] : undefined;
  if (typeof first?.text !== 'string' || typeof f.externalConversationId !== 'string') return null;
  const start = Number(response.start);
  const role = roleOf(f);
  return {
    // Without an utteranceId (an older fan-out), the stream position identifies the utterance.
    id: typeof f.utteranceId === 'string' ? f.utteranceId : `${f.streamId}/${role}/${start}`,
    conversationId: f.externalConversationId,
    role,
    externalId: typeof f.sender?.externalId === 'string' ? f.sender.externalId : '',
    startMs: Number.isFinite(start) ? start : 0,
    text: first.text,
  };
}

/**
 * The fields of a `partial` message (docs/realtime.md §5), or null for any other type. A partial that
 * cannot be shown — no `utteranceId` to match its final by, no offset to place it by, no text — is
 * ignored with a warning naming what is wrong, so a bad frame never breaks the page.
 * @param {unknown} frame
 * @returns {ShownUtterance | null}
 */
export function parsePartial(frame) {
  if (typeof frame !== 'object' || frame === null) return null;
  const f = /** @type {Record<string, any>} */ (frame);
  if (f.type !== 'partial') return null;
  const response = f.autotranscribeResponse;
  const first = Array.isArray(response?.utterance) ? response.utterance[0] : undefined;
  const start = typeof response?.start === 'number' ? response.start : Number.NaN;
  const problem =
    typeof f.externalConversationId !== 'string'
      ? 'no externalConversationId'
      : typeof f.utteranceId !== 'string' || f.utteranceId === ''
        ? 'no utteranceId'
        : !(Number.isFinite(start) && start >= 0)
          ? 'autotranscribeResponse.start is not an offset in ms'
          : typeof first?.text !== 'string'
            ? 'no autotranscribeResponse.utterance[0].text'
            : '';
  if (problem) {
    console.warn(`Ignored a malformed partial frame: ${problem}`);
    return null;
  }
  return {
    id: f.utteranceId,
    conversationId: f.externalConversationId,
    role: roleOf(f),
    externalId: typeof f.sender?.externalId === 'string' ? f.sender.externalId : '',
    startMs: start,
    text: first.text,
  };
}

/** @param {Record<string, any>} f */
function roleOf(f) {
  return f.sender?.role === 'customer' || f.sender?.role === 'agent' ? f.sender.role : 'other';
}

/**
 * Does `u` come before the row with data attributes `row` in call order? By offset, and at the same
 * offset as the messages API orders them (role, then id).
 * @param {{ id: string, role: string, startMs: number }} u
 * @param {DOMStringMap} row
 */
function comesBefore(u, row) {
  const start = Number(row.start);
  if (u.startMs !== start) return u.startMs < start;
  if (u.role !== row.role) return u.role < String(row.role);
  return u.id < String(row.utteranceId);
}

/** The list of utterances, its counter and its empty-state placeholder. */
export class TranscriptList {
  /** Utterance ids shown final: delivery is at least once, and history and live frames overlap. */
  #seen = new Set();
  /**
   * Partials shown whose final has not come yet, by utterance id, with when each last grew.
   * @type {Map<string, { li: HTMLLIElement, updatedAt: number }>}
   */
  #open = new Map();
  /** @type {number | null} */
  #anchorMs = null;
  #ended = false;
  #now;

  /**
   * @param {{ list: HTMLOListElement, count: HTMLElement, empty: HTMLElement }} els
   * @param {{ now?: () => number }} [options] the clock that ages partials (epoch ms)
   */
  constructor(els, options = {}) {
    this.els = els;
    this.#now = options.now ?? (() => Date.now());
  }

  /** Empties the list (another conversation). */
  reset() {
    this.#seen.clear();
    this.#open.clear();
    this.#anchorMs = null;
    this.#ended = false;
    this.els.list.replaceChildren();
    this.els.count.textContent = '0';
    this.#showEmpty();
  }

  /**
   * Wall-clock time (epoch ms) of offset 0 — when the call's first AudioHook session opened, from the
   * `status` frame — or null while unknown. Re-renders every row's time.
   * @param {number | null} anchorMs
   */
  setAnchor(anchorMs) {
    if (anchorMs === this.#anchorMs) return;
    this.#anchorMs = anchorMs;
    for (const li of this.els.list.children) {
      const clock = li.querySelector('time.clock');
      if (clock)
        this.#setClock(/** @type {HTMLTimeElement} */ (clock), Number(/** @type {HTMLElement} */ (li).dataset.start));
    }
  }

  /** Whether the call's start is known (wall-clock times are shown). */
  get hasAnchor() {
    return this.#anchorMs !== null;
  }

  /**
   * @param {boolean} ended the call has ended: an empty list then says nothing was said, and what was
   *   still being said when it ended will not be finished (its partial rows go)
   */
  setEnded(ended) {
    this.#ended = ended;
    if (ended) for (const id of [...this.#open.keys()]) this.#dropPartial(id);
    this.#showEmpty();
  }

  /**
   * Shows an utterance, once, where its offset puts it: history, a late frame (a redelivery, a redrive)
   * or the other channel's slower result lands in call order. It takes the place of its partial row.
   * @param {ShownUtterance} u
   */
  add(u) {
    if (this.#seen.has(u.id)) return;
    this.#seen.add(u.id);
    this.#dropPartial(u.id);
    this.#dropStalePartials();
    this.#place(this.#row(u));
    this.els.count.textContent = String(this.#seen.size);
  }

  /**
   * Shows or grows the in-progress row of an utterance still being said. Ignored once its final is shown
   * (a redelivered or slow partial is older than the final) and once the call has ended. An open
   * partial of the same role under another id stays: its final may still come, unless it is stale
   * ({@link STALE_PARTIAL_MS}).
   * @param {ShownUtterance} p
   */
  showPartial(p) {
    if (this.#seen.has(p.id) || this.#ended) return;
    this.#dropStalePartials();
    const open = this.#open.get(p.id);
    if (!open) {
      const li = this.#row(p);
      li.classList.add('partial');
      li.dataset.partial = 'true';
      li.setAttribute('aria-busy', 'true');
      this.#open.set(p.id, { li, updatedAt: this.#now() });
      this.#place(li);
      return;
    }
    open.updatedAt = this.#now();
    const text = open.li.querySelector('.text');
    if (text) text.textContent = p.text;
    if (Number(open.li.dataset.start) !== p.startMs) {
      // The recognizer moved the utterance's start: same row, new place.
      open.li.dataset.start = String(p.startMs);
      const offset = /** @type {HTMLTimeElement | null} */ (open.li.querySelector('time.offset'));
      if (offset) this.#setOffset(offset, p.startMs);
      const clock = /** @type {HTMLTimeElement | null} */ (open.li.querySelector('time.clock'));
      if (clock) this.#setClock(clock, p.startMs);
      open.li.remove();
      this.#place(open.li);
    }
  }

  /** @param {string} id */
  #dropPartial(id) {
    this.#open.get(id)?.li.remove();
    this.#open.delete(id);
    this.#showEmpty();
  }

  #dropStalePartials() {
    const now = this.#now();
    for (const [id, { updatedAt }] of [...this.#open]) {
      if (now - updatedAt > STALE_PARTIAL_MS) this.#dropPartial(id);
    }
  }

  /**
   * The row of an utterance: role, speaker, offset, time said, text.
   * @param {ShownUtterance} u
   */
  #row(u) {
    const li = document.createElement('li');
    li.className = `utterance role-${u.role}`;
    li.dataset.role = u.role;
    li.dataset.utteranceId = u.id;
    li.dataset.start = String(u.startMs);

    const meta = document.createElement('div');
    meta.className = 'meta';
    const role = document.createElement('span');
    role.className = 'role';
    role.textContent = ROLE_LABELS[/** @type {'customer' | 'agent'} */ (u.role)] ?? 'Other';
    meta.append(role);
    if (u.externalId) {
      const who = document.createElement('span');
      who.className = 'speaker';
      who.textContent = u.externalId;
      meta.append(' ', who);
    }
    const offset = document.createElement('time');
    offset.className = 'offset';
    offset.title = 'position in the call';
    this.#setOffset(offset, u.startMs);
    const clock = document.createElement('time');
    clock.className = 'clock';
    meta.append(' ', offset, ' ', clock);
    this.#setClock(clock, u.startMs);

    const text = document.createElement('p');
    text.className = 'text';
    text.textContent = u.text;
    li.append(meta, text);
    return li;
  }

  /**
   * Inserts a row where its offset puts it, following the newest speech when the reader is at the bottom.
   * @param {HTMLLIElement} li
   */
  #place(li) {
    const u = { id: String(li.dataset.utteranceId), role: String(li.dataset.role), startMs: Number(li.dataset.start) };
    const later = [...this.els.list.children].find((c) => comesBefore(u, /** @type {HTMLElement} */ (c).dataset));
    const nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
    this.els.list.insertBefore(li, later ?? null);
    this.#showEmpty();
    if (!later && nearBottom) li.scrollIntoView({ block: 'nearest' });
  }

  /**
   * @param {HTMLTimeElement} offset
   * @param {number} startMs
   */
  #setOffset(offset, startMs) {
    offset.dateTime = `PT${(startMs / 1000).toFixed(1)}S`;
    offset.textContent = formatOffset(startMs);
  }

  /**
   * The time an utterance was said: the call's start plus its offset, or nothing while the start is unknown.
   *
   * Why not the message's `createdTimestamp`: it is when the utterance was *stored*, i.e. when the
   * recognizer finalized it — after the turn ended, plus that channel's latency. Each channel is
   * recognized on its own and a long turn is final only at its end, so rows in call order showed stored
   * times out of order (an agent turn at 0:00.8 that ran ten seconds was stored after a short customer
   * turn at 0:04.5). Start + offset is monotonic in call order by construction.
   * @param {HTMLTimeElement} clock
   * @param {number} startMs
   */
  #setClock(clock, startMs) {
    if (this.#anchorMs === null) {
      clock.hidden = true;
      clock.textContent = '';
      return;
    }
    const at = new Date(this.#anchorMs + startMs);
    clock.hidden = false;
    clock.dateTime = at.toISOString();
    clock.textContent = at.toLocaleTimeString();
    clock.title = 'said at (call start + offset)';
  }

  /** The placeholder of an empty list: still waiting, or a call that ended with nothing said. */
  #showEmpty() {
    this.els.empty.hidden = this.#seen.size + this.#open.size > 0;
    this.els.empty.textContent = this.#ended ? 'Nothing was transcribed in this call.' : 'Nothing transcribed yet.';
  }
}

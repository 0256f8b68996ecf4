/**
 * Live transcript page: subscribes to one conversation over the WebSocket API (docs/realtime.md §5) and
 * shows each final utterance under its role as it arrives. Plain ES module: no build step, no dependency,
 * deployable as static files next to index.html.
 *
 * Configuration:
 * - `?conversationId=` the Genesys conversation id (or the form field);
 * - `config.json` next to the page (same origin, the only source of the WebSocket URL): `{ "websocketUrl",
 *   "token"? }`. The local stack (local/ui-server.ts) answers `config.json?conversationId=…` with a fresh
 *   token scoped to that conversation, issued on the server so the page never holds an API secret;
 * - `#token=` a connect token from `POST /realtime/v1/token`, used when config.json has none (a static
 *   deployment ships config.json with the URL only). A fragment never reaches a server, a log or a
 *   Referer; the page reads it once and drops it from the address bar.
 *
 * The URL names no WebSocket server: a link that could would send the token wherever it points, so
 * `?websocketUrl=` is ignored. A token in the query string (`?token=`) has already reached the web
 * server's logs by the time the page runs: the page refuses it and says to use `#token=`.
 *
 * Text from the network only ever reaches the DOM through `textContent`, never as HTML.
 */

const RECONNECT_BASE_MS = 500;
const RECONNECT_MAX_MS = 30_000;
const ROLE_LABELS = { customer: 'Customer', agent: 'Agent' };

/** A problem retrying will not fix (no WebSocket URL, no token, refused subscription). */
class PageConfigError extends Error {
  name = 'PageConfigError';
}

const els = {
  form: /** @type {HTMLFormElement} */ (document.getElementById('watch-form')),
  input: /** @type {HTMLInputElement} */ (document.getElementById('conversation-id')),
  status: /** @type {HTMLElement} */ (document.getElementById('status')),
  list: /** @type {HTMLOListElement} */ (document.getElementById('utterances')),
  empty: /** @type {HTMLElement} */ (document.getElementById('empty')),
  count: /** @type {HTMLElement} */ (document.getElementById('utterance-count')),
};

const query = new URLSearchParams(location.search);
/** A token in the query string: refused (see above), and dropped from the address bar. */
const queryHasToken = query.has('token');
/** Read once, then dropped from the address bar (history, bookmarks, screen shares). */
const fragmentToken = new URLSearchParams(location.hash.slice(1)).get('token') || '';
/** The conversation the page was opened for (the `#token=` is scoped to it). */
const initial = (query.get('conversationId') || '').trim();

const state = {
  /** @type {string | null} */
  conversationId: null,
  /** @type {WebSocket | null} */
  socket: null,
  /** Bumped whenever the page switches conversation: late callbacks of an older one are ignored. */
  generation: 0,
  attempt: 0,
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  timer: undefined,
  /** Utterance ids already shown: delivery is at least once, and a reconnect may repeat a frame. */
  seen: new Set(),
  requestSeq: 0,
};

/**
 * Delay before reconnect attempt `attempt` (1, 2, …): doubling from 0.5 s up to 30 s, half of it random
 * so that many pages dropped together do not come back in step.
 * @param {number} attempt
 */
function reconnectDelayMs(attempt) {
  const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/**
 * `m:ss.s` of a stream offset in ms.
 * @param {number} ms
 */
function formatOffset(ms) {
  const tenths = Math.max(0, Math.round(ms / 100));
  const minutes = Math.floor(tenths / 600);
  const seconds = (tenths % 600) / 10;
  return `${minutes}:${seconds.toFixed(1).padStart(4, '0')}`;
}

/**
 * @param {string} state
 * @param {string} text
 */
function setStatus(state, text) {
  els.status.dataset.state = state;
  els.status.textContent = text;
}

/**
 * The fields of a `transcript` frame the page shows, or null for anything else.
 * @param {unknown} frame
 */
function parseTranscript(frame) {
  if (typeof frame !== 'object' || frame === null) return null;
  const f = /** @type {Record<string, any>} */ (frame);
  if (f.type !== 'transcript') return null;
  const response = f.autotranscribeResponse;
  const first = Array.isArray(response?.utterance) ? response.utterance[0] : undefined;
  if (typeof first?.text !== 'string' || typeof f.externalConversationId !== 'string') return null;
  const start = Number(response.start);
  const role = f.sender?.role === 'customer' || f.sender?.role === 'agent' ? f.sender.role : 'other';
  return {
    // Without an utteranceId (an older fan-out), the stream position identifies the utterance.
    id: typeof f.utteranceId === 'string' ? f.utteranceId : `${f.streamId}/${role}/${start}`,
    conversationId: f.externalConversationId,
    role,
    externalId: typeof f.sender?.externalId === 'string' ? f.sender.externalId : '',
    startMs: Number.isFinite(start) ? start : 0,
    createdTimestamp: typeof f.createdTimestamp === 'string' ? f.createdTimestamp : '',
    text: first.text,
  };
}

/** @param {NonNullable<ReturnType<typeof parseTranscript>>} u */
function renderUtterance(u) {
  if (state.seen.has(u.id)) return;
  state.seen.add(u.id);

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
  offset.dateTime = `PT${(u.startMs / 1000).toFixed(1)}S`;
  offset.textContent = formatOffset(u.startMs);
  offset.title = 'position in the call';
  meta.append(' ', offset);
  const at = u.createdTimestamp ? new Date(u.createdTimestamp) : null;
  if (at && !Number.isNaN(at.getTime())) {
    const clock = document.createElement('time');
    clock.className = 'clock';
    clock.dateTime = at.toISOString();
    clock.textContent = at.toLocaleTimeString();
    clock.title = 'transcribed at';
    meta.append(' ', clock);
  }

  const text = document.createElement('p');
  text.className = 'text';
  text.textContent = u.text;
  li.append(meta, text);

  // Keep call order: a late frame (a redelivery, a redrive) goes where its offset puts it.
  const later = [...els.list.children].find((c) => Number(/** @type {HTMLElement} */ (c).dataset.start) > u.startMs);
  const nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
  els.list.insertBefore(li, later ?? null);
  els.count.textContent = String(state.seen.size);
  els.empty.hidden = true;
  if (!later && nearBottom) li.scrollIntoView({ block: 'nearest' });
}

/**
 * The WebSocket URL (from config.json only) and a token for `conversationId` (config.json's, else the
 * `#token=` the page was opened with, which is scoped to the conversation it was opened for).
 * @param {string} conversationId
 */
async function resolveEndpoint(conversationId) {
  if (queryHasToken) {
    throw new PageConfigError(
      'A token in the query string (?token=) is refused: it reaches server logs. Pass it as #token=… instead',
    );
  }
  const url = new URL('config.json', location.href);
  url.searchParams.set('conversationId', conversationId);
  const res = await fetch(url, { cache: 'no-store', credentials: 'same-origin' });
  if (res.status === 404) throw new PageConfigError('No config.json next to the page: it names the WebSocket URL');
  if (!res.ok) throw new Error(`config.json answered HTTP ${res.status}`);
  const cfg = await res.json();
  const websocketUrl = typeof cfg?.websocketUrl === 'string' ? cfg.websocketUrl : '';
  const opened = conversationId === initial ? fragmentToken : '';
  const token = typeof cfg?.token === 'string' && cfg.token ? cfg.token : opened;
  if (!websocketUrl) throw new PageConfigError('No WebSocket URL: config.json must give {"websocketUrl": "wss://…"}');
  if (!token) throw new PageConfigError('No connect token: open the page with #token=… (POST /realtime/v1/token)');
  return { websocketUrl, token };
}

function stopConnection() {
  clearTimeout(state.timer);
  state.timer = undefined;
  const ws = state.socket;
  state.socket = null;
  if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, 'done');
}

/**
 * @param {number} generation
 * @param {string} reason
 */
function scheduleReconnect(generation, reason) {
  if (generation !== state.generation) return;
  state.attempt += 1;
  const delay = reconnectDelayMs(state.attempt);
  setStatus('reconnecting', `Disconnected (${reason}). Reconnecting in ${Math.ceil(delay / 1000)} s…`);
  state.timer = setTimeout(() => void connect(generation), delay);
}

/**
 * @param {number} generation
 * @param {string} raw
 */
function onFrame(generation, raw) {
  if (generation !== state.generation) return;
  let frame;
  try {
    frame = JSON.parse(raw);
  } catch {
    return;
  }
  if (frame?.type === 'subscribed' && frame.conversationId === state.conversationId) {
    state.attempt = 0;
    setStatus('live', `Live: conversation ${state.conversationId}`);
    return;
  }
  if (frame?.type === 'error') {
    const code = typeof frame.code === 'string' ? frame.code : 'ERROR';
    const message = typeof frame.message === 'string' ? frame.message : '';
    // A refused subscription (FORBIDDEN: a token for another conversation) stays refused on every retry.
    stopConnection();
    setStatus('failed', `Subscription refused: ${code}${message ? ` (${message})` : ''}`);
    return;
  }
  const u = parseTranscript(frame);
  if (u && u.conversationId === state.conversationId) renderUtterance(u);
}

/** @param {number} generation */
async function connect(generation) {
  const conversationId = state.conversationId;
  if (generation !== state.generation || conversationId === null) return;
  setStatus('connecting', state.attempt > 0 ? `Reconnecting (attempt ${state.attempt})…` : 'Connecting…');
  let endpoint;
  try {
    endpoint = await resolveEndpoint(conversationId);
  } catch (err) {
    if (generation !== state.generation) return;
    if (err instanceof PageConfigError) setStatus('failed', err.message);
    else scheduleReconnect(generation, err instanceof Error ? err.message : 'configuration unavailable');
    return;
  }
  if (generation !== state.generation) return;
  let ws;
  try {
    const url = new URL(endpoint.websocketUrl);
    // Browsers now turn http(s) into ws(s) themselves: only an explicit ws:/wss: URL is a WebSocket URL.
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new TypeError(url.protocol);
    url.searchParams.set('token', endpoint.token);
    ws = new WebSocket(url);
  } catch {
    setStatus('failed', `Not a WebSocket URL: ${endpoint.websocketUrl}`);
    return;
  }
  state.socket = ws;
  ws.addEventListener('open', () => {
    if (state.socket !== ws) return;
    setStatus('subscribing', 'Connected, subscribing…');
    state.requestSeq += 1;
    ws.send(JSON.stringify({ action: 'subscribe', conversationId, id: String(state.requestSeq) }));
  });
  ws.addEventListener('message', (ev) => {
    if (state.socket === ws && typeof ev.data === 'string') onFrame(generation, ev.data);
  });
  ws.addEventListener('close', (ev) => {
    if (state.socket !== ws) return;
    state.socket = null;
    // Browsers report a refused handshake (401: expired token) as 1006 like a dropped network.
    scheduleReconnect(generation, ev.code === 1006 ? 'connection lost or refused' : `closed with code ${ev.code}`);
  });
}

/** @param {string} conversationId */
function watch(conversationId) {
  stopConnection();
  state.generation += 1;
  state.attempt = 0;
  if (conversationId !== state.conversationId) {
    state.seen.clear();
    els.list.replaceChildren();
    els.count.textContent = '0';
    els.empty.hidden = false;
  }
  state.conversationId = conversationId;
  document.title = `Live transcript · ${conversationId}`;
  history.replaceState(null, '', addressBar({ conversationId }));
  void connect(state.generation);
}

/**
 * The page's own URL without the token (query or fragment) and the ignored `websocketUrl`.
 * @param {{ conversationId?: string }} [set]
 */
function addressBar(set = {}) {
  const shown = new URL(location.href);
  if (set.conversationId) shown.searchParams.set('conversationId', set.conversationId);
  shown.searchParams.delete('token');
  shown.searchParams.delete('websocketUrl');
  shown.hash = '';
  return shown;
}

els.form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const id = els.input.value.trim();
  if (id) watch(id);
});

if (initial) {
  els.input.value = initial;
  watch(initial);
} else {
  setStatus('idle', 'Enter a conversation id to watch');
  history.replaceState(null, '', addressBar());
}

/**
 * Live transcript page: subscribes to one conversation over the WebSocket API (docs/realtime.md §5) and
 * shows each final utterance under its role as it arrives. Plain ES module: no build step, no dependency,
 * deployable as static files next to index.html.
 *
 * Configuration (the query string wins, field by field):
 * - `?conversationId=` the Genesys conversation id (or the form field);
 * - `?websocketUrl=` and `?token=` a connect token from `POST /realtime/v1/token`;
 * - `config.json` next to the page: `{ "websocketUrl", "token"? }`. The local stack (local/ui-server.ts)
 *   answers `config.json?conversationId=…` with a fresh token scoped to that conversation, issued on the
 *   server so the page never holds an API secret; a static deployment ships a plain file with the URL
 *   only and takes the token from the query string.
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
/** Read once: the token is then dropped from the address bar (history, bookmarks, screen shares). */
const queryToken = query.get('token') || '';
const queryWebsocketUrl = query.get('websocketUrl') || '';

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
 * The WebSocket URL and a token for `conversationId`.
 * @param {string} conversationId
 */
async function resolveEndpoint(conversationId) {
  let websocketUrl = queryWebsocketUrl;
  let token = queryToken;
  if (!websocketUrl || !token) {
    const url = new URL('config.json', location.href);
    url.searchParams.set('conversationId', conversationId);
    const res = await fetch(url, { cache: 'no-store', credentials: 'same-origin' });
    if (res.ok) {
      const cfg = await res.json();
      if (!websocketUrl && typeof cfg?.websocketUrl === 'string') websocketUrl = cfg.websocketUrl;
      if (!token && typeof cfg?.token === 'string') token = cfg.token;
    } else if (res.status !== 404) {
      throw new Error(`config.json answered HTTP ${res.status}`);
    }
  }
  if (!websocketUrl) throw new PageConfigError('No WebSocket URL: add ?websocketUrl=wss://… or a config.json');
  if (!token) throw new PageConfigError('No connect token: add ?token=… (POST /realtime/v1/token)');
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
  const shown = new URL(location.href);
  shown.searchParams.set('conversationId', conversationId);
  shown.searchParams.delete('token');
  history.replaceState(null, '', shown);
  void connect(state.generation);
}

els.form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const id = els.input.value.trim();
  if (id) watch(id);
});

const initial = (query.get('conversationId') || '').trim();
if (initial) {
  els.input.value = initial;
  watch(initial);
} else {
  setStatus('idle', 'Enter a conversation id to watch');
  if (queryToken) {
    const shown = new URL(location.href);
    shown.searchParams.delete('token');
    history.replaceState(null, '', shown);
  }
}

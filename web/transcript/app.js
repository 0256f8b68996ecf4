/**
 * Live transcript page: subscribes to one conversation over the WebSocket API (docs/realtime.md §5) and
 * shows each final utterance under its role as it arrives. Plain ES module: no build step, no dependency,
 * deployable as static files next to index.html.
 *
 * Speech still being recognized arrives in `partial` frames: it shows as a row marked in progress, grown
 * by later partials of the same `utteranceId` and replaced by that utterance's final `transcript` (a
 * partial after its final, a malformed one, or one after the call ended is ignored). History never holds
 * partials.
 *
 * Opened mid-call or after the call, it asks for the history with its subscription (`"history": true`):
 * the utterances stored so far arrive in `history` frames, in the shape of live `transcript` frames, then
 * a `status` frame says where the call stands (ended or not) and when its timeline began. Every utterance
 * is shown once (by `utteranceId`) and in call order (by offset), whichever way it came first. While the
 * call has not ended, a quiet page asks for the status again now and then (`"status": true`), so it learns
 * of the end without a push.
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
 * Text from the network only ever reaches the DOM through `textContent`, never as HTML (the list:
 * transcript-list.js).
 */
import { parsePartial, parseTranscript, TranscriptList } from './transcript-list.js';

const RECONNECT_BASE_MS = 500;
const RECONNECT_MAX_MS = 30_000;
/** After this long without a frame, a page whose call has not ended asks for the status again. */
const STATUS_RECHECK_MS = 20_000;

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
const transcript = new TranscriptList(els);

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
  requestSeq: 0,
  /** The call has ended (status frame): nothing more will be said. */
  ended: false,
  /** The transcription state of the last status frame (`transcribing`, `stopped`, …). */
  transcription: 'unknown',
  /** The server answered UNSUPPORTED: live only, no history or status to ask for. */
  liveOnly: false,
  /** A status request is on its way: ask no second one until it is answered. */
  statusPending: false,
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  recheckTimer: undefined,
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
 * @param {string} state
 * @param {string} text
 */
function setStatus(state, text) {
  els.status.dataset.state = state;
  els.status.textContent = text;
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
  clearTimeout(state.recheckTimer);
  state.recheckTimer = undefined;
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
 * Sends a subscribe request for the page's conversation on `ws`.
 * @param {WebSocket} ws
 * @param {{ history?: true, status?: true }} extras
 */
function sendSubscribe(ws, extras) {
  if (ws.readyState !== WebSocket.OPEN || state.conversationId === null) return;
  state.requestSeq += 1;
  ws.send(
    JSON.stringify({
      action: 'subscribe',
      conversationId: state.conversationId,
      id: String(state.requestSeq),
      ...extras,
    }),
  );
}

/**
 * (Re)starts the quiet-page timer: without any frame for {@link STATUS_RECHECK_MS}, ask whether the call
 * has ended. Not once it has, nor where the server serves no status.
 * @param {WebSocket} ws
 */
function armRecheck(ws) {
  clearTimeout(state.recheckTimer);
  state.recheckTimer = undefined;
  if (state.ended || state.liveOnly) return;
  state.recheckTimer = setTimeout(() => {
    if (state.socket === ws) sendSubscribe(ws, { status: true });
  }, STATUS_RECHECK_MS);
}

/** Shows where the call stands: ended, transcription stopped, or live. */
function showConversationState() {
  const id = state.conversationId;
  if (state.ended) setStatus('ended', `Call ended: conversation ${id}`);
  else if (state.transcription === 'stopped') setStatus('stopped', `Transcription stopped: conversation ${id}`);
  else setStatus('live', `Live: conversation ${id}`);
}

/**
 * A `status` frame: the timeline's start (wall-clock times) and whether the call has ended.
 * @param {Record<string, any>} frame
 */
function applyStatus(frame) {
  const anchor = typeof frame.timelineStartedAt === 'string' ? Date.parse(frame.timelineStartedAt) : Number.NaN;
  transcript.setAnchor(Number.isFinite(anchor) ? anchor : null);
  state.ended = frame.callEnded === true;
  state.transcription = typeof frame.state === 'string' ? frame.state : 'unknown';
  transcript.setEnded(state.ended);
  showConversationState();
}

/**
 * @param {number} generation
 * @param {WebSocket} ws
 * @param {string} raw
 */
function onFrame(generation, ws, raw) {
  if (generation !== state.generation) return;
  let frame;
  try {
    frame = JSON.parse(raw);
  } catch {
    return;
  }
  const ours = frame?.conversationId === state.conversationId;
  if (frame?.type === 'subscribed' && ours) {
    state.attempt = 0;
    showConversationState();
  } else if (frame?.type === 'history' && ours) {
    for (const item of Array.isArray(frame.items) ? frame.items : []) {
      const u = parseTranscript(item);
      if (u && u.conversationId === state.conversationId) transcript.add(u);
    }
  } else if (frame?.type === 'partial') {
    const p = parsePartial(frame);
    if (p && p.conversationId === state.conversationId) transcript.showPartial(p);
  } else if (frame?.type === 'status' && ours) {
    state.statusPending = false;
    applyStatus(frame);
  } else if (frame?.type === 'error') {
    state.statusPending = false;
    const code = typeof frame.code === 'string' ? frame.code : 'ERROR';
    const message = typeof frame.message === 'string' ? frame.message : '';
    if (code === 'UNSUPPORTED') {
      // The subscription stands; this deployment only pushes live utterances.
      state.liveOnly = true;
    } else if (code === 'UNAVAILABLE') {
      // Busy tables: ask again (the subscription may already stand; subscribing twice is harmless).
      state.attempt += 1;
      const delay = reconnectDelayMs(state.attempt);
      setStatus('reconnecting', `The server is busy. Asking again in ${Math.ceil(delay / 1000)} s…`);
      clearTimeout(state.timer);
      state.timer = setTimeout(() => {
        if (state.socket === ws) sendSubscribe(ws, state.liveOnly ? {} : { history: true });
      }, delay);
    } else {
      // A refused subscription (FORBIDDEN: a token for another conversation) stays refused on every retry.
      stopConnection();
      setStatus('failed', `Subscription refused: ${code}${message ? ` (${message})` : ''}`);
      return;
    }
  } else {
    const u = parseTranscript(frame);
    if (!u || u.conversationId !== state.conversationId) return;
    transcript.add(u);
    // Speech while the call's start is unknown (the page was opened before the call) or after the call was
    // reported ended (a new session of the same call?): ask where the call stands.
    if ((state.ended || !transcript.hasAnchor) && !state.liveOnly && !state.statusPending) {
      state.statusPending = true;
      sendSubscribe(ws, { status: true });
    }
  }
  armRecheck(ws);
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
    state.statusPending = false;
    sendSubscribe(ws, state.liveOnly ? {} : { history: true });
  });
  ws.addEventListener('message', (ev) => {
    if (state.socket === ws && typeof ev.data === 'string') onFrame(generation, ws, ev.data);
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
    state.ended = false;
    state.transcription = 'unknown';
    state.liveOnly = false;
    transcript.reset();
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

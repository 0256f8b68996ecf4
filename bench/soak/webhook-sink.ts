/**
 * A webhook receiver for the soak (issue #14) that records every POST the fan-out makes and can be made
 * to fail the way real receivers do: answer an error status, answer too slowly, or be down altogether.
 *
 * Modes (switch with `setMode`, which resolves once the switch has taken effect):
 * - `up`: answers 200.
 * - `status`: answers the given status (e.g. 503, 429 with a `Retry-After`, 400).
 * - `slow`: answers 200 after `delayMs`, counted from the end of the request body.
 * - `down`: the listening socket is closed and open connections are dropped, so new connections are
 *   refused (`ECONNREFUSED`) and requests in flight see their connection close unanswered. Switching
 *   back from `down` listens again on the same port (the receiver's URL does not change).
 *
 * Recording (the soak's ground truth on the receiving side): a request answered 2xx is a *delivery*; any
 * other outcome is a *refusal* with the status answered, or 0 when no answer was given (the client gave up
 * during a slow answer, or the sink went down). A delivery is recorded when its answer is written, so
 * "delivered" means "the sender could have read a 2xx", consistent with what the fan-out believes.
 * A body that is not JSON is answered 400 (as a strict receiver would) and recorded as a refusal.
 */

import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the sink answers; see the file comment. */
export type WebhookSinkMode =
  | { readonly kind: 'up' }
  | {
      readonly kind: 'status';
      /**
       * A status in 300..599, e.g. 500, 503, 429, 400. Recorded as a refusal even where the fan-out reads
       * it as accepted (409, docs/realtime.md §1): the soak then sees a key the sender counts as delivered.
       */
      readonly status: number;
      /** Sent as `Retry-After` (seconds) when set. */
      readonly retryAfterSec?: number;
    }
  | { readonly kind: 'slow'; readonly delayMs: number }
  | { readonly kind: 'down' };

/** One request as it arrived. */
export interface ReceivedRequest {
  /** When the request's headers arrived (ms since the epoch). */
  readonly receivedAt: number;
  /** When the answer was written, or the exchange ended unanswered (ms since the epoch). */
  readonly answeredAt: number;
  readonly method: string;
  /** Path and query as requested. */
  readonly path: string;
  /** `Idempotency-Key`: the utterance id the receiver dedupes on. */
  readonly idempotencyKey: string | undefined;
  /** `X-Delivery-Attempt` as a number (1 on a first try). */
  readonly attempt: number | undefined;
  /** True when `X-Delivery-Redrive: 1` (re-sent from the dead-letter store). */
  readonly redrive: boolean;
  /** `X-Transcript-Signature` (`t=…,v1=…`), when the sender signs. */
  readonly signature: string | undefined;
  /** Every header, names lower-cased (repeated headers joined with `, `): auth headers included. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body exactly as received (signatures are computed over these bytes). */
  readonly rawBody: string;
  /** The body parsed as JSON; `undefined` when it was not JSON. */
  readonly body: unknown;
}

/** A request answered 2xx. */
export type WebhookDelivery = ReceivedRequest & { readonly status: number };

/** A request not answered 2xx. */
export interface WebhookRefusal extends ReceivedRequest {
  /** The status answered; 0 when the connection ended without an answer. */
  readonly status: number;
  readonly reason: 'status' | 'bad-json' | 'too-large' | 'client-closed' | 'sink-down';
}

/** Options of {@link startWebhookSink}. */
export interface WebhookSinkOptions {
  /** Port on 127.0.0.1. @default 0 - any free port (kept across `down`/`up`) */
  readonly port?: number;
  /** Path of the URL handed out; the sink answers every path the same way. @default '/webhook' */
  readonly path?: string;
}

/** A running sink. */
export interface WebhookSink {
  /** `http://127.0.0.1:<port><path>`: the webhook target URL. */
  readonly url: string;
  readonly port: number;
  /** Resolves once the mode is in effect (after `down`: nothing listens; after leaving it: listening). */
  setMode(mode: WebhookSinkMode): Promise<void>;
  mode(): WebhookSinkMode;
  /** Requests answered 2xx, in the order they were answered (a copy). */
  deliveries(): WebhookDelivery[];
  /** Requests not answered 2xx, in the order they ended (a copy). */
  refused(): WebhookRefusal[];
  /** Requests fully received whose answer `slow` is still delaying. */
  held(): number;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;

function validateMode(mode: WebhookSinkMode): void {
  switch (mode?.kind) {
    case 'up':
    case 'down':
      return;
    case 'status':
      if (!Number.isInteger(mode.status) || mode.status < 300 || mode.status > 599) {
        throw new RangeError(`status mode needs a non-2xx status in 300..599, got ${String(mode.status)}`);
      }
      if (mode.retryAfterSec !== undefined && !(Number.isInteger(mode.retryAfterSec) && mode.retryAfterSec >= 0)) {
        throw new RangeError(`retryAfterSec must be whole seconds ≥ 0, got ${String(mode.retryAfterSec)}`);
      }
      return;
    case 'slow':
      // Node timers hold at most 2^31 − 1 ms; a longer one would fire at once.
      if (!(mode.delayMs >= 0 && mode.delayMs <= 2_147_483_647)) {
        throw new RangeError(`slow mode needs delayMs in 0..2147483647, got ${String(mode.delayMs)}`);
      }
      return;
    default:
      throw new TypeError(
        `unknown webhook sink mode ${JSON.stringify(mode)}: expected kind 'up', 'status', 'slow' or 'down'`,
      );
  }
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/** Starts the sink on 127.0.0.1 in `up` mode. */
export async function startWebhookSink(options: WebhookSinkOptions = {}): Promise<WebhookSink> {
  const requestedPort = options.port ?? 0;
  if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535) {
    throw new RangeError(`port must be an integer in 0..65535, got ${String(options.port)}`);
  }
  const path = options.path ?? '/webhook';
  if (!path.startsWith('/')) throw new RangeError(`path must start with '/', got ${JSON.stringify(path)}`);

  const delivered: WebhookDelivery[] = [];
  const refusals: WebhookRefusal[] = [];
  let current: WebhookSinkMode = { kind: 'up' };
  let closed = false;
  const delayed = new Set<NodeJS.Timeout>();
  /** Exchanges not yet closed, so going down can wait until each one is recorded. */
  const open = new Set<Promise<unknown>>();

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const receivedAt = Date.now();
    const headers = flatHeaders(req);
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    let ended = false;
    let timer: NodeJS.Timeout | undefined;

    const base = (rawBody: string, body: unknown): ReceivedRequest => ({
      receivedAt,
      answeredAt: Date.now(),
      method: req.method ?? '',
      path: req.url ?? '',
      idempotencyKey: headers['idempotency-key'],
      attempt: headers['x-delivery-attempt'] === undefined ? undefined : Number(headers['x-delivery-attempt']),
      redrive: headers['x-delivery-redrive'] === '1',
      signature: headers['x-transcript-signature'],
      headers,
      rawBody,
      body,
    });
    const refuse = (status: number, reason: WebhookRefusal['reason'], rawBody: string, body: unknown) => {
      ended = true;
      refusals.push({ ...base(rawBody, body), status, reason });
      if (status > 0 && !res.destroyed) {
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end(reason);
      }
    };

    const closing = once(res, 'close').catch(() => undefined);
    open.add(closing);
    void closing.then(() => open.delete(closing));
    // The connection ended before an answer: the client timed out, or the sink went down meanwhile.
    res.once('close', () => {
      if (timer) {
        clearTimeout(timer);
        delayed.delete(timer);
      }
      if (ended) return;
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const parsed = parseJson(rawBody);
      refuse(
        0,
        current.kind === 'down' || closed ? 'sink-down' : 'client-closed',
        rawBody,
        parsed.ok ? parsed.value : undefined,
      );
    });
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.once('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      if (tooLarge) return refuse(413, 'too-large', '', undefined);
      const parsed = parseJson(rawBody);
      if (!parsed.ok) return refuse(400, 'bad-json', rawBody, undefined);
      const mode = current;
      const accept = () => {
        if (timer) delayed.delete(timer);
        if (res.destroyed) return;
        ended = true;
        delivered.push({ ...base(rawBody, parsed.value), status: 200 });
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
      };
      if (mode.kind === 'status') {
        if (mode.retryAfterSec !== undefined) res.setHeader('retry-after', String(mode.retryAfterSec));
        return refuse(mode.status, 'status', rawBody, parsed.value);
      }
      if (mode.kind === 'slow') {
        timer = setTimeout(accept, mode.delayMs);
        delayed.add(timer);
        return;
      }
      // `up`, or `down` for a request that arrived on a connection before it was dropped.
      accept();
    });
  }

  const server: Server = createServer(handle);

  function listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) =>
        reject(new Error(`webhook sink cannot listen on port ${port}: ${err.message}`, { cause: err }));
      server.once('error', onError);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', onError);
        resolve((server.address() as AddressInfo).port);
      });
    });
  }

  async function stopListening(): Promise<void> {
    const stopped = new Promise<void>((resolve) => {
      // The callback also runs (with an error) when the server was not listening: resolved either way.
      server.close(() => resolve());
    });
    // Dropped, not drained: a receiver that goes down does not finish its answers.
    server.closeAllConnections();
    await stopped;
    // The server may report closed before each exchange's own close event has recorded it.
    await Promise.all(open);
  }

  const port = await listen(requestedPort);
  let switching: Promise<void> = Promise.resolve();

  return {
    url: `http://127.0.0.1:${port}${path}`,
    port,
    setMode(mode: WebhookSinkMode): Promise<void> {
      try {
        validateMode(mode);
      } catch (err) {
        return Promise.reject(err);
      }
      if (closed) return Promise.reject(new Error('the webhook sink is closed'));
      // Switches run one after another, so `down` then `up` called back to back cannot interleave.
      const next = switching.then(async () => {
        const was = current;
        if (mode.kind === 'down') {
          // Set first: requests cut off by the drop are recorded as `sink-down`.
          current = mode;
          if (was.kind !== 'down') await stopListening();
          return;
        }
        // Listen first: if the port was taken meanwhile, the sink stays `down` and the caller learns why.
        if (was.kind === 'down') await listen(port);
        current = mode;
      });
      switching = next.catch(() => undefined);
      return next;
    },
    mode: () => current,
    deliveries: () => [...delivered],
    refused: () => [...refusals],
    held: () => delayed.size,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (server.listening) await stopListening();
    },
  };
}

/**
 * The local Transcribe endpoint's test-aid routes (local/transcribe/server.ts): arm and clear one-shot
 * faults, hit open streams with a fault now, read the counters, for tests driving an endpoint that runs in
 * another process (loopback only).
 */
import type http2 from 'node:http2';
import {
  type DropConnection,
  type FaultInjector,
  type MidStreamError,
  type OpenStreamFault,
  openStreamFaultProblem,
  START_FAILURE_STATUS,
  type StartFailure,
} from './faults';
import type { LocalTranscribeStats } from './stream-session';

/**
 * `POST` a {@link FaultControlRequest} to arm one-shot faults and/or hit open streams now, `DELETE` to disarm
 * the one-shot faults (local test aid, loopback peers only, when `LocalTranscribeOptions.faultControl` is on
 * (server.ts)). The answer is 200 `{ armed: [field…] }`, plus `applied` (streams hit, 0 when none is open)
 * and `sessionIds` when the body has `openStream`; a body that cannot be applied is 400 `{ message }`.
 */
export const FAULT_CONTROL_PATH = '/_local/faults';
/** `GET` the {@link LocalTranscribeStats} as JSON (same conditions as the fault control). */
export const STATS_PATH = '/_local/stats';
const MAX_CONTROL_BODY_BYTES = 16 * 1024;

/**
 * Body of a `POST` to {@link FAULT_CONTROL_PATH}: each one-shot field arms the fault of the same name once;
 * `openStream` is applied at once to streams open now (nothing is armed for later streams).
 */
export interface FaultControlRequest {
  failNextStart?: StartFailure;
  errorMidStream?: MidStreamError;
  dropConnection?: DropConnection;
  silenceTimeoutMs?: number;
  openStream?: OpenStreamFault;
}

function isLoopback(address: string | undefined): boolean {
  return (
    address !== undefined && (address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.'))
  );
}

function respondJson(stream: http2.ServerHttp2Stream, status: number, body: unknown): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond({ ':status': status, 'content-type': 'application/json' });
  stream.end(JSON.stringify(body));
}

const nonNegative = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why a fault control body cannot be armed, or undefined when it can. */
function controlProblem(body: unknown): string | undefined {
  if (!isRecord(body)) return 'the body must be a JSON object';
  const known = ['failNextStart', 'errorMidStream', 'dropConnection', 'silenceTimeoutMs', 'openStream'];
  const unknown = Object.keys(body).filter((k) => !known.includes(k));
  if (unknown.length > 0) return `unknown fields ${unknown.join(', ')} (known: ${known.join(', ')})`;
  const isType = (t: unknown) => typeof t === 'string' && Object.hasOwn(START_FAILURE_STATUS, t);
  const { failNextStart: start, errorMidStream: mid, dropConnection: drop, silenceTimeoutMs } = body;
  if (start !== undefined && !(isRecord(start) && isType(start.type))) return 'failNextStart.type is not an exception';
  if (mid !== undefined) {
    if (!isRecord(mid) || !isType(mid.type)) return 'errorMidStream.type is not an exception';
    if (!nonNegative(mid.afterMs) && !nonNegative(mid.afterAudioMs)) {
      return 'errorMidStream needs afterMs or afterAudioMs (ms, non-negative)';
    }
  }
  if (drop !== undefined) {
    if (!isRecord(drop) || !nonNegative(drop.afterMs)) return 'dropConnection.afterMs must be a non-negative number';
    if (drop.scope !== undefined && drop.scope !== 'stream' && drop.scope !== 'session') {
      return "dropConnection.scope must be 'stream' or 'session'";
    }
  }
  if (silenceTimeoutMs !== undefined && !nonNegative(silenceTimeoutMs)) return 'silenceTimeoutMs must be a number';
  if (body.openStream !== undefined) return openStreamFaultProblem(body.openStream);
  return undefined;
}

/** The fault control and stats routes (tests arm faults of an endpoint running in another process). */
export function handleControl(
  stream: http2.ServerHttp2Stream,
  method: string,
  path: string,
  faults: FaultInjector,
  stats: () => LocalTranscribeStats,
): void {
  // A fault switch is a test aid: never reachable from another host, even if bound to one.
  if (!isLoopback(stream.session?.socket?.remoteAddress)) {
    respondJson(stream, 403, { message: 'loopback only' });
    stream.resume();
    return;
  }
  if (path === STATS_PATH) {
    stream.resume();
    if (method === 'GET') respondJson(stream, 200, stats());
    else respondJson(stream, 405, { message: `use GET on ${STATS_PATH}` });
    return;
  }
  if (method === 'DELETE') {
    stream.resume();
    faults.clear();
    respondJson(stream, 200, { cleared: true });
    return;
  }
  if (method !== 'POST') {
    stream.resume();
    respondJson(stream, 405, { message: `use POST or DELETE on ${FAULT_CONTROL_PATH}` });
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_CONTROL_BODY_BYTES) chunks.push(chunk);
  });
  stream.on('end', () => {
    if (size > MAX_CONTROL_BODY_BYTES) return respondJson(stream, 413, { message: 'body too large' });
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return respondJson(stream, 400, { message: 'the body is not JSON' });
    }
    const problem = controlProblem(body);
    if (problem !== undefined) return respondJson(stream, 400, { message: problem });
    const { openStream, ...oneShot } = body as FaultControlRequest;
    if (oneShot.failNextStart) faults.failNextStart(oneShot.failNextStart);
    if (oneShot.errorMidStream) faults.errorMidStream(oneShot.errorMidStream);
    if (oneShot.dropConnection) faults.dropConnection(oneShot.dropConnection);
    if (oneShot.silenceTimeoutMs !== undefined) faults.silenceTimeout(oneShot.silenceTimeoutMs);
    const hit = openStream ? faults.hitOpenStreams(openStream) : undefined;
    respondJson(stream, 200, { armed: Object.keys(oneShot), ...hit });
  });
}

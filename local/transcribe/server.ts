/**
 * A local endpoint that speaks the Amazon Transcribe streaming protocol (`StartStreamTranscription` over
 * cleartext HTTP/2 with event-stream bodies), so the real `@aws-sdk/client-transcribe-streaming` client runs
 * unchanged against it with `endpoint: 'http://127.0.0.1:<port>'`. Audio is resampled to 16 kHz per channel
 * and recognized offline (pocketsphinx by default); results come back as `TranscriptEvent`s with the
 * service's shapes, exceptions and timeouts (docs/architecture.md §6).
 */
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { type Logger, silentLogger } from '../../core/ports';
import {
  decodeMessage,
  EventStreamError,
  encodeException,
  encodeTranscriptEvent,
  MessageSplitter,
  readAudioStreamMessage,
  type StreamExceptionType,
} from './event-stream';
import {
  DEFAULT_FAULT_MESSAGES,
  type DropConnection,
  FaultInjector,
  type MidStreamError,
  START_FAILURE_STATUS,
  type StartFailure,
  type StreamFaults,
} from './faults';
import { parseStreamParams, type StreamParams } from './params';
import { createPocketsphinxRecognizer, pocketsphinxAvailable } from './pocketsphinx';
import {
  createScriptedRecognizer,
  RECOGNIZER_SAMPLE_RATE,
  type Recognizer,
  type RecognizerFactory,
} from './recognizer';
import { Resampler } from './resample';
import { type TranscribeResult, utteranceResults } from './results';

/** Options of {@link startLocalTranscribe}. */
export interface LocalTranscribeOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** @default 0 - an ephemeral port */
  port?: number;
  /** @default pocketsphinx when installed, else the scripted recognizer (with a warning) */
  recognizer?: RecognizerFactory;
  /** No audio event for this long ends a stream with the service's BadRequestException. @default 15000 */
  noAudioTimeoutMs?: number;
  /** Streams beyond this many at once are refused with HTTP 429 LimitExceededException. @default 25 - the service's default quota */
  maxConcurrentStreams?: number;
  /** @default silentLogger */
  logger?: Logger;
  /**
   * Serve {@link FAULT_CONTROL_PATH} and {@link STATS_PATH} to loopback peers, so tests can arm faults in an
   * endpoint that runs in another process (the local stack). @default false
   */
  faultControl?: boolean;
}

/** Counters of a running endpoint. */
export interface LocalTranscribeStats {
  streamsStarted: number;
  streamsActive: number;
  /** Requests answered with an HTTP error (validation, quota, injected faults). */
  streamsRejected: number;
  audioBytes: number;
  partialResults: number;
  finalResults: number;
  exceptions: Partial<Record<StreamExceptionType, number>>;
}

/** A running local Transcribe endpoint. */
export interface LocalTranscribe {
  /** `http://host:port`, for the client's `endpoint`. */
  url: string;
  port: number;
  faults: FaultInjector;
  /** Ends every stream, kills recognizer processes and stops listening. */
  close(): Promise<void>;
  stats(): LocalTranscribeStats;
}

/** The service's message for its 15-second no-audio timeout (clients match on the exception type). */
export const NO_AUDIO_TIMEOUT_MESSAGE = 'Your request timed out because no new audio was received for 15 seconds.';

const PATH = '/stream-transcription';
/**
 * `POST` a {@link FaultControlRequest} to arm one-shot faults, `DELETE` to disarm them (local test aid,
 * loopback peers only, when {@link LocalTranscribeOptions.faultControl} is on).
 */
export const FAULT_CONTROL_PATH = '/_local/faults';
/** `GET` the {@link LocalTranscribeStats} as JSON (same conditions as the fault control). */
export const STATS_PATH = '/_local/stats';
const MAX_CONTROL_BODY_BYTES = 16 * 1024;

/** Body of a `POST` to {@link FAULT_CONTROL_PATH}: each field arms the fault of the same name once. */
export interface FaultControlRequest {
  failNextStart?: StartFailure;
  errorMidStream?: MidStreamError;
  dropConnection?: DropConnection;
  silenceTimeoutMs?: number;
}
const ERROR_TYPE_SUFFIX = ':http://internal.amazon.com/coral/com.amazonaws.transcribestreaming/';

/**
 * Starts the endpoint and resolves once it listens. The SDK's HTTP/2 handler connects to an `http://`
 * endpoint with prior-knowledge h2c, which is what `http2.createServer` serves.
 */
export async function startLocalTranscribe(opts: LocalTranscribeOptions = {}): Promise<LocalTranscribe> {
  const logger = (opts.logger ?? silentLogger).child({ component: 'local-transcribe' });
  const noAudioTimeoutMs = opts.noAudioTimeoutMs ?? 15_000;
  const maxStreams = opts.maxConcurrentStreams ?? 25;
  let recognizer = opts.recognizer;
  if (!recognizer) {
    if (pocketsphinxAvailable()) recognizer = createPocketsphinxRecognizer();
    else {
      logger.warn(
        {},
        'pocketsphinx is not installed: transcripts will be placeholder words (apt-get install pocketsphinx)',
      );
      recognizer = createScriptedRecognizer();
    }
  }
  const faults = new FaultInjector(logger);
  const stats: LocalTranscribeStats = {
    streamsStarted: 0,
    streamsActive: 0,
    streamsRejected: 0,
    audioBytes: 0,
    partialResults: 0,
    finalResults: 0,
    exceptions: {},
  };
  const snapshot = (): LocalTranscribeStats => ({ ...stats, exceptions: { ...stats.exceptions } });
  const active = new Set<StreamSession>();
  const sessions = new Set<http2.Http2Session>();
  const server = http2.createServer();

  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
    // A peer that vanishes mid-frame is its own problem, never the process's.
    s.on('error', (err) => logger.debug({ err: err.message }, 'http2 session error'));
  });

  server.on('stream', (stream, headers) => {
    stream.on('error', (err) => logger.debug({ err: err.message }, 'http2 stream error'));
    const requestId = randomUUID();
    const path = headers[':path']?.split('?')[0];
    if (opts.faultControl && (path === FAULT_CONTROL_PATH || path === STATS_PATH)) {
      handleControl(stream, String(headers[':method']), path, faults, () => snapshot());
      return;
    }
    const reject = (status: number, type: string, message: string) => {
      stats.streamsRejected++;
      logger.info({ requestId, status, type }, 'stream rejected');
      respondError(stream, status, type, message, requestId);
    };
    if (headers[':method'] !== 'POST' || path !== PATH) {
      reject(
        404,
        'UnknownOperationException',
        `No operation at ${String(headers[':method'])} ${String(headers[':path'])}`,
      );
      return;
    }
    const startFailure = faults.takeStartFailure();
    if (startFailure) {
      reject(startFailure.status, startFailure.type, startFailure.message);
      return;
    }
    const parsed = parseStreamParams(headers);
    if (!parsed.ok) {
      reject(400, 'BadRequestException', parsed.message);
      return;
    }
    if (active.size >= maxStreams) {
      reject(429, 'LimitExceededException', 'You have reached your limit of concurrent streams.');
      return;
    }
    const session = new StreamSession(stream, parsed.params, {
      requestId,
      recognizer: recognizer as RecognizerFactory,
      noAudioTimeoutMs,
      faults: faults.takeStreamFaults(),
      logger,
      stats,
      onDone: () => {
        active.delete(session);
        stats.streamsActive = active.size;
      },
    });
    active.add(session);
    stats.streamsStarted++;
    stats.streamsActive = active.size;
    session.start();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  logger.info({ url }, 'local transcribe listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    port: address.port,
    faults,
    stats: snapshot,
    close() {
      closing ??= (async () => {
        await Promise.all([...active].map((s) => s.abort('endpoint closing')));
        for (const s of sessions) s.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        logger.info({ url }, 'local transcribe closed');
      })();
      return closing;
    },
  };
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
  const known = ['failNextStart', 'errorMidStream', 'dropConnection', 'silenceTimeoutMs'];
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
  return undefined;
}

/** The fault control and stats routes (tests arm faults of an endpoint running in another process). */
function handleControl(
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
    const req = body as FaultControlRequest;
    if (req.failNextStart) faults.failNextStart(req.failNextStart);
    if (req.errorMidStream) faults.errorMidStream(req.errorMidStream);
    if (req.dropConnection) faults.dropConnection(req.dropConnection);
    if (req.silenceTimeoutMs !== undefined) faults.silenceTimeout(req.silenceTimeoutMs);
    respondJson(stream, 200, { armed: Object.keys(req) });
  });
}

function respondError(
  stream: http2.ServerHttp2Stream,
  status: number,
  type: string,
  message: string,
  requestId: string,
) {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond({
    ':status': status,
    'content-type': 'application/json',
    'x-amzn-errortype': `${type}${ERROR_TYPE_SUFFIX}`,
    'x-amzn-requestid': requestId,
    'x-amzn-request-id': requestId,
  });
  // The request body (audio) may still be arriving: drain it, and reset the stream once the answer is out
  // so neither side waits on the other (RST_STREAM NO_ERROR after a complete response, RFC 9113 §8.1).
  stream.resume();
  stream.end(JSON.stringify({ message }), () => {
    if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
  });
}

interface SessionDeps {
  requestId: string;
  recognizer: RecognizerFactory;
  noAudioTimeoutMs: number;
  faults: StreamFaults;
  logger: Logger;
  stats: LocalTranscribeStats;
  onDone: () => void;
}

interface ChannelState {
  resampler: Resampler;
  recognizer: Recognizer;
}

type SessionState = 'streaming' | 'flushing' | 'done';

/** One `StartStreamTranscription` stream, from response headers to the end of the response. */
class StreamSession {
  private state: SessionState = 'streaming';
  private readonly log: Logger;
  private readonly sessionId: string;
  private readonly splitter = new MessageSplitter();
  private channels: ChannelState[] = [];
  /** Bytes of an incomplete sample frame carried to the next audio event. */
  private remainder = new Uint8Array(0);
  /** Samples per channel received, at the stream's rate. */
  private samples = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private noAudioTimer: NodeJS.Timeout | undefined;
  private readonly timeoutMs: number;
  private done: Promise<void> | undefined;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    private readonly params: StreamParams,
    private readonly deps: SessionDeps,
  ) {
    this.sessionId = params.sessionId ?? randomUUID();
    this.log = deps.logger.child({ requestId: deps.requestId, sessionId: this.sessionId });
    this.timeoutMs = deps.faults.silenceTimeoutMs ?? deps.noAudioTimeoutMs;
  }

  start(): void {
    const { params, stream } = this;
    const headers: http2.OutgoingHttpHeaders = {
      ':status': 200,
      'content-type': 'application/vnd.amazon.eventstream',
      'x-amzn-request-id': this.deps.requestId,
      ...params.echo,
      'x-amzn-transcribe-session-id': this.sessionId,
    };
    stream.respond(headers);
    // The SDK's deserializer awaits the first event before `send()` resolves; an empty TranscriptEvent
    // (which the service also sends while it has nothing to say) lets the caller start iterating at once.
    stream.write(encodeTranscriptEvent({ Results: [] }));
    this.log.info(
      {
        sampleRateHz: params.sampleRateHz,
        channels: params.channels,
        pii: params.contentRedaction ? 'redact' : params.contentIdentification ? 'identify' : 'off',
        faults: Object.keys(this.deps.faults),
      },
      'stream started',
    );

    for (let c = 0; c < params.channels; c++) {
      const recognizer = this.deps.recognizer({
        channel: c,
        logger: this.log,
        listener: {
          onUtterance: (u) => this.sendUtterance(c, u.words),
          onError: (err) => {
            this.log.warn({ channel: c, err: err.message }, 'recognizer failed');
            void this.fail('InternalFailureException', DEFAULT_FAULT_MESSAGES.InternalFailureException);
          },
        },
      });
      this.channels.push({ resampler: new Resampler(params.sampleRateHz, RECOGNIZER_SAMPLE_RATE), recognizer });
    }

    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('end', () => {
      if (this.state === 'streaming') void this.flush('request body ended');
    });
    stream.on('close', () => {
      if (this.state !== 'done') void this.abort('client went away');
    });
    this.armNoAudioTimer();
    this.armFaults();
  }

  private schedule(fn: () => void, ms: number): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  private armNoAudioTimer(): void {
    if (this.noAudioTimer) {
      clearTimeout(this.noAudioTimer);
      this.timers.delete(this.noAudioTimer);
    }
    this.noAudioTimer = this.schedule(() => {
      this.log.info({ timeoutMs: this.timeoutMs }, 'no audio received: timing out');
      void this.fail('BadRequestException', NO_AUDIO_TIMEOUT_MESSAGE);
    }, this.timeoutMs);
  }

  private armFaults(): void {
    const { midStream, drop } = this.deps.faults;
    if (midStream && 'afterMs' in midStream) {
      this.schedule(() => this.fireMidStream(), midStream.afterMs);
    }
    if (drop) {
      this.schedule(() => {
        if (this.state === 'done') return;
        this.log.info(
          { fault: 'dropConnection', scope: drop.scope ?? 'session' },
          'fault injected: dropping connection',
        );
        // Cut before ending the response: the client must see a broken stream, not a finished one.
        if (drop.scope === 'stream') {
          if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        } else {
          this.stream.session?.destroy();
        }
        void this.abort('fault: connection dropped');
      }, drop.afterMs);
    }
  }

  private midStreamFired = false;

  private fireMidStream(): void {
    const f = this.deps.faults.midStream;
    if (!f || this.midStreamFired || this.state === 'done') return;
    this.midStreamFired = true;
    this.log.info({ fault: 'errorMidStream', type: f.type }, 'fault injected: in-stream exception');
    void this.fail(f.type, f.message ?? DEFAULT_FAULT_MESSAGES[f.type]);
  }

  private onData(chunk: Buffer): void {
    if (this.state !== 'streaming') return;
    let messages: Uint8Array[];
    try {
      messages = this.splitter.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      for (const bytes of messages) {
        if (this.state !== 'streaming') return;
        const event = readAudioStreamMessage(decodeMessage(bytes));
        if (event.kind === 'audio') this.onAudio(event.chunk);
        else if (event.kind === 'end') void this.flush('end of audio');
      }
    } catch (err) {
      const message = err instanceof EventStreamError ? err.message : 'Malformed audio stream.';
      this.log.info({ code: err instanceof EventStreamError ? err.code : undefined, err: message }, 'bad audio stream');
      void this.fail('BadRequestException', message);
    }
  }

  private onAudio(bytes: Uint8Array): void {
    this.armNoAudioTimer();
    this.deps.stats.audioBytes += bytes.byteLength;
    const frameBytes = 2 * this.params.channels;
    let data = bytes;
    if (this.remainder.byteLength > 0) {
      data = new Uint8Array(this.remainder.byteLength + bytes.byteLength);
      data.set(this.remainder, 0);
      data.set(bytes, this.remainder.byteLength);
    }
    const frames = Math.floor(data.byteLength / frameBytes);
    this.remainder = data.slice(frames * frameBytes);
    if (frames === 0) return;
    const view = new DataView(data.buffer, data.byteOffset, frames * frameBytes);
    const nch = this.params.channels;
    for (let c = 0; c < nch; c++) {
      const pcm = new Int16Array(frames);
      for (let i = 0; i < frames; i++) pcm[i] = view.getInt16((i * nch + c) * 2, true);
      const ch = this.channels[c] as ChannelState;
      const out = ch.resampler.push(pcm);
      if (out.length > 0) ch.recognizer.write(out);
    }
    this.samples += frames;
    const f = this.deps.faults.midStream;
    if (f && 'afterAudioMs' in f && (this.samples * 1000) / this.params.sampleRateHz >= f.afterAudioMs) {
      this.fireMidStream();
    }
  }

  private sendUtterance(channel: number, words: Parameters<typeof utteranceResults>[0]): void {
    if (this.state === 'done') return;
    const results = utteranceResults(words, {
      resultId: randomUUID(),
      ...(this.params.channelIdentification ? { channelId: `ch_${channel}` } : {}),
      stabilization: this.params.partialResultsStabilization,
      ...(this.params.contentRedaction
        ? { pii: { mode: 'redact' as const, types: this.params.piiEntityTypes } }
        : this.params.contentIdentification
          ? { pii: { mode: 'identify' as const, types: this.params.piiEntityTypes } }
          : {}),
    });
    for (const r of results) this.sendResult(r);
    this.log.debug({ channel, words: words.length }, 'utterance sent');
  }

  private sendResult(result: TranscribeResult): void {
    if (this.stream.destroyed || this.stream.writableEnded) return;
    this.stream.write(encodeTranscriptEvent({ Results: [result] }));
    if (result.IsPartial) this.deps.stats.partialResults++;
    else this.deps.stats.finalResults++;
  }

  /** End of audio: drain the resamplers and recognizers, send the remaining finals, end the response. */
  private flush(reason: string): Promise<void> {
    if (this.state !== 'streaming') return this.done ?? Promise.resolve();
    this.state = 'flushing';
    this.log.info({ reason, audioMs: Math.round((this.samples * 1000) / this.params.sampleRateHz) }, 'flushing stream');
    if (this.noAudioTimer) clearTimeout(this.noAudioTimer);
    this.done = (async () => {
      for (const ch of this.channels) {
        const tail = ch.resampler.flush();
        if (tail.length > 0) ch.recognizer.write(tail);
      }
      try {
        await Promise.all(this.channels.map((ch) => ch.recognizer.end()));
      } catch (err) {
        this.log.warn({ err: String(err) }, 'recognizer failed to finish');
        await this.fail('InternalFailureException', DEFAULT_FAULT_MESSAGES.InternalFailureException);
        return;
      }
      if (this.state === 'flushing') this.finish();
    })();
    return this.done;
  }

  /** Sends an in-stream exception and ends the stream (results still pending are dropped, as the service does). */
  private async fail(type: StreamExceptionType, message: string): Promise<void> {
    if (this.state === 'done') return;
    if (!this.stream.destroyed && !this.stream.writableEnded) {
      this.stream.write(encodeException(type, message));
      this.deps.stats.exceptions[type] = (this.deps.stats.exceptions[type] ?? 0) + 1;
    }
    this.log.info({ type }, 'stream ended with an exception');
    await this.abort(`exception ${type}`);
  }

  /** Ends the stream now: stops recognizers (killing their processes) and closes the response. */
  async abort(reason: string): Promise<void> {
    if (this.state === 'done') return;
    this.log.debug({ reason }, 'aborting stream');
    this.finish();
    await Promise.all(this.channels.map((ch) => ch.recognizer.close()));
  }

  private finish(): void {
    this.state = 'done';
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const ch of this.channels) void ch.recognizer.close();
    const { stream } = this;
    if (!stream.destroyed && !stream.writableEnded) {
      stream.end(() => {
        // The client may still be sending audio after our response ended; do not leave the stream half open.
        if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
      });
    }
    this.log.info({ reason: 'finished' }, 'stream ended');
    this.deps.onDone();
  }
}

/**
 * A local endpoint that speaks the Amazon Transcribe streaming protocol (`StartStreamTranscription` over
 * cleartext HTTP/2 with event-stream bodies), so the real `@aws-sdk/client-transcribe-streaming` client runs
 * unchanged against it with `endpoint: 'http://127.0.0.1:<port>'`. Audio is resampled to 16 kHz per channel
 * and recognized offline (pocketsphinx by default; English whatever the LanguageCode, which every result
 * echoes); results come back as `TranscriptEvent`s with the service's shapes, exceptions and timeouts,
 * progressive partials included where the recognizer reports them (docs/architecture.md §6).
 */
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { type Logger, silentLogger } from '../../core/ports';
import { FAULT_CONTROL_PATH, handleControl, STATS_PATH } from './fault-control';
import { FaultInjector, seededRandom } from './faults';
import { parseStreamParams } from './params';
import { createPocketsphinxRecognizer, pocketsphinxAvailable } from './pocketsphinx';
import { createScriptedRecognizer, type RecognizerFactory } from './recognizer';
import { type LocalTranscribeStats, StreamSession } from './stream-session';

export { FAULT_CONTROL_PATH, type FaultControlRequest, STATS_PATH } from './fault-control';
export { type OpenStreamFault, type OpenStreamFaultResult, seededRandom } from './faults';
export { type LocalTranscribeStats, NO_AUDIO_TIMEOUT_MESSAGE } from './stream-session';

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
  /** Seeds the draw of `pick: 'random'` open-stream faults, so a run can be repeated. @default unseeded (Math.random) */
  faultSeed?: number;
  /** Draws `pick: 'random'` open-stream targets (values in [0, 1)); wins over `faultSeed`. @default see faultSeed */
  random?: () => number;
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

const PATH = '/stream-transcription';
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
  const stats: LocalTranscribeStats = {
    streamsStarted: 0,
    streamsActive: 0,
    streamsRejected: 0,
    audioBytes: 0,
    partialResults: 0,
    finalResults: 0,
    exceptions: {},
    openStreamFaults: {},
  };
  const snapshot = (): LocalTranscribeStats => ({
    ...stats,
    exceptions: { ...stats.exceptions },
    openStreamFaults: { ...stats.openStreamFaults },
  });
  /** The registry of open streams, oldest first (a Set keeps insertion order): added on start, removed when done. */
  const active = new Set<StreamSession>();
  const faults = new FaultInjector(logger, {
    openStreams: () => [...active],
    random: opts.random ?? (opts.faultSeed === undefined ? Math.random : seededRandom(opts.faultSeed)),
    onOpenStreamFault: (kind) => {
      stats.openStreamFaults[kind] = (stats.openStreamFaults[kind] ?? 0) + 1;
    },
  });
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

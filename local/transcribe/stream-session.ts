/**
 * One `StartStreamTranscription` stream of the local Transcribe endpoint (local/transcribe/server.ts):
 * audio events in, per-channel resampling and recognition, `TranscriptEvent`s and in-stream exceptions
 * out, the no-audio timeout, the faults armed for it and the open-stream faults that hit it while it runs;
 * plus the endpoint's counters it keeps.
 */
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import type { Logger } from '../../core/ports';
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
  type OpenStreamFaultAction,
  type OpenStreamFaultKind,
  type OpenStreamTarget,
  type StreamFaults,
} from './faults';
import type { StreamParams } from './params';
import { RECOGNIZER_SAMPLE_RATE, type Recognizer, type RecognizerFactory } from './recognizer';
import { Resampler } from './resample';
import { ChannelResults, type TranscribeResult } from './results';

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
  /** Streams hit by each kind of open-stream fault (one per stream hit). */
  openStreamFaults: Partial<Record<OpenStreamFaultKind, number>>;
}

/** The service's message for its 15-second no-audio timeout (clients match on the exception type). */
export const NO_AUDIO_TIMEOUT_MESSAGE = 'Your request timed out because no new audio was received for 15 seconds.';

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
/** A result held by a `delayResults` fault, with the wall-clock time it may be sent. */
type Held = { result: TranscribeResult; dueAt: number };

/** One `StartStreamTranscription` stream, from response headers to the end of the response. */
export class StreamSession implements OpenStreamTarget {
  private state: SessionState = 'streaming';
  private readonly log: Logger;
  /** The `x-amzn-transcribe-session-id` answered (the client's `SessionId`, else a new one). */
  readonly sessionId: string;
  private readonly splitter = new MessageSplitter();
  private channels: ChannelState[] = [];
  /** Bytes of an incomplete sample frame carried to the next audio event. */
  private remainder = new Uint8Array(0);
  /** Samples per channel received, at the stream's rate. */
  private samples = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private noAudioTimer: NodeJS.Timeout | undefined;
  private timeoutMs: number;
  private done: Promise<void> | undefined;
  /** A `delayResults` fault: results produced before `untilMs` (wall clock) are held `ms`. */
  private delay: { ms: number; untilMs: number } | undefined;
  /** Results held by {@link delay}, in the order produced. */
  private held: Held[] = [];
  private heldTimer: NodeJS.Timeout | undefined;
  /** Resolves the wait of a flush for the held results. */
  private heldDrained: (() => void) | undefined;

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
      const results = new ChannelResults(params, c);
      const recognizer = this.deps.recognizer({
        channel: c,
        logger: this.log,
        listener: {
          onPartial: (u) => this.sendResults(results.partial(u.words)),
          onUtterance: (u) => this.sendResults(results.final(u.words)),
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
        this.cut(drop.scope ?? 'session');
      }, drop.afterMs);
    }
  }

  /** Cuts the connection, before ending the response: the client must see a broken stream, not a finished one. */
  private cut(scope: 'stream' | 'session'): void {
    if (scope === 'stream') {
      if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    } else {
      this.stream.session?.destroy();
    }
    void this.abort('fault: connection dropped');
  }

  /** True while the stream takes audio (its request body has not ended): open-stream faults pick among these. */
  get open(): boolean {
    return this.state === 'streaming';
  }

  /** Applies an open-stream fault now (the injector logs and counts it). */
  applyFault(action: OpenStreamFaultAction): void {
    if (this.state === 'done') return;
    switch (action.fault) {
      case 'drop':
        this.cut(action.scope ?? 'session');
        return;
      case 'error':
        void this.fail(action.type, action.message ?? DEFAULT_FAULT_MESSAGES[action.type]);
        return;
      case 'delayResults':
        this.delay = { ms: action.ms, untilMs: Date.now() + action.forMs };
        return;
      case 'silenceTimeout':
        this.timeoutMs = action.ms;
        // A flushing stream has no timer left to shorten: its audio already ended.
        if (this.state === 'streaming') this.armNoAudioTimer();
        return;
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

  private sendResults(results: readonly TranscribeResult[]): void {
    if (this.state === 'done') return;
    for (const r of results) this.sendResult(r);
  }

  private sendResult(result: TranscribeResult): void {
    const now = Date.now();
    if (this.delay && now >= this.delay.untilMs) this.delay = undefined;
    if (this.delay || this.held.length > 0) {
      // A result produced after the delay window still waits behind the held ones: order is kept.
      this.held.push({ result, dueAt: now + (this.delay?.ms ?? 0) });
      this.releaseHeld();
      return;
    }
    this.writeResult(result);
  }

  /** Sends the held results that are due, in order, and waits for the next one. */
  private releaseHeld(): void {
    while (this.held[0] && this.held[0].dueAt <= Date.now()) this.writeResult((this.held.shift() as Held).result);
    const next = this.held[0];
    if (!next) {
      this.heldDrained?.();
      return;
    }
    // Re-checked on firing: a timer may run a millisecond before the wall clock says it is due.
    this.heldTimer ??= this.schedule(
      () => {
        this.heldTimer = undefined;
        this.releaseHeld();
      },
      Math.max(1, next.dueAt - Date.now()),
    );
  }

  private writeResult(result: TranscribeResult): void {
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
      // Results held by a delayResults fault are still the stream's: they go out before the response ends.
      if (this.held.length > 0) await new Promise<void>((resolve) => (this.heldDrained = resolve));
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
    if (this.held.length > 0) {
      // Only an aborted stream gets here with held results: like the service, it drops what it has not sent.
      this.log.info({ results: this.held.length }, 'held results dropped: the stream was aborted');
      this.held = [];
    }
    this.heldDrained?.();
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

/**
 * Test doubles for the Transcribe adapter: a scriptable in-process Transcribe client (the real SDK runs
 * against the local endpoint in streamer-local.test.ts), manual time, recording sinks and audio frames.
 */
import type {
  AudioStream,
  StartStreamTranscriptionCommand,
  StartStreamTranscriptionCommandInput,
  StartStreamTranscriptionCommandOutput,
  TranscriptResultStream,
} from '@aws-sdk/client-transcribe-streaming';
import type { Role } from '../../../core/audio/roles';
import type { AudioFrame } from '../../../core/audiohook/ports';
import type { Clock, TimerHandle, Timers } from '../../../core/ports';
import type { RecognizerResult } from '../../../core/transcript/recognizer-result';
import type { PartialUtterance, Utterance } from '../../../core/transcript/utterance';
import type { TranscribeClientLike } from '../../../fargate/src/transcribe/start-request';

/** Manual monotonic time and timers: nothing fires until {@link advance}. */
export class ManualTime implements Clock, Timers {
  #now = 0;
  #timers: { at: number; fn: () => void; cancelled: boolean }[] = [];

  now(): number {
    return 1_700_000_000_000 + this.#now;
  }

  monotonic(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t = { at: this.#now + ms, fn, cancelled: false };
    this.#timers.push(t);
    return {
      cancel: () => {
        t.cancelled = true;
      },
    };
  }

  /** Timers scheduled and not yet fired or cancelled. */
  get pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  /** Moves time forward, firing due timers in order (letting promises settle between them). */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      await settle();
      const due = this.#timers.filter((t) => !t.cancelled && t.at <= target).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.#now = Math.max(this.#now, due.at);
      due.cancelled = true;
      due.fn();
    }
    this.#now = target;
    await settle();
  }
}

/** Lets pending promise callbacks and I/O callbacks run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/** Polls `cond` (real time) until true or fails after `ms`. */
export async function until(cond: () => boolean, ms = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

type Output = { kind: 'event'; results: RecognizerResult[] } | { kind: 'error'; error: unknown } | { kind: 'end' };

/** One fake underlying stream: records the audio it is sent and emits what the test tells it to. */
export class FakeStream {
  readonly input: StartStreamTranscriptionCommandInput;
  readonly chunks: Uint8Array[] = [];
  inputEnded = false;
  #outputs: Output[] = [];
  #wake: (() => void) | undefined;
  #closed = false;
  /** Called when the input ends (end of stream): return results to emit before completing. */
  onInputEnd: (() => RecognizerResult[]) | undefined;
  /** Whether the stream completes by itself once the input ended (the service's behaviour). */
  completeOnInputEnd = true;

  constructor(input: StartStreamTranscriptionCommandInput) {
    this.input = input;
    void this.#pump();
  }

  get bytes(): number {
    return this.chunks.reduce((n, c) => n + c.byteLength, 0);
  }

  /** Interleaved samples received, per channel. */
  samples(channels: number): number[][] {
    const out: number[][] = Array.from({ length: channels }, () => []);
    for (const c of this.chunks) {
      const view = new DataView(c.buffer, c.byteOffset, c.byteLength);
      for (let i = 0; i < c.byteLength / 2; i++) out[i % channels]?.push(view.getInt16(i * 2, true));
    }
    return out;
  }

  emit(...results: RecognizerResult[]): void {
    this.#push({ kind: 'event', results });
  }

  fail(error: unknown): void {
    this.#push({ kind: 'error', error });
  }

  complete(): void {
    this.#push({ kind: 'end' });
  }

  #push(o: Output): void {
    this.#outputs.push(o);
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  async #pump(): Promise<void> {
    const audio = this.input.AudioStream as AsyncIterable<AudioStream>;
    try {
      for await (const ev of audio) {
        if (this.#closed) break;
        const chunk = ev.AudioEvent?.AudioChunk;
        if (chunk !== undefined) this.chunks.push(chunk);
      }
      this.inputEnded = true;
      if (!this.#closed) {
        const finals = this.onInputEnd?.() ?? [];
        if (finals.length > 0) this.emit(...finals);
        if (this.completeOnInputEnd) this.complete();
      }
    } catch {
      // the stream was aborted
    }
  }

  async *output(): AsyncGenerator<TranscriptResultStream> {
    for (;;) {
      const next = this.#outputs.shift();
      if (next === undefined) {
        await new Promise<void>((r) => {
          this.#wake = r;
        });
        continue;
      }
      if (next.kind === 'end') {
        this.#closed = true;
        return;
      }
      if (next.kind === 'error') {
        this.#closed = true;
        throw next.error;
      }
      yield { TranscriptEvent: { Transcript: { Results: next.results as never } } };
    }
  }
}

/** A scriptable stand-in for `TranscribeStreamingClient`. */
export class FakeTranscribe implements TranscribeClientLike {
  readonly streams: FakeStream[] = [];
  /** Errors thrown by the next `send` calls, in order (before any stream is created). */
  readonly startErrors: unknown[] = [];
  sends = 0;
  /** Applied to every new stream. */
  onInputEnd: ((s: FakeStream) => RecognizerResult[]) | undefined;
  /** When false, new streams never complete on their own (a hung service). */
  completeOnInputEnd = true;

  async send(command: StartStreamTranscriptionCommand): Promise<StartStreamTranscriptionCommandOutput> {
    this.sends++;
    const err = this.startErrors.shift();
    if (err !== undefined) throw err;
    const stream = new FakeStream(command.input);
    const hook = this.onInputEnd;
    if (hook) stream.onInputEnd = () => hook(stream);
    stream.completeOnInputEnd = this.completeOnInputEnd;
    this.streams.push(stream);
    return { TranscriptResultStream: stream.output(), $metadata: {} } as StartStreamTranscriptionCommandOutput;
  }

  stream(i: number): FakeStream {
    const s = this.streams[i];
    if (s === undefined) throw new Error(`no stream #${i} (have ${this.streams.length})`);
    return s;
  }
}

/** An AWS-style service error. */
export function serviceError(name: string, message: string, status: number): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

/** Records utterances and partials. */
export class RecordingSink {
  readonly utterances: Utterance[] = [];
  readonly partials: PartialUtterance[] = [];
  async put(u: Utterance): Promise<void> {
    this.utterances.push(u);
  }
  partial(p: PartialUtterance): void {
    this.partials.push(p);
  }
}

import { l16Frame } from '../../helpers/audio-frames';
/** The shared test logger under the name these tests use. */
import { CaptureLogger as RecordingLogger } from '../../helpers/capture-logger';

export { RecordingLogger };

/**
 * A frame of constant-valued PCM per role (so a test can tell channels apart in what was sent). Its
 * channels carry `roles`, by default the roles of `values` in the order given.
 */
export function constFrame(
  position: number,
  samples: number,
  values: Partial<Record<Role, number>>,
  roles: readonly Role[] = Object.keys(values) as Role[],
): AudioFrame {
  return l16Frame(
    position,
    samples,
    roles.map((r) => new Int16Array(samples).fill(values[r] ?? 0)),
  );
}

/** A final (or partial) result on one channel with times in stream seconds. */
export function result(
  id: string,
  channel: 'ch_0' | 'ch_1' | undefined,
  start: number,
  end: number,
  text: string,
  partial = false,
): RecognizerResult {
  const words = text.split(' ');
  const step = (end - start) / words.length;
  return {
    ResultId: id,
    ChannelId: channel,
    StartTime: start,
    EndTime: end,
    IsPartial: partial,
    Alternatives: [
      {
        Transcript: text,
        Items: words.map((w, i) => ({
          Content: w,
          Type: 'pronunciation',
          StartTime: start + i * step,
          EndTime: start + (i + 1) * step,
          Confidence: 0.9,
        })),
      },
    ],
  };
}

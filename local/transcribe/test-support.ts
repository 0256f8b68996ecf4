/**
 * Helpers for driving the local endpoint with the real SDK client in tests and demos: building PCM,
 * streaming it as `AudioEvent`s, and collecting what comes back.
 */
import {
  type Result,
  StartStreamTranscriptionCommand,
  type StartStreamTranscriptionCommandInput,
  type StartStreamTranscriptionCommandOutput,
  TranscribeStreamingClient,
} from '@aws-sdk/client-transcribe-streaming';

/** A client for the local endpoint: any credentials are accepted, retries are off unless asked for. */
export function localTranscribeClient(url: string, opts: { maxAttempts?: number } = {}): TranscribeStreamingClient {
  return new TranscribeStreamingClient({
    region: 'us-east-1',
    endpoint: url,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: opts.maxAttempts ?? 1,
  });
}

/** Little-endian bytes of 16-bit samples. */
export function pcmBytes(samples: Int16Array): Uint8Array {
  const out = new Uint8Array(samples.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < samples.length; i++) view.setInt16(i * 2, samples[i] as number, true);
  return out;
}

/** Interleaves two equally long channels (shorter one padded with silence). */
export function interleave(a: Int16Array, b: Int16Array): Int16Array {
  const n = Math.max(a.length, b.length);
  const out = new Int16Array(n * 2);
  for (let i = 0; i < n; i++) {
    out[2 * i] = a[i] ?? 0;
    out[2 * i + 1] = b[i] ?? 0;
  }
  return out;
}

/** `samples` placed at `offsetSec` in a silent track of `totalSec`. */
export function place(samples: Int16Array, offsetSec: number, totalSec: number, sampleRate: number): Int16Array {
  const out = new Int16Array(Math.round(totalSec * sampleRate));
  const at = Math.round(offsetSec * sampleRate);
  out.set(samples.subarray(0, Math.max(0, out.length - at)), at);
  return out;
}

/** A silent track with sine bursts `[startSec, endSec)` (amplitude 0.3 of full scale). */
export function toneTrack(
  bursts: readonly (readonly [number, number])[],
  totalSec: number,
  sampleRate: number,
  hz = 440,
): Int16Array {
  const out = new Int16Array(Math.round(totalSec * sampleRate));
  for (const [s, e] of bursts) {
    for (let i = Math.round(s * sampleRate); i < Math.round(e * sampleRate) && i < out.length; i++) {
      out[i] = Math.round(0.3 * 32767 * Math.sin((2 * Math.PI * hz * i) / sampleRate));
    }
  }
  return out;
}

/** Options of {@link audioEvents}. */
export interface AudioEventsOptions {
  /** @default 3200 (100 ms of 16-bit mono 16 kHz, 200 ms at 8 kHz) */
  chunkBytes?: number;
  /** Pause between chunks (0 streams as fast as the connection takes it). @default 0 */
  delayMs?: number;
  /** Send the explicit empty AudioEvent after the audio. @default false */
  emptyEventAtEnd?: boolean;
  /** Keep the stream open this long after the audio without sending anything. @default 0 */
  holdOpenMs?: number;
  /** Aborting stops the generator (ends the request body). */
  signal?: AbortSignal;
}

/** The SDK's `AudioStream` input: the bytes in chunks. */
export async function* audioEvents(
  bytes: Uint8Array,
  opts: AudioEventsOptions = {},
): AsyncGenerator<{ AudioEvent: { AudioChunk: Uint8Array } }> {
  const size = opts.chunkBytes ?? 3200;
  for (let at = 0; at < bytes.byteLength; at += size) {
    if (opts.signal?.aborted) return;
    yield { AudioEvent: { AudioChunk: bytes.subarray(at, Math.min(bytes.byteLength, at + size)) } };
    if (opts.delayMs) await sleep(opts.delayMs);
  }
  if (opts.emptyEventAtEnd) yield { AudioEvent: { AudioChunk: new Uint8Array(0) } };
  if (opts.holdOpenMs) await sleep(opts.holdOpenMs, opts.signal);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/**
 * An `AudioStream` input the test pushes audio into (in 3200-byte events) and ends when it says so, so a
 * stream stays open, and audio arrives, exactly when the test decides.
 */
export class AudioFeed implements AsyncIterable<{ AudioEvent: { AudioChunk: Uint8Array } }> {
  private readonly queue: Uint8Array[] = [];
  private wake: (() => void) | undefined;
  /** Whether {@link end} was called. */
  ended = false;

  /** Queues `bytes` as audio events. */
  push(bytes: Uint8Array): void {
    for (let at = 0; at < bytes.byteLength; at += 3200) this.queue.push(bytes.subarray(at, at + 3200));
    this.wake?.();
  }

  /** Ends the request body once the queued audio is sent. */
  end(): void {
    this.ended = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator]() {
    for (;;) {
      const chunk = this.queue.shift();
      if (chunk) yield { AudioEvent: { AudioChunk: chunk } };
      else if (this.ended) return;
      else await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}

/** What a stream produced. */
export interface Collected {
  /** Absent when `send()` itself failed (HTTP errors). */
  output?: StartStreamTranscriptionCommandOutput;
  results: Result[];
  /** The error that ended the result stream, if any. */
  error?: unknown;
}

/** Starts a stream with the given audio and reads every result until the stream ends or fails. */
export async function transcribe(
  client: TranscribeStreamingClient,
  input: Omit<StartStreamTranscriptionCommandInput, 'AudioStream'>,
  audio: AsyncIterable<{ AudioEvent: { AudioChunk: Uint8Array } }>,
): Promise<Collected> {
  const results: Result[] = [];
  let output: StartStreamTranscriptionCommandOutput;
  try {
    output = await client.send(new StartStreamTranscriptionCommand({ ...input, AudioStream: audio }));
  } catch (error) {
    return { results, error };
  }
  try {
    for await (const event of output.TranscriptResultStream ?? []) {
      for (const r of event.TranscriptEvent?.Transcript?.Results ?? []) results.push(r);
    }
  } catch (error) {
    return { output, results, error };
  }
  return { output, results };
}

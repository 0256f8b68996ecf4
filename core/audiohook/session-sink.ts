/**
 * The session's collaborators, called so that they can never break it: the audio sink (started once,
 * ended once, told about audio dropped after our `pause` as one coalesced gap) and the transcription
 * layer's hooks. A collaborator that throws or rejects is logged, never propagated.
 */
import type { TimelineGap } from '../audio/timeline';
import { describeError } from '../errors';
import type { Logger } from '../ports';
import type { AudioFrame, AudioSink, SinkStartInfo } from './ports';

/** True for anything with a `then` (a hook may return a promise or a plain value). */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** Runs collaborator calls; the first failure per call site is an error log, repeats are debug. */
export class SafeCalls {
  readonly #log: () => Logger;
  readonly #failed = new Set<string>();

  /** @param log - the session's current logger (it gains bindings at `open`). */
  constructor(log: () => Logger) {
    this.#log = log;
  }

  run(what: string, call: () => unknown): void {
    try {
      const result = call();
      // The failure handler is built only for a promise: a plain call (every audio frame) allocates nothing here.
      if (isPromiseLike(result)) Promise.resolve(result).catch((err: unknown) => this.#fail(what, err));
    } catch (err) {
      this.#fail(what, err);
    }
  }

  /** Reports a failure of a call made without {@link run} (the per-frame path). */
  failed(what: string, err: unknown): void {
    this.#fail(what, err);
  }

  #fail(what: string, err: unknown): void {
    const first = !this.#failed.has(what);
    this.#failed.add(what);
    const code = what.startsWith('sink.') ? 'AUDIOHOOK_SINK_FAILED' : 'AUDIOHOOK_HOOK_FAILED';
    this.#log()[first ? 'error' : 'debug'](
      { code, call: what, err: describeError(err) },
      'audiohook collaborator failed',
    );
  }
}

/** One session's {@link AudioSink}, with its lifecycle: not started → live → ended. */
export class SessionSink {
  readonly #sink: AudioSink;
  readonly #calls: SafeCalls;
  readonly #log: () => Logger;
  #started = false;
  #end: Promise<void> | undefined;
  /** Straggler audio dropped after our `pause`, coalesced into one `server-paused` gap for the sink. */
  #dropGap: { start: number; length: number } | undefined;

  constructor(sink: AudioSink, calls: SafeCalls, log: () => Logger) {
    this.#sink = sink;
    this.#calls = calls;
    this.#log = log;
  }

  /** True once {@link start} was called (the session streamed, or could stream, to it). */
  get started(): boolean {
    return this.#started;
  }

  /** Started and not ended: it still takes writes, gaps and language changes. */
  get live(): boolean {
    return this.#started && this.#end === undefined;
  }

  start(info: SinkStartInfo): void {
    this.#started = true;
    this.#calls.run('sink.start', () => this.#sink.start(info));
  }

  /** One accepted frame (per binary frame: adds nothing beyond the call itself). */
  write(frame: AudioFrame): void {
    this.#flushDropGap();
    // Inline rather than through `run`: no closure per audio frame (`write` returns nothing to await).
    try {
      this.#sink.write(frame);
    } catch (err) {
      this.#calls.failed('sink.write', err);
    }
  }

  /** A gap the client reported (`resumed`, `discarded`); empty gaps are not passed on. */
  gap(gap: TimelineGap): void {
    if (!this.live || gap.length === 0) return;
    this.#flushDropGap();
    this.#calls.run('sink.gap', () => this.#sink.gap(gap));
  }

  /** Samples dropped after our `pause` at `start`: the sink learns they are missing as one gap. */
  dropped(start: number, length: number): void {
    const gap = this.#dropGap;
    if (gap && gap.start + gap.length === start) gap.length += length;
    else {
      this.#flushDropGap();
      this.#dropGap = { start, length };
    }
  }

  languageChanged(language: string): void {
    if (!this.live) return;
    this.#flushDropGap();
    this.#calls.run('sink.languageChanged', () => this.#sink.languageChanged?.(language));
  }

  /** Ends the sink once; every later caller awaits the same promise, which never rejects. */
  end(reason: 'close' | 'disconnect' | 'transport-closed'): Promise<void> {
    if (this.#end) return this.#end;
    this.#flushDropGap();
    let result: Promise<void>;
    try {
      result = Promise.resolve(this.#sink.end(reason));
    } catch (err) {
      result = Promise.reject(err);
    }
    this.#end = result.then(
      () => undefined,
      (err: unknown) => {
        this.#log().error(
          { code: 'AUDIOHOOK_SINK_FAILED', method: 'end', err: describeError(err) },
          'audiohook sink failed',
        );
      },
    );
    return this.#end;
  }

  #flushDropGap(): void {
    const gap = this.#dropGap;
    if (gap === undefined) return;
    this.#dropGap = undefined;
    if (!this.live) return;
    const g: TimelineGap = { kind: 'server-paused', start: gap.start, length: gap.length };
    this.#calls.run('sink.gap', () => this.#sink.gap(g));
  }
}

/**
 * The simulated client's stream position and pause state (docs/audiohook-protocol.md §2.4, §4.3.3–§4.3.5):
 * the position advances whether or not audio is sent, so pauses and discards are gaps the client reports
 * in `resumed` and `discarded`. Two pauses can hold at once: the server's (`pause`) and the client's own
 * (a scripted `pause`, e.g. a secure pause); audio flows only when neither does.
 */
import { samplesToDuration } from '../../core/audiohook/duration';

/** The parameters of `resumed` and `discarded`: where the gap starts and how long it is. */
export type GapParameters = {
  start: string;
  discarded: string;
};

function gap(start: number, samples: number): GapParameters {
  return { start: samplesToDuration(start), discarded: samplesToDuration(samples) };
}

/** Position (in samples) and pauses of one simulated stream. */
export class StreamTimeline {
  /** The stream position, in samples. */
  pos = 0;
  /** Reads the negotiated channels; undefined until `opened` selected media. */
  reader: ((start: number, count: number) => Uint8Array) | undefined;
  #serverPaused = false;
  #clientPaused = false;
  #pauseStart = 0;

  constructor(readonly durationSamples: number) {}

  /** Whether audio is sent: media was selected and no pause holds. */
  streaming(): boolean {
    return this.reader !== undefined && !this.#serverPaused && !this.#clientPaused;
  }

  /** `opened` with `startPaused`: the stream starts paused here. */
  startPaused(): void {
    this.#serverPaused = true;
    this.#pauseStart = this.pos;
  }

  /** The server's `pause` (answered with `paused`). */
  serverPause(): void {
    if (this.streaming()) this.#pauseStart = this.pos;
    this.#serverPaused = true;
  }

  /**
   * The server's `resume`: the `resumed` parameters, or undefined when the client's own pause still holds
   * (the client then answers `paused` instead of resuming, §4.3.3).
   */
  serverResume(): GapParameters | undefined {
    const wasPaused = this.#serverPaused || this.#clientPaused;
    this.#serverPaused = false;
    if (this.#clientPaused) return undefined;
    const start = wasPaused ? this.#pauseStart : this.pos;
    return gap(start, this.pos - start);
  }

  /** The client pauses on its own; false when it already had. */
  clientPause(): boolean {
    if (this.#clientPaused) return false;
    if (this.streaming()) this.#pauseStart = this.pos;
    this.#clientPaused = true;
    return true;
  }

  /**
   * The client lifts its own pause: the `resumed` parameters, or undefined when there is nothing to say
   * (it was not paused, or the server's pause is still in force: `resumed` then follows its `resume`).
   */
  clientResume(): GapParameters | undefined {
    if (!this.#clientPaused) return undefined;
    this.#clientPaused = false;
    if (this.#serverPaused) return undefined;
    return gap(this.#pauseStart, this.pos - this.#pauseStart);
  }

  /** Skips up to `samples` while streaming (while paused the gap is already the pause's): `discarded`. */
  discard(samples: number): GapParameters | undefined {
    if (!this.streaming()) return undefined;
    const n = Math.min(samples, this.durationSamples - this.pos);
    if (n <= 0) return undefined;
    const start = this.pos;
    this.pos += n;
    return gap(start, n);
  }

  /** Jumps forward to `target` (the server's `discardTo`): `discarded`, or undefined when already past it. */
  discardTo(target: number): GapParameters | undefined {
    if (target <= this.pos) return undefined;
    const start = this.pos;
    this.pos = target;
    return gap(start, target - start);
  }
}

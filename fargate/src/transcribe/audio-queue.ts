/**
 * The audio waiting to be sent to Transcribe: a bounded FIFO of uniform PCM chunks, each remembering where
 * it sits on the AudioHook timeline, consumed by one recognizer stream at a time through {@link take}.
 *
 * Why a bound, and why overflow drops the *oldest* audio: the queue only grows while no stream can take
 * audio (reopening, throttled, backing off). Transcribe consumes audio at about real time, so a backlog
 * never drains faster than it built up: every queued second is a second of delay added to every later
 * live transcript for the rest of the stream. Keeping the newest audio keeps the conversation's present
 * transcribed; the dropped span simply becomes a hole on the timeline (the anchor maps place later results
 * correctly), and it is counted and logged so the loss is never silent.
 */

/** One chunk of interleaved 16-bit little-endian PCM at 8 kHz. */
export interface AudioChunk {
  /** Timeline position of the chunk's first sample (8 kHz samples since the session started). */
  readonly position: number;
  /** Samples per channel. */
  readonly samples: number;
  /** `samples × channels × 2` bytes, interleaved in the negotiated channel order. */
  readonly data: Uint8Array;
}

/** What was dropped in one overflow. */
export interface OverflowInfo {
  droppedSamples: number;
  droppedChunks: number;
  /** Timeline span of the dropped audio `[from, to)`. */
  from: number;
  to: number;
}

/** Options of {@link AudioQueue}. */
export interface AudioQueueOptions {
  /** Most audio held, in samples per channel (e.g. 30 s = 240,000). */
  readonly capacitySamples: number;
  /** Called after each push that dropped audio (the caller logs and counts). */
  readonly onOverflow?: (info: OverflowInfo) => void;
}

/** A bounded FIFO of {@link AudioChunk}s with an awaitable, interruptible {@link take}. */
export class AudioQueue {
  readonly #capacity: number;
  readonly #onOverflow: ((info: OverflowInfo) => void) | undefined;
  #chunks: AudioChunk[] = [];
  #head = 0;
  #samples = 0;
  #waiter: ((chunk: AudioChunk | undefined) => void) | undefined;
  #droppedSamples = 0;
  #droppedChunks = 0;

  constructor(opts: AudioQueueOptions) {
    this.#capacity = opts.capacitySamples;
    this.#onOverflow = opts.onOverflow;
  }

  /** Samples per channel waiting. */
  get queuedSamples(): number {
    return this.#samples;
  }

  /** Chunks waiting. */
  get length(): number {
    return this.#chunks.length - this.#head;
  }

  /** Total dropped on overflow since creation. */
  get dropped(): { samples: number; chunks: number } {
    return { samples: this.#droppedSamples, chunks: this.#droppedChunks };
  }

  /** Appends a chunk (handing it straight to a waiting consumer when there is one). */
  push(chunk: AudioChunk): void {
    if (this.#deliver(chunk)) return;
    this.#chunks.push(chunk);
    this.#samples += chunk.samples;
    this.#enforceBound();
  }

  /**
   * Puts chunks back at the front, in their order (audio re-sent after a stream was lost). They are subject
   * to the same bound: when the total is over capacity, the oldest go first.
   */
  requeue(chunks: readonly AudioChunk[]): void {
    if (chunks.length === 0) return;
    const [first, ...rest] = chunks;
    if (first !== undefined && this.#deliver(first)) {
      this.requeue(rest);
      return;
    }
    this.#chunks = [...chunks, ...this.#chunks.slice(this.#head)];
    this.#head = 0;
    this.#samples += chunks.reduce((n, c) => n + c.samples, 0);
    this.#enforceBound();
  }

  /** The oldest chunk without waiting, or `undefined` when empty. */
  poll(): AudioChunk | undefined {
    if (this.#head >= this.#chunks.length) return undefined;
    const chunk = this.#chunks[this.#head] as AudioChunk;
    this.#head++;
    this.#samples -= chunk.samples;
    this.#compact();
    return chunk;
  }

  /**
   * The oldest chunk, waiting for one if empty. Resolves `undefined` when {@link interrupt} is called.
   * One consumer at a time: a second concurrent `take` interrupts the first.
   */
  take(): Promise<AudioChunk | undefined> {
    const ready = this.poll();
    if (ready !== undefined) return Promise.resolve(ready);
    this.interrupt();
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  /** Wakes a pending {@link take} with `undefined` (the consumer decides whether to stop). */
  interrupt(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.(undefined);
  }

  /** Removes and returns everything waiting. */
  drain(): AudioChunk[] {
    const out = this.#chunks.slice(this.#head);
    this.#chunks = [];
    this.#head = 0;
    this.#samples = 0;
    return out;
  }

  #deliver(chunk: AudioChunk): boolean {
    const w = this.#waiter;
    if (w === undefined) return false;
    this.#waiter = undefined;
    w(chunk);
    return true;
  }

  #enforceBound(): void {
    let droppedSamples = 0;
    let droppedChunks = 0;
    let from = Number.POSITIVE_INFINITY;
    let to = Number.NEGATIVE_INFINITY;
    // Keep at least the newest chunk even if it alone exceeds the bound.
    while (this.#samples > this.#capacity && this.length > 1) {
      const chunk = this.poll() as AudioChunk;
      droppedSamples += chunk.samples;
      droppedChunks++;
      from = Math.min(from, chunk.position);
      to = Math.max(to, chunk.position + chunk.samples);
    }
    if (droppedChunks === 0) return;
    this.#droppedSamples += droppedSamples;
    this.#droppedChunks += droppedChunks;
    this.#onOverflow?.({ droppedSamples, droppedChunks, from, to });
  }

  #compact(): void {
    // Amortized O(1) dequeue without shifting the array on every take.
    if (this.#head > 1024 && this.#head * 2 > this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
  }
}

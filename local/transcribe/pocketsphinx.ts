/**
 * A streaming recognizer backed by Debian's `pocketsphinx_continuous` (pocketsphinx 0.8), one child process
 * per channel.
 *
 * How it streams: `-infile <path>` makes the CLI read raw 16-bit little-endian PCM (any name not ending in
 * `.wav`) with blocking reads of 2048 samples, so a FIFO streams into it. Not `-infile /dev/stdin`: Node gives
 * children a socketpair, not a pipe, as stdin, and the CLI's `fopen` of a socket fails with ENXIO. Its VAD
 * (`-remove_silence yes`, the default) closes an utterance after ~0.5 s of silence; it then prints the
 * hypothesis and, with `-time yes`, one line per word (`word start end posterior`) and flushes stdout. Word
 * times are seconds from the first sample read (frames the VAD drops still count), i.e. the stream's own
 * time base. At end of input (the FIFO's writer closed) it reports the utterance in progress and exits.
 * Output is deterministic: blocking reads make it independent of how the audio was chunked or timed.
 *
 * The English model is 16 kHz: the endpoint resamples before calling {@link Recognizer.write}; here a little
 * noise above 4 kHz is added, because upsampled telephone audio has an empty upper band whose log energies
 * match nothing the model was trained on (measured: it turns "thank you for calling" into "what college").
 */

import { type ChildProcessByStdio, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, constants as fsConstants, mkdtempSync, open, openSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { AppError, type AppErrorOptions } from '../../core/errors';
import type { TimedWord } from './pii';
import type { Recognizer, RecognizerFactory } from './recognizer';
import { RECOGNIZER_SAMPLE_RATE } from './recognizer';

/** Options of {@link createPocketsphinxRecognizer}. */
export interface PocketsphinxOptions {
  /** @default '/usr/bin/pocketsphinx_continuous' */
  binary?: string;
  /** Folder holding `en-us/` (acoustic model), `en-us.lm.bin` and `cmudict-en-us.dict`. @default '/usr/share/pocketsphinx/model/en-us' */
  modelDir?: string;
  /** RMS level of the added 4–8 kHz noise, dBFS; `null` adds none. @default -50 */
  noiseDbfs?: number | null;
  /** Extra command-line arguments (e.g. search beams), appended last so they win. */
  extraArgs?: readonly string[];
  /** How long {@link Recognizer.end} waits for the process to finish before killing it. @default 60000 */
  endTimeoutMs?: number;
}

/** Stable codes of {@link PocketsphinxError}. */
export type PocketsphinxErrorCode = 'POCKETSPHINX_SPAWN_FAILED' | 'POCKETSPHINX_EXITED' | 'POCKETSPHINX_TIMEOUT';

/** The recognizer process failed. */
export class PocketsphinxError extends AppError {
  override readonly name = 'PocketsphinxError';
  declare readonly code: PocketsphinxErrorCode;
  constructor(code: PocketsphinxErrorCode, message: string, options?: AppErrorOptions) {
    super(code, message, options);
  }
}

// Times of words are refined against the signal's energy (see trimToEnergy); partial hypotheses are not
// available from this CLI, so the endpoint synthesizes partials from each final.
const DEFAULT_BINARY = '/usr/bin/pocketsphinx_continuous';
const DEFAULT_MODEL_DIR = '/usr/share/pocketsphinx/model/en-us';

/** Whether the binary and model files are installed (tests and `npm start` probe this). */
export function pocketsphinxAvailable(opts: Pick<PocketsphinxOptions, 'binary' | 'modelDir'> = {}): boolean {
  const dir = opts.modelDir ?? DEFAULT_MODEL_DIR;
  const files = [
    opts.binary ?? DEFAULT_BINARY,
    join(dir, 'en-us'),
    join(dir, 'en-us.lm.bin'),
    join(dir, 'cmudict-en-us.dict'),
  ];
  if (!files.every((f) => existsSync(f))) return false;
  return spawnSync(opts.binary ?? DEFAULT_BINARY, ['-h'], { stdio: 'ignore', timeout: 10_000 }).error === undefined;
}

/** The command line for one channel. */
export function pocketsphinxArgs(
  infile: string,
  opts: Pick<PocketsphinxOptions, 'modelDir' | 'extraArgs'> = {},
): string[] {
  const dir = opts.modelDir ?? DEFAULT_MODEL_DIR;
  return [
    '-infile',
    infile,
    '-samprate',
    String(RECOGNIZER_SAMPLE_RATE),
    '-input_endian',
    'little',
    '-time',
    'yes',
    '-logfn',
    '/dev/null',
    // The default 2.0 opens an utterance at the onset of the added noise, which then swallows the first
    // second as a filler word ("so"); 3.0 measured clean on the fixtures without losing word onsets.
    '-vad_threshold',
    '3.0',
    '-hmm',
    join(dir, 'en-us'),
    '-lm',
    join(dir, 'en-us.lm.bin'),
    '-dict',
    join(dir, 'cmudict-en-us.dict'),
    ...(opts.extraArgs ?? []),
  ];
}

const TIME_LINE = /^(\S+) (-?\d+(?:\.\d+)?) (-?\d+(?:\.\d+)?) (-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)$/;

/** Whether a token is a filler (`<s>`, `</s>`, `<sil>`, `[NOISE]`, `++NOISE++`…) rather than a word. */
function isFiller(token: string): boolean {
  return token.startsWith('<') || token.startsWith('[') || token.startsWith('+');
}

/**
 * Incremental parser of `pocketsphinx_continuous -time yes` stdout. An utterance is a hypothesis line then
 * its word lines, closed by `</s>`; it is also closed by the next hypothesis line or {@link finish} when the
 * search ended without `</s>`. Alternate pronunciations (`to(2)`) are folded to the word.
 */
export class PocketsphinxOutputParser {
  private partial = '';
  private words: TimedWord[] = [];
  private open = false;

  /** Feeds stdout text; returns the utterances it completed (possibly with no words: silence or noise). */
  push(text: string): TimedWord[][] {
    const out: TimedWord[][] = [];
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const raw of lines) this.line(raw.trim(), out);
    return out;
  }

  /** End of output: returns the utterance still open, if any. */
  finish(): TimedWord[][] {
    const out: TimedWord[][] = [];
    if (this.partial.trim() !== '') this.line(this.partial.trim(), out);
    this.partial = '';
    this.close(out);
    return out;
  }

  private close(out: TimedWord[][]): void {
    if (this.open) out.push(this.words);
    this.words = [];
    this.open = false;
  }

  private line(line: string, out: TimedWord[][]): void {
    const m = TIME_LINE.exec(line);
    if (!m) {
      // A hypothesis line (possibly empty) starts the next utterance.
      this.close(out);
      this.open = true;
      return;
    }
    this.open = true;
    const token = (m[1] as string).replace(/\(\d+\)$/, '');
    if (token === '</s>') {
      this.close(out);
      return;
    }
    if (isFiller(token)) return;
    const confidence = Number(m[4]);
    this.words.push({
      word: token.toLowerCase(),
      startSec: Number(m[2]),
      endSec: Number(m[3]),
      confidence: Number.isFinite(confidence) ? Math.min(1, Math.max(0, Math.round(confidence * 1e4) / 1e4)) : 0,
    });
  }
}

/**
 * Deterministic noise confined to 4–8 kHz at 16 kHz: white noise minus its half-band low-pass (a windowed
 * sinc), scaled to an RMS level. Seeded so runs are reproducible.
 */
export class HighBandNoise {
  private state: number;
  private readonly taps: Float32Array;
  private readonly history: Float32Array;
  private pos = 0;
  private readonly gain: number;

  constructor(rmsDbfs: number, seed = 0x9e3779b9) {
    this.state = seed >>> 0 || 1;
    const half = 15;
    this.taps = new Float32Array(2 * half + 1);
    for (let k = -half; k <= half; k++) {
      const x = k / 2;
      const sinc = k === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const w = 0.42 + 0.5 * Math.cos((Math.PI * k) / (half + 1)) + 0.08 * Math.cos((2 * Math.PI * k) / (half + 1));
      this.taps[k + half] = 0.5 * sinc * w;
    }
    this.history = new Float32Array(this.taps.length);
    // Uniform white noise in [-1, 1] has RMS 1/√3; the high half of the band keeps half its power.
    const target = 32768 * 10 ** (rmsDbfs / 20);
    this.gain = target / Math.sqrt(1 / 3 / 2);
  }

  private white(): number {
    // xorshift32
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return (this.state / 0xffffffff) * 2 - 1;
  }

  /** Returns `pcm` with noise added (a new array; clamps to 16 bits). */
  addTo(pcm: Int16Array): Int16Array {
    const out = new Int16Array(pcm.length);
    const n = this.taps.length;
    const centre = (n - 1) / 2;
    for (let i = 0; i < pcm.length; i++) {
      this.history[this.pos] = this.white();
      let low = 0;
      for (let k = 0; k < n; k++) low += (this.taps[k] as number) * (this.history[(this.pos - k + n) % n] as number);
      const delayed = this.history[(this.pos - centre + n) % n] as number;
      this.pos = (this.pos + 1) % n;
      const v = (pcm[i] as number) + (delayed - low) * this.gain;
      out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : Math.round(v);
    }
    return out;
  }
}

/** Energy of 10 ms frames of one channel, from the first sample written (before the added noise). */
export class FrameEnergy {
  private readonly db: number[] = [];
  /** Absolute index of `db[0]` (older frames are pruned once no utterance can reach them). */
  private base = 0;
  private pending: number[] = [];
  private static readonly FRAME = RECOGNIZER_SAMPLE_RATE / 100;
  private static readonly KEEP = 5 * 60 * 100;

  push(pcm: Int16Array): void {
    for (let i = 0; i < pcm.length; i++) {
      this.pending.push(pcm[i] as number);
      if (this.pending.length === FrameEnergy.FRAME) {
        let sum = 0;
        for (const x of this.pending) sum += x * x;
        this.db.push(10 * Math.log10(sum / FrameEnergy.FRAME / (32768 * 32768) + 1e-12));
        this.pending = [];
        // Bound memory through long silences (no utterance prunes then): no utterance spans 5 minutes.
        if (this.db.length > FrameEnergy.KEEP) this.pruneBefore(this.base + this.db.length - FrameEnergy.KEEP);
      }
    }
  }

  /** dBFS of absolute frame `i` (very low when unknown). */
  at(i: number): number {
    return this.db[i - this.base] ?? -120;
  }

  /** Forgets frames before absolute frame `i`. */
  pruneBefore(i: number): void {
    const n = Math.min(this.db.length, Math.max(0, i - this.base));
    this.db.splice(0, n);
    this.base += n;
  }
}

/** Options of {@link trimToEnergy}. */
export interface TrimOptions {
  /** Frames below this are silence whatever the utterance's level. @default -55 */
  floorDbfs?: number;
  /** Frames this far below the utterance's loudest frame are silence. @default 40 */
  belowPeakDb?: number;
}

/**
 * Pulls each word's start forward and end back past silent 10 ms frames (keeping at least one frame).
 * pocketsphinx hands the silence around a word to the word itself, mostly at the end of an utterance where
 * the VAD keeps half a second of trailing audio: measured 0.36 s past the energy end on a soft final "s".
 */
export function trimToEnergy(words: readonly TimedWord[], frameDb: (frame: number) => number, opts: TrimOptions = {}) {
  const first = words[0];
  const last = words[words.length - 1];
  if (!first || !last) return [];
  const from = Math.floor(first.startSec * 100);
  const to = Math.ceil(last.endSec * 100);
  let peak = Number.NEGATIVE_INFINITY;
  for (let f = from; f < to; f++) peak = Math.max(peak, frameDb(f));
  const threshold = Math.max(opts.floorDbfs ?? -55, peak - (opts.belowPeakDb ?? 40));
  const voiced = (f: number) => frameDb(f) >= threshold;
  return words.map((w) => {
    let s = Math.floor(w.startSec * 100);
    let e = Math.ceil(w.endSec * 100);
    while (s < e - 1 && !voiced(s)) s++;
    while (e - 1 > s && !voiced(e - 1)) e--;
    return { ...w, startSec: s / 100, endSec: e / 100 };
  });
}

/** PIDs of recognizer processes this module started that have not exited yet (for leak checks). */
const livePids = new Set<number>();

/** PIDs of running recognizer child processes. */
export function runningRecognizerPids(): number[] {
  return [...livePids];
}

/**
 * The write end of a FIFO the recognizer reads. Opening a FIFO for writing blocks until a reader opens it,
 * so the open runs asynchronously (one libuv pool thread waits for the child to open its end) and audio is
 * queued meanwhile; writes then go through a non-blocking pipe socket on the event loop, never the pool.
 */
class FifoWriter {
  private socket: Socket | undefined;
  private queue: Buffer[] = [];
  private ended = false;
  private abandoned = false;
  private opened = false;
  private readonly ready: Promise<void>;

  constructor(private readonly path: string) {
    this.ready = new Promise((resolve) => {
      open(path, fsConstants.O_WRONLY, (err, fd) => {
        this.opened = true;
        if (err) return resolve();
        if (this.abandoned) {
          closeSync(fd);
          return resolve();
        }
        const socket = new Socket({ fd, readable: false, writable: true });
        // EPIPE when the reader died: the process's exit is what gets reported.
        socket.on('error', () => {});
        this.socket = socket;
        for (const b of this.queue) socket.write(b);
        this.queue = [];
        if (this.ended) socket.end();
        resolve();
      });
    });
  }

  write(bytes: Buffer): void {
    if (this.ended || this.abandoned) return;
    if (this.socket) this.socket.write(bytes);
    else this.queue.push(bytes);
  }

  /** Closes the write end once the queue is written: the reader sees end of file. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.socket?.end();
  }

  /** Drops queued audio and closes now; unblocks a pending open when the reader never came. */
  async abandon(): Promise<void> {
    this.abandoned = true;
    this.queue = [];
    this.socket?.destroy();
    if (!this.opened) {
      // Opening the read end (non-blocking) completes the writer's pending open, which then closes itself.
      try {
        closeSync(openSync(this.path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK));
      } catch {
        // Already gone or opened: nothing is waiting.
      }
    }
    await this.ready;
  }
}

/**
 * A {@link RecognizerFactory} running one `pocketsphinx_continuous` per channel, fed through a FIFO in a
 * private temporary folder. A process that fails reports through the listener's `onError`; `close()` kills
 * it (SIGKILL: the CLI has nothing to save) and resolves once it is reaped and the FIFO removed.
 */
export function createPocketsphinxRecognizer(opts: PocketsphinxOptions = {}): RecognizerFactory {
  const binary = opts.binary ?? DEFAULT_BINARY;
  const endTimeoutMs = opts.endTimeoutMs ?? 60_000;
  const noiseDbfs = opts.noiseDbfs === undefined ? -50 : opts.noiseDbfs;

  return ({ channel, logger, listener }): Recognizer => {
    const log = logger.child({ recognizer: 'pocketsphinx', channel });
    const noise = noiseDbfs === null ? undefined : new HighBandNoise(noiseDbfs, 0x9e3779b9 + channel);
    const parser = new PocketsphinxOutputParser();
    const energy = new FrameEnergy();
    let closed = false;
    let ended = false;
    let failed = false;
    let stderrTail = '';
    let resolveExit!: () => void;
    const exited = new Promise<void>((r) => {
      resolveExit = r;
    });

    const deliver = (utterances: TimedWord[][]) => {
      for (const raw of utterances) {
        const words = trimToEnergy(raw, (f) => energy.at(f));
        const last = words[words.length - 1];
        if (last) energy.pruneBefore(Math.floor(last.endSec * 100));
        if (!closed && !failed && last) listener.onUtterance({ words });
      }
    };
    const fail = (err: PocketsphinxError) => {
      if (closed || failed) return;
      failed = true;
      log.warn({ code: err.code, err: err.message }, 'recognizer failed');
      listener.onError(err);
    };

    let dir: string | undefined;
    let fifo: FifoWriter | undefined;
    let child: ChildProcessByStdio<null, Readable, Readable> | undefined;
    try {
      dir = mkdtempSync(join(tmpdir(), 'pocketsphinx-'));
      const path = join(dir, 'audio.pcm');
      const mk = spawnSync('mkfifo', ['-m', '600', path], { encoding: 'utf8' });
      if (mk.status !== 0) throw new Error(`mkfifo failed: ${mk.error?.message ?? mk.stderr}`);
      child = spawn(binary, pocketsphinxArgs(path, opts), { stdio: ['ignore', 'pipe', 'pipe'] });
      fifo = new FifoWriter(path);
    } catch (err) {
      queueMicrotask(() =>
        fail(
          new PocketsphinxError('POCKETSPHINX_SPAWN_FAILED', `cannot start ${binary}: ${String(err)}`, { cause: err }),
        ),
      );
    }
    const cleanup = async () => {
      await fifo?.abandon();
      if (dir) rmSync(dir, { recursive: true, force: true });
      resolveExit();
    };
    if (!child) void cleanup();

    const pid = child?.pid;
    if (pid !== undefined) livePids.add(pid);
    child?.stdout.setEncoding('utf8');
    child?.stdout.on('data', (text: string) => deliver(parser.push(text)));
    child?.stderr.setEncoding('utf8');
    child?.stderr.on('data', (text: string) => {
      stderrTail = (stderrTail + text).slice(-2000);
    });
    child?.on('error', (err) => {
      // Spawn failed (ENOENT, EACCES): no 'close' follows with a live process.
      if (pid !== undefined) livePids.delete(pid);
      fail(
        new PocketsphinxError('POCKETSPHINX_SPAWN_FAILED', `cannot start ${binary}: ${err.message}`, { cause: err }),
      );
      void cleanup();
    });
    child?.on('close', (code, signal) => {
      if (pid !== undefined) livePids.delete(pid);
      deliver(parser.finish());
      if (!closed && (code !== 0 || !ended)) {
        const tail = stderrTail.trim().slice(-300);
        fail(
          new PocketsphinxError(
            'POCKETSPHINX_EXITED',
            `pocketsphinx_continuous exited with ${signal ?? `code ${code}`}${tail ? `: ${tail}` : ''}`,
          ),
        );
      }
      void cleanup();
    });
    log.debug({ pid }, 'recognizer started');

    return {
      write(pcm16k) {
        if (closed || ended || failed || !fifo) return;
        energy.push(pcm16k);
        const samples = noise ? noise.addTo(pcm16k) : pcm16k;
        // The CLI reads little-endian samples; Int16Array bytes are host order, little-endian on every target we run on.
        fifo.write(Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength));
      },
      async end() {
        if (closed || ended) return exited;
        ended = true;
        fifo?.end();
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<'timeout'>((r) => {
          timer = setTimeout(() => r('timeout'), endTimeoutMs);
        });
        const outcome = await Promise.race([exited.then(() => 'done' as const), timeout]);
        clearTimeout(timer);
        if (outcome === 'timeout') {
          fail(new PocketsphinxError('POCKETSPHINX_TIMEOUT', `recognizer did not finish within ${endTimeoutMs} ms`));
          child?.kill('SIGKILL');
          await exited;
        }
      },
      close() {
        if (!closed) {
          closed = true;
          if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        }
        return exited;
      },
    };
  };
}

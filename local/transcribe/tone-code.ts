/**
 * A tone code that carries an utterance ID in the audio itself, so the soak harness (issue #14) can tell from
 * a stored transcript exactly which synthesized utterance it came from, and whether it is whole. Pure: no I/O.
 *
 * Alphabet: 11 symbols, the digits 0–9 and REPEAT, each a pure sine at `600 + 180·k` Hz (600…2400 Hz, well
 * inside the telephone band). 600/180 is not an integer, so no harmonic of one symbol (from µ-law
 * distortion) lands on another's frequency, and 180 Hz spacing is nearly two bins of a 10 ms analysis frame.
 *
 * An ID (integer in [0, 10^6)) is written as its 6 decimal digits plus one check digit, 7 symbols in all.
 * A digit equal to the previous digit is sent as REPEAT unless the previous symbol already was REPEAT, so no
 * two adjacent symbols are equal and the tone changes at every symbol boundary.
 *
 * Check rule. Read each symbol as a step from the one before, `t[i] = (s[i] − s[i−1] − 1) mod 11` with
 * `s[0] = REPEAT`; a sequence is well formed exactly when every step is in 0…9 (adjacent symbols differ and
 * the first is a digit). The check symbol makes `t[1] + t[3] + t[5] + t[7] ≡ 0 (mod 10)`. Changing any one
 * symbol `s[i]` changes the steps `t[i]` and `t[i+1]` by opposite non-zero amounts mod 11: either one leaves
 * 0…9 (malformed), or the odd one of the pair takes another value in 0…9, which shifts the sum by 1…9 — so
 * every single-symbol error is caught. (A weighted digit sum cannot do this: a substituted digit followed
 * by REPEAT changes two equal digits at once, and no check over the digit group Z10 catches all of those.)
 * Any truncation changes the symbol count, which must be exactly 7. The check symbol then reads as an
 * ordinary digit or REPEAT of the sixth digit, so the utterance stays "6 digits plus a check digit".
 */

/** The REPEAT symbol's index ("the previous digit again"). */
export const TONE_REPEAT = 10;

/** Spoken word of each symbol, by symbol index (0–9 the digits, 10 REPEAT). */
export const TONE_WORDS: readonly string[] = Object.freeze([
  'zero',
  'one',
  'two',
  'three',
  'four',
  'five',
  'six',
  'seven',
  'eight',
  'nine',
  'again',
]);

/** Frequency of each symbol in Hz, by symbol index. */
export const TONE_SYMBOL_HZ: readonly number[] = Object.freeze(TONE_WORDS.map((_, k) => 600 + 180 * k));

/** Duration of one symbol (continuous tone, no gap between symbols). */
export const SYMBOL_MS = 140;

/** Symbols in one utterance: 6 ID digits and the check digit. */
export const TONE_SYMBOLS_PER_UTTERANCE = 7;

/** IDs are below this. */
export const TONE_ID_LIMIT = 1_000_000;

/** Peak amplitude, as a fraction of full scale. */
export const TONE_AMPLITUDE = 0.3;

/** Raised-cosine ramp at the two ends of an utterance (not between symbols). */
const RAMP_MS = 5;

/** Lowest accepted sample rate: the top tone (2400 Hz) needs a Nyquist frequency well above it. */
const MIN_SAMPLE_RATE = 8000;
const MAX_SAMPLE_RATE = 192_000;

/** Analysis frame of the decoder. */
const FRAME_MS = 10;
/** A frame quieter than this RMS (dBFS) is silence, not a symbol. */
const SILENCE_DBFS = -50;
/**
 * Share of a frame's energy that the best symbol frequency must hold (1 for a pure tone). A frame split
 * evenly between two symbols scores about 0.25 for each, so transitions fall below it.
 */
const MIN_TONE_RATIO = 0.5;
/** Runs shorter than this are transition or noise frames and are ignored. */
const MIN_RUN_MS = 40;
/**
 * A symbol at either end of the analysed audio heard for less than this was cut (a stream reset, a resend
 * starting mid-utterance) and is left out, so a cut utterance never decodes as whole. A whole symbol yields
 * at least 130 ms of frames whatever the frame alignment; a cut keeping 120 ms or more of the edge symbol
 * is indistinguishable from the ramp of a whole one.
 */
const EDGE_MIN_MS = 120;

const MAX_DIGITS = 6;

function checkId(id: number): void {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= TONE_ID_LIMIT) {
    throw new RangeError(`tone utterance id must be an integer in [0, ${TONE_ID_LIMIT}), got ${String(id)}`);
  }
}

function checkSampleRate(sampleRate: number): void {
  if (!Number.isInteger(sampleRate) || sampleRate < MIN_SAMPLE_RATE || sampleRate > MAX_SAMPLE_RATE) {
    throw new RangeError(
      `sample rate must be an integer in [${MIN_SAMPLE_RATE}, ${MAX_SAMPLE_RATE}] Hz, got ${String(sampleRate)}`,
    );
  }
}

/** Step from symbol `prev` to `next` (0…9 when they differ; 10 when equal). */
function step(prev: number, next: number): number {
  return (((next - prev - 1) % 11) + 11) % 11;
}

/** The 7 symbol indexes of an utterance: the ID's digits with REPEAT for repeats, then the check symbol. */
export function toneSymbols(id: number): number[] {
  checkId(id);
  const digits = String(id).padStart(MAX_DIGITS, '0').split('').map(Number);
  const symbols: number[] = [];
  let prevDigit = -1;
  for (const d of digits) {
    const prevSymbol = symbols.at(-1);
    symbols.push(d === prevDigit && prevSymbol !== TONE_REPEAT ? TONE_REPEAT : d);
    prevDigit = d;
  }
  let prev = TONE_REPEAT;
  let oddSum = 0;
  symbols.forEach((s, i) => {
    if (i % 2 === 0) oddSum += step(prev, s); // positions 1, 3, 5 (1-based)
    prev = s;
  });
  const checkStep = (10 - (oddSum % 10)) % 10;
  symbols.push(((symbols[MAX_DIGITS - 1] as number) + 1 + checkStep) % 11);
  return symbols;
}

/** The ID a symbol sequence encodes, or undefined when it is not exactly one whole, valid utterance. */
export function toneIdOf(symbols: readonly number[]): number | undefined {
  if (symbols.length !== TONE_SYMBOLS_PER_UTTERANCE) return undefined;
  let prev = TONE_REPEAT;
  let oddSum = 0;
  for (let i = 0; i < symbols.length; i++) {
    const s = symbols[i] as number;
    if (!Number.isInteger(s) || s < 0 || s > TONE_REPEAT) return undefined;
    const t = step(prev, s);
    if (t > 9) return undefined; // adjacent symbols equal, or REPEAT first
    if (i % 2 === 0) oddSum += t;
    prev = s;
  }
  if (oddSum % 10 !== 0) return undefined;
  let id = 0;
  let digit = 0;
  for (const s of symbols.slice(0, MAX_DIGITS)) {
    if (s !== TONE_REPEAT) digit = s;
    id = id * 10 + digit;
  }
  return id;
}

/** The exact words a recognizer reports for a clean utterance of `id`. */
export function toneWords(id: number): string[] {
  return toneSymbols(id).map((s) => TONE_WORDS[s] as string);
}

/** Duration of one utterance in milliseconds. */
export function toneUtteranceMs(): number {
  return SYMBOL_MS * TONE_SYMBOLS_PER_UTTERANCE;
}

/**
 * The utterance of `id` as 16-bit PCM at `sampleRate`: 7 phase-continuous symbols of {@link SYMBOL_MS} each,
 * amplitude {@link TONE_AMPLITUDE}, with 5 ms raised-cosine ramps at its two ends only.
 */
export function synthesizeToneUtterance(id: number, sampleRate: number): Int16Array {
  const symbols = toneSymbols(id);
  checkSampleRate(sampleRate);
  const perSymbol = Math.round((SYMBOL_MS * sampleRate) / 1000);
  const total = perSymbol * symbols.length;
  const ramp = Math.round((RAMP_MS * sampleRate) / 1000);
  const out = new Int16Array(total);
  let phase = 0;
  for (let n = 0; n < total; n++) {
    const hz = TONE_SYMBOL_HZ[symbols[Math.floor(n / perSymbol)] as number] as number;
    const edge = Math.min(n, total - 1 - n);
    const gain = edge < ramp ? 0.5 - 0.5 * Math.cos((Math.PI * (edge + 0.5)) / ramp) : 1;
    out[n] = Math.round(TONE_AMPLITUDE * 32767 * gain * Math.sin(phase));
    phase += (2 * Math.PI * hz) / sampleRate;
    if (phase > 2 * Math.PI) phase -= 2 * Math.PI;
  }
  return out;
}

/** Power of `frame[from, from+n)` at angular frequency `omega` (Goertzel), i.e. |Σ x·e^(−jωk)|². */
function goertzel(frame: Int16Array, from: number, n: number, coeff: number): number {
  let s1 = 0;
  let s2 = 0;
  for (let k = 0; k < n; k++) {
    const s0 = (frame[from + k] as number) + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return s1 * s1 + s2 * s2 - coeff * s1 * s2;
}

/** Symbol heard in each 10 ms frame, or -1 for silence or no clear tone. */
function frameLabels(pcm: Int16Array, sampleRate: number): number[] {
  const n = Math.round((FRAME_MS * sampleRate) / 1000);
  const coeffs = TONE_SYMBOL_HZ.map((hz) => 2 * Math.cos((2 * Math.PI * hz) / sampleRate));
  const floorRms = 32768 * 10 ** (SILENCE_DBFS / 20);
  const labels: number[] = [];
  for (let from = 0; from + n <= pcm.length; from += n) {
    let energy = 0;
    for (let k = 0; k < n; k++) energy += (pcm[from + k] as number) ** 2;
    if (energy / n < floorRms * floorRms) {
      labels.push(-1);
      continue;
    }
    let best = -1;
    let bestPower = 0;
    coeffs.forEach((c, sym) => {
      const p = goertzel(pcm, from, n, c);
      if (p > bestPower) {
        bestPower = p;
        best = sym;
      }
    });
    // 2·|X|²/(N·Σx²) is 1 for a pure tone at the analysed frequency and at most 2 (Cauchy–Schwarz).
    labels.push((2 * bestPower) / (n * energy) >= MIN_TONE_RATIO ? best : -1);
  }
  return labels;
}

/**
 * The symbol sequence heard in a segment of 16-bit PCM: a Goertzel filter per 10 ms frame over the 11 symbol
 * frequencies picks the strongest one if it holds at least half of the frame's energy; runs of one symbol
 * shorter than 40 ms (transitions, clicks) are ignored and neighbouring runs of the same symbol merged; a
 * symbol at either end heard for less than 120 ms was cut and is left out.
 */
export function decodeToneSymbols(pcm: Int16Array, sampleRate: number): number[] {
  if (!(pcm instanceof Int16Array)) throw new TypeError('pcm must be an Int16Array of 16-bit samples');
  checkSampleRate(sampleRate);
  const minRun = MIN_RUN_MS / FRAME_MS;
  const runs: { symbol: number; frames: number }[] = [];
  let current = -2;
  let length = 0;
  const close = () => {
    if (current < 0 || length < minRun) return;
    const last = runs.at(-1);
    if (last?.symbol === current) last.frames += length;
    else runs.push({ symbol: current, frames: length });
  };
  for (const label of frameLabels(pcm, sampleRate)) {
    if (label === current) {
      length++;
      continue;
    }
    close();
    current = label;
    length = 1;
  }
  close();
  const edgeMin = EDGE_MIN_MS / FRAME_MS;
  if (runs.length > 0 && (runs[0] as { frames: number }).frames < edgeMin) runs.shift();
  if (runs.length > 0 && (runs.at(-1) as { frames: number }).frames < edgeMin) runs.pop();
  return runs.map((r) => r.symbol);
}

/** A transcript word as a symbol index: case and trailing punctuation ("nine.") are ignored. */
function symbolOfWord(word: string): number {
  return TONE_WORDS.indexOf(word.toLowerCase().replace(/[.,?!]+$/, ''));
}

/**
 * Reads recognized words back: exactly 7 tone words forming a valid utterance (check digit included) give
 * its ID; anything else — a cut, a merge, noise, a wrong symbol — is a fragment, returned as its text.
 */
export function parseToneWords(words: readonly string[]): { id: number } | { fragment: string } {
  const symbols = words.map(symbolOfWord);
  const id = symbols.includes(-1) ? undefined : toneIdOf(symbols);
  return id === undefined ? { fragment: words.join(' ') } : { id };
}

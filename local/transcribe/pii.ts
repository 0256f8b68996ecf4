/**
 * The part of Transcribe's PII identification an offline recognizer can reproduce: runs of spoken digits.
 * A run of consecutive digit words is classified by its length — 4–6 digits a `PIN`, 10–11 a `PHONE`,
 * 13–19 a `CREDIT_DEBIT_NUMBER` — and either reported as an entity (identification) or replaced by a single
 * `[PII]` item (redaction), as the service does. Pure functions over recognized words.
 */
import type { PiiEntityType } from './params';

/** One recognized word with its times (seconds from the start of the stream). */
export interface TimedWord {
  word: string;
  startSec: number;
  endSec: number;
  confidence: number;
}

/** A detected PII span: words `[start, end)` of the input. */
export interface DigitRun {
  start: number;
  end: number;
  type: Extract<PiiEntityType, 'PIN' | 'PHONE' | 'CREDIT_DEBIT_NUMBER'>;
}

/** Spoken forms the recognizer produces for single digits (pocketsphinx's dictionary spells them out). */
const DIGIT_WORDS: Readonly<Record<string, string>> = {
  zero: '0',
  oh: '0',
  one: '1',
  two: '2',
  three: '3',
  four: '4',
  five: '5',
  six: '6',
  seven: '7',
  eight: '8',
  nine: '9',
};

/** The digit a word stands for, or `undefined` (case-insensitive; accepts bare digits too). */
export function digitOf(word: string): string | undefined {
  const w = word.toLowerCase();
  if (/^[0-9]$/.test(w)) return w;
  return DIGIT_WORDS[w];
}

/** The entity type of a run of `n` digits, or `undefined` when that length is not PII we recognize. */
export function classifyDigitRun(n: number): DigitRun['type'] | undefined {
  if (n >= 4 && n <= 6) return 'PIN';
  if (n >= 10 && n <= 11) return 'PHONE';
  if (n >= 13 && n <= 19) return 'CREDIT_DEBIT_NUMBER';
  return undefined;
}

/**
 * Finds the maximal runs of consecutive digit words and keeps those whose length is PII, restricted to
 * `types` when given (the request's `PiiEntityTypes`; `undefined` means all).
 */
export function findDigitRuns(words: readonly string[], types?: readonly PiiEntityType[]): DigitRun[] {
  const runs: DigitRun[] = [];
  let i = 0;
  while (i < words.length) {
    if (digitOf(words[i] as string) === undefined) {
      i++;
      continue;
    }
    let j = i;
    while (j < words.length && digitOf(words[j] as string) !== undefined) j++;
    const type = classifyDigitRun(j - i);
    if (type !== undefined && (types === undefined || types.includes(type))) runs.push({ start: i, end: j, type });
    i = j;
  }
  return runs;
}

/** A Transcribe `Entity` (the fields the streaming API sends). */
export interface PiiEntity {
  Category: 'PII';
  Type: DigitRun['type'];
  Content: string;
  StartTime: number;
  EndTime: number;
  Confidence: number;
}

/** The words of a result after PII handling, and the entities found. */
export interface PiiOutcome {
  words: TimedWord[];
  entities: PiiEntity[];
}

/** The token the service puts in place of redacted content. */
export const REDACTED = '[PII]';

/**
 * Applies PII handling to one result's words. With `redact`, each run becomes one `[PII]` word spanning
 * the run (and the entity's content is `[PII]` too, as the service reports it); otherwise the words are
 * unchanged and each run is reported with its spoken content.
 */
export function applyPii(words: readonly TimedWord[], mode: 'identify' | 'redact', types?: readonly PiiEntityType[]) {
  const runs = findDigitRuns(
    words.map((w) => w.word),
    types,
  );
  const entities: PiiEntity[] = [];
  const out: TimedWord[] = [];
  let next = 0;
  for (const run of runs) {
    const span = words.slice(run.start, run.end);
    const first = span[0] as TimedWord;
    const last = span[span.length - 1] as TimedWord;
    const confidence = span.reduce((s, w) => s + w.confidence, 0) / span.length;
    const content = mode === 'redact' ? REDACTED : span.map((w) => w.word).join(' ');
    entities.push({
      Category: 'PII',
      Type: run.type,
      Content: content,
      StartTime: first.startSec,
      EndTime: last.endSec,
      Confidence: round(confidence),
    });
    out.push(...words.slice(next, run.start));
    if (mode === 'redact') {
      out.push({ word: REDACTED, startSec: first.startSec, endSec: last.endSec, confidence: confidence });
    } else {
      out.push(...span);
    }
    next = run.end;
  }
  out.push(...words.slice(next));
  return { words: out, entities } satisfies PiiOutcome;
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

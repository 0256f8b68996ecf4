/**
 * Word error rate: the word-level edit distance (substitutions + deletions + insertions) between a
 * reference and a hypothesis, divided by the reference's length. Text is compared case-insensitively with
 * punctuation removed, so a recognizer's casing or a trailing full stop is not an error.
 */

/** The edit counts behind a {@link wordErrorRate}. */
export interface WerResult {
  /** (S + D + I) / N; 0 for two empty texts, Infinity for an empty reference with a non-empty hypothesis. */
  wer: number;
  substitutions: number;
  deletions: number;
  insertions: number;
  /** N: words in the reference. */
  referenceWords: number;
}

/** Lower-cased words with punctuation removed (apostrophes inside words are kept: "i'll"). */
export function normalizeWords(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}'\s[\]]+/gu, ' ')
    .split(/\s+/)
    .map((w) => w.replace(/^'+|'+$/g, ''))
    .filter((w) => w.length > 0);
}

/** Word error rate of `hypothesis` against `reference` (Levenshtein alignment over words). */
export function wordErrorRate(reference: string, hypothesis: string): WerResult {
  const ref = normalizeWords(reference);
  const hyp = normalizeWords(hypothesis);
  const n = ref.length;
  const m = hyp.length;
  // cost[i][j]: edits turning ref[0..i) into hyp[0..j), with the operation counts of one cheapest path.
  type Cell = { cost: number; s: number; d: number; i: number };
  let prev: Cell[] = Array.from({ length: m + 1 }, (_, j) => ({ cost: j, s: 0, d: 0, i: j }));
  for (let i = 1; i <= n; i++) {
    const row: Cell[] = [{ cost: i, s: 0, d: i, i: 0 }];
    for (let j = 1; j <= m; j++) {
      const diag = prev[j - 1] as Cell;
      const up = prev[j] as Cell;
      const left = row[j - 1] as Cell;
      const same = ref[i - 1] === hyp[j - 1];
      const candidates: Cell[] = [
        { cost: diag.cost + (same ? 0 : 1), s: diag.s + (same ? 0 : 1), d: diag.d, i: diag.i },
        { cost: up.cost + 1, s: up.s, d: up.d + 1, i: up.i },
        { cost: left.cost + 1, s: left.s, d: left.d, i: left.i + 1 },
      ];
      row.push(candidates.reduce((best, c) => (c.cost < best.cost ? c : best)));
    }
    prev = row;
  }
  const end = prev[m] as Cell;
  const wer = n === 0 ? (m === 0 ? 0 : Number.POSITIVE_INFINITY) : end.cost / n;
  return { wer, substitutions: end.s, deletions: end.d, insertions: end.i, referenceWords: n };
}

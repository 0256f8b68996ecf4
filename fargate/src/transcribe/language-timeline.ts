/**
 * Which recognition language is in force at each position of a segment's timeline. An AudioHook `update`
 * that the segment follows switches the language from the position right after the last sample written;
 * every underlying Transcribe stream is opened in the language of its first chunk and ended before a chunk
 * of another language. Audio re-sent after a lost stream therefore keeps the language of its own position,
 * not the latest one: the timeline, not the moment of sending, decides.
 */

/** One switch: from `from` (timeline samples, inclusive) on, `language` is in force. */
interface LanguageSpan {
  readonly from: number;
  language: string;
}

/** The languages of one segment's timeline, as a list of switch points in position order. */
export class LanguageTimeline {
  readonly #spans: LanguageSpan[];
  #writtenEnd: number | undefined;

  /** @param initial - the segment's start language, in force from the start of the timeline */
  constructor(initial: string) {
    this.#spans = [{ from: Number.NEGATIVE_INFINITY, language: initial }];
  }

  /** The language of the latest switch (what new audio is recognised in). */
  get latest(): string {
    return (this.#spans[this.#spans.length - 1] as LanguageSpan).language;
  }

  /** The position right after the last sample written, or `undefined` before any audio. */
  get writtenEnd(): number | undefined {
    return this.#writtenEnd;
  }

  /** Audio up to `end` (exclusive, timeline samples) has been written. */
  written(end: number): void {
    this.#writtenEnd = end;
  }

  /**
   * Records that `language` is in force from the position right after the last sample written on (from
   * the start when nothing was written yet). Returns the language it replaces, or `undefined` when nothing
   * changed (it is already the latest).
   */
  switchTo(language: string): string | undefined {
    const replaced = this.latest;
    if (language === replaced) return undefined;
    const position = this.#writtenEnd ?? Number.NEGATIVE_INFINITY;
    const last = this.#spans[this.#spans.length - 1] as LanguageSpan;
    if (position > last.from) {
      this.#spans.push({ from: position, language });
      return replaced;
    }
    // No audio since the previous switch: it is replaced (and vanishes when it returns to the language before).
    const before = this.#spans[this.#spans.length - 2];
    if (before !== undefined && before.language === language) this.#spans.pop();
    else last.language = language;
    return replaced;
  }

  /** The language in force at `position`. */
  at(position: number): string {
    for (let i = this.#spans.length - 1; i > 0; i--) {
      const span = this.#spans[i] as LanguageSpan;
      if (position >= span.from) return span.language;
    }
    return (this.#spans[0] as LanguageSpan).language;
  }
}

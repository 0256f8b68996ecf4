/**
 * Which recognition language is in force at each position of a segment's timeline, as spans that each
 * begin at a followed AudioHook `update` (from the position right after the last sample written). Every
 * underlying Transcribe stream carries the audio of one span: it is opened in the span of its first chunk
 * and ended before a chunk of another span, so Transcribe finalizes what was said up to the update, even
 * when the update names the language already in force (Genesys' reference transcription server also ends
 * the utterance in progress at every update). Audio re-sent after a lost stream keeps the span of its own
 * position, not the latest one: the timeline, not the moment of sending, decides.
 */

/** One switch: from `from` (timeline samples, inclusive) on, `language` is in force. */
interface LanguageSpan {
  readonly from: number;
  language: string;
}

/** A span of the timeline: its language, and its index (spans are never renumbered). */
export interface SpanRef {
  readonly span: number;
  readonly language: string;
}

/** The languages of one segment's timeline, as a list of switch points in position order. */
export class LanguageTimeline {
  readonly #spans: LanguageSpan[];
  #writtenEnd: number | undefined;

  /** @param initial - the segment's start language, in force from the start of the timeline */
  constructor(initial: string) {
    this.#spans = [{ from: Number.NEGATIVE_INFINITY, language: initial }];
  }

  /** The latest span (what new audio is recognised in). */
  get latest(): SpanRef {
    const span = this.#spans.length - 1;
    return { span, language: (this.#spans[span] as LanguageSpan).language };
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
   * Starts a span in `language` at the position right after the last sample written (from the start when
   * nothing was written yet). With no audio written since the latest span began, that span takes the
   * language instead (no empty span). Returns the language in force before.
   */
  switchTo(language: string): string {
    const last = this.#spans[this.#spans.length - 1] as LanguageSpan;
    const replaced = last.language;
    const position = this.#writtenEnd ?? Number.NEGATIVE_INFINITY;
    if (position > last.from) this.#spans.push({ from: position, language });
    else last.language = language;
    return replaced;
  }

  /** The span in force at `position`. */
  at(position: number): SpanRef {
    for (let i = this.#spans.length - 1; i > 0; i--) {
      const span = this.#spans[i] as LanguageSpan;
      if (position >= span.from) return { span: i, language: span.language };
    }
    return { span: 0, language: (this.#spans[0] as LanguageSpan).language };
  }
}

/**
 * Structural checks of the `transcript` entities a Transcription Connector server sends back
 * (docs/audiohook-protocol.md §5.2–§5.3, and the checks Genesys' compliance suite makes, §7.2), written for
 * the simulator's `--transcription-connector` mode so a person sees what Genesys would reject. Pure
 * functions over data as received: nothing here trusts the shape it is given.
 *
 * Two grades: a *violation* breaks the protocol or a check the suite makes on every transcript (the
 * simulator exits non-zero); a *note* is legal but fails the suite's stricter reading (no word tokens).
 */
import { parseDurationSeconds } from '../../core/audiohook/duration';
import { isObject } from './server-messages';

/** What a check knows about the session when the transcript arrived. */
export interface TranscriptCheckContext {
  /** Channels negotiated in `opened` (`channelId` must index one). @default - unknown: 0 or 1 */
  readonly channelCount?: number | undefined;
  /** The client's stream position at arrival, in ms: a transcript cannot end after the audio sent. */
  readonly positionMs?: number | undefined;
}

/** Findings about one transcript entity. */
export interface TranscriptFindings {
  violations: string[];
  notes: string[];
}

/** Slack for a transcript's end beyond the audio sent: ms rounding of offset and duration. */
const END_SLACK_MS = 2;
/** More findings than this about one transcript only repeat the first ones' cause. */
const MAX_FINDINGS = 12;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `PT…S` in seconds, or `null` for anything that is not a wire duration. */
export function durationSeconds(value: unknown): number | null {
  return typeof value === 'string' ? parseDurationSeconds(value) : null;
}

const show = (v: unknown): string => (v === undefined ? 'missing' : (JSON.stringify(v)?.slice(0, 60) ?? String(v)));

function isConfidence(v: unknown): boolean {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1;
}

/**
 * Checks the entities of one `event` message as a whole: Genesys' suite reads only `entities[0]` and counts
 * one transcript per event, so several transcripts in one event lose all but the first.
 */
export function checkEventEntities(entities: unknown[] | undefined): string[] {
  if (entities === undefined) return ["'event' has no entities array"];
  if (entities.length === 0) return ["'event' has an empty entities array"];
  const transcripts = entities.filter((e) => isObject(e) && e.type === 'transcript').length;
  if (entities.length > 1 && transcripts > 0) {
    return [
      `'event' carries ${entities.length} entities (${transcripts} transcripts); Genesys reads one transcript per event`,
    ];
  }
  return [];
}

/**
 * Checks one transcript entity's `data` (§5.3): `isFinal` boolean; for every transcript `id` (UUID),
 * `channelId` indexing a negotiated channel and ≥ 1 alternative with `confidence` in 0..1 and ≥ 1
 * interpretation of type `display` with its `transcript`; for finals `offset` and `duration`; word tokens,
 * when present, complete with `confidence` in 0..1 and offsets unique within their interpretation.
 */
export function checkTranscript(data: unknown, ctx: TranscriptCheckContext = {}): TranscriptFindings {
  const violations: string[] = [];
  const notes: string[] = [];
  const bad = (message: string) => {
    if (violations.length < MAX_FINDINGS) violations.push(message);
  };
  if (!isObject(data)) return { violations: [`data is ${show(data)}, not an object`], notes };
  if (typeof data.isFinal !== 'boolean') bad(`isFinal is ${show(data.isFinal)}, not a boolean`);
  if (typeof data.id !== 'string' || !UUID.test(data.id)) bad(`id is ${show(data.id)}, not a UUID`);
  const channels = ctx.channelCount ?? 2;
  if (!(data.channelId === 0 || data.channelId === 1) || data.channelId >= channels) {
    bad(
      `channelId is ${show(data.channelId)}; it must index the ${channels} negotiated channel(s) (0${channels > 1 ? ' or 1' : ''})`,
    );
  }
  if (data.channel !== undefined) notes.push('carries the retired string field `channel` (use `channelId` only)');
  checkTimes(data, data.isFinal === true, ctx, bad);
  checkAlternatives(data.alternatives, bad, notes);
  return { violations, notes };
}

function checkTimes(
  data: Record<string, unknown>,
  final: boolean,
  ctx: TranscriptCheckContext,
  bad: (m: string) => void,
): void {
  const offset = durationSeconds(data.offset);
  const duration = durationSeconds(data.duration);
  for (const [name, value, parsed] of [
    ['offset', data.offset, offset],
    ['duration', data.duration, duration],
  ] as const) {
    if (value === undefined) {
      if (final) bad(`${name} is missing (required for a final transcript)`);
    } else if (parsed === null) bad(`${name} is ${show(value)}, not a duration like "PT1.25S"`);
  }
  if (offset !== null && duration !== null && ctx.positionMs !== undefined) {
    const endMs = (offset + duration) * 1000;
    if (endMs > ctx.positionMs + END_SLACK_MS) {
      bad(
        `ends at ${(endMs / 1000).toFixed(3)}s, after the audio sent so far (${(ctx.positionMs / 1000).toFixed(3)}s)`,
      );
    }
  }
}

function checkAlternatives(alternatives: unknown, bad: (m: string) => void, notes: string[]): void {
  if (!Array.isArray(alternatives) || alternatives.length === 0) {
    bad(`alternatives is ${show(alternatives)}; at least one alternative is required`);
    return;
  }
  for (const [a, alt] of alternatives.entries()) {
    const at = `alternatives[${a}]`;
    if (!isObject(alt)) {
      bad(`${at} is not an object`);
      continue;
    }
    if (!isConfidence(alt.confidence)) bad(`${at}.confidence is ${show(alt.confidence)}, not a number in 0..1`);
    if (
      alt.languages !== undefined &&
      !(Array.isArray(alt.languages) && alt.languages.every((l) => typeof l === 'string'))
    ) {
      bad(`${at}.languages is not an array of strings`);
    }
    const interpretations = alt.interpretations;
    if (!Array.isArray(interpretations) || interpretations.length === 0) {
      bad(`${at}.interpretations is ${show(interpretations)}; at least one is required`);
      continue;
    }
    for (const [i, interp] of interpretations.entries()) {
      const path = `${at}.interpretations[${i}]`;
      if (!isObject(interp)) {
        bad(`${path} is not an object`);
        continue;
      }
      if (interp.type !== 'display') bad(`${path}.type is ${show(interp.type)}, not "display"`);
      if (typeof interp.transcript !== 'string') bad(`${path}.transcript is ${show(interp.transcript)}, not a string`);
      if (interp.tokens === undefined) {
        notes.push("no word tokens: Genesys' compliance suite requires them on final transcripts");
      } else checkTokens(interp.tokens, path, bad);
    }
  }
}

function checkTokens(tokens: unknown, path: string, bad: (m: string) => void): void {
  if (!Array.isArray(tokens)) {
    bad(`${path}.tokens is not an array`);
    return;
  }
  const offsets = new Set<number>();
  for (const [t, token] of tokens.entries()) {
    const at = `${path}.tokens[${t}]`;
    if (!isObject(token)) {
      bad(`${at} is not an object`);
      continue;
    }
    if (token.type !== 'word') bad(`${at}.type is ${show(token.type)}, not "word"`);
    if (typeof token.value !== 'string') bad(`${at}.value is ${show(token.value)}, not a string`);
    if (!isConfidence(token.confidence)) bad(`${at}.confidence is ${show(token.confidence)}, not a number in 0..1`);
    if (durationSeconds(token.duration) === null) bad(`${at}.duration is ${show(token.duration)}, not a duration`);
    const offset = durationSeconds(token.offset);
    if (offset === null) bad(`${at}.offset is ${show(token.offset)}, not a duration`);
    else if (offsets.has(offset)) bad(`${at}.offset ${token.offset} repeats an earlier token's offset`);
    else offsets.add(offset);
  }
}

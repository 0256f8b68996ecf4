/**
 * The simulator's `--transcription-connector` view: one readable line per `transcript` event as it
 * arrives, the structural findings of each (transcript-checks.ts), and a summary of the round trip (count
 * per channel, first-event latency, lag behind the audio). Kept apart from cli.ts so the CLI stays a
 * composition root; everything here is synchronous and returns text, so it is tested without sockets.
 */
import { ROLE_OF_CHANNEL } from '../../core/audio/roles';
import { percentile } from './multi';
import type { ReceivedEvent, SimulatedSessionResult } from './options';
import { isObject } from './server-messages';
import { checkEventEntities, checkTranscript, durationSeconds } from './transcript-checks';

/** The `customConfig` that asks the gateway to send transcripts back (fargate/src/connector). */
export const CONNECTOR_CUSTOM_CONFIG: Readonly<Record<string, unknown>> = { transcriptionConnector: true };

/** One transcript as received, for `--json`. */
export interface ReceivedTranscript {
  /** 1-based session number, as on the session lines. */
  session: number;
  sessionId: string;
  atMs: number;
  sinceOpenedMs: number | undefined;
  positionMs: number;
  afterClose: boolean;
  /** Negotiated channel name of `channelId`, when both are known. */
  channel?: string;
  data: unknown;
  violations: string[];
}

/** Transcripts of one channel. */
export interface ChannelCount {
  channelId: unknown;
  channel?: string;
  role?: string;
  transcripts: number;
}

/** The round trip in numbers. */
export interface ConnectorSummary {
  transcripts: number;
  finals: number;
  partials: number;
  byChannel: ChannelCount[];
  /** `opened` → first transcript, per session that got one. */
  firstTranscriptMs: { sessions: number; p50: number; max: number };
  /** Audio position at arrival minus the transcript's end (finals before close), in ms of audio. */
  lagMs: { count: number; p50: number; max: number };
  violations: number;
  sessionsWithoutTranscripts: number;
}

const round = (n: number) => Math.round(n);
const secs = (s: number) => `${s.toFixed(2)}s`;
const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

function textOf(data: Record<string, unknown>): {
  text: unknown;
  confidence: unknown;
  language: unknown;
  tokens: unknown;
} {
  const alt = Array.isArray(data.alternatives) && isObject(data.alternatives[0]) ? data.alternatives[0] : {};
  const interp = Array.isArray(alt.interpretations) && isObject(alt.interpretations[0]) ? alt.interpretations[0] : {};
  const language = Array.isArray(alt.languages) ? alt.languages[0] : undefined;
  return { text: interp.transcript, confidence: alt.confidence, language, tokens: interp.tokens };
}

/**
 * One line for a transcript: session, arrival time after `opened`, channel and role, final or partial,
 * its span on the audio timeline, confidence, language, text and token count.
 */
export function formatTranscript(t: ReceivedTranscript): string {
  const parts = [`#${t.session}`, `+${secs((t.sinceOpenedMs ?? t.atMs) / 1000)}`];
  if (!isObject(t.data)) return [...parts, `transcript data ${JSON.stringify(t.data)}`].join(' ');
  const d = t.data;
  const role = t.channel ? ROLE_OF_CHANNEL[t.channel as keyof typeof ROLE_OF_CHANNEL] : undefined;
  parts.push(`ch${String(d.channelId)}`, (t.channel ? `${t.channel}/${role}` : '?').padEnd(17));
  parts.push(d.isFinal === true ? 'final  ' : d.isFinal === false ? 'partial' : 'isFinal?');
  const offset = durationSeconds(d.offset);
  const duration = durationSeconds(d.duration);
  parts.push(offset !== null && duration !== null ? `${secs(offset)}–${secs(offset + duration)}` : 'no-span');
  const { text, confidence, language, tokens } = textOf(d);
  if (typeof confidence === 'number') parts.push(`conf ${confidence.toFixed(2)}`);
  if (typeof language === 'string') parts.push(language);
  const shown = typeof text === 'string' ? text : '';
  parts.push(JSON.stringify(shown.length > 160 ? `${shown.slice(0, 159)}…` : shown));
  if (Array.isArray(tokens)) parts.push(`[${tokens.length} tokens]`);
  if (t.afterClose) parts.push('(after close)');
  return parts.join(' ');
}

/** Collects what `--transcription-connector` shows: call {@link receive} per event and {@link finish} per session. */
export class ConnectorView {
  readonly #transcripts: ReceivedTranscript[] = [];
  readonly #violations: Array<{ session: number; message: string }> = [];
  readonly #notes = new Map<string, number>();
  readonly #firstMs = new Map<number, number>();
  readonly #finalIds = new Map<string, number>();
  readonly #channels = new Map<string, ChannelCount>();
  readonly #lags: number[] = [];
  #withoutTranscripts = 0;

  /** Violations found so far (the CLI exits 1 when any). */
  get violationCount(): number {
    return this.#violations.length;
  }

  /** Takes one `event` of session `index` (0-based) and returns the lines to print now. */
  receive(index: number, event: ReceivedEvent): string[] {
    const session = index + 1;
    const lines: string[] = [];
    for (const message of checkEventEntities(event.entities)) lines.push(this.#violate(session, message));
    for (const entity of event.entities ?? []) {
      if (!isObject(entity) || entity.type !== 'transcript') {
        lines.push(
          `#${session} event entity of type ${JSON.stringify(isObject(entity) ? entity.type : entity)} (not shown)`,
        );
        continue;
      }
      lines.push(...this.#transcript(session, event, entity.data));
    }
    return lines;
  }

  /** Takes a finished session's result; a session that streamed and closed without one transcript is a violation. */
  finish(index: number, result: SimulatedSessionResult): string[] {
    const session = index + 1;
    // A probe closes at position 0: it has nothing to transcribe.
    if (result.outcome !== 'closed' || result.positionMs === 0 || this.#firstMs.has(session)) return [];
    this.#withoutTranscripts++;
    const why =
      result.audioMsSent === 0
        ? 'the server kept the stream paused, so transcription was off for this call'
        : 'is transcription on for this call?';
    return [
      this.#violate(
        session,
        `no transcript before closed: ${why} (a genesys-controlled key, or start-streaming for the conversation)`,
      ),
    ];
  }

  #transcript(session: number, event: ReceivedEvent, data: unknown): string[] {
    const channelId = isObject(data) ? data.channelId : undefined;
    const channel = typeof channelId === 'number' ? event.channels?.[channelId] : undefined;
    const found = checkTranscript(data, { channelCount: event.channels?.length, positionMs: event.positionMs });
    const t: ReceivedTranscript = {
      session,
      sessionId: event.sessionId,
      atMs: round(event.atMs),
      sinceOpenedMs: event.sinceOpenedMs === undefined ? undefined : round(event.sinceOpenedMs),
      positionMs: round(event.positionMs),
      afterClose: event.afterClose,
      ...(channel !== undefined && { channel }),
      data,
      violations: found.violations,
    };
    this.#transcripts.push(t);
    if (!this.#firstMs.has(session)) this.#firstMs.set(session, t.sinceOpenedMs ?? t.atMs);
    this.#count(channelId, channel);
    for (const note of found.notes) this.#notes.set(note, (this.#notes.get(note) ?? 0) + 1);
    const n = this.#transcripts.length;
    const lines = [formatTranscript(t)];
    for (const v of found.violations) lines.push(this.#violate(session, `transcript ${n}: ${v}`));
    if (isObject(data) && data.isFinal === true) {
      const key = `${session}|${String(data.id)}`;
      const earlier = this.#finalIds.get(key);
      if (earlier !== undefined)
        lines.push(this.#violate(session, `transcript ${n}: final id repeats transcript ${earlier}`));
      else this.#finalIds.set(key, n);
      const end = (durationSeconds(data.offset) ?? Number.NaN) + (durationSeconds(data.duration) ?? Number.NaN);
      if (Number.isFinite(end) && !event.afterClose) this.#lags.push(Math.max(0, event.positionMs - end * 1000));
    }
    return lines;
  }

  #count(channelId: unknown, channel: string | undefined): void {
    const key = `${String(channelId)}|${channel ?? ''}`;
    let c = this.#channels.get(key);
    if (!c) {
      const role = channel ? ROLE_OF_CHANNEL[channel as keyof typeof ROLE_OF_CHANNEL] : undefined;
      c = { channelId, ...(channel && { channel }), ...(role && { role }), transcripts: 0 };
      this.#channels.set(key, c);
    }
    c.transcripts++;
  }

  #violate(session: number, message: string): string {
    this.#violations.push({ session, message });
    return `#${session}   ✗ ${message}`;
  }

  summary(): ConnectorSummary {
    const first = [...this.#firstMs.values()].sort((a, b) => a - b);
    const lags = [...this.#lags].sort((a, b) => a - b);
    const finals = this.#transcripts.filter((t) => isObject(t.data) && t.data.isFinal === true).length;
    return {
      transcripts: this.#transcripts.length,
      finals,
      partials: this.#transcripts.filter((t) => isObject(t.data) && t.data.isFinal === false).length,
      byChannel: [...this.#channels.values()].sort((a, b) => String(a.channelId).localeCompare(String(b.channelId))),
      firstTranscriptMs: { sessions: first.length, p50: percentile(first, 50), max: first.at(-1) ?? 0 },
      lagMs: { count: lags.length, p50: round(percentile(lags, 50)), max: round(lags.at(-1) ?? 0) },
      violations: this.#violations.length,
      sessionsWithoutTranscripts: this.#withoutTranscripts,
    };
  }

  /** The summary as text: one line of numbers, then every violation and each distinct note. */
  summaryLines(): string[] {
    const s = this.summary();
    const channels = s.byChannel
      .map((c) => `ch${String(c.channelId)}${c.channel ? ` ${c.channel}/${c.role}` : ''} ${c.transcripts}`)
      .join(', ');
    const first =
      s.firstTranscriptMs.sessions === 0
        ? 'no first transcript'
        : s.firstTranscriptMs.sessions === 1
          ? `first ${s.firstTranscriptMs.p50} ms after opened`
          : `first after opened p50=${s.firstTranscriptMs.p50}ms max=${s.firstTranscriptMs.max}ms`;
    const lag = s.lagMs.count > 0 ? `; lag behind audio p50=${s.lagMs.p50}ms max=${s.lagMs.max}ms` : '';
    const lines = [
      `transcription connector: ${plural(s.transcripts, 'transcript')} (${s.finals} final, ${s.partials} partial)` +
        `${channels ? ` — ${channels}` : ''}; ${first}${lag}; ${plural(s.violations, 'violation')}`,
    ];
    for (const v of this.#violations) lines.push(`  ✗ #${v.session} ${v.message}`);
    for (const [note, n] of this.#notes) lines.push(`  note: ${note}${n > 1 ? ` (${n}×)` : ''}`);
    return lines;
  }

  /** Everything for `--json`. */
  toJson(): {
    summary: ConnectorSummary;
    transcripts: ReceivedTranscript[];
    violations: Array<{ session: number; message: string }>;
    notes: Array<{ note: string; count: number }>;
  } {
    return {
      summary: this.summary(),
      transcripts: this.#transcripts,
      violations: this.#violations,
      notes: [...this.#notes].map(([note, count]) => ({ note, count })),
    };
  }
}

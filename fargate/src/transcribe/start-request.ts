/**
 * The StartStreamTranscription request of one underlying stream, and what it is built from: the segment
 * being transcribed and the deployment's Transcribe customization.
 */
import type {
  AudioStream,
  LanguageCode,
  StartStreamTranscriptionCommand,
  StartStreamTranscriptionCommandInput,
  StartStreamTranscriptionCommandOutput,
  VocabularyFilterMethod,
} from '@aws-sdk/client-transcribe-streaming';
import { SAMPLE_RATE } from '../../../core/audio/format';
import type { Role } from '../../../core/audio/roles';
import type { TranscriptionParams } from '../../../core/transcript/utterance';

/** The slice of `TranscribeStreamingClient` the streamer uses (the real client is injected). */
export interface TranscribeClientLike {
  send(
    command: StartStreamTranscriptionCommand,
    options?: { abortSignal?: AbortSignal },
  ): Promise<StartStreamTranscriptionCommandOutput>;
}

/** What the streamer transcribes: one segment of one conversation. */
export interface SegmentContext {
  readonly conversationId: string;
  /** Segment number (one per start → stop). */
  readonly segment: number;
  /** Role of each AudioHook channel, in negotiated order (1 or 2 entries). */
  readonly roles: readonly Role[];
  /** Per-role stream ids handed out at start. */
  readonly streamIds: Readonly<Partial<Record<Role, string>>>;
  readonly params: TranscriptionParams;
}

/** Per-deployment Transcribe customization (from the composition root's config). */
export interface TranscribeCustomization {
  /** Comma-separated PII types to identify (e.g. `PIN,CREDIT_DEBIT_NUMBER`). @default - all types */
  readonly piiEntityTypes?: string;
  readonly vocabularyName?: string;
  readonly vocabularyFilterName?: string;
  /** @default - Transcribe's default (`mask`) */
  readonly vocabularyFilterMethod?: VocabularyFilterMethod;
  readonly languageModelName?: string;
}

/** `en-us` → `en-US` (start params accept either case; Transcribe wants the canonical form). */
export function canonicalLanguage(tag: string): string {
  const [lang, region, ...rest] = tag.split('-');
  if (lang === undefined || region === undefined) return tag;
  return [lang.toLowerCase(), region.toUpperCase(), ...rest].join('-');
}

/** Per-stream settings of {@link buildStartRequest}. */
export interface StreamRequestOptions {
  sessionId: string;
  /** The stream's language (after an AudioHook language update). @default - the segment's start language */
  language?: string | undefined;
  partials: boolean;
  customization?: TranscribeCustomization | undefined;
}

/**
 * The StartStreamTranscription request for one underlying stream. Content *identification* (not
 * redaction) so one stream yields both the redacted and the plain text (redaction is local).
 */
export function buildStartRequest(
  segment: SegmentContext,
  opts: StreamRequestOptions,
  audio: AsyncIterable<AudioStream>,
): StartStreamTranscriptionCommandInput {
  const c = opts.customization ?? {};
  const input: StartStreamTranscriptionCommandInput = {
    LanguageCode: canonicalLanguage(opts.language ?? segment.params.language) as LanguageCode,
    MediaSampleRateHertz: SAMPLE_RATE,
    MediaEncoding: 'pcm',
    SessionId: opts.sessionId,
    AudioStream: audio,
  };
  if (segment.roles.length === 2) {
    input.EnableChannelIdentification = true;
    input.NumberOfChannels = 2;
  }
  if (segment.params.redactionOutput !== 'unredacted') {
    input.ContentIdentificationType = 'PII';
    if (c.piiEntityTypes) input.PiiEntityTypes = c.piiEntityTypes;
  }
  if (c.vocabularyName) input.VocabularyName = c.vocabularyName;
  if (c.vocabularyFilterName) {
    input.VocabularyFilterName = c.vocabularyFilterName;
    if (c.vocabularyFilterMethod) input.VocabularyFilterMethod = c.vocabularyFilterMethod;
  }
  if (c.languageModelName) input.LanguageModelName = c.languageModelName;
  if (opts.partials) {
    input.EnablePartialResultsStabilization = true;
    input.PartialResultsStability = 'high';
  }
  return input;
}

/**
 * `StartStreamTranscription` request parameters, read from the `x-amzn-transcribe-*` headers the SDK
 * serializes, and validated the way the service does before it accepts a stream (a failure is an HTTP 400
 * `BadRequestException`). Pure: no I/O, so each rule is a table-driven test.
 */

/** PII entity types the streaming API accepts in `PiiEntityTypes`. */
export const PII_ENTITY_TYPES = [
  'BANK_ACCOUNT_NUMBER',
  'BANK_ROUTING',
  'CREDIT_DEBIT_NUMBER',
  'CREDIT_DEBIT_CVV',
  'CREDIT_DEBIT_EXPIRY',
  'PIN',
  'EMAIL',
  'ADDRESS',
  'NAME',
  'PHONE',
  'SSN',
  'ALL',
] as const;

/** One of {@link PII_ENTITY_TYPES}. */
export type PiiEntityType = (typeof PII_ENTITY_TYPES)[number];

/** The validated configuration of one stream. */
export interface StreamParams {
  /** As requested (any well-formed code): echoed on every result; recognition is English whatever it is. */
  languageCode: string;
  sampleRateHz: number;
  mediaEncoding: 'pcm';
  /** Audio channels carried by the stream (2 only with channel identification). */
  channels: 1 | 2;
  channelIdentification: boolean;
  partialResultsStabilization: boolean;
  partialResultsStability?: 'low' | 'medium' | 'high';
  contentIdentification: boolean;
  contentRedaction: boolean;
  /** Entity types to identify or redact; `undefined` means all. */
  piiEntityTypes?: readonly PiiEntityType[];
  /** As sent, or generated when absent. */
  sessionId?: string;
  /** Every `x-amzn-transcribe-*` request header, echoed on the response as the service does. */
  echo: Record<string, string>;
}

export type ParseResult = { ok: true; params: StreamParams } | { ok: false; message: string };

const PREFIX = 'x-amzn-transcribe-';
const H = {
  languageCode: `${PREFIX}language-code`,
  sampleRate: `${PREFIX}sample-rate`,
  mediaEncoding: `${PREFIX}media-encoding`,
  channelIdentification: `${PREFIX}enable-channel-identification`,
  numberOfChannels: `${PREFIX}number-of-channels`,
  sessionId: `${PREFIX}session-id`,
  stabilization: `${PREFIX}enable-partial-results-stabilization`,
  stability: `${PREFIX}partial-results-stability`,
  identification: `${PREFIX}content-identification-type`,
  redaction: `${PREFIX}content-redaction-type`,
  piiEntityTypes: `${PREFIX}pii-entity-types`,
  identifyLanguage: `${PREFIX}identify-language`,
  identifyMultipleLanguages: `${PREFIX}identify-multiple-languages`,
} as const;

const MEDIA_ENCODINGS = new Set(['pcm', 'ogg-opus', 'flac']);
const SESSION_ID = /^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$/;
const LANGUAGE_CODE = /^[a-z]{2}-[A-Z]{2}$/;

type Headers = Readonly<Record<string, string | string[] | undefined>>;

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function parseBool(v: string | undefined): boolean | undefined | 'invalid' {
  if (v === undefined) return undefined;
  if (v === 'true') return true;
  if (v === 'false') return false;
  return 'invalid';
}

const fail = (message: string): ParseResult => ({ ok: false, message });

/**
 * Reads and validates the request headers of `POST /stream-transcription`. Beyond the service's own rules,
 * only what the local recognizer can honour is accepted: PCM audio and a fixed language (no identification).
 * Any well-formed LanguageCode is accepted, though every local recognizer has an English model only: results
 * carry the requested code (the recognizer reports the language it was asked for), so a gateway's language
 * switch can be tested end to end, but the words stay English.
 */
export function parseStreamParams(headers: Headers): ParseResult {
  const echo: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    const value = Array.isArray(v) ? v[0] : v;
    if (k.startsWith(PREFIX) && value !== undefined) echo[k] = value;
  }

  const identifyLanguage = parseBool(header(headers, H.identifyLanguage));
  const identifyMultiple = parseBool(header(headers, H.identifyMultipleLanguages));
  if (identifyLanguage === true || identifyMultiple === true) {
    return fail('Language identification is not supported by the local Transcribe endpoint. Set a LanguageCode.');
  }
  const languageCode = header(headers, H.languageCode);
  if (languageCode === undefined) {
    return fail('You must specify a LanguageCode, or enable IdentifyLanguage or IdentifyMultipleLanguages.');
  }
  if (!LANGUAGE_CODE.test(languageCode)) {
    return fail(`1 validation error detected: Value '${languageCode}' at 'languageCode' failed to satisfy constraint.`);
  }

  const rateText = header(headers, H.sampleRate);
  const sampleRateHz = rateText === undefined ? Number.NaN : Number(rateText);
  if (!Number.isInteger(sampleRateHz) || sampleRateHz < 8000 || sampleRateHz > 48000) {
    return fail(
      `1 validation error detected: Value '${rateText ?? 'null'}' at 'mediaSampleRateHertz' failed to satisfy constraint: Member must have value between 8000 and 48000.`,
    );
  }

  const mediaEncoding = header(headers, H.mediaEncoding);
  if (mediaEncoding === undefined || !MEDIA_ENCODINGS.has(mediaEncoding)) {
    return fail(
      `1 validation error detected: Value '${mediaEncoding ?? 'null'}' at 'mediaEncoding' failed to satisfy enum value set: [pcm, ogg-opus, flac].`,
    );
  }
  if (mediaEncoding !== 'pcm') {
    return fail(
      `The local Transcribe endpoint only decodes pcm audio; MediaEncoding '${mediaEncoding}' is not supported.`,
    );
  }

  const channelIdentification = parseBool(header(headers, H.channelIdentification));
  if (channelIdentification === 'invalid') return fail('EnableChannelIdentification must be true or false.');
  const nText = header(headers, H.numberOfChannels);
  const numberOfChannels = nText === undefined ? undefined : Number(nText);
  if (numberOfChannels !== undefined && (!Number.isInteger(numberOfChannels) || numberOfChannels < 2)) {
    return fail(
      `1 validation error detected: Value '${nText}' at 'numberOfChannels' failed to satisfy constraint: Member must have value greater than or equal to 2.`,
    );
  }
  if (channelIdentification === true && numberOfChannels !== 2) {
    return fail('When you enable channel identification, you must specify NumberOfChannels as 2.');
  }
  if (channelIdentification !== true && numberOfChannels !== undefined) {
    return fail('NumberOfChannels can only be set when you enable channel identification.');
  }

  const stabilization = parseBool(header(headers, H.stabilization));
  if (stabilization === 'invalid') return fail('EnablePartialResultsStabilization must be true or false.');
  const stability = header(headers, H.stability);
  if (stability !== undefined && stability !== 'low' && stability !== 'medium' && stability !== 'high') {
    return fail(
      `1 validation error detected: Value '${stability}' at 'partialResultsStability' failed to satisfy enum value set: [high, low, medium].`,
    );
  }
  if (stability !== undefined && stabilization !== true) {
    return fail('PartialResultsStability requires EnablePartialResultsStabilization to be true.');
  }

  const identification = header(headers, H.identification);
  const redaction = header(headers, H.redaction);
  if (identification !== undefined && identification !== 'PII') {
    return fail(
      `1 validation error detected: Value '${identification}' at 'contentIdentificationType' failed to satisfy enum value set: [PII].`,
    );
  }
  if (redaction !== undefined && redaction !== 'PII') {
    return fail(
      `1 validation error detected: Value '${redaction}' at 'contentRedactionType' failed to satisfy enum value set: [PII].`,
    );
  }
  if (identification !== undefined && redaction !== undefined) {
    return fail('You can’t set ContentRedactionType and ContentIdentificationType in the same request.');
  }
  const piiText = header(headers, H.piiEntityTypes);
  let piiEntityTypes: PiiEntityType[] | undefined;
  if (piiText !== undefined) {
    if (identification === undefined && redaction === undefined) {
      return fail('PiiEntityTypes requires ContentIdentificationType or ContentRedactionType to be set.');
    }
    const known = new Set<string>(PII_ENTITY_TYPES);
    const list = piiText
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    const bad = list.find((t) => !known.has(t));
    if (bad !== undefined || list.length === 0) {
      return fail(`PiiEntityTypes contains an invalid value: '${bad ?? piiText}'.`);
    }
    piiEntityTypes = list.includes('ALL') ? undefined : (list as PiiEntityType[]);
  }

  const sessionId = header(headers, H.sessionId);
  if (sessionId !== undefined && !SESSION_ID.test(sessionId)) {
    return fail(
      `1 validation error detected: Value '${sessionId}' at 'sessionId' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}`,
    );
  }

  const params: StreamParams = {
    languageCode,
    sampleRateHz,
    mediaEncoding: 'pcm',
    channels: channelIdentification === true ? 2 : 1,
    channelIdentification: channelIdentification === true,
    partialResultsStabilization: stabilization === true,
    contentIdentification: identification === 'PII',
    contentRedaction: redaction === 'PII',
    echo,
  };
  if (stability !== undefined) params.partialResultsStability = stability;
  if (piiEntityTypes !== undefined) params.piiEntityTypes = piiEntityTypes;
  if (sessionId !== undefined) params.sessionId = sessionId;
  return { ok: true, params };
}

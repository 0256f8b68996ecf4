/**
 * The edge decoder for AudioHook client text messages (docs/audiohook-protocol.md §2.2, §3.2): every
 * untrusted byte is validated here, and what comes out is exactly core's wire types, so the session state
 * machine never sees unvalidated input. Known types are checked strictly; extra fields are tolerated
 * (and stripped); an unknown `type` in a valid envelope is passed on for the session to log and ignore
 * (forward compatibility, §4.5). Failure reasons end up in `disconnect.info`: short, no internal detail.
 */
import { z } from 'zod';
import { isDuration, parseDurationSamples } from '../../../core/audiohook/duration';
import {
  type ClientMessage,
  type ClientMessageType,
  type CloseReason,
  MAX_TEXT_MESSAGE_CHARS,
  PROTOCOL_VERSION,
  type UnknownClientMessage,
} from '../../../core/audiohook/messages';

/** Result of decoding one text frame. `seq` is reported when the frame had a readable one. */
export type DecodeOutcome =
  | { ok: true; message: ClientMessage | UnknownClientMessage }
  | { ok: false; reason: string; seq?: number };

// Genesys ids are RFC 4122 text, but the probe uses the nil UUID and we never rely on version bits.
const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** Loose enough for message types Genesys may add, strict enough to be safe in logs. */
const TYPE_RE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const MAX_REASON_CHARS = 200;
/** Genesys offers three entries; a bound keeps a hostile offer from costing much. */
const MAX_MEDIA_OFFERS = 16;
/** BCP-47 tags are short; anything longer is not a language (§3.2). */
const MAX_LANGUAGE_CHARS = 35;

const uuid = z.string().regex(UUID_RE, 'expected a UUID');
const counter = z.int().min(0);
const duration = z
  .string()
  .refine(
    (text) => isDuration(text) && Number.isSafeInteger(parseDurationSamples(text)),
    'expected a duration such as PT1.5S',
  );
const language = z.string().max(MAX_LANGUAGE_CHARS);
const channel = z.enum(['external', 'internal']);

const mediaParameter = z.object({
  type: z.literal('audio'),
  format: z.enum(['PCMU', 'L16']),
  channels: z
    .array(channel)
    .min(1)
    .max(2)
    .refine((c) => c.length === 1 || c[0] !== c[1], 'channels must be distinct'),
  rate: z.literal(8000),
});

const openParameters = z.object({
  organizationId: uuid,
  conversationId: uuid,
  participant: z.object({ id: uuid, ani: z.string(), aniName: z.string(), dnis: z.string() }),
  // Forward compatibility: an offer entry we cannot use (a future format, another rate) is dropped here
  // rather than failing the whole `open`; media selection then works on what is left (§3.2, §4.3.1).
  media: z
    .array(z.unknown())
    .max(MAX_MEDIA_OFFERS)
    .transform((entries) =>
      entries.flatMap((entry) => {
        const parsed = mediaParameter.safeParse(entry);
        return parsed.success ? [parsed.data] : [];
      }),
    ),
  language: language.optional(),
  supportedLanguages: z.boolean().optional(),
  customConfig: z.record(z.string(), z.unknown()).optional(),
  continuedSessions: z.array(z.object({ id: uuid, serverseq: counter, clientseq: counter })).optional(),
});

const gapParameters = z.object({ start: duration, discarded: duration });

const envelopeFields = {
  version: z.literal(PROTOCOL_VERSION),
  id: uuid,
  seq: counter,
  serverseq: counter,
  position: duration,
};

function clientMessage<const T extends ClientMessageType, P extends z.ZodType>(type: T, parameters: P) {
  return z.object({ ...envelopeFields, type: z.literal(type), parameters });
}

const openMessage = clientMessage('open', openParameters);
const pingMessage = clientMessage('ping', z.object({ rtt: duration.optional() }));
const CLOSE_REASONS: readonly CloseReason[] = ['end', 'error', 'disconnect', 'reconnect'];
// An unknown close reason must still get its `closed` (else the client waits out its 10 s timer):
// it is read as 'error', the reason that asks nothing more of the server.
const closeReason = z
  .string()
  .max(64)
  .transform((r): CloseReason => ((CLOSE_REASONS as readonly string[]).includes(r) ? (r as CloseReason) : 'error'));
const closeMessage = clientMessage('close', z.object({ reason: closeReason }));
const pausedMessage = clientMessage('paused', z.object({}));
const resumedMessage = clientMessage('resumed', gapParameters);
const discardedMessage = clientMessage('discarded', gapParameters);
const updateMessage = clientMessage('update', z.object({ language }));
const errorMessage = clientMessage(
  'error',
  z.object({ code: z.int().min(0), message: z.string(), retryAfter: duration.optional() }),
);

type MessageOf<T extends ClientMessageType> = Extract<ClientMessage, { type: T }>;

/** One schema per known type; the mapped type proves each one produces exactly core's type. */
const KNOWN: { readonly [T in ClientMessageType]: z.ZodType<MessageOf<T>> } = {
  open: openMessage,
  ping: pingMessage,
  close: closeMessage,
  paused: pausedMessage,
  resumed: resumedMessage,
  discarded: discardedMessage,
  update: updateMessage,
  error: errorMessage,
};

/** The envelope every message shares; also what an unknown type is checked against. */
const envelope = z.object({
  ...envelopeFields,
  type: z.string().regex(TYPE_RE, 'expected a message type'),
  parameters: z.record(z.string(), z.unknown()),
});

// Compile-time proof that the schemas' outputs are exactly core's types (not merely assignable).
type Equals<A, B> = (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;
export type SchemaTypeChecks = [
  Expect<Equals<z.output<typeof openMessage>, MessageOf<'open'>>>,
  Expect<Equals<z.output<typeof pingMessage>, MessageOf<'ping'>>>,
  Expect<Equals<z.output<typeof closeMessage>, MessageOf<'close'>>>,
  Expect<Equals<z.output<typeof pausedMessage>, MessageOf<'paused'>>>,
  Expect<Equals<z.output<typeof resumedMessage>, MessageOf<'resumed'>>>,
  Expect<Equals<z.output<typeof discardedMessage>, MessageOf<'discarded'>>>,
  Expect<Equals<z.output<typeof updateMessage>, MessageOf<'update'>>>,
  Expect<Equals<z.output<typeof errorMessage>, MessageOf<'error'>>>,
  Expect<
    Equals<Omit<z.output<typeof envelope>, 'parameters'>, Omit<UnknownClientMessage, 'parameters' | 'unknownType'>>
  >,
];

function isKnownType(type: string): type is ClientMessageType {
  return Object.hasOwn(KNOWN, type);
}

/** First issue as `path: message`; zod's messages name expected types, never echo input values. */
function describe(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'invalid';
  const path = issue.path.map(String).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}

function fail(reason: string, seq?: number): DecodeOutcome {
  const short = reason.length <= MAX_REASON_CHARS ? reason : `${reason.slice(0, MAX_REASON_CHARS - 1)}…`;
  return seq === undefined ? { ok: false, reason: short } : { ok: false, reason: short, seq };
}

/**
 * Decodes one client text frame into a validated message.
 * @returns `ok: false` with a short, wire-safe reason for anything that is not a valid message.
 */
export function decodeClientText(text: string): DecodeOutcome {
  if (text.length > MAX_TEXT_MESSAGE_CHARS) return fail('message too large');
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return fail('malformed JSON');
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return fail('message is not a JSON object');
  const rawSeq = (data as { seq?: unknown }).seq;
  const seq = typeof rawSeq === 'number' && Number.isSafeInteger(rawSeq) ? rawSeq : undefined;

  const env = envelope.safeParse(data);
  if (!env.success) return fail(`invalid message: ${describe(env.error)}`, seq);
  const type = env.data.type;
  if (!isKnownType(type)) {
    return { ok: true, message: { ...env.data, unknownType: true } };
  }
  const parsed = KNOWN[type].safeParse(data);
  if (!parsed.success) return fail(`invalid ${type} message: ${describe(parsed.error)}`, seq);
  return { ok: true, message: parsed.data };
}

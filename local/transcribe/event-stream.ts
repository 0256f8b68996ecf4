/**
 * The Amazon Transcribe streaming wire format, server side: splitting the request body into event-stream
 * messages, unwrapping the SigV4 envelope the SDK puts around each audio event, and encoding the response's
 * `TranscriptEvent` and exception messages. Message framing and CRCs are the SDK's own codec
 * (`@smithy/eventstream-codec`); this module only buffers bytes until a whole message is present.
 */

import { EventStreamCodec, type Message, type MessageHeaders } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { AppError, type AppErrorOptions } from '../../core/errors';

/** Exceptions the service sends inside the response stream (TranscriptResultStream members). */
export type StreamExceptionType =
  | 'BadRequestException'
  | 'LimitExceededException'
  | 'InternalFailureException'
  | 'ConflictException'
  | 'ServiceUnavailableException';

/** Stable codes of {@link EventStreamError}. */
export type EventStreamErrorCode =
  | 'EVENT_STREAM_BAD_PRELUDE'
  | 'EVENT_STREAM_TOO_LARGE'
  | 'EVENT_STREAM_CORRUPT'
  | 'EVENT_STREAM_TRUNCATED'
  | 'EVENT_STREAM_UNEXPECTED_EVENT';

/** Request bytes that are not a valid Transcribe audio stream. */
export class EventStreamError extends AppError {
  override readonly name = 'EventStreamError';
  declare readonly code: EventStreamErrorCode;
  constructor(code: EventStreamErrorCode, message: string, options?: AppErrorOptions) {
    super(code, message, options);
  }
}

/** The service caps a message at 16 MiB; audio events are far smaller, so anything bigger is garbage. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Total length (4) + headers length (4) + prelude CRC (4) + message CRC (4). */
const MIN_MESSAGE_BYTES = 16;

const codec = new EventStreamCodec(toUtf8, fromUtf8);

/**
 * Accumulates request-body chunks and yields whole event-stream messages (still encoded). The only parsing
 * done here is reading the big-endian total length of the prelude; validation is left to the codec.
 */
export class MessageSplitter {
  private buffer: Uint8Array = new Uint8Array(0);

  /** Appends `chunk` and returns every message it completed, in order. */
  push(chunk: Uint8Array): Uint8Array[] {
    this.buffer = this.buffer.byteLength === 0 ? chunk : concat(this.buffer, chunk);
    const out: Uint8Array[] = [];
    while (this.buffer.byteLength >= 4) {
      const view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
      const total = view.getUint32(0, false);
      if (total < MIN_MESSAGE_BYTES) {
        throw new EventStreamError('EVENT_STREAM_BAD_PRELUDE', `event-stream message declares ${total} bytes`);
      }
      if (total > MAX_MESSAGE_BYTES) {
        throw new EventStreamError('EVENT_STREAM_TOO_LARGE', `event-stream message of ${total} bytes is too large`);
      }
      if (this.buffer.byteLength < total) break;
      out.push(this.buffer.subarray(0, total));
      this.buffer = this.buffer.subarray(total);
    }
    return out;
  }

  /** Bytes of an incomplete message still held (non-zero at end of body means the body was truncated). */
  get pendingBytes(): number {
    return this.buffer.byteLength;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}

/** Decodes one whole message (checks both CRCs). */
export function decodeMessage(bytes: Uint8Array): Message {
  try {
    return codec.decode(bytes);
  } catch (err) {
    throw new EventStreamError('EVENT_STREAM_CORRUPT', `event-stream message failed to decode: ${String(err)}`, {
      cause: err,
    });
  }
}

/** Encodes one message. */
export function encodeMessage(message: Message): Uint8Array {
  return codec.encode(message);
}

/** What one signed envelope of the request body carried. */
export type AudioStreamEvent =
  | { kind: 'audio'; chunk: Uint8Array }
  /** An empty `AudioEvent`, or the SDK's empty signed end frame: no more audio will follow. */
  | { kind: 'end' }
  /** A `ConfigurationEvent` (call analytics only; accepted and ignored here). */
  | { kind: 'configuration' };

function headerString(headers: MessageHeaders, name: string): string | undefined {
  const h = headers[name];
  return h && h.type === 'string' ? h.value : undefined;
}

/**
 * Interprets one request message. The SDK signs every event: the outer message carries `:date` and
 * `:chunk-signature` and its payload is the inner event message; the stream ends with an envelope whose
 * payload is empty. Signatures are not verified (the local endpoint accepts any credentials).
 */
export function readAudioStreamMessage(message: Message): AudioStreamEvent {
  let inner = message;
  if (message.headers[':chunk-signature'] !== undefined) {
    if (message.body.byteLength === 0) return { kind: 'end' };
    inner = decodeMessage(message.body);
  }
  const messageType = headerString(inner.headers, ':message-type');
  const eventType = headerString(inner.headers, ':event-type');
  if (messageType !== 'event') {
    throw new EventStreamError('EVENT_STREAM_UNEXPECTED_EVENT', `unexpected :message-type ${String(messageType)}`);
  }
  if (eventType === 'AudioEvent') {
    return inner.body.byteLength === 0 ? { kind: 'end' } : { kind: 'audio', chunk: inner.body };
  }
  if (eventType === 'ConfigurationEvent') return { kind: 'configuration' };
  throw new EventStreamError('EVENT_STREAM_UNEXPECTED_EVENT', `unexpected :event-type ${String(eventType)}`);
}

/** Encodes a `TranscriptEvent` message with the given JSON payload. */
export function encodeTranscriptEvent(transcript: unknown): Uint8Array {
  return codec.encode({
    headers: {
      ':message-type': { type: 'string', value: 'event' },
      ':event-type': { type: 'string', value: 'TranscriptEvent' },
      ':content-type': { type: 'string', value: 'application/json' },
    },
    body: fromUtf8(JSON.stringify({ Transcript: transcript })),
  });
}

/** Encodes an in-stream exception the SDK turns into the typed error of the same name. */
export function encodeException(type: StreamExceptionType, message: string): Uint8Array {
  return codec.encode({
    headers: {
      ':message-type': { type: 'string', value: 'exception' },
      ':exception-type': { type: 'string', value: type },
      ':content-type': { type: 'string', value: 'application/json' },
    },
    body: fromUtf8(JSON.stringify({ Message: message })),
  });
}

/** Encodes an audio event wrapped in an (unsigned-but-shaped) envelope, as a client would send it. For tests. */
export function encodeSignedAudioEvent(chunk: Uint8Array, signature = new Uint8Array(32)): Uint8Array {
  const inner =
    chunk.byteLength === 0
      ? new Uint8Array(0)
      : codec.encode({
          headers: {
            ':message-type': { type: 'string', value: 'event' },
            ':event-type': { type: 'string', value: 'AudioEvent' },
            ':content-type': { type: 'string', value: 'application/octet-stream' },
          },
          body: chunk,
        });
  return codec.encode({
    headers: {
      ':date': { type: 'timestamp', value: new Date() },
      ':chunk-signature': { type: 'binary', value: signature },
    },
    body: inner,
  });
}

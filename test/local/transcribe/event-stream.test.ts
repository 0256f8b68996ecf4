import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { describe, expect, it } from 'vitest';
import {
  decodeMessage,
  EventStreamError,
  encodeException,
  encodeSignedAudioEvent,
  encodeTranscriptEvent,
  MessageSplitter,
  readAudioStreamMessage,
} from '../../../local/transcribe/event-stream';

const codec = new EventStreamCodec(toUtf8, fromUtf8);

function innerAudioEvent(chunk: Uint8Array): Uint8Array {
  return codec.encode({
    headers: {
      ':message-type': { type: 'string', value: 'event' },
      ':event-type': { type: 'string', value: 'AudioEvent' },
      ':content-type': { type: 'string', value: 'application/octet-stream' },
    },
    body: chunk,
  });
}

describe('event-stream', () => {
  describe('MessageSplitter', () => {
    it('yields whole messages however the body is chunked', () => {
      const a = encodeSignedAudioEvent(Uint8Array.of(1, 2, 3, 4));
      const b = encodeSignedAudioEvent(Uint8Array.of(5, 6));
      const body = new Uint8Array([...a, ...b]);
      const splitter = new MessageSplitter();
      const out: Uint8Array[] = [];
      for (let i = 0; i < body.length; i += 7) out.push(...splitter.push(body.subarray(i, i + 7)));
      expect(out.map((m) => Array.from(m))).toEqual([Array.from(a), Array.from(b)]);
      expect(splitter.pendingBytes).toBe(0);
    });

    it('holds an incomplete message until the rest arrives', () => {
      const a = encodeSignedAudioEvent(Uint8Array.of(9));
      const splitter = new MessageSplitter();
      expect(splitter.push(a.subarray(0, 10))).toEqual([]);
      expect(splitter.pendingBytes).toBe(10);
      expect(splitter.push(a.subarray(10))).toHaveLength(1);
    });

    it('rejects a prelude declaring an impossible length', () => {
      const splitter = new MessageSplitter();
      expect(() => splitter.push(Uint8Array.of(0, 0, 0, 4, 0, 0, 0, 0))).toThrow(EventStreamError);
      expect(() => new MessageSplitter().push(Uint8Array.of(0x7f, 0, 0, 0))).toThrow(/too large/);
    });
  });

  describe('readAudioStreamMessage', () => {
    it('unwraps the signed envelope the SDK puts around an AudioEvent', () => {
      const event = readAudioStreamMessage(decodeMessage(encodeSignedAudioEvent(Uint8Array.of(1, 2, 3))));
      expect(event).toEqual({ kind: 'audio', chunk: Uint8Array.of(1, 2, 3) });
    });

    it('reads the empty signed end frame as the end of audio', () => {
      expect(readAudioStreamMessage(decodeMessage(encodeSignedAudioEvent(new Uint8Array(0))))).toEqual({ kind: 'end' });
    });

    it('reads an empty AudioEvent as the end of audio', () => {
      const envelope = codec.encode({
        headers: {
          ':date': { type: 'timestamp', value: new Date() },
          ':chunk-signature': { type: 'binary', value: new Uint8Array(32) },
        },
        body: innerAudioEvent(new Uint8Array(0)),
      });
      expect(readAudioStreamMessage(decodeMessage(envelope))).toEqual({ kind: 'end' });
    });

    it('accepts an unsigned AudioEvent', () => {
      expect(readAudioStreamMessage(decodeMessage(innerAudioEvent(Uint8Array.of(7))))).toEqual({
        kind: 'audio',
        chunk: Uint8Array.of(7),
      });
    });

    it('rejects other event types', () => {
      const other = codec.encode({
        headers: {
          ':message-type': { type: 'string', value: 'event' },
          ':event-type': { type: 'string', value: 'Bogus' },
        },
        body: new Uint8Array(0),
      });
      expect(() => readAudioStreamMessage(decodeMessage(other))).toThrow(/unexpected :event-type Bogus/);
    });
  });

  describe('decodeMessage', () => {
    it('rejects a message whose CRC does not match', () => {
      const bytes = encodeSignedAudioEvent(Uint8Array.of(1, 2, 3));
      bytes[bytes.length - 5] = (bytes[bytes.length - 5] as number) ^ 0xff;
      expect(() => decodeMessage(bytes)).toThrow(EventStreamError);
    });
  });

  describe('encoders', () => {
    it('encodes a TranscriptEvent with the headers the SDK dispatches on', () => {
      const msg = decodeMessage(encodeTranscriptEvent({ Results: [] }));
      expect(msg.headers[':message-type']).toEqual({ type: 'string', value: 'event' });
      expect(msg.headers[':event-type']).toEqual({ type: 'string', value: 'TranscriptEvent' });
      expect(JSON.parse(toUtf8(msg.body))).toEqual({ Transcript: { Results: [] } });
    });

    it('encodes an exception with its type and message', () => {
      const msg = decodeMessage(encodeException('LimitExceededException', 'too many'));
      expect(msg.headers[':message-type']).toEqual({ type: 'string', value: 'exception' });
      expect(msg.headers[':exception-type']).toEqual({ type: 'string', value: 'LimitExceededException' });
      expect(JSON.parse(toUtf8(msg.body))).toEqual({ Message: 'too many' });
    });
  });
});

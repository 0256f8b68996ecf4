import { describe, expect, it } from 'vitest';
import { RecordingKeyError, recordingKey, recordingMetadata } from '../../../core/transcript/recording-key';

const CONV = '9a0f6f1c-52b4-4d8e-b1a4-0c6a4e3b9d21';

describe('recordingKey', () => {
  it('places a segment under its conversation, with the segment number padded to four digits', () => {
    expect(recordingKey(CONV, 1)).toBe(`recordings/${CONV}/segment-0001.wav`);
    expect(recordingKey(CONV, 42)).toBe(`recordings/${CONV}/segment-0042.wav`);
    expect(recordingKey(CONV, 9999)).toBe(`recordings/${CONV}/segment-9999.wav`);
  });

  it('keeps every digit of a segment number beyond 9999', () => {
    expect(recordingKey(CONV, 12_345)).toBe(`recordings/${CONV}/segment-12345.wav`);
  });

  it('sorts one conversation’s segments in order', () => {
    const keys = [10, 2, 100, 1].map((n) => recordingKey(CONV, n));
    expect([...keys].sort()).toEqual([1, 2, 10, 100].map((n) => recordingKey(CONV, n)));
  });

  it.each([
    ['an empty id', ''],
    ['a slash', 'a/b'],
    ['a parent reference', '..'],
    ['a parent reference inside', 'a..b'],
    ['a leading dot', '.hidden'],
    ['spaces', 'a b'],
    ['an over-long id', 'x'.repeat(129)],
  ])('refuses a conversation id with %s', (_what, id) => {
    expect(() => recordingKey(id, 1)).toThrow(RecordingKeyError);
  });

  it.each([0, -1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1])('refuses segment %s', (segment) => {
    let caught: unknown;
    try {
      recordingKey(CONV, segment);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RecordingKeyError);
    expect((caught as RecordingKeyError).code).toBe('RECORDING_KEY_INVALID');
  });
});

describe('recordingMetadata', () => {
  it('names the role of each channel in channel order, with what a reader needs to place the audio', () => {
    expect(
      recordingMetadata({
        conversationId: CONV,
        segment: 3,
        roles: ['agent', 'customer'],
        channels: ['internal', 'external'],
        sampleRate: 8000,
        startPosition: 16_000,
        samples: 80_000,
      }),
    ).toEqual({
      'conversation-id': CONV,
      segment: '3',
      'channel-roles': 'agent,customer',
      'channel-names': 'internal,external',
      'sample-rate': '8000',
      'start-position': '16000',
      samples: '80000',
    });
  });
});

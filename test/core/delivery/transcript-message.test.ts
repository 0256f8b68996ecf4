import { describe, expect, it } from 'vitest';
import { DeliveryError } from '../../../core/delivery/errors';
import {
  parseUtteranceImage,
  toSubscriberMessage,
  toTranscriptMessage,
  wireTokens,
} from '../../../core/delivery/transcript-message';

const IMAGE = {
  conversationId: '6d0f5c3e-2a4b-4f1e-9c7d-1b2a3c4d5e6f',
  sk: '0000001200#customer#0b0c1d2e-3f40-5a6b-8c7d-9e0f1a2b3c4d',
  utteranceId: '0b0c1d2e-3f40-5a6b-8c7d-9e0f1a2b3c4d',
  messageId: '01J9Z8X7W6V5T4S3R2Q1P0N9M8',
  streamId: 'a1b2c3d4-0000-4000-8000-000000000001',
  role: 'customer',
  senderExternalId: 'cust-0001',
  startMs: 1200,
  endMs: 3450,
  text: "Hi, I'd like to check my order status.",
  language: 'en-US',
  segment: 1,
  createdAt: '2025-01-15T14:02:05.310Z',
  exportDay: '2025-01-15#03',
  ttl: 1_737_554_525,
};

describe('transcript message (api-contract §3.3)', () => {
  it('maps a stored utterance to the documented webhook body, field for field', () => {
    expect(toTranscriptMessage(parseUtteranceImage(IMAGE))).toEqual({
      type: 'transcript',
      externalConversationId: '6d0f5c3e-2a4b-4f1e-9c7d-1b2a3c4d5e6f',
      streamId: 'a1b2c3d4-0000-4000-8000-000000000001',
      sender: { externalId: 'cust-0001', role: 'customer' },
      autotranscribeResponse: {
        message: 'transcript',
        start: 1200,
        end: 3450,
        utterance: [{ text: "Hi, I'd like to check my order status." }],
      },
    });
  });

  it('sends a null externalId when none was recorded, like the messages API', () => {
    const { senderExternalId: _s, ...image } = IMAGE;
    expect(toTranscriptMessage(parseUtteranceImage(image)).sender).toEqual({ externalId: null, role: 'customer' });
  });

  it('keeps the redacted text in utterance and adds unredactedUtterance for redacted_and_unredacted (A16)', () => {
    const m = toTranscriptMessage(
      parseUtteranceImage({ ...IMAGE, text: 'my PIN is ####', unredactedText: 'my PIN is 1234' }),
    );
    expect(m.autotranscribeResponse.utterance).toEqual([{ text: 'my PIN is ####' }]);
    expect(m.autotranscribeResponse.unredactedUtterance).toEqual([{ text: 'my PIN is 1234' }]);
  });

  it('emits detailed tokens with punctuation folded into the neighbouring words (A14)', () => {
    const tokens = [
      { content: '¿', startMs: 1200, endMs: 1200, type: 'punctuation' },
      { content: 'Hi', startMs: 1200, endMs: 1400, confidence: 0.9, type: 'word' },
      { content: ',', startMs: 1400, endMs: 1400, type: 'punctuation' },
      { content: 'there', startMs: 1500, endMs: 1800, type: 'word' },
      { content: '.', startMs: 1800, endMs: 1800, type: 'punctuation' },
    ];
    const m = toTranscriptMessage(parseUtteranceImage({ ...IMAGE, tokens }));
    expect(m.autotranscribeResponse.utterance[0].tokens).toEqual([
      { content: 'Hi', start: 1200, end: 1400, punctuationBefore: '¿', punctuationAfter: ',' },
      { content: 'there', start: 1500, end: 1800, punctuationAfter: '.' },
    ]);
    expect(wireTokens([])).toEqual([]);
  });

  it('gives WebSocket subscribers the same body plus the ids to dedupe and line up with GET messages', () => {
    const m = toSubscriberMessage(parseUtteranceImage(IMAGE));
    expect(m).toMatchObject({
      type: 'transcript',
      utteranceId: IMAGE.utteranceId,
      messageId: IMAGE.messageId,
      createdTimestamp: '2025-01-15T14:02:05.310Z',
    });
  });

  it.each([
    ['role', { role: 'system' }],
    ['startMs', { startMs: -1 }],
    ['endMs', { endMs: 10 }],
    ['text', { text: '' }],
    ['createdAt', { createdAt: 'yesterday' }],
    ['utteranceId', { utteranceId: undefined }],
    ['tokens', { tokens: 'no' }],
  ])('refuses a record with a bad %s, without echoing its text', (field, patch) => {
    const run = () => parseUtteranceImage({ ...IMAGE, ...patch });
    expect(run).toThrow(DeliveryError);
    try {
      run();
    } catch (err) {
      expect((err as DeliveryError).code).toBe('DELIVERY_INVALID_RECORD');
      expect((err as Error).message).toContain(field);
      expect((err as Error).message).not.toContain('order status');
    }
  });

  it('refuses a missing image', () => {
    expect(() => parseUtteranceImage(undefined)).toThrow(/NewImage/);
  });
});

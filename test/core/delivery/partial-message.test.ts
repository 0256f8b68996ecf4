/**
 * The `partial` frame: its layout mirrors the `transcript` frame, and its `utteranceId` is the one the
 * final of the same recognizer result gets, so a client can replace the partial by the final.
 */
import { describe, expect, it } from 'vitest';
import { AnchorMap } from '../../../core/audio/timeline';
import { toPartialMessage } from '../../../core/delivery/partial-message';
import { toSubscriberMessage } from '../../../core/delivery/transcript-message';
import { type MappingContext, mapFinalResult, mapPartialResult } from '../../../core/transcript/mapping';
import type { RecognizerResult } from '../../../core/transcript/recognizer-result';
import { utteranceIdOf } from '../../../core/transcript/utterance';

const anchors = new AnchorMap();
anchors.append(0, 60 * 8000);
const CTX: MappingContext = {
  conversationId: 'conv-7',
  segment: 2,
  channelRoles: { ch_0: 'customer', ch_1: 'agent' },
  streamIds: { customer: 'stream-c', agent: 'stream-a' },
  anchors,
  params: { language: 'en-US', redactionOutput: 'unredacted', detailedToken: false },
};

function result(isPartial: boolean, text: string, end: number): RecognizerResult {
  return {
    ResultId: 'res-42',
    IsPartial: isPartial,
    ChannelId: 'ch_1',
    StartTime: 1.5,
    EndTime: end,
    Alternatives: [{ Transcript: text }],
  };
}

describe('partial message (docs/realtime.md §5)', () => {
  it('maps a partial to the documented frame', () => {
    const mapped = mapPartialResult(result(true, 'how can I', 2.25), CTX);
    if (!mapped.ok) throw new Error(mapped.reason);
    const frame = toPartialMessage(mapped.value, '2025-03-01T10:00:00.000Z');
    expect(frame).toEqual({
      type: 'partial',
      externalConversationId: 'conv-7',
      streamId: 'stream-a',
      sender: { role: 'agent' },
      utteranceId: utteranceIdOf('conv-7', 'stream-a', 'res-42'),
      autotranscribeResponse: { message: 'partial', start: 1500, end: 2250, utterance: [{ text: 'how can I' }] },
      language: 'en-US',
      sentTimestamp: '2025-03-01T10:00:00.000Z',
    });
  });

  it('carries the utteranceId of the final transcript frame of the same result', () => {
    const p = mapPartialResult(result(true, 'how can I', 2.25), CTX);
    const f = mapFinalResult(result(false, 'How can I help?', 2.9), CTX);
    if (!p.ok || !f.ok) throw new Error('not mapped');
    const final = toSubscriberMessage({ ...f.value, sk: 'sk', createdAt: '2025-03-01T10:00:01.000Z' });
    expect(toPartialMessage(p.value, '2025-03-01T10:00:00.000Z').utteranceId).toBe(final.utteranceId);
    const other = mapPartialResult({ ...result(true, 'x', 2), ResultId: 'res-43' }, CTX);
    if (!other.ok) throw new Error(other.reason);
    expect(toPartialMessage(other.value, '2025-03-01T10:00:00.000Z').utteranceId).not.toBe(final.utteranceId);
  });
});

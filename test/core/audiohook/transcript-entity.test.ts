import { describe, expect, it } from 'vitest';
import { parseDurationSeconds } from '../../../core/audiohook/duration';
import { MAX_TEXT_MESSAGE_CHARS, type TranscriptEntityData } from '../../../core/audiohook/messages';
import { maxSerializedLength } from '../../../core/audiohook/session-wire';
import {
  buildTranscriptEvents,
  channelIdOf,
  eventMessageBytes,
  partIdOf,
  type TranscriptEventOptions,
  transcriptEntityOf,
} from '../../../core/audiohook/transcript-entity';
import type { Utterance, UtteranceToken } from '../../../core/transcript/utterance';

const SESSION_ID = '30b0e395-84d3-4570-ac13-9a62d8f514c0';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const STEREO: TranscriptEventOptions = { roles: ['customer', 'agent'], sessionId: SESSION_ID };

function utterance(over: Partial<Utterance> = {}): Utterance {
  return {
    conversationId: '5b4f2f6a-2c3e-4a1b-9f0d-7e6c5d4b3a21',
    segment: 1,
    streamId: 'stream-customer-1',
    role: 'customer',
    resultId: 'result-1',
    utteranceId: 'a3f1c9e2-6b7d-5e84-9c1a-2b3d4e5f6a7b',
    startMs: 1250,
    endMs: 3800,
    text: 'My PIN is ####.',
    language: 'en-US',
    confidence: 0.92,
    ...over,
  };
}

/** Tokens of "My PIN is ####." as the mapper produces them with redaction on. */
const PIN_TOKENS: UtteranceToken[] = [
  { content: 'My', startMs: 1250, endMs: 1400, confidence: 0.99, type: 'word' },
  { content: 'PIN', startMs: 1400, endMs: 1800, confidence: 0.95, type: 'word' },
  { content: 'is', startMs: 1800, endMs: 1950, confidence: 0.97, type: 'word' },
  { content: '####', startMs: 2000, endMs: 3800, confidence: 0.81, type: 'word' },
  { content: '.', startMs: 3800, endMs: 3800, type: 'punctuation' },
];

function dataOf(entity: { data: unknown }): TranscriptEntityData {
  return entity.data as TranscriptEntityData;
}

function seconds(d: string | undefined): number {
  return parseDurationSeconds(d ?? '') as number;
}

/** A long text of unique words (so slices can be checked against it), about `bytes` long. */
function longText(bytes: number): string {
  const words: string[] = [];
  let n = 0;
  for (let len = 0; len < bytes; n++) {
    const w = `word${n}`;
    words.push(w);
    len += w.length + 1;
  }
  return words.join(' ');
}

describe('transcript entity (Transcription Connector, protocol §5.3)', () => {
  describe('shape', () => {
    it('builds one final transcript entity with the utterance id, times as durations and the alternative', () => {
      const out = buildTranscriptEvents(utterance(), STEREO);
      expect(out).toMatchObject({ ok: true, fit: 'whole', channelId: 0 });
      if (!out.ok) return;
      expect(out.entities).toHaveLength(1);
      expect(out.entities[0]).toEqual({
        type: 'transcript',
        data: {
          id: 'a3f1c9e2-6b7d-5e84-9c1a-2b3d4e5f6a7b',
          channelId: 0,
          isFinal: true,
          offset: 'PT1.25S',
          duration: 'PT2.55S',
          alternatives: [
            {
              confidence: 0.92,
              languages: ['en-US'],
              interpretations: [{ type: 'display', transcript: 'My PIN is ####.' }],
            },
          ],
        },
      });
      // The October 2024 rename: `channel` must not be sent any more.
      expect(Object.keys(dataOf(out.entities[0] as { data: unknown }))).not.toContain('channel');
    });

    it('takes channelId from the negotiated channel order, never from the role alone', () => {
      expect(channelIdOf('customer', ['customer', 'agent'])).toBe(0);
      expect(channelIdOf('agent', ['customer', 'agent'])).toBe(1);
      expect(channelIdOf('customer', ['agent', 'customer'])).toBe(1);
      expect(channelIdOf('agent', ['agent'])).toBe(0);
      const swapped = buildTranscriptEvents(utterance({ role: 'agent' }), { ...STEREO, roles: ['agent', 'customer'] });
      expect(swapped.ok && dataOf(swapped.entities[0] as { data: unknown }).channelId).toBe(0);
    });

    it('skips an utterance whose role the negotiated media does not carry', () => {
      expect(buildTranscriptEvents(utterance({ role: 'agent' }), { ...STEREO, roles: ['customer'] })).toEqual({
        ok: false,
        reason: 'unknown-channel',
      });
    });

    it('skips a whitespace-only utterance', () => {
      expect(buildTranscriptEvents(utterance({ text: '   ' }), STEREO)).toEqual({ ok: false, reason: 'empty' });
    });

    it('reports confidence 1 when the recognizer gave none, and clamps out-of-range scores', () => {
      const none = utterance();
      delete none.confidence;
      expect(dataOf(transcriptEntityOf(none, 0)).alternatives[0]?.confidence).toBe(1);
      expect(dataOf(transcriptEntityOf(utterance({ confidence: 1.7 }), 0)).alternatives[0]?.confidence).toBe(1);
    });
  });

  describe('tokens', () => {
    it('sends word tokens with absolute offsets when the utterance has detailed tokens, punctuation attached', () => {
      const out = buildTranscriptEvents(utterance({ tokens: PIN_TOKENS }), STEREO);
      expect(out.ok && out.fit).toBe('whole');
      if (!out.ok) return;
      const tokens = dataOf(out.entities[0] as { data: unknown }).alternatives[0]?.interpretations[0]?.tokens;
      expect(tokens).toEqual([
        { type: 'word', value: 'My', confidence: 0.99, offset: 'PT1.25S', duration: 'PT0.15S' },
        { type: 'word', value: 'PIN', confidence: 0.95, offset: 'PT1.4S', duration: 'PT0.4S' },
        { type: 'word', value: 'is', confidence: 0.97, offset: 'PT1.8S', duration: 'PT0.15S' },
        { type: 'word', value: '####.', confidence: 0.81, offset: 'PT2S', duration: 'PT1.8S' },
      ]);
    });

    it('leaves tokens out when the utterance has none (detailedToken off)', () => {
      const out = buildTranscriptEvents(utterance(), STEREO);
      const interp = out.ok ? dataOf(out.entities[0] as { data: unknown }).alternatives[0]?.interpretations[0] : {};
      expect(interp).not.toHaveProperty('tokens');
    });

    it('makes token offsets unique within the interpretation and drops leading punctuation', () => {
      const tokens: UtteranceToken[] = [
        { content: '¿', startMs: 100, endMs: 100, type: 'punctuation' },
        { content: 'uno', startMs: 100, endMs: 300, type: 'word' },
        { content: 'dos', startMs: 100, endMs: 300, confidence: 0.5, type: 'word' },
      ];
      const entity = transcriptEntityOf(utterance({ startMs: 100, endMs: 300, text: '¿uno dos', tokens }), 1);
      const wire = dataOf(entity).alternatives[0]?.interpretations[0]?.tokens ?? [];
      expect(wire.map((t) => t.value)).toEqual(['uno', 'dos']);
      expect(wire.map((t) => t.offset)).toEqual(['PT0.1S', 'PT0.101S']);
      // A token without a score gets the utterance's.
      expect(wire.map((t) => t.confidence)).toEqual([0.92, 0.5]);
    });
  });

  describe('redaction', () => {
    const plain = 'My PIN is 4 7 1 1.';

    it('sends the redacted text and masked tokens when redactionOutput is redacted', () => {
      const out = buildTranscriptEvents(utterance({ tokens: PIN_TOKENS }), STEREO);
      const json = JSON.stringify(out);
      expect(json).toContain('####');
      expect(json).not.toMatch(/4 7 1 1|4711/);
    });

    it('never sends the unredacted variant when both are stored (redacted_and_unredacted)', () => {
      const out = buildTranscriptEvents(utterance({ tokens: PIN_TOKENS, unredactedText: plain }), STEREO);
      const json = JSON.stringify(out);
      expect(json).toContain('My PIN is ####.');
      expect(json).not.toContain(plain);
      expect(json).not.toMatch(/4 7 1 1/);
    });

    it('sends the plain text when redaction is off (the store keeps only that)', () => {
      const out = buildTranscriptEvents(utterance({ text: plain }), STEREO);
      expect(
        out.ok && dataOf(out.entities[0] as { data: unknown }).alternatives[0]?.interpretations[0]?.transcript,
      ).toBe(plain);
    });
  });

  describe('size limit (protocol §6.1)', () => {
    it('measures the widest numbered message, in UTF-8 bytes (never fewer than the session counts in characters)', () => {
      const entity = transcriptEntityOf(utterance({ text: 'é€𝄞 ascii' }), 0);
      const chars = maxSerializedLength(SESSION_ID, 'event', JSON.stringify({ entities: [entity] }));
      expect(eventMessageBytes(SESSION_ID, entity)).toBe(chars + 1 + 2 + 2);
    });

    it('drops the word tokens first when they do not fit, keeping the full text in one event', () => {
      const words = longText(20_000).split(' ');
      const tokens: UtteranceToken[] = words.map((w, i) => ({
        content: w,
        startMs: 1000 + i * 10,
        endMs: 1000 + i * 10 + 9,
        confidence: 0.9,
        type: 'word',
      }));
      const u = utterance({ text: words.join(' '), tokens, startMs: 1000, endMs: 1000 + words.length * 10 });
      expect(eventMessageBytes(SESSION_ID, transcriptEntityOf(u, 0))).toBeGreaterThan(MAX_TEXT_MESSAGE_CHARS);
      const out = buildTranscriptEvents(u, STEREO);
      expect(out).toMatchObject({ ok: true, fit: 'tokens-dropped' });
      if (!out.ok) return;
      expect(out.entities).toHaveLength(1);
      const data = dataOf(out.entities[0] as { data: unknown });
      expect(data.id).toBe(u.utteranceId);
      expect(data.alternatives[0]?.interpretations[0]).toEqual({ type: 'display', transcript: u.text });
      expect(eventMessageBytes(SESSION_ID, out.entities[0] as { type: string; data: unknown })).toBeLessThanOrEqual(
        MAX_TEXT_MESSAGE_CHARS,
      );
    });

    it('splits a huge text at word boundaries into consecutive events, each under the limit, covering the utterance in time', () => {
      const text = longText(150_000);
      const u = utterance({ text, startMs: 10_000, endMs: 610_000 });
      const out = buildTranscriptEvents(u, STEREO);
      expect(out).toMatchObject({ ok: true, fit: 'split' });
      if (!out.ok) return;
      expect(out.entities.length).toBe(3);
      const parts = out.entities.map((e) => dataOf(e));
      for (const e of out.entities)
        expect(eventMessageBytes(SESSION_ID, e)).toBeLessThanOrEqual(MAX_TEXT_MESSAGE_CHARS);
      // Nothing lost, nothing repeated, no word cut in two.
      expect(parts.map((p) => p.alternatives[0]?.interpretations[0]?.transcript).join(' ')).toBe(text);
      // Distinct, deterministic ids derived from the utterance id.
      expect(parts.map((p) => p.id)).toEqual([0, 1, 2].map((i) => partIdOf(u.utteranceId, i)));
      for (const p of parts) expect(p.id).toMatch(UUID_RE);
      expect(new Set(parts.map((p) => p.id)).size).toBe(3);
      // Times: from the utterance start to its end, consecutive and increasing.
      expect(seconds(parts[0]?.offset)).toBe(10);
      const last = parts.at(-1) as TranscriptEntityData;
      expect(seconds(last.offset) + seconds(last.duration)).toBeCloseTo(610, 6);
      for (let i = 1; i < parts.length; i++) {
        const prev = parts[i - 1] as TranscriptEntityData;
        expect(seconds(parts[i]?.offset)).toBeGreaterThan(seconds(prev.offset));
        expect(seconds(parts[i]?.offset)).toBeGreaterThanOrEqual(seconds(prev.offset) + seconds(prev.duration) - 0.001);
      }
    });

    it('counts escapes and multi-byte characters against the limit, never cutting a code point', () => {
      const text = '"é𝄞"\n '.repeat(20_000);
      const out = buildTranscriptEvents(utterance({ text }), STEREO);
      expect(out.ok).toBe(true);
      if (!out.ok) return;
      expect(out.entities.length).toBeGreaterThan(1);
      for (const e of out.entities) {
        expect(eventMessageBytes(SESSION_ID, e)).toBeLessThanOrEqual(MAX_TEXT_MESSAGE_CHARS);
        const t = dataOf(e).alternatives[0]?.interpretations[0]?.transcript ?? '';
        expect(t).not.toMatch(/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/);
      }
    });

    it('cuts the text after maxParts events and marks the cut', () => {
      const text = longText(1_000_000);
      const out = buildTranscriptEvents(utterance({ text }), { ...STEREO, maxParts: 2 });
      expect(out).toMatchObject({ ok: true, fit: 'truncated' });
      if (!out.ok) return;
      expect(out.entities).toHaveLength(2);
      for (const e of out.entities)
        expect(eventMessageBytes(SESSION_ID, e)).toBeLessThanOrEqual(MAX_TEXT_MESSAGE_CHARS);
      const last = dataOf(out.entities[1] as { data: unknown });
      expect(last.alternatives[0]?.interpretations[0]?.transcript.endsWith('…')).toBe(true);
      expect(seconds(last.offset) + seconds(last.duration)).toBeCloseTo(3.8, 6);
    });

    it('honours a smaller configured limit', () => {
      const out = buildTranscriptEvents(utterance({ text: longText(5_000) }), { ...STEREO, maxMessageBytes: 2_000 });
      expect(out.ok && out.fit).toBe('split');
      if (!out.ok) return;
      for (const e of out.entities) expect(eventMessageBytes(SESSION_ID, e)).toBeLessThanOrEqual(2_000);
    });

    it('refuses a limit too small for any entity', () => {
      expect(buildTranscriptEvents(utterance(), { ...STEREO, maxMessageBytes: 300 })).toEqual({
        ok: false,
        reason: 'too-large',
      });
    });
  });
});

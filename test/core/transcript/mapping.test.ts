import { describe, expect, it } from 'vitest';
import type { Role } from '../../../core/audio/roles';
import { AnchorMap } from '../../../core/audio/timeline';
import { type MappingContext, mapFinalResult, mapPartialResult, placeResult } from '../../../core/transcript/mapping';
import type { ChannelId, RecognizerResult } from '../../../core/transcript/recognizer-result';
import type { RedactionOutput, TranscriptionParams, Utterance } from '../../../core/transcript/utterance';
import { utteranceIdOf } from '../../../core/transcript/utterance';
import { fixtureResult, fixtureResults } from './fixtures';

const SEC = 8000;
const STREAM_IDS: Record<Role, string> = { customer: 'stream-customer', agent: 'stream-agent' };
const CUSTOMER_FIRST: Record<ChannelId, Role> = { ch_0: 'customer', ch_1: 'agent' };
const AGENT_FIRST: Record<ChannelId, Role> = { ch_0: 'agent', ch_1: 'customer' };

function contiguous(seconds = 120, at = 0): AnchorMap {
  const a = new AnchorMap();
  a.append(at, seconds * SEC);
  return a;
}

function ctx(
  over: Partial<Omit<MappingContext, 'params'>> & { params?: Partial<TranscriptionParams> } = {},
): MappingContext {
  return {
    conversationId: 'conv-1',
    segment: 1,
    channelRoles: CUSTOMER_FIRST,
    streamIds: STREAM_IDS,
    anchors: contiguous(),
    ...over,
    params: { language: 'en-US', redactionOutput: 'unredacted', detailedToken: false, ...over.params },
  };
}

function final(result: RecognizerResult, c: MappingContext): Utterance {
  const out = mapFinalResult(result, c);
  if (!out.ok) throw new Error(`skipped: ${out.reason}`);
  return out.value;
}

describe('mapFinalResult', () => {
  describe('finals and partials', () => {
    it('maps each non-empty final of a stream, in order, and nothing else', () => {
      const c = ctx();
      const mapped = fixtureResults('stereo-call')
        .map((r) => mapFinalResult(r, c))
        .flatMap((o) => (o.ok ? [o.value.text] : []));
      expect(mapped).toEqual(['Hello, I need help.', 'Sure thing.']);
    });

    it('skips partial results', () => {
      expect(mapFinalResult(fixtureResult('stereo-call', 'r-ch0-1', true), ctx())).toEqual({
        ok: false,
        reason: 'partial',
      });
    });

    it('skips a whitespace-only final', () => {
      expect(mapFinalResult(fixtureResult('stereo-call', 'r-ch1-2'), ctx())).toEqual({ ok: false, reason: 'empty' });
    });

    it('skips a result of a channel with no role (e.g. ch_1 on a mono session)', () => {
      const out = mapFinalResult(fixtureResult('stereo-call', 'r-ch1-1'), ctx({ channelRoles: { ch_0: 'agent' } }));
      expect(out).toEqual({ ok: false, reason: 'unknown-channel' });
    });

    it('skips a result before any audio was recorded on the stream', () => {
      const out = mapFinalResult(fixtureResult('stereo-call', 'r-ch0-1'), ctx({ anchors: new AnchorMap() }));
      expect(out).toEqual({ ok: false, reason: 'no-audio' });
    });

    it('treats a result without a channel id (mono stream) as channel 0', () => {
      const { ChannelId: _dropped, ...mono } = fixtureResult('stereo-call', 'r-ch1-1');
      expect(final(mono, ctx({ channelRoles: { ch_0: 'agent' } })).role).toBe('agent');
    });
  });

  describe('roles from the negotiated channel order', () => {
    it('maps ch_0 to the customer and ch_1 to the agent when external was negotiated first', () => {
      const c = ctx({ channelRoles: CUSTOMER_FIRST });
      const u0 = final(fixtureResult('stereo-call', 'r-ch0-1'), c);
      const u1 = final(fixtureResult('stereo-call', 'r-ch1-1'), c);
      expect([u0.role, u0.streamId]).toEqual(['customer', 'stream-customer']);
      expect([u1.role, u1.streamId]).toEqual(['agent', 'stream-agent']);
    });

    it('maps ch_0 to the agent and ch_1 to the customer when internal was negotiated first', () => {
      const c = ctx({ channelRoles: AGENT_FIRST });
      expect(final(fixtureResult('stereo-call', 'r-ch0-1'), c).role).toBe('agent');
      expect(final(fixtureResult('stereo-call', 'r-ch1-1'), c).role).toBe('customer');
    });
  });

  describe('utterance fields', () => {
    it('carries ids, times, confidence and language', () => {
      const u = final(fixtureResult('stereo-call', 'r-ch0-1'), ctx());
      expect(u).toEqual({
        conversationId: 'conv-1',
        segment: 1,
        streamId: 'stream-customer',
        role: 'customer',
        resultId: 'r-ch0-1',
        utteranceId: utteranceIdOf('conv-1', 'stream-customer', 'r-ch0-1'),
        startMs: 520,
        endMs: 1840,
        text: 'Hello, I need help.',
        confidence: expect.closeTo((0.99 + 0.9 + 0.95 + 0.96) / 4, 6),
        language: 'en-US',
      });
    });

    it('gives the same utteranceId when the same result is mapped again', () => {
      const r = fixtureResult('stereo-call', 'r-ch1-1');
      expect(final(r, ctx()).utteranceId).toBe(final(r, ctx()).utteranceId);
    });

    it('falls back to the requested language when the result has none', () => {
      const u = final(fixtureResult('pii', 'r-pin'), ctx({ params: { language: 'es-US' } }));
      expect(u.language).toBe('es-US');
    });
  });

  describe('detailed tokens', () => {
    it('adds words and punctuation with timeline times and confidences when detailedToken', () => {
      const u = final(fixtureResult('stereo-call', 'r-ch1-1'), ctx({ params: { detailedToken: true } }));
      expect(u.tokens).toEqual([
        { content: 'Sure', startMs: 2000, endMs: 2600, confidence: 0.8, type: 'word' },
        { content: 'thing', startMs: 2600, endMs: 3250, confidence: 0.9, type: 'word' },
        { content: '.', startMs: 3250, endMs: 3250, type: 'punctuation' },
      ]);
    });

    it('places token times on the timeline through the anchors', () => {
      const anchors = contiguous(100, 30 * SEC);
      const u = final(fixtureResult('stereo-call', 'r-ch1-1'), ctx({ anchors, params: { detailedToken: true } }));
      expect(u.tokens?.map((t) => [t.startMs, t.endMs])).toEqual([
        [32000, 32600],
        [32600, 33250],
        [33250, 33250],
      ]);
    });

    it('leaves tokens out without detailedToken', () => {
      expect(final(fixtureResult('stereo-call', 'r-ch1-1'), ctx()).tokens).toBeUndefined();
    });

    it('masks the tokens inside an entity when the text is redacted', () => {
      const u = final(
        fixtureResult('pii', 'r-pin'),
        ctx({ params: { redactionOutput: 'redacted', detailedToken: true } }),
      );
      expect(u.tokens?.map((t) => t.content)).toEqual(['PIN', 'number', 'is', '####', '.']);
    });
  });

  describe('redactionOutput', () => {
    const cases: [RedactionOutput, string, string | undefined][] = [
      ['redacted', 'PIN number is ####.', undefined],
      ['unredacted', 'PIN number is 1234.', undefined],
      ['redacted_and_unredacted', 'PIN number is ####.', 'PIN number is 1234.'],
    ];
    for (const [mode, text, unredacted] of cases) {
      it(`${mode}: text "${text}"${unredacted ? ' and the unredacted text' : ''}`, () => {
        const u = final(fixtureResult('pii', 'r-pin'), ctx({ params: { redactionOutput: mode } }));
        expect(u.text).toBe(text);
        expect(u.unredactedText).toBe(unredacted);
      });
    }

    it('redacts every PII fixture without leaking the entity content', () => {
      const c = ctx({ params: { redactionOutput: 'redacted' } });
      for (const r of fixtureResults('pii')) {
        const u = final(r, c);
        for (const e of r.Alternatives?.[0]?.Entities ?? []) expect(u.text).not.toContain(e.Content);
      }
    });
  });

  describe('timeline placement', () => {
    it('shifts times after a pause: audio sent after the pause lands after it on the timeline', () => {
      // 1 s of audio, a 5 s pause (never sent to the recognizer), then more audio.
      const anchors = new AnchorMap();
      anchors.append(0, 1 * SEC);
      anchors.append(6 * SEC, 60 * SEC);
      const u = final(fixtureResult('stereo-call', 'r-ch1-1'), ctx({ anchors }));
      expect([u.startMs, u.endMs]).toEqual([7000, 8250]);
    });

    it('does not stretch an utterance that ends exactly where a discard begins', () => {
      const anchors = new AnchorMap();
      anchors.append(0, 1.84 * SEC);
      anchors.append(10 * SEC, 5 * SEC); // 8.16 s discarded
      const u = final(fixtureResult('stereo-call', 'r-ch0-1'), ctx({ anchors }));
      expect([u.startMs, u.endMs]).toEqual([520, 1840]);
    });

    it('places a result of a later segment (stop then start) at its own offset', () => {
      const anchors = contiguous(30, 95 * SEC);
      const u = final(fixtureResult('stereo-call', 'r-ch0-1'), ctx({ anchors, segment: 2 }));
      expect([u.segment, u.startMs, u.endMs]).toEqual([2, 95520, 96840]);
    });

    it('places a result of a rotated stream (times restart at 0) after the rotation point', () => {
      const rotatedAt = 3 * 3600 * SEC + 50 * 60 * SEC;
      const u = final(fixtureResult('stereo-call', 'r-ch1-1'), ctx({ anchors: contiguous(60, rotatedAt) }));
      expect(u.startMs).toBe(rotatedAt / 8 + 2000);
      expect(u.endMs).toBe(rotatedAt / 8 + 3250);
    });

    it('reports placement in samples for de-duplication', () => {
      const out = placeResult(fixtureResult('stereo-call', 'r-ch1-1'), ctx({ channelRoles: AGENT_FIRST }));
      expect(out).toEqual({
        ok: true,
        value: {
          channelId: 'ch_1',
          role: 'customer',
          streamId: 'stream-customer',
          startSamples: 16000,
          endSamples: 26000,
        },
      });
    });
  });
});

describe('mapPartialResult', () => {
  it('maps a partial for live captions when nothing is redacted', () => {
    const out = mapPartialResult(fixtureResult('stereo-call', 'r-ch0-1', true), ctx());
    expect(out).toEqual({
      ok: true,
      value: {
        conversationId: 'conv-1',
        segment: 1,
        streamId: 'stream-customer',
        role: 'customer',
        resultId: 'r-ch0-1',
        startMs: 520,
        endMs: 1100,
        text: 'Hello',
        language: 'en-US',
      },
    });
  });

  it('never maps a partial when redaction is on', () => {
    for (const redactionOutput of ['redacted', 'redacted_and_unredacted'] as const) {
      const out = mapPartialResult(fixtureResult('stereo-call', 'r-ch0-1', true), ctx({ params: { redactionOutput } }));
      expect(out).toEqual({ ok: false, reason: 'redaction-on' });
    }
  });

  it('does not map a final as a partial', () => {
    expect(mapPartialResult(fixtureResult('stereo-call', 'r-ch0-1'), ctx())).toEqual({ ok: false, reason: 'final' });
  });
});

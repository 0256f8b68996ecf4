/**
 * The structural checks of `--transcription-connector` on transcripts recorded from the real gateway
 * (connector-events.fixture.json), each test breaking one thing Genesys' suite or the protocol (§5.3) checks.
 */
import { describe, expect, it } from 'vitest';
import { checkEventEntities, checkTranscript } from '../../../local/simulator/transcript-checks';
import fixture from './connector-events.fixture.json';

// biome-ignore lint/suspicious/noExplicitAny: each test breaks the recorded wire shape on purpose
type Wire = Record<string, any>;

/** A fresh copy of recorded transcript `n` (0: agent with tokens, 1: customer with tokens). */
function recorded(n: number): Wire {
  return structuredClone(fixture.events[n]?.parameters.entities[0]?.data) as Wire;
}

const STEREO = { channelCount: 2, positionMs: 7_500 };

describe('transcript checks', () => {
  describe('on the recorded gateway transcripts', () => {
    it('find nothing to report', () => {
      for (const n of [0, 1]) expect(checkTranscript(recorded(n), STEREO)).toEqual({ violations: [], notes: [] });
      for (const e of fixture.events) expect(checkEventEntities(e.parameters.entities)).toEqual([]);
    });
  });

  describe('on the transcript fields', () => {
    it.each<[string, (d: Wire) => void, RegExp]>([
      ['isFinal as a string', (d) => (d.isFinal = 'true'), /^isFinal is "true", not a boolean$/],
      ['isFinal missing', (d) => delete d.isFinal, /^isFinal is missing, not a boolean$/],
      ['an id that is not a UUID', (d) => (d.id = 'utt-1'), /^id is "utt-1", not a UUID$/],
      ['channelId 2', (d) => (d.channelId = 2), /^channelId is 2; it must index the 2 negotiated/],
      [
        'the old string channel only',
        (d) => {
          d.channel = 'internal';
          delete d.channelId;
        },
        /^channelId is missing/,
      ],
      ['a final without offset', (d) => delete d.offset, /^offset is missing \(required for a final/],
      ['a duration in ms', (d) => (d.duration = 2650), /^duration is 2650, not a duration like "PT1.25S"$/],
      ['no alternatives', (d) => (d.alternatives = []), /^alternatives is \[\]; at least one alternative/],
      [
        'confidence above 1',
        (d) => (d.alternatives[0].confidence = 1.2),
        /^alternatives\[0\]\.confidence is 1\.2, not a number in 0\.\.1$/,
      ],
      [
        'no interpretations',
        (d) => delete d.alternatives[0].interpretations,
        /^alternatives\[0\]\.interpretations is missing/,
      ],
      [
        'interpretation type "lexical"',
        (d) => (d.alternatives[0].interpretations[0].type = 'lexical'),
        /\.type is "lexical", not "display"$/,
      ],
      [
        'no transcript text',
        (d) => delete d.alternatives[0].interpretations[0].transcript,
        /\.transcript is missing, not a string$/,
      ],
    ])('reports %s', (_what, breakIt, message) => {
      const d = recorded(0);
      breakIt(d);
      const { violations } = checkTranscript(d, STEREO);
      expect(violations).toHaveLength(1);
      expect(violations[0]).toMatch(message);
    });

    it('holds a mono session to channel 0', () => {
      expect(checkTranscript(recorded(0), { channelCount: 1 }).violations).toEqual([
        'channelId is 1; it must index the 1 negotiated channel(s) (0)',
      ]);
      expect(checkTranscript(recorded(1), { channelCount: 1 }).violations).toEqual([]);
    });

    it('lets a partial go without offset and duration, but not a final', () => {
      const d = recorded(1);
      delete d.offset;
      delete d.duration;
      d.isFinal = false;
      expect(checkTranscript(d, STEREO).violations).toEqual([]);
      d.isFinal = true;
      expect(checkTranscript(d, STEREO).violations).toHaveLength(2);
    });

    it('reports a transcript that ends after the audio the client has sent', () => {
      // Recorded customer transcript: PT4.18S + PT2.38S = 6.56 s.
      expect(checkTranscript(recorded(1), { positionMs: 6_560 }).violations).toEqual([]);
      expect(checkTranscript(recorded(1), { positionMs: 6_400 }).violations).toEqual([
        'ends at 6.560s, after the audio sent so far (6.400s)',
      ]);
    });

    it('reports data that is not an object, once', () => {
      expect(checkTranscript('hello').violations).toEqual(['data is "hello", not an object']);
    });

    it('notes a retired channel field and missing tokens without failing', () => {
      const d = recorded(0);
      d.channel = 'internal';
      delete d.alternatives[0].interpretations[0].tokens;
      const found = checkTranscript(d, STEREO);
      expect(found.violations).toEqual([]);
      expect(found.notes).toEqual([
        'carries the retired string field `channel` (use `channelId` only)',
        "no word tokens: Genesys' compliance suite requires them on final transcripts",
      ]);
    });
  });

  describe('on word tokens', () => {
    const tokens = (d: Wire) => d.alternatives[0].interpretations[0].tokens;

    it.each<[string, (t: Wire) => void, string]>([
      [
        'a repeated offset',
        (t) => (t[2].offset = t[1].offset),
        "tokens[2].offset PT1.402S repeats an earlier token's offset",
      ],
      ['a punctuation token', (t) => (t[1].type = 'punctuation'), 'tokens[1].type is "punctuation", not "word"'],
      ['a negative confidence', (t) => (t[0].confidence = -0.1), 'tokens[0].confidence is -0.1, not a number in 0..1'],
      ['no value', (t) => delete t[3].value, 'tokens[3].value is missing, not a string'],
      ['no duration', (t) => delete t[3].duration, 'tokens[3].duration is missing, not a duration'],
    ])('reports %s', (_what, breakIt, message) => {
      const d = recorded(0);
      breakIt(tokens(d));
      expect(checkTranscript(d, STEREO).violations).toEqual([`alternatives[0].interpretations[0].${message}`]);
    });

    it('reports tokens that are not an array', () => {
      const d = recorded(0);
      d.alternatives[0].interpretations[0].tokens = 'thank you';
      expect(checkTranscript(d, STEREO).violations).toEqual([
        'alternatives[0].interpretations[0].tokens is not an array',
      ]);
    });

    it('caps the findings about one transcript', () => {
      const d = recorded(1);
      for (const t of tokens(d)) {
        t.type = 'x';
        t.confidence = 2;
      }
      expect(checkTranscript(d, STEREO).violations).toHaveLength(12);
    });
  });

  describe('on the event', () => {
    it('reports several transcripts in one event (the suite reads only the first)', () => {
      const entities = fixture.events.flatMap((e) => e.parameters.entities);
      expect(checkEventEntities(entities)).toEqual([
        "'event' carries 2 entities (2 transcripts); Genesys reads one transcript per event",
      ]);
    });

    it('reports a missing or empty entities array', () => {
      expect(checkEventEntities(undefined)).toEqual(["'event' has no entities array"]);
      expect(checkEventEntities([])).toEqual(["'event' has an empty entities array"]);
    });

    it('lets several entities of other types through', () => {
      expect(
        checkEventEntities([
          { type: 'agentassist', data: {} },
          { type: 'agentassist', data: {} },
        ]),
      ).toEqual([]);
    });
  });
});

/**
 * The soak's verdict (bench/soak/truth.ts, report.ts) and its live audio source: what counts as lost,
 * duplicated, a fragment, misplaced or uncertain, and how deliveries and summaries are judged.
 */
import { describe, expect, it } from 'vitest';
import { LiveCallSource, msToSamples } from '../../bench/soak/live-source';
import { rssSlopeMiBPerMin } from '../../bench/soak/observe';
import { seededRng } from '../../bench/soak/random';
import { failures, recoveryTimes } from '../../bench/soak/report';
import { judge, judgeDeliveries, judgeSummaries, type Spoken, type StoredItem } from '../../bench/soak/truth';
import { decodeMulaw } from '../../core/audio/mulaw';
import { toneWords } from '../../local/transcribe/tone-code';

const CONV = 'c-1';

function spoken(id: number, atMs: number, over: Partial<Spoken> = {}): Spoken {
  return {
    id,
    conversationId: CONV,
    session: 0,
    role: 'customer',
    startSample: msToSamples(atMs),
    endSample: msToSamples(atMs + 980),
    expect: 'stored',
    sentAtMs: 1_000 + atMs,
    ...over,
  };
}

function item(id: number, atMs: number, over: Partial<StoredItem> = {}): StoredItem {
  const words = toneWords(id);
  return {
    conversationId: CONV,
    utteranceId: `u-${id}-${atMs}-${over.streamId ?? 's'}`,
    role: 'customer',
    streamId: 's',
    // As the endpoint writes it: capitalised, with a full stop.
    text: `${words.join(' ')}.`.replace(/^./, (c) => c.toUpperCase()),
    startMs: atMs + 20,
    endMs: atMs + 960,
    createdAtMs: 1_000 + atMs + 1_300,
    ...over,
  };
}

describe('judge', () => {
  it('finds the lost, the duplicated, the misplaced and the stored-on-hold', () => {
    const played = [
      spoken(11, 0),
      spoken(12, 2000),
      spoken(13, 4000),
      spoken(14, 6000),
      spoken(15, 8000, { expect: 'not-stored' }),
    ];
    const stored = [
      item(11, 0),
      item(12, 2000),
      item(12, 2000, { utteranceId: 'copy' }),
      item(14, 7000),
      item(15, 8000),
    ];
    const v = judge(played, stored);
    expect(v.expected).toBe(4);
    expect(v.lost.map((s) => s.id)).toEqual([13]);
    expect(v.duplicated.map((s) => s.id)).toEqual([12]);
    expect(v.extraCopies).toBe(1);
    expect(v.misplaced.map((m) => m.spoken.id)).toEqual([14]);
    expect(v.storedWhileOff.map((s) => s.id)).toEqual([15]);
    expect(v.sentToStoredMs).toEqual([1300, 1300, 2300]);
  });

  it('calls a partial utterance a fragment, unless an uncertain utterance explains it', () => {
    const cut = item(21, 0, { text: toneWords(21).slice(0, 4).join(' ') });
    expect(judge([spoken(21, 0)], [cut]).fragments).toHaveLength(1);
    const v = judge([spoken(21, 0, { uncertain: 'cut' })], [cut]);
    expect([v.fragments.length, v.cutFragments, v.lost.length, v.uncertain.cut]).toEqual([0, 1, 0, 1]);
  });

  it("counts another call's utterance as misattributed, never as a match", () => {
    const v = judge([spoken(31, 0)], [item(31, 0, { conversationId: 'c-2' })]);
    expect(v.misattributed).toHaveLength(1);
    expect(v.lost.map((s) => s.id)).toEqual([31]);
  });

  it('does not check offsets of a later session (its timeline starts again)', () => {
    const v = judge([spoken(41, 0, { session: 1 })], [item(41, 9000)]);
    expect(v.misplaced).toHaveLength(0);
  });
});

describe('judgeDeliveries', () => {
  it('dedupes on the utterance id, counts dead letters as kept and the rest as lost', () => {
    const expected = new Map([
      ['a', 100],
      ['b', 200],
      ['c', 300],
      ['d', 400],
    ]);
    const v = judgeDeliveries(
      expected,
      [
        { utteranceId: 'a', atMs: 150 },
        { utteranceId: 'a', atMs: 900 },
        { utteranceId: 'b', atMs: 260, redrive: true },
        { utteranceId: 'zz', atMs: 1 },
      ],
      new Set(['c']),
    );
    expect(v).toMatchObject({ expected: 4, delivered: 2, duplicates: 1, deadLettered: 1, redriven: 1, lost: ['d'] });
    // The redrive's latency is the run's, not the delivery path's.
    expect(v.storedToDeliveredMs).toEqual([50]);
  });
});

describe('judgeSummaries', () => {
  it('compares each role count with the items of its stream', () => {
    const items = [
      item(1, 0, { streamId: 'cu' }),
      item(2, 2000, { streamId: 'cu' }),
      item(3, 4000, { streamId: 'ag' }),
    ];
    const v = judgeSummaries(
      [{ customer: { streamId: 'cu', transcripts: 1 }, agent: { streamId: 'ag', transcripts: 1 } }],
      [
        { streamId: 'cu', transcripts: 2 },
        { streamId: 'ag', transcripts: 2 },
      ],
      items,
    );
    expect(v).toEqual({
      answers: 2,
      answersMatching: 1,
      answersUnder: 1,
      answersMissing: 1,
      answersOver: 0,
      finalSummaries: 2,
      finalMatching: 1,
    });
  });
});

describe('report', () => {
  it('recovery: from the end of a fault until what was played during it is stored', () => {
    const played = [
      spoken(1, 0, { sentAtMs: 5_000 }),
      spoken(2, 2000, { sentAtMs: 6_000 }),
      spoken(3, 0, { sentAtMs: 20_000 }),
    ];
    const storedAt = new Map([
      [1, 5_500],
      [2, 9_000],
      [3, 20_300],
    ]);
    const r = recoveryTimes([{ kind: 'dynamodb-pause', startMs: 4_000, endMs: 7_000, detail: '' }], played, storedAt);
    expect(r['dynamodb-pause']).toEqual({ n: 1, p50: 2_000, max: 2_000 });
  });

  it('the memory slope ignores the warm-up and fits a line', () => {
    const samples = Array.from({ length: 20 }, (_, i) => ({
      atMs: i * 10_000,
      kib: (i < 3 ? 50_000 : 100_000) + i * 1024,
    }));
    // 1 MiB per 10 s = 6 MiB/min after the first 30 s.
    expect(rssSlopeMiBPerMin({ component: 'gateway', pid: 1, samples }, 30_000)).toBeCloseTo(6, 5);
    expect(rssSlopeMiBPerMin({ component: 'gateway', pid: 1, samples: samples.slice(0, 6) }, 30_000)).toBeUndefined();
  });

  it('names each broken promise', () => {
    const base = {
      utterances: {
        lost: 0,
        duplicated: 0,
        storedWhileOff: 0,
        misattributed: 0,
        fragments: 0,
        misplaced: 0,
        expected: 5,
      },
      webhook: { lost: 0 },
      memory: [{ component: 'gateway', pid: 1, spanMin: 3, slopeMiBPerMin: 1, lastMiB: 100 }],
    };
    expect(failures(base as never, 5, 2)).toEqual([]);
    const bad = {
      ...base,
      utterances: { ...base.utterances, lost: 2 },
      webhook: { lost: 1 },
      memory: [{ component: 'gateway', pid: 1, spanMin: 3, slopeMiBPerMin: 9, lastMiB: 100 }],
    };
    expect(failures(bad as never, 5, 2)).toEqual([
      '2 expected utterances were never stored',
      '1 stored utterances were neither delivered nor dead-lettered',
      'gateway RSS grew 9.00 MiB/min (bound 5)',
    ]);
  });
});

describe('LiveCallSource', () => {
  it('places utterances ahead of what was read, apart per channel, outside blocked windows', () => {
    const src = new LiveCallSource(20_000, 'test');
    src.read(0, msToSamples(1000));
    const a = src.say(1, 0, { leadMs: 250, gapMs: 400 });
    const b = src.say(2, 0, { leadMs: 250, gapMs: 400, blocked: [[msToSamples(2000), msToSamples(5000)]] });
    expect(a?.startSample).toBeGreaterThanOrEqual(msToSamples(1250));
    expect(b?.startSample).toBe(msToSamples(5000));
    expect(src.say(3, 1, { leadMs: 250, gapMs: 400 })?.startSample).toBeLessThan(a?.endSample ?? 0);
  });

  it('writes the tones into its channel and counts what was sent', () => {
    const src = new LiveCallSource(10_000, 'test');
    src.read(0, 10);
    const p = src.say(7, 1, { leadMs: 0, gapMs: 0 });
    if (!p) throw new Error('not placed');
    const half = Math.floor((p.endSample - p.startSample) / 2);
    const bytes = src.read(p.startSample, half);
    const left = decodeMulaw(bytes.filter((_, i) => i % 2 === 0));
    const right = decodeMulaw(bytes.filter((_, i) => i % 2 === 1));
    expect(left.every((x) => x === 0)).toBe(true);
    expect(right.some((x) => Math.abs(x) > 1000)).toBe(true);
    expect(p.sentSamples).toBe(half);
    expect(p.sentAtMs).toBeUndefined();
    src.read(p.startSample + half, p.endSample);
    expect(p.sentSamples).toBe(p.endSample - p.startSample);
    expect(p.sentAtMs).toBeTypeOf('number');
  });
});

describe('seededRng', () => {
  it('repeats for a seed and differs between seeds', () => {
    const a = seededRng(7);
    const b = seededRng(7);
    const c = seededRng(8);
    const xs = [a(), a(), a()];
    expect([b(), b(), b()]).toEqual(xs);
    expect(c()).not.toBe(xs[0]);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import { samplesInFrame } from '../../../core/audio/pcm';
import { AnchorMap, StreamTimeline, TimelineError } from '../../../core/audio/timeline';
import { parseDurationSamples, samplesToDuration } from '../../../core/audiohook/duration';
import type { MediaParameter } from '../../../core/audiohook/messages';

const SEC = 8000;
const STEREO_PCMU: MediaParameter = { type: 'audio', format: 'PCMU', channels: ['external', 'internal'], rate: 8000 };

function dur(text: string): number {
  const n = parseDurationSamples(text);
  if (n === null) throw new Error(`bad duration ${text}`);
  return n;
}

function frameSamples(bytes: number): number {
  const n = samplesInFrame(STEREO_PCMU, bytes);
  if (n === null) throw new Error('not a whole frame');
  return n;
}

describe('StreamTimeline', () => {
  it('starts at PT0S and returns each frame’s first-sample position as it advances', () => {
    const t = new StreamTimeline();
    expect(t.position).toBe(0);
    expect(t.advance(1600)).toBe(0);
    expect(t.advance(800)).toBe(1600);
    expect(t.position).toBe(2400);
  });

  it('reaches PT2S after 10 stereo PCMU frames of 3200 bytes (§9.6)', () => {
    const t = new StreamTimeline();
    for (let i = 0; i < 10; i++) t.advance(frameSamples(3200));
    expect(samplesToDuration(t.position)).toBe('PT2S');
  });

  it('puts the next sample at start+discarded after resumed{PT2S, PT10S}, with no drift against position PT12S', () => {
    const t = new StreamTimeline();
    for (let i = 0; i < 10; i++) t.advance(frameSamples(3200));
    expect(t.resync(dur('PT2S'))).toBe(0); // the `paused` message
    const gap = t.gap(dur('PT2S'), dur('PT10S'), 'paused');
    expect(gap).toEqual({ kind: 'paused', start: 2 * SEC, length: 10 * SEC });
    expect(t.resync(dur('PT12S'))).toBe(0);
    expect(t.advance(1600)).toBe(12 * SEC);
  });

  it('honours discardTo: discarded{PT0S, PT5S} right after open moves the first audio to 5 s', () => {
    const t = new StreamTimeline();
    t.gap(0, dur('PT5S'), 'discarded');
    expect(t.advance(1600)).toBe(5 * SEC);
  });

  it('trusts a discarded start that is ahead of what we counted', () => {
    const t = new StreamTimeline();
    t.advance(1600);
    const gap = t.gap(dur('PT6.3S'), dur('PT0.3S'), 'discarded');
    expect(gap).toEqual({ kind: 'discarded', start: 50_400, length: 2400 });
    expect(t.position).toBe(dur('PT6.6S'));
  });

  it('trusts a discarded start that is behind what we counted', () => {
    const t = new StreamTimeline();
    t.advance(8 * SEC);
    t.gap(6 * SEC, SEC / 2, 'discarded');
    expect(t.position).toBe(6.5 * SEC);
  });

  it('resyncs to the client position and reports the drift in both directions', () => {
    const t = new StreamTimeline();
    t.advance(1600);
    expect(t.resync(1700)).toBe(100);
    expect(t.position).toBe(1700);
    expect(t.resync(1650)).toBe(-50);
    expect(t.position).toBe(1650);
  });

  it('can start at a position other than zero', () => {
    expect(new StreamTimeline(4000).advance(10)).toBe(4000);
  });

  it.each([
    ['a negative count', (t: StreamTimeline) => t.advance(-1)],
    ['a fractional count', (t: StreamTimeline) => t.advance(1.5)],
    ['NaN', (t: StreamTimeline) => t.resync(Number.NaN)],
    ['a negative gap', (t: StreamTimeline) => t.gap(0, -8, 'discarded')],
  ])('rejects %s with TIMELINE_INVALID_SAMPLES and keeps its position', (_name, act) => {
    const t = new StreamTimeline();
    t.advance(10);
    expect(() => act(t)).toThrow(expect.objectContaining({ name: 'TimelineError', code: 'TIMELINE_INVALID_SAMPLES' }));
    expect(t.position).toBe(10);
  });
});

describe('AnchorMap', () => {
  it('maps an uninterrupted stream one to one, offset by where forwarding began', () => {
    const m = new AnchorMap();
    m.append(3 * SEC, 1600);
    m.append(3 * SEC + 1600, 1600);
    expect(m.anchorCount).toBe(1);
    expect(m.forwardedSamples).toBe(3200);
    expect(m.toTimeline(0)).toBe(3 * SEC);
    expect(m.toTimeline(2000)).toBe(3 * SEC + 2000);
    expect(m.timelineEnd).toBe(3 * SEC + 3200);
  });

  it('places speech 0.5 s after resumed{PT2S, PT10S} at 12.5 s (§9.6)', () => {
    const t = new StreamTimeline();
    const m = new AnchorMap();
    for (let i = 0; i < 10; i++) {
      const n = frameSamples(3200);
      m.append(t.advance(n), n);
    }
    t.gap(dur('PT2S'), dur('PT10S'), 'paused');
    t.resync(dur('PT12S'));
    for (let i = 0; i < 5; i++) {
      const n = frameSamples(3200);
      m.append(t.advance(n), n);
    }
    // The recognizer only heard 3 s: speech at its 2.5 s is 0.5 s after resuming.
    expect(m.forwardedSamples).toBe(3 * SEC);
    expect(m.toTimelineMs(2500)).toBe(12_500);
    expect(samplesToDuration(m.toTimeline(2.5 * SEC))).toBe('PT12.5S');
    expect(m.toTimelineMs(1000)).toBe(1000);
    expect(m.anchorCount).toBe(2);
  });

  describe('at a discontinuity', () => {
    const m = new AnchorMap();
    m.append(0, 2 * SEC);
    m.append(12 * SEC, SEC);

    it('reads an index on the boundary as the first sample after the gap by default', () => {
      expect(m.toTimeline(2 * SEC)).toBe(12 * SEC);
    });

    it('reads it as the exclusive end of the run before the gap with edge "end"', () => {
      expect(m.toTimeline(2 * SEC, 'end')).toBe(2 * SEC);
      expect(m.toTimelineMs(2000, 'end')).toBe(2000);
      expect(m.toTimeline(2 * SEC + 1, 'end')).toBe(12 * SEC + 1);
    });
  });

  it('places results across discards, a pause and a stop/start within one stream', () => {
    const m = new AnchorMap();
    m.append(0, 4 * SEC); // 0–4 s
    m.append(4.5 * SEC, 2 * SEC); // discarded 0.5 s → 4.5–6.5 s
    m.append(20 * SEC, 3 * SEC); // paused (stopped) until 20 s → 20–23 s
    m.append(23 * SEC + 800, SEC); // discarded 0.1 s → 23.1–24.1 s
    expect(m.anchorCount).toBe(4);
    expect(m.toTimelineMs(3999)).toBe(3999);
    expect(m.toTimelineMs(4000)).toBe(4500);
    expect(m.toTimelineMs(6000)).toBe(20_000);
    expect(m.toTimelineMs(8500)).toBe(22_500);
    expect(m.toTimelineMs(9000)).toBe(23_100);
    expect(m.toTimelineMs(9999)).toBe(24_099);
  });

  it('gives each stream of a rotation its own map: the new stream counts from 0 at the rotation point', () => {
    const t = new StreamTimeline();
    const first = new AnchorMap();
    const second = new AnchorMap();
    for (let i = 0; i < 50; i++) first.append(t.advance(1600), 1600); // 10 s
    for (let i = 0; i < 10; i++) second.append(t.advance(1600), 1600); // rotated at 10 s
    expect(first.toTimelineMs(9800)).toBe(9800);
    expect(second.toTimelineMs(0)).toBe(10_000);
    expect(second.toTimelineMs(1500)).toBe(11_500);
  });

  it('extrapolates past the last forwarded sample and before the first kept anchor', () => {
    const m = new AnchorMap();
    m.append(10 * SEC, SEC);
    expect(m.toTimeline(SEC + 400)).toBe(11 * SEC + 400);
    expect(m.toTimeline(-80)).toBe(10 * SEC - 80);
  });

  it('maps fractional indices linearly (recognizer times are seconds with decimals)', () => {
    const m = new AnchorMap();
    m.append(0, SEC);
    m.append(5 * SEC, SEC);
    expect(m.toTimelineMs(1234.5)).toBeCloseTo(5234.5, 9);
    expect(m.toTimeline(8000.5)).toBeCloseTo(40_000.5, 9);
  });

  it('records audio that goes back on the timeline (client resync) as a new run', () => {
    const m = new AnchorMap();
    m.append(0, SEC);
    m.append(SEC - 80, SEC);
    expect(m.anchorCount).toBe(2);
    expect(m.toTimeline(SEC)).toBe(SEC - 80);
  });

  it('ignores empty appends', () => {
    const m = new AnchorMap();
    m.append(0, 100);
    m.append(500, 0);
    m.append(100, 100);
    expect(m.anchorCount).toBe(1);
    expect(m.toTimeline(150)).toBe(150);
  });

  it('keeps memory bounded by discontinuities, not by samples', () => {
    const t = new StreamTimeline();
    const m = new AnchorMap();
    // Two hours of 20 ms frames with a discard every ten minutes.
    for (let i = 0; i < 360_000; i++) {
      if (i > 0 && i % 30_000 === 0) t.gap(t.position, 800, 'discarded');
      m.append(t.advance(160), 160);
    }
    expect(m.anchorCount).toBe(12);
    expect(m.toTimelineMs(7_199_999)).toBe(7_199_999 + 11 * 100);
  });

  it('trims runs before an index without changing the mapping at or after it', () => {
    const m = new AnchorMap();
    for (let k = 0; k < 5; k++) m.append(k * 10 * SEC, SEC); // runs at forwarded 0,1,2,3,4 s
    const before = [2.5, 3, 4.2, 6].map((s) => m.toTimeline(s * SEC));
    expect(m.trimBefore(2.5 * SEC)).toBe(2);
    expect(m.anchorCount).toBe(3);
    expect([2.5, 3, 4.2, 6].map((s) => m.toTimeline(s * SEC))).toEqual(before);
    expect(m.trimBefore(0)).toBe(0);
    expect(m.trimBefore(100 * SEC)).toBe(2);
    expect(m.anchorCount).toBe(1);
    expect(m.toTimeline(4.5 * SEC)).toBe(40.5 * SEC);
  });

  it('refuses to map before any audio was recorded', () => {
    const m = new AnchorMap();
    expect(m.timelineEnd).toBeUndefined();
    expect(() => m.toTimeline(0)).toThrow(TimelineError);
    expect(() => m.toTimelineMs(0)).toThrow(expect.objectContaining({ code: 'TIMELINE_EMPTY' }));
  });

  it('rejects invalid appends', () => {
    const m = new AnchorMap();
    expect(() => m.append(-1, 10)).toThrow(expect.objectContaining({ code: 'TIMELINE_INVALID_SAMPLES' }));
    expect(() => m.append(0, 2.5)).toThrow(TimelineError);
    expect(m.forwardedSamples).toBe(0);
  });
});

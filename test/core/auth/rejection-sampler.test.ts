import { describe, expect, it } from 'vitest';
import { RejectionSampler } from '../../../core/auth/rejection-sampler';

function fakeClock(start = 5_000) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

describe('RejectionSampler', () => {
  it('logs the first rejection of a reason and source in full and counts the rest into one summary', () => {
    const clock = fakeClock();
    const sampler = new RejectionSampler({ intervalMs: 10_000, now: clock.now });
    const decisions = Array.from({ length: 500 }, () => sampler.record('signature-mismatch', '10.0.0.1'));
    expect(decisions.filter(Boolean)).toHaveLength(1);
    expect(decisions[0]).toBe(true);
    expect(sampler.pending).toBe(499);
    clock.advance(10_000);
    expect(sampler.takeSummary()).toEqual({
      intervalMs: 10_000,
      rejected: 500,
      suppressed: 499,
      byReason: { 'signature-mismatch': 500 },
      sources: 1,
      sourcesTruncated: false,
      topSources: [{ source: '10.0.0.1', count: 500 }],
    });
    expect(sampler.takeSummary()).toBeUndefined();
  });

  it('logs a new reason or source in full, within the per-interval budget', () => {
    const sampler = new RejectionSampler({ intervalMs: 10_000, now: fakeClock().now, maxDetailedPerInterval: 2 });
    expect(sampler.record('rate-limited', 'a')).toBe(true);
    expect(sampler.record('unknown-api-key', 'a')).toBe(true);
    expect(sampler.record('rate-limited', 'b')).toBe(false); // budget spent
    expect(sampler.takeSummary()?.byReason).toEqual({ 'rate-limited': 2, 'unknown-api-key': 1 });
    expect(sampler.record('rate-limited', 'c')).toBe(true); // a new interval, a new budget
  });

  it('keeps a continuous flood to one full line, and logs it in full again after a quiet interval', () => {
    const clock = fakeClock();
    const sampler = new RejectionSampler({ intervalMs: 10_000, now: clock.now });
    const full: boolean[] = [];
    for (let i = 0; i < 60; i++) {
      full.push(sampler.record('rate-limited', 'a'));
      clock.advance(1_000);
      if (i % 10 === 9) sampler.takeSummary();
    }
    expect(full.filter(Boolean)).toHaveLength(1);
    clock.advance(10_000);
    expect(sampler.record('rate-limited', 'a')).toBe(true);
  });

  it('returns no summary when every rejection was logged in full, and starts over on its own', () => {
    const clock = fakeClock();
    const sampler = new RejectionSampler({ intervalMs: 1_000, now: clock.now, maxDetailedPerInterval: 1 });
    expect(sampler.record('x', 'a')).toBe(true);
    expect(sampler.takeSummary()).toBeUndefined();
    clock.advance(5_000);
    // The interval rolled over by itself: its budget is fresh though nobody asked for a summary.
    expect(sampler.record('y', 'b')).toBe(true);
  });

  it('names the busiest sources and bounds what it counts under source rotation', () => {
    const sampler = new RejectionSampler({ intervalMs: 10_000, now: fakeClock().now, maxKeys: 50, topSources: 2 });
    for (let i = 0; i < 1_000; i++) sampler.record('unknown-api-key', `10.0.${i >> 8}.${i & 255}`);
    for (let i = 0; i < 5; i++) sampler.record('unknown-api-key', '10.0.0.1');
    for (let i = 0; i < 3; i++) sampler.record('unknown-api-key', '10.0.0.2');
    const summary = sampler.takeSummary();
    expect(summary?.rejected).toBe(1_008);
    expect(summary?.sources).toBe(50);
    expect(summary?.sourcesTruncated).toBe(true);
    expect(summary?.topSources).toEqual([
      { source: '10.0.0.1', count: 6 },
      { source: '10.0.0.2', count: 4 },
    ]);
    expect((sampler as unknown as { lastSeen: Map<string, number> }).lastSeen.size).toBeLessThanOrEqual(50);
  });

  it('refuses a non-positive interval or bound', () => {
    expect(() => new RejectionSampler({ intervalMs: 0, now: Date.now })).toThrow(/intervalMs must be a positive/);
    expect(() => new RejectionSampler({ intervalMs: 1, now: Date.now, maxKeys: 0 })).toThrow(/maxKeys/);
  });
});

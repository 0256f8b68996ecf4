import { describe, expect, it } from 'vitest';
import { ArrivalClock } from '../../../fargate/src/control/arrival-clock';

describe('ArrivalClock', () => {
  it('answers when the audio at a position had arrived, within one granularity step', () => {
    const clock = new ArrivalClock({ granularitySamples: 800 });
    // 20 ms frames (160 samples) arriving every 20 ms from t=1000.
    for (let i = 1; i <= 100; i++) clock.record(i * 160, 1000 + i * 20);
    // Position 1600 (200 ms) arrived with the frame ending at 1600, at t=1200.
    expect(clock.arrivedAt(1600)).toBe(1200);
    // Between remembered points: the next one (at most 100 ms late).
    expect(clock.arrivedAt(1700)).toBe(1300);
    expect(clock.arrivedAt(0)).toBe(1100);
  });

  it('knows nothing of audio that has not arrived, or that fell out of its window', () => {
    const clock = new ArrivalClock({ granularitySamples: 800, capacity: 3 });
    expect(clock.arrivedAt(0)).toBeUndefined();
    for (let i = 1; i <= 10; i++) clock.record(i * 800, i * 100);
    expect(clock.arrivedAt(8001)).toBeUndefined();
    // Only the last three points (6400, 7200, 8000) are kept.
    expect(clock.arrivedAt(8000)).toBe(1000);
    expect(clock.arrivedAt(6000)).toBe(800);
    expect(clock.arrivedAt(4000)).toBeUndefined();
  });
});

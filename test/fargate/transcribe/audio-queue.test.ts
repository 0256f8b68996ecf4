import { describe, expect, it } from 'vitest';
import { type AudioChunk, AudioQueue, type OverflowInfo } from '../../../fargate/src/transcribe/audio-queue';

function chunk(position: number, samples = 800): AudioChunk {
  return { position, samples, data: new Uint8Array(samples * 4) };
}

describe('AudioQueue', () => {
  it('hands chunks out in order', async () => {
    const q = new AudioQueue({ capacitySamples: 10_000 });
    q.push(chunk(0));
    q.push(chunk(800));
    expect((await q.take())?.position).toBe(0);
    expect(q.poll()?.position).toBe(800);
    expect(q.poll()).toBeUndefined();
  });

  it('wakes a waiting consumer when audio arrives', async () => {
    const q = new AudioQueue({ capacitySamples: 10_000 });
    const pending = q.take();
    q.push(chunk(1600));
    expect((await pending)?.position).toBe(1600);
    expect(q.length).toBe(0);
  });

  it('resolves a waiting consumer with undefined when interrupted', async () => {
    const q = new AudioQueue({ capacitySamples: 10_000 });
    const pending = q.take();
    q.interrupt();
    expect(await pending).toBeUndefined();
  });

  describe('when full', () => {
    it('drops the oldest audio, keeps the newest, and reports what it dropped', () => {
      const overflows: OverflowInfo[] = [];
      const q = new AudioQueue({ capacitySamples: 2400, onOverflow: (i) => overflows.push(i) });
      for (let i = 0; i < 5; i++) q.push(chunk(i * 800));
      expect(q.queuedSamples).toBe(2400);
      expect(q.drain().map((c) => c.position)).toEqual([1600, 2400, 3200]);
      expect(q.dropped).toEqual({ samples: 1600, chunks: 2 });
      expect(overflows).toEqual([
        { droppedSamples: 800, droppedChunks: 1, from: 0, to: 800 },
        { droppedSamples: 800, droppedChunks: 1, from: 800, to: 1600 },
      ]);
    });

    it('never holds more than its capacity (plus at most one chunk)', () => {
      const q = new AudioQueue({ capacitySamples: 8000 });
      for (let i = 0; i < 1000; i++) q.push(chunk(i * 800));
      expect(q.queuedSamples).toBeLessThanOrEqual(8000);
      expect(q.dropped.samples).toBe(1000 * 800 - q.queuedSamples);
    });
  });

  it('puts re-sent chunks back in front, in their order', () => {
    const q = new AudioQueue({ capacitySamples: 10_000 });
    q.push(chunk(4000));
    q.requeue([chunk(2400), chunk(3200)]);
    expect(q.drain().map((c) => c.position)).toEqual([2400, 3200, 4000]);
  });

  it('gives a re-sent chunk straight to a waiting consumer', async () => {
    const q = new AudioQueue({ capacitySamples: 10_000 });
    const pending = q.take();
    q.requeue([chunk(0), chunk(800)]);
    expect((await pending)?.position).toBe(0);
    expect(q.drain().map((c) => c.position)).toEqual([800]);
  });
});

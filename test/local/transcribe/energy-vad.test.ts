import { describe, expect, it } from 'vitest';
import { detectSpeech, EnergyVad } from '../../../local/transcribe/energy-vad';
import { toneTrack } from '../../../local/transcribe/test-support';

describe('EnergyVad', () => {
  it('finds tone bursts to the 10 ms frame', () => {
    const pcm = toneTrack(
      [
        [0.5, 1.2],
        [2.0, 2.5],
      ],
      3,
      16000,
    );
    expect(detectSpeech(pcm, { sampleRate: 16000 })).toEqual([
      { start: 8000, end: 19200 },
      { start: 32000, end: 40000 },
    ]);
  });

  it('bridges gaps shorter than the hangover', () => {
    const pcm = toneTrack(
      [
        [0.5, 1.0],
        [1.2, 1.5],
      ],
      2,
      8000,
    );
    expect(detectSpeech(pcm, { sampleRate: 8000, hangoverMs: 300 })).toEqual([{ start: 4000, end: 12000 }]);
  });

  it('ignores blips shorter than the minimum speech time', () => {
    const pcm = toneTrack([[0.5, 0.52]], 1, 8000);
    expect(detectSpeech(pcm, { sampleRate: 8000, minSpeechMs: 30 })).toEqual([]);
  });

  it('tells the open segment so far: from its start to its last voiced frame, hangover excluded', () => {
    const vad = new EnergyVad({ sampleRate: 8000 });
    expect(vad.openSegment).toBeUndefined();
    vad.push(toneTrack([[0.1, 0.4]], 0.5, 8000));
    expect(vad.openSegment).toEqual({ start: 800, end: 3200 });
    expect(vad.frameSamples).toBe(80);
    vad.push(new Int16Array(8000));
    expect(vad.openSegment).toBeUndefined();
  });

  it('reports a segment only once it closes, and the open one on flush', () => {
    const vad = new EnergyVad({ sampleRate: 8000 });
    const pcm = toneTrack([[0.1, 0.4]], 0.6, 8000);
    expect(vad.push(pcm)).toEqual([]);
    expect(vad.inSpeech).toBe(true);
    expect(vad.flush()).toEqual([{ start: 800, end: 3200 }]);
  });
});

import { describe, expect, it } from 'vitest';
import {
  FrameEnergy,
  HighBandNoise,
  PocketsphinxOutputParser,
  pocketsphinxArgs,
  trimToEnergy,
} from '../../../local/transcribe/pocketsphinx';

const OUTPUT = `thank you for calling
<s> 0.000 1.010 0.998801
<sil> 1.020 1.190 0.895017
thank 1.200 1.630 0.251312
you 1.640 1.840 0.999500
for(2) 1.850 2.030 0.903019
calling 2.040 2.430 0.753344
</s> 2.440 2.840 1.000000
i would
<s> 6.010 6.330 0.999500
i 6.340 6.450 0.923847
[NOISE] 6.450 6.500 0.5
would 6.460 6.620 0.996406
</s> 6.630 6.900 1.000000
`;

describe('PocketsphinxOutputParser', () => {
  it('groups word lines into utterances, dropping fillers and pronunciation variants', () => {
    const parser = new PocketsphinxOutputParser();
    const utterances = parser.push(OUTPUT);
    expect(utterances.map((u) => u.map((w) => w.word))).toEqual([
      ['thank', 'you', 'for', 'calling'],
      ['i', 'would'],
    ]);
    expect(utterances[0]?.[0]).toEqual({ word: 'thank', startSec: 1.2, endSec: 1.63, confidence: 0.2513 });
  });

  it('completes an utterance only when its closing line arrives, whatever the chunking', () => {
    const parser = new PocketsphinxOutputParser();
    const out = [];
    for (let i = 0; i < OUTPUT.length; i += 5) out.push(...parser.push(OUTPUT.slice(i, i + 5)));
    expect(out).toHaveLength(2);
    expect(parser.finish()).toEqual([]);
  });

  it('reports an utterance cut off without </s> at the end of output', () => {
    const parser = new PocketsphinxOutputParser();
    expect(parser.push('hello\n<s> 0.000 0.100 1\nhello 0.110 0.500 0.9\n')).toEqual([]);
    expect(parser.finish()).toEqual([[{ word: 'hello', startSec: 0.11, endSec: 0.5, confidence: 0.9 }]]);
  });

  it('reports an empty utterance for an empty hypothesis', () => {
    expect(new PocketsphinxOutputParser().push('\n<s> 0.000 0.500 1\n</s> 0.510 0.900 1\n')).toEqual([[]]);
  });
});

describe('trimToEnergy', () => {
  it('moves word edges past silent frames, relative to the utterance peak', () => {
    // Frames 100–149 loud (-10 dBFS), everything else silent (-90).
    const db = (f: number) => (f >= 100 && f < 150 ? -10 : -90);
    const out = trimToEnergy(
      [
        { word: 'a', startSec: 0.9, endSec: 1.2, confidence: 1 },
        { word: 'b', startSec: 1.21, endSec: 1.9, confidence: 1 },
      ],
      db,
    );
    expect(out.map((w) => [w.startSec, w.endSec])).toEqual([
      [1, 1.2],
      [1.21, 1.5],
    ]);
  });

  it('keeps at least one frame of a word that is all silence', () => {
    const out = trimToEnergy([{ word: 'a', startSec: 1, endSec: 1.5, confidence: 1 }], () => -90);
    expect(out[0]?.endSec).toBeGreaterThan(out[0]?.startSec ?? 0);
  });
});

describe('FrameEnergy', () => {
  it('measures 10 ms frames and forgets pruned ones', () => {
    const e = new FrameEnergy();
    const loud = new Int16Array(160).fill(16384);
    e.push(new Int16Array(160));
    e.push(loud);
    expect(e.at(0)).toBeLessThan(-100);
    expect(e.at(1)).toBeCloseTo(-6.02, 1);
    e.pruneBefore(1);
    expect(e.at(0)).toBe(-120);
    expect(e.at(1)).toBeCloseTo(-6.02, 1);
  });
});

describe('HighBandNoise', () => {
  it('adds noise at the requested level with little energy below 4 kHz', () => {
    const noisy = new HighBandNoise(-50).addTo(new Int16Array(16000));
    let total = 0;
    let low = 0;
    // Energy below ~2 kHz: a moving average over 4 samples keeps the low band.
    for (let i = 4; i < noisy.length; i++) {
      total += (noisy[i] as number) ** 2;
      const avg =
        ((noisy[i] as number) + (noisy[i - 1] as number) + (noisy[i - 2] as number) + (noisy[i - 3] as number)) / 4;
      low += avg * avg;
    }
    const rmsDb = 10 * Math.log10(total / noisy.length / 32768 ** 2);
    expect(rmsDb).toBeGreaterThan(-52);
    expect(rmsDb).toBeLessThan(-48);
    expect(low / total).toBeLessThan(0.05);
  });

  it('is deterministic for a seed', () => {
    expect(Array.from(new HighBandNoise(-50, 7).addTo(new Int16Array(64)))).toEqual(
      Array.from(new HighBandNoise(-50, 7).addTo(new Int16Array(64))),
    );
  });
});

describe('pocketsphinxArgs', () => {
  it('reads raw 16 kHz little-endian PCM from the given file and prints word times', () => {
    const args = pocketsphinxArgs('/tmp/x/audio.pcm');
    expect(args.slice(0, 2)).toEqual(['-infile', '/tmp/x/audio.pcm']);
    expect(args.join(' ')).toContain('-samprate 16000 -input_endian little -time yes');
  });
});

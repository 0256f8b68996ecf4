import { describe, expect, it } from 'vitest';
import { referenceToneFrame } from '../../../core/audio/tone';
import { encodeWav, encodeWavHeader, parseWav, WavFormatError, wavHeaderBytes } from '../../../core/audio/wav';

/** Little byte-writer so the test files below are built independently of the encoder under test. */
class Bytes {
  readonly parts: number[] = [];
  ascii(s: string): this {
    for (const ch of s) this.parts.push(ch.charCodeAt(0));
    return this;
  }
  u16(n: number): this {
    this.parts.push(n & 0xff, (n >> 8) & 0xff);
    return this;
  }
  u32(n: number): this {
    this.parts.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
    return this;
  }
  raw(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.parts.push(b[i] as number);
    return this;
  }
  chunk(id: string, body: Bytes, opts: { pad?: boolean; declaredSize?: number } = {}): this {
    this.ascii(id)
      .u32(opts.declaredSize ?? body.parts.length)
      .raw(body.parts);
    if (body.parts.length % 2 === 1 && opts.pad !== false) this.parts.push(0);
    return this;
  }
  build(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

function fmt(code: number, channels: number, rate: number, blockAlign: number, bits: number, extra?: Bytes): Bytes {
  const b = new Bytes()
    .u16(code)
    .u16(channels)
    .u32(rate)
    .u32(rate * blockAlign)
    .u16(blockAlign)
    .u16(bits);
  if (extra) b.u16(extra.parts.length).raw(extra.parts);
  return b;
}

function riff(chunks: Bytes, declaredSize?: number): Uint8Array {
  return new Bytes()
    .ascii('RIFF')
    .u32(declaredSize ?? chunks.parts.length + 4)
    .ascii('WAVE')
    .raw(chunks.parts)
    .build();
}

const KSDATAFORMAT_TAIL = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];

function extensible(subformat: number, validBits: number, tail = KSDATAFORMAT_TAIL): Bytes {
  return new Bytes().u16(validBits).u32(0x3).u16(subformat).raw(tail);
}

function expectWavError(buf: Uint8Array, code: string): void {
  let caught: unknown;
  try {
    parseWav(buf);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(WavFormatError);
  expect(caught).toMatchObject({ name: 'WavFormatError', code });
}

describe('WAV', () => {
  describe('parsing', () => {
    it('reads what `sox -n -r 8000 -c 2 -e mu-law x.wav synth 0.2 sine 1000` writes (fmt 18 + fact + data)', () => {
      // sox is not installed here; this is its layout for µ-law: 18-byte fmt with cbSize 0, then fact.
      const payload = referenceToneFrame(2);
      const file = riff(
        new Bytes()
          .chunk('fmt ', fmt(7, 2, 8000, 2, 8, new Bytes()))
          .chunk('fact', new Bytes().u32(1600))
          .chunk('data', new Bytes().raw(payload)),
      );
      const wav = parseWav(file);
      expect(wav).toMatchObject({ format: 'PCMU', channels: 2, sampleRate: 8000, durationSamples: 1600 });
      expect(wav.data).toEqual(payload);
      // Our encoder writes the same bytes for the same audio.
      expect(encodeWav({ format: 'PCMU', channels: 2, sampleRate: 8000, data: payload })).toEqual(file);
    });

    it('reads a canonical 16-bit PCM file', () => {
      const pcm = [0x34, 0x12, 0xfe, 0xff, 0x00, 0x80, 0xff, 0x7f];
      const wav = parseWav(riff(new Bytes().chunk('fmt ', fmt(1, 2, 8000, 4, 16)).chunk('data', new Bytes().raw(pcm))));
      expect(wav).toMatchObject({ format: 'L16', channels: 2, sampleRate: 8000, durationSamples: 2 });
      expect(Array.from(wav.data)).toEqual(pcm);
    });

    it.each([
      ['µ-law', 7, 8, 'PCMU', 1],
      ['16-bit PCM', 1, 16, 'L16', 2],
    ])('reads WAVE_FORMAT_EXTENSIBLE with a %s subformat', (_name, sub, bits, format, bytesPer) => {
      const data = new Bytes().raw(new Uint8Array(bytesPer * 10));
      const wav = parseWav(
        riff(
          new Bytes().chunk('fmt ', fmt(0xfffe, 1, 8000, bytesPer, bits, extensible(sub, bits))).chunk('data', data),
        ),
      );
      expect(wav).toMatchObject({ format, channels: 1, durationSamples: 10 });
    });

    it('skips unknown chunks, honouring the pad byte of odd-sized ones', () => {
      const file = riff(
        new Bytes()
          .chunk('LIST', new Bytes().ascii('INFOISFT').u32(3).ascii('sox'))
          .chunk('junk', new Bytes().raw([1, 2, 3])) // odd: padded
          .chunk('fmt ', fmt(7, 1, 8000, 1, 8, new Bytes()))
          .chunk('fact', new Bytes().u32(3))
          .chunk('data', new Bytes().raw([0xff, 0x0d, 0x06])) // odd: padded
          .chunk('LIST', new Bytes().ascii('INFO')),
      );
      const wav = parseWav(file);
      expect(Array.from(wav.data)).toEqual([0xff, 0x0d, 0x06]);
      expect(wav.durationSamples).toBe(3);
    });

    it('finds fmt after data', () => {
      const wav = parseWav(
        riff(new Bytes().chunk('data', new Bytes().raw([1, 2])).chunk('fmt ', fmt(1, 1, 8000, 2, 16))),
      );
      expect(wav.durationSamples).toBe(1);
    });

    it('reports a sample rate other than 8 kHz instead of rejecting it', () => {
      const wav = parseWav(encodeWav({ format: 'L16', channels: 1, sampleRate: 16000, data: new Uint8Array(4) }));
      expect(wav.sampleRate).toBe(16000);
    });

    it('returns a view on the input, not a copy, and works on a view at an offset', () => {
      const file = encodeWav({ format: 'PCMU', channels: 1, sampleRate: 8000, data: Uint8Array.of(1, 2, 3, 4) });
      const backing = new Uint8Array(file.byteLength + 3);
      backing.set(file, 3);
      const wav = parseWav(backing.subarray(3));
      expect(Array.from(wav.data)).toEqual([1, 2, 3, 4]);
      expect(wav.data.buffer).toBe(backing.buffer);
    });

    it('reads a streamed file whose sizes were never patched (0xFFFFFFFF) up to the last whole sample-frame', () => {
      const file = riff(
        new Bytes()
          .chunk('fmt ', fmt(1, 2, 8000, 4, 16))
          .chunk('data', new Bytes().raw([1, 0, 2, 0, 3, 0, 4, 0, 5, 0]), { declaredSize: 0xffffffff, pad: false }),
        0xffffffff,
      );
      expect(parseWav(file).durationSamples).toBe(2);
    });

    it('does not trust the RIFF size: a wrong one is ignored, and a trailing tag after data is never read', () => {
      const file = encodeWav({ format: 'L16', channels: 1, sampleRate: 8000, data: Uint8Array.of(1, 0) });
      new DataView(file.buffer).setUint32(4, 12, true);
      const withTag = Uint8Array.of(...file, ...new Bytes().ascii('id3 ').u32(1000).parts);
      expect(Array.from(parseWav(withTag).data)).toEqual([1, 0]);
    });

    describe('rejects with a typed error', () => {
      const goodFmt = () => fmt(1, 1, 8000, 2, 16);
      const data2 = () => new Bytes().raw([0, 0]);

      it.each<[string, Uint8Array, string]>([
        ['an empty buffer', new Uint8Array(0), 'WAV_NOT_RIFF_WAVE'],
        ['an MP3-looking file', new Bytes().ascii('ID3\u0004').u32(0).ascii('WAVE').build(), 'WAV_NOT_RIFF_WAVE'],
        ['a big-endian RIFX file', new Bytes().ascii('RIFX').u32(4).ascii('WAVE').build(), 'WAV_NOT_RIFF_WAVE'],
        ['a RIFF that is not WAVE', new Bytes().ascii('RIFF').u32(4).ascii('AVI ').build(), 'WAV_NOT_RIFF_WAVE'],
        ['no fmt chunk', riff(new Bytes().chunk('data', data2())), 'WAV_MISSING_CHUNK'],
        ['no data chunk', riff(new Bytes().chunk('fmt ', goodFmt())), 'WAV_MISSING_CHUNK'],
        [
          'a data chunk longer than the file',
          riff(new Bytes().chunk('fmt ', goodFmt()).chunk('data', data2(), { declaredSize: 100 })),
          'WAV_TRUNCATED',
        ],
        [
          'a fmt chunk cut short by the end of the file',
          new Bytes().ascii('RIFF').u32(30).ascii('WAVE').ascii('fmt ').u32(16).u16(1).u16(1).build(),
          'WAV_TRUNCATED',
        ],
        [
          'A-law',
          riff(new Bytes().chunk('fmt ', fmt(6, 1, 8000, 1, 8)).chunk('data', data2())),
          'WAV_UNSUPPORTED_FORMAT',
        ],
        [
          'IEEE float',
          riff(new Bytes().chunk('fmt ', fmt(3, 1, 8000, 4, 32)).chunk('data', new Bytes().raw([0, 0, 0, 0]))),
          'WAV_UNSUPPORTED_FORMAT',
        ],
        [
          '8-bit PCM',
          riff(new Bytes().chunk('fmt ', fmt(1, 1, 8000, 1, 8)).chunk('data', data2())),
          'WAV_UNSUPPORTED_FORMAT',
        ],
        [
          '24-bit PCM',
          riff(new Bytes().chunk('fmt ', fmt(1, 1, 8000, 3, 24)).chunk('data', new Bytes().raw([0, 0, 0]))),
          'WAV_UNSUPPORTED_FORMAT',
        ],
        [
          'EXTENSIBLE with a foreign subformat GUID',
          riff(
            new Bytes()
              .chunk('fmt ', fmt(0xfffe, 1, 8000, 2, 16, extensible(1, 16, [...KSDATAFORMAT_TAIL].reverse())))
              .chunk('data', data2()),
          ),
          'WAV_UNSUPPORTED_FORMAT',
        ],
        [
          'EXTENSIBLE with a short extension',
          riff(new Bytes().chunk('fmt ', fmt(0xfffe, 1, 8000, 2, 16, new Bytes().u16(16))).chunk('data', data2())),
          'WAV_INCONSISTENT_FORMAT',
        ],
        [
          'three channels',
          riff(new Bytes().chunk('fmt ', fmt(1, 3, 8000, 6, 16)).chunk('data', new Bytes().raw([0, 0, 0, 0, 0, 0]))),
          'WAV_UNSUPPORTED_CHANNELS',
        ],
        [
          'zero channels',
          riff(new Bytes().chunk('fmt ', fmt(1, 0, 8000, 0, 16)).chunk('data', data2())),
          'WAV_UNSUPPORTED_CHANNELS',
        ],
        [
          'a block align that does not match the channels',
          riff(new Bytes().chunk('fmt ', fmt(1, 2, 8000, 2, 16)).chunk('data', data2())),
          'WAV_INCONSISTENT_FORMAT',
        ],
        [
          'a zero sample rate',
          riff(new Bytes().chunk('fmt ', fmt(1, 1, 0, 2, 16)).chunk('data', data2())),
          'WAV_INCONSISTENT_FORMAT',
        ],
        [
          'a fmt chunk shorter than 16 bytes',
          riff(new Bytes().chunk('fmt ', new Bytes().u16(1).u16(1)).chunk('data', data2())),
          'WAV_INCONSISTENT_FORMAT',
        ],
        [
          'a data chunk that ends mid sample-frame',
          riff(new Bytes().chunk('fmt ', fmt(1, 2, 8000, 4, 16)).chunk('data', new Bytes().raw([0, 0, 0, 0, 0, 0]))),
          'WAV_PARTIAL_SAMPLE_FRAME',
        ],
      ])('%s', (_name, buf, code) => {
        expectWavError(buf, code);
      });
    });
  });

  describe('encoding', () => {
    it('writes the canonical 44-byte header for 16-bit PCM', () => {
      const header = encodeWavHeader({ format: 'L16', channels: 2, sampleRate: 8000, dataBytes: 6400 });
      const expected = new Bytes()
        .ascii('RIFF')
        .u32(36 + 6400)
        .ascii('WAVE')
        .ascii('fmt ')
        .u32(16)
        .raw(fmt(1, 2, 8000, 4, 16).parts)
        .ascii('data')
        .u32(6400)
        .build();
      expect(header).toEqual(expected);
      expect(wavHeaderBytes('L16')).toBe(44);
    });

    it('writes µ-law with cbSize and a fact chunk holding the sample-frame count', () => {
      const header = encodeWavHeader({ format: 'PCMU', channels: 2, sampleRate: 8000, dataBytes: 3200 });
      expect(header.byteLength).toBe(wavHeaderBytes('PCMU'));
      const view = new DataView(header.buffer);
      expect(view.getUint32(4, true)).toBe(50 + 3200);
      expect(view.getUint32(16, true)).toBe(18);
      expect(view.getUint16(20, true)).toBe(7);
      expect(view.getUint16(36, true)).toBe(0);
      expect(String.fromCharCode(...header.subarray(38, 42))).toBe('fact');
      expect(view.getUint32(46, true)).toBe(1600);
      expect(String.fromCharCode(...header.subarray(50, 54))).toBe('data');
    });

    it.each([
      ['PCMU', 1],
      ['PCMU', 2],
      ['L16', 1],
      ['L16', 2],
    ] as const)('round-trips %s with %i channel(s)', (format, channels) => {
      const bytesPer = format === 'PCMU' ? 1 : 2;
      const data = Uint8Array.from({ length: 37 * channels * bytesPer }, (_, i) => (i * 7 + 3) & 0xff);
      const wav = parseWav(encodeWav({ format, channels, sampleRate: 8000, data }));
      expect(wav).toMatchObject({ format, channels, sampleRate: 8000, durationSamples: 37 });
      expect(wav.data).toEqual(data);
    });

    it('pads an odd-sized µ-law payload and counts the pad in the RIFF size', () => {
      const file = encodeWav({ format: 'PCMU', channels: 1, sampleRate: 8000, data: Uint8Array.of(1, 2, 3) });
      expect(file.byteLength).toBe(58 + 4);
      expect(new DataView(file.buffer).getUint32(4, true)).toBe(file.byteLength - 8);
      expect(Array.from(parseWav(file).data)).toEqual([1, 2, 3]);
    });

    it.each<[string, Parameters<typeof encodeWavHeader>[0], string]>([
      ['a partial sample-frame', { format: 'L16', channels: 2, sampleRate: 8000, dataBytes: 6 }, 'WAV_INVALID_OPTIONS'],
      ['a negative size', { format: 'L16', channels: 1, sampleRate: 8000, dataBytes: -2 }, 'WAV_INVALID_OPTIONS'],
      ['a zero rate', { format: 'PCMU', channels: 1, sampleRate: 0, dataBytes: 0 }, 'WAV_INVALID_OPTIONS'],
      ['three channels', { format: 'PCMU', channels: 3 as 1, sampleRate: 8000, dataBytes: 0 }, 'WAV_INVALID_OPTIONS'],
      ['more than 4 GiB', { format: 'L16', channels: 2, sampleRate: 8000, dataBytes: 2 ** 32 }, 'WAV_TOO_LARGE'],
    ])('refuses %s', (_name, opts, code) => {
      expect(() => encodeWavHeader(opts)).toThrow(expect.objectContaining({ name: 'WavFormatError', code }));
    });
  });
});

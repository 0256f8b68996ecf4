import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeFrame } from '../../../core/audio/pcm';
import { encodeWav, WavFormatError } from '../../../core/audio/wav';
import type { MediaParameter } from '../../../core/audiohook/messages';
import {
  AudioSourceError,
  bytesSource,
  createFrameReader,
  loadWavFile,
  silenceSource,
  sourceFrames,
  toneSource,
  wavSource,
} from '../../../local/simulator/audio-source';

const media = (format: 'PCMU' | 'L16', channels: MediaParameter['channels']): MediaParameter => ({
  type: 'audio',
  format,
  channels,
  rate: 8000,
});

describe('audio sources', () => {
  describe('generated tone', () => {
    it('reproduces the reference 1 kHz PCMU tone, both channels identical (§9.5)', () => {
      const tone = toneSource({ format: 'PCMU', channels: 2, durationMs: 1000 });
      expect([...tone.read(0, 8)]).toEqual([
        0xff, 0xff, 0x0d, 0x0d, 0x06, 0x06, 0x0d, 0x0d, 0xff, 0xff, 0x8d, 0x8d, 0x86, 0x86, 0x8d, 0x8d,
      ]);
      expect(tone.durationSamples).toBe(8000);
    });

    it('is random access on the timeline: a read at any position continues the same waveform', () => {
      const tone = toneSource({ format: 'L16', channels: 1, durationMs: 3000, hz: 440 });
      const whole = tone.read(0, 24_000);
      const late = tone.read(12_345, 5000);
      expect(Buffer.from(late)).toEqual(Buffer.from(whole.subarray(12_345 * 2, (12_345 + 5000) * 2)));
    });

    it('clips reads at the end of the call', () => {
      const tone = toneSource({ format: 'PCMU', channels: 2, durationMs: 250 });
      const frames = [...sourceFrames(tone, 200)];
      expect(frames.map((f) => f.byteLength)).toEqual([3200, 800]);
      expect(tone.read(2000, 1600).byteLength).toBe(0);
    });

    it('produces frames of frameMs in the wire layout (200 ms stereo PCMU = 3200 bytes, mono L16 100 ms = 1600)', () => {
      expect(toneSource({ format: 'PCMU', channels: 2, durationMs: 1000 }).read(0, 1600).byteLength).toBe(3200);
      const l16 = toneSource({ format: 'L16', channels: 1, durationMs: 1000 });
      expect([...sourceFrames(l16, 100)].map((f) => f.byteLength)).toEqual(Array(10).fill(1600));
    });

    it('rejects impossible options with a stable code', () => {
      expect(() => toneSource({ format: 'PCMU', channels: 2, durationMs: 0 })).toThrow(
        expect.objectContaining({ code: 'SIM_AUDIO_INVALID_OPTIONS' }),
      );
      expect(() => toneSource({ format: 'PCMU', channels: 2, durationMs: 100, hz: 5000 })).toThrow(AudioSourceError);
    });
  });

  describe('silence', () => {
    it('is µ-law 0xFF or linear zero', () => {
      expect(new Set(silenceSource({ format: 'PCMU', channels: 2, durationMs: 100 }).read(0, 800))).toEqual(
        new Set([0xff]),
      );
      expect(new Set(silenceSource({ format: 'L16', channels: 1, durationMs: 2000 }).read(0, 16_000))).toEqual(
        new Set([0]),
      );
    });
  });

  describe('WAV files', () => {
    const dirs: string[] = [];
    afterAll(async () => {
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    });

    it('loads an 8 kHz stereo PCMU file as-is', async () => {
      const data = new Uint8Array(3200).map((_, i) => i % 256);
      const dir = await mkdtemp(join(tmpdir(), 'sim-wav-'));
      dirs.push(dir);
      const path = join(dir, 'call.wav');
      await writeFile(path, encodeWav({ format: 'PCMU', channels: 2, sampleRate: 8000, data }));
      const source = await loadWavFile(path);
      expect(source).toMatchObject({ format: 'PCMU', channels: 2, durationSamples: 1600, label: path });
      expect(Buffer.from(source.read(0, 1600))).toEqual(Buffer.from(data));
    });

    it('refuses other sample rates with a message that says how to fix it', () => {
      const wav = encodeWav({ format: 'L16', channels: 1, sampleRate: 16_000, data: new Uint8Array(320) });
      let error: unknown;
      try {
        wavSource(wav, 'wideband.wav');
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(AudioSourceError);
      expect(error).toMatchObject({ code: 'SIM_AUDIO_UNSUPPORTED_RATE' });
      expect((error as Error).message).toMatch(/wideband\.wav.*16000 Hz.*8000/);
    });

    it('passes on the WAV reader’s error for files that are not PCM/µ-law WAV', () => {
      expect(() => wavSource(new TextEncoder().encode('not a wav file at all'))).toThrow(WavFormatError);
    });

    it('refuses a WAV without a single sample', () => {
      const wav = encodeWav({ format: 'PCMU', channels: 1, sampleRate: 8000, data: new Uint8Array(0) });
      expect(() => wavSource(wav)).toThrow(expect.objectContaining({ code: 'SIM_AUDIO_EMPTY' }));
    });
  });

  describe('rendering for the negotiated media', () => {
    // External carries a 1 kHz tone, internal is silent: the channels can be told apart after decoding.
    const stereo = toneSource({ format: 'PCMU', channels: 2, durationMs: 1000, hz: [1000, 0] });

    it('is a zero-copy view when the selection matches the source', () => {
      const read = createFrameReader(stereo, ['external', 'internal'], media('PCMU', ['external', 'internal']));
      const frame = read(0, 1600);
      expect(frame.buffer).toBe(stereo.read(0, 1).buffer);
      expect(frame.byteLength).toBe(3200);
    });

    it('picks one channel by name for a mono selection', () => {
      const internal = createFrameReader(stereo, ['external', 'internal'], media('PCMU', ['internal']))(0, 1600);
      const external = createFrameReader(stereo, ['external', 'internal'], media('PCMU', ['external']))(0, 1600);
      expect(internal.byteLength).toBe(1600);
      expect(new Set(internal)).toEqual(new Set([0xff]));
      expect([...external.subarray(0, 8)]).toEqual([0xff, 0x0d, 0x06, 0x0d, 0xff, 0x8d, 0x86, 0x8d]);
    });

    it('swaps channels for the inverted order and transcodes PCMU to L16', () => {
      const read = createFrameReader(stereo, ['external', 'internal'], media('L16', ['internal', 'external']));
      const decoded = decodeFrame(media('L16', ['internal', 'external']), read(0, 8));
      expect(decoded.ok).toBe(true);
      if (!decoded.ok) return;
      expect([...(decoded.channels[0] as Int16Array)]).toEqual(Array(8).fill(0));
      expect(decoded.channels[1]?.[2]).toBe(-25980);
    });

    it('fills a channel the source does not have with silence', () => {
      const mono = bytesSource({ format: 'L16', channels: 1, data: new Uint8Array(16).fill(1) });
      const frame = createFrameReader(mono, ['external'], media('L16', ['external', 'internal']))(0, 8);
      const decoded = decodeFrame(media('L16', ['external', 'internal']), frame);
      expect(decoded.ok && [...(decoded.channels[1] as Int16Array)]).toEqual(Array(8).fill(0));
      expect(decoded.ok && decoded.channels[0]?.[0]).toBe(0x0101);
    });
  });
});

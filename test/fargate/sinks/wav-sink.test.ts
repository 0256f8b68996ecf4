import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { decodeFrame } from '../../../core/audio/pcm';
import type { ChannelName, Role } from '../../../core/audio/roles';
import { parseWav } from '../../../core/audio/wav';
import type { AudioFrame, SinkStartInfo } from '../../../core/audiohook/ports';
import type { Logger } from '../../../core/ports';
import { createWavSinkFactory, WavSink, WavSinkConfigError } from '../../../fargate/src/sinks/wav-sink';
import { frameOf } from '../../helpers/audio-frames';

const SEC = 8000;
const SESSION = '11111111-1111-4111-8111-111111111111';
const CONVERSATION = '22222222-2222-4222-8222-222222222222';

interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg: string;
}

function recordingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const make = (bindings: Record<string, unknown>): Logger => {
    const at =
      (level: LogLine['level']) =>
      (obj: Record<string, unknown>, msg: string): void => {
        lines.push({ level, obj: { ...bindings, ...obj }, msg });
      };
    return {
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      child: (b) => make({ ...bindings, ...b }),
    };
  };
  return { logger: make({}), lines };
}

function startInfo(channels: ChannelName[], ids = { sessionId: SESSION, conversationId: CONVERSATION }): SinkStartInfo {
  return {
    ...ids,
    media: { type: 'audio', format: 'PCMU', channels, rate: 8000 },
    roles: channels.map((c) => (c === 'external' ? 'customer' : 'agent')),
    channels,
  };
}

/**
 * A frame whose samples are `value` (per role) so the channels can be told apart in the file; its channels
 * carry `roles` (the session's, in negotiated order; a role without a value is silence).
 */
function frame(
  position: number,
  samples: number,
  values: Partial<Record<Role, number>>,
  roles: readonly Role[] = ['customer', 'agent'],
): AudioFrame {
  const pcm: Partial<Record<Role, Int16Array>> = {};
  for (const role of Object.keys(values) as Role[]) pcm[role] = new Int16Array(samples).fill(values[role] as number);
  return frameOf(position, samples, pcm, roles);
}

/** Reads the file and splits it into [channel 0, channel 1]. */
async function readStereo(path: string): Promise<{ left: Int16Array; right: Int16Array; samples: number }> {
  const wav = parseWav(await readFile(path));
  expect(wav).toMatchObject({ format: 'L16', channels: 2, sampleRate: 8000 });
  const decoded = decodeFrame({ format: 'L16', channels: ['external', 'internal'] }, wav.data);
  if (!decoded.ok) throw new Error(decoded.error);
  return {
    left: decoded.channels[0] as Int16Array,
    right: decoded.channels[1] as Int16Array,
    samples: decoded.samples,
  };
}

/** Run-length summary of a channel, e.g. [[100, 1600], [0, 8000]]: readable expectations for long files. */
function runs(channel: Int16Array): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const v of channel) {
    const last = out.at(-1);
    if (last && last[0] === v) last[1]++;
    else out.push([v, 1]);
  }
  return out;
}

describe('WavSink', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wav-sink-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes <dir>/<conversationId>/<sessionId>.wav with the final sizes in the header', async () => {
    const { logger } = recordingLogger();
    const sink = new WavSink({ dir, logger });
    sink.start(startInfo(['external', 'internal']));
    for (let i = 0; i < 10; i++) sink.write(frame(i * 1600, 1600, { customer: 1000, agent: -1000 }));
    await sink.end('close');
    const path = join(dir, CONVERSATION, `${SESSION}.wav`);
    expect(sink.path).toBe(path);
    const { samples } = await readStereo(path);
    expect(samples).toBe(2 * SEC);
    expect((await readFile(path)).byteLength).toBe(44 + 2 * SEC * 4);
  });

  it.each<[string, ChannelName[]]>([
    ['["external","internal"]', ['external', 'internal']],
    ['["internal","external"]', ['internal', 'external']],
  ])('puts the customer on channel 0 and the agent on channel 1 when negotiated as %s', async (_name, channels) => {
    const sink = new WavSink({ dir, logger: recordingLogger().logger });
    const info = startInfo(channels);
    sink.start(info);
    sink.write(frame(0, 800, { customer: 1234, agent: -4321 }, info.roles));
    await sink.end('close');
    const { left, right } = await readStereo(sink.path as string);
    expect(runs(left)).toEqual([[1234, 800]]);
    expect(runs(right)).toEqual([[-4321, 800]]);
  });

  it('fills the missing role of a mono session with silence', async () => {
    const sink = new WavSink({ dir, logger: recordingLogger().logger });
    sink.start(startInfo(['internal']));
    sink.write(frame(0, 1600, { agent: 500 }, ['agent']));
    await sink.end('close');
    const { left, right } = await readStereo(sink.path as string);
    expect(runs(left)).toEqual([[0, 1600]]);
    expect(runs(right)).toEqual([[500, 1600]]);
  });

  it('fills a pause with silence so the file stays aligned with the timeline (resumed{PT2S, PT10S})', async () => {
    const sink = new WavSink({ dir, logger: recordingLogger().logger });
    sink.start(startInfo(['external', 'internal']));
    for (let i = 0; i < 10; i++) sink.write(frame(i * 1600, 1600, { customer: 7, agent: 9 }));
    sink.gap({ kind: 'paused', start: 2 * SEC, length: 10 * SEC });
    sink.write(frame(12 * SEC, 1600, { customer: 70, agent: 90 }));
    await sink.end('close');
    const { left, right, samples } = await readStereo(sink.path as string);
    expect(samples).toBe(12 * SEC + 1600);
    expect(runs(left)).toEqual([
      [7, 2 * SEC],
      [0, 10 * SEC],
      [70, 1600],
    ]);
    expect(runs(right)).toEqual([
      [9, 2 * SEC],
      [0, 10 * SEC],
      [90, 1600],
    ]);
    expect(sink.stats()).toMatchObject({ silenceSamples: 10 * SEC, truncatedGapSamples: 0 });
  });

  it('starts with silence when the first audio is later on the timeline (discardTo)', async () => {
    const sink = new WavSink({ dir, logger: recordingLogger().logger });
    sink.start(startInfo(['external', 'internal']));
    sink.gap({ kind: 'discarded', start: 0, length: 5 * SEC });
    sink.write(frame(5 * SEC, 800, { customer: 3, agent: 3 }));
    await sink.end('close');
    const { left } = await readStereo(sink.path as string);
    expect(runs(left)).toEqual([
      [0, 5 * SEC],
      [3, 800],
    ]);
  });

  it('truncates a gap longer than maxGapFillSec and says so in the log', async () => {
    const { logger, lines } = recordingLogger();
    const sink = new WavSink({ dir, logger, maxGapFillSec: 0.5 });
    sink.start(startInfo(['external', 'internal']));
    sink.write(frame(0, 800, { customer: 1 }));
    sink.gap({ kind: 'paused', start: 800, length: 3 * SEC });
    sink.write(frame(800 + 3 * SEC, 800, { customer: 2 }));
    await sink.end('close');
    const { left } = await readStereo(sink.path as string);
    expect(runs(left)).toEqual([
      [1, 800],
      [0, SEC / 2],
      [2, 800],
    ]);
    expect(sink.stats()).toMatchObject({ silenceSamples: SEC / 2, truncatedGapSamples: 2.5 * SEC });
    const line = lines.find((l) => l.msg.includes('truncated'));
    expect(line).toMatchObject({ level: 'info', obj: { gapSamples: 3 * SEC, filledSamples: SEC / 2 } });
  });

  it('gives each announced gap its own allowance, and keeps later audio contiguous after a truncation', async () => {
    const sink = new WavSink({ dir, logger: recordingLogger().logger, maxGapFillSec: 1 });
    sink.start(startInfo(['external', 'internal']));
    sink.write(frame(0, 800, { customer: 1 }));
    sink.gap({ kind: 'paused', start: 800, length: 1.5 * SEC });
    sink.gap({ kind: 'discarded', start: 800 + 1.5 * SEC, length: 0.5 * SEC });
    sink.write(frame(800 + 2 * SEC, 800, { customer: 2 })); // 2 s of gaps: within 2 × 1 s
    sink.gap({ kind: 'paused', start: 1600 + 2 * SEC, length: 5 * SEC });
    sink.write(frame(1600 + 7 * SEC, 800, { customer: 3 })); // 5 s: cut to 1 s
    sink.write(frame(2400 + 7 * SEC, 800, { customer: 4 })); // contiguous: no silence
    await sink.end('close');
    const { left } = await readStereo(sink.path as string);
    expect(runs(left)).toEqual([
      [1, 800],
      [0, 2 * SEC],
      [2, 800],
      [0, SEC],
      [3, 800],
      [4, 800],
    ]);
  });

  it('drops audio that overlaps what was already written (the client position went back)', async () => {
    const sink = new WavSink({ dir, logger: recordingLogger().logger });
    sink.start(startInfo(['external', 'internal']));
    sink.write(frame(0, 1600, { customer: 1 }));
    const twos = new Int16Array(800).fill(2);
    twos.fill(5, 400); // the part beyond what was written
    const overlapping = frameOf(1200, 800, { customer: twos });
    sink.write(overlapping);
    sink.write(frame(500, 100, { customer: 9 })); // entirely in the past
    await sink.end('close');
    const { left } = await readStereo(sink.path as string);
    expect(runs(left)).toEqual([
      [1, 1600],
      [5, 400],
    ]);
    expect(sink.stats().overlapSamplesDropped).toBe(500);
  });

  it('keeps writes made before and after the file is open, in order', async () => {
    const sink = new WavSink({ dir, logger: recordingLogger().logger });
    sink.start(startInfo(['external', 'internal']));
    sink.write(frame(0, 800, { customer: 1 }));
    await vi.waitFor(() => expect(existsSync(sink.path as string)).toBe(true));
    sink.write(frame(800, 800, { customer: 2 }));
    await sink.end('close');
    const { left } = await readStereo(sink.path as string);
    expect(runs(left)).toEqual([
      [1, 800],
      [2, 800],
    ]);
  });

  it('stops at maxDataBytes with a warning and still closes a valid file', async () => {
    const { logger, lines } = recordingLogger();
    const sink = new WavSink({ dir, logger, maxDataBytes: 1000 * 4 });
    sink.start(startInfo(['external', 'internal']));
    for (let i = 0; i < 3; i++) sink.write(frame(i * 500, 500, { customer: i + 1 }));
    sink.write(frame(4000, 500, { customer: 9 }));
    await sink.end('close');
    const { samples } = await readStereo(sink.path as string);
    expect(samples).toBe(1000);
    expect(sink.stats().samplesDroppedAtLimit).toBe(500);
    expect(lines.filter((l) => l.level === 'warn' && l.msg.includes('size limit'))).toHaveLength(1);
  });

  it('ignores audio after end, returns the same promise to repeated end calls, and ignores a second start', async () => {
    const { logger, lines } = recordingLogger();
    const sink = new WavSink({ dir, logger });
    sink.start(startInfo(['external', 'internal']));
    sink.start(startInfo(['external']));
    sink.write(frame(0, 800, { customer: 1 }));
    const first = sink.end('close');
    expect(sink.end('transport-closed')).toBe(first);
    sink.write(frame(800, 800, { customer: 2 }));
    await first;
    expect((await readStereo(sink.path as string)).samples).toBe(800);
    expect(lines.some((l) => l.level === 'warn' && l.msg.includes('start ignored'))).toBe(true);
  });

  it('does nothing, and writes no file, when audio arrives without start', async () => {
    const sink = new WavSink({ dir, logger: recordingLogger().logger });
    sink.write(frame(0, 800, { customer: 1 }));
    sink.gap({ kind: 'paused', start: 0, length: 1 });
    await expect(sink.end('disconnect')).resolves.toBeUndefined();
    expect(existsSync(join(dir, CONVERSATION))).toBe(false);
  });

  it('keeps ids that are not path-safe inside its directory', async () => {
    const sink = new WavSink({ dir, logger: recordingLogger().logger });
    sink.start(startInfo(['external'], { sessionId: '../../evil', conversationId: '../..' }));
    sink.write(frame(0, 80, { customer: 1 }, ['customer']));
    await sink.end('close');
    const path = sink.path as string;
    expect(resolve(path).startsWith(resolve(dir) + sep)).toBe(true);
    expect(path).toBe(join(dir, '_____', '______evil.wav'));
    expect((await readStereo(path)).samples).toBe(80);
  });

  describe('on I/O errors', () => {
    it('logs and disables itself when the directory cannot be created, without ever throwing', async () => {
      const { logger, lines } = recordingLogger();
      const blocker = join(dir, 'not-a-dir');
      await writeFile(blocker, 'x');
      const sink = new WavSink({ dir: blocker, logger });
      expect(() => sink.start(startInfo(['external', 'internal']))).not.toThrow();
      sink.write(frame(0, 800, { customer: 1 }));
      await expect(sink.end('close')).resolves.toBeUndefined();
      expect(() => sink.write(frame(800, 800, { customer: 1 }))).not.toThrow();
      const errors = lines.filter((l) => l.level === 'error');
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ obj: { op: 'open', component: 'wav-sink' } });
    });

    it('logs and disables itself when the file cannot be opened for writing', async () => {
      const { logger, lines } = recordingLogger();
      // A directory where the file should be: the write stream fails to open it.
      await mkdir(join(dir, CONVERSATION, `${SESSION}.wav`), { recursive: true });
      const sink = new WavSink({ dir, logger });
      sink.start(startInfo(['external', 'internal']));
      sink.write(frame(0, 800, { customer: 1 }));
      await vi.waitFor(() => expect(lines.some((l) => l.level === 'error')).toBe(true));
      sink.write(frame(800, 800, { customer: 1 }));
      await expect(sink.end('close')).resolves.toBeUndefined();
      expect(lines.filter((l) => l.level === 'error')).toHaveLength(1);
      expect(lines.some((l) => l.msg.includes('recording written'))).toBe(false);
    });
  });
});

describe('createWavSinkFactory', () => {
  it.each([
    ['an empty dir', { dir: '' }],
    ['a negative maxGapFillSec', { dir: '/tmp', maxGapFillSec: -1 }],
    ['a NaN maxGapFillSec', { dir: '/tmp', maxGapFillSec: Number.NaN }],
    ['a fractional maxDataBytes', { dir: '/tmp', maxDataBytes: 10.5 }],
  ])('rejects %s at creation with WAV_SINK_CONFIG', (_name, opts) => {
    expect(() => createWavSinkFactory({ ...opts, logger: recordingLogger().logger })).toThrow(WavSinkConfigError);
    expect(() => createWavSinkFactory({ ...opts, logger: recordingLogger().logger })).toThrow(
      expect.objectContaining({ code: 'WAV_SINK_CONFIG' }),
    );
  });

  it('makes one sink per session, logging with the session id bound', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wav-sink-factory-'));
    try {
      const { logger, lines } = recordingLogger();
      const factory = createWavSinkFactory({ dir, logger });
      const sink = factory({ sessionId: SESSION });
      expect(sink).toBeInstanceOf(WavSink);
      expect(factory({ sessionId: 'other' })).not.toBe(sink);
      sink.start(startInfo(['external', 'internal']));
      sink.write(frame(0, 80, { customer: 1 }));
      await sink.end('close');
      expect(lines.find((l) => l.msg.includes('recording written'))?.obj).toMatchObject({
        sessionId: SESSION,
        component: 'wav-sink',
        reason: 'close',
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Role } from '../../../core/audio/roles';
import { parseWav } from '../../../core/audio/wav';
import type { AudioFrame } from '../../../core/audiohook/ports';
import type { RecordingStore, RecordingUpload } from '../../../fargate/src/recordings/recording-store';
import {
  RECORDINGS_SPOOL_UNAVAILABLE,
  type RecordingSegmentInfo,
  SegmentRecordings,
} from '../../../fargate/src/recordings/recordings';
import { frameOf, rolePcm } from '../../helpers/audio-frames';
import { CaptureLogger } from '../../helpers/capture-logger';
import { ManualTime } from '../transcribe/helpers';
import { FakeStore, removeAfterTest, tempDir } from './fakes';

/** A frame whose samples are distinct per role and position, so any reordering shows. */
function rampFrame(position: number, samples: number, roles: readonly Role[]): AudioFrame {
  const pcm: Partial<Record<Role, Int16Array>> = {};
  for (const role of roles) {
    const sign = role === 'customer' ? 1 : -1;
    pcm[role] = Int16Array.from({ length: samples }, (_, i) => sign * ((position + i) % 30_000));
  }
  return frameOf(position, samples, pcm, roles);
}

/** The interleaved 16-bit little-endian bytes the frames should produce, in channel order. */
function expectedPcm(frames: AudioFrame[], roles: readonly Role[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of frames) {
    const b = Buffer.alloc(f.samples * roles.length * 2);
    for (let i = 0; i < f.samples; i++) {
      roles.forEach((r, c) => {
        b.writeInt16LE(rolePcm(f, roles, r)?.[i] ?? 0, (i * roles.length + c) * 2);
      });
    }
    parts.push(b);
  }
  return Buffer.concat(parts);
}

const STEREO: RecordingSegmentInfo = {
  conversationId: '3f9c1b0e-0000-4000-8000-00000000abcd',
  segment: 7,
  roles: ['agent', 'customer'],
  channels: ['internal', 'external'],
};

function setup(opts: { spoolDir?: string; attempts?: number } = {}) {
  const spoolDir = opts.spoolDir ?? tempDir();
  const store = new FakeStore();
  const time = new ManualTime();
  const logger = new CaptureLogger();
  const recordings = new SegmentRecordings({
    store,
    logger,
    timers: time,
    spoolDir,
    retry: { attempts: opts.attempts ?? 3, baseMs: 1000, capMs: 8000 },
    random: () => 0.5,
    spoolBatchBytes: 1000, // several file writes per test, not one
  });
  return { spoolDir, store, time, logger, recordings };
}

describe('SegmentRecordings', () => {
  describe('a segment that is recorded', () => {
    it('stores exactly the frames written, interleaved in channel order, behind a correct 44-byte WAV header', async () => {
      const { store, recordings, spoolDir } = setup();
      const rec = recordings.begin(STEREO);
      expect(rec?.target).toEqual({
        bucket: 'rec-bucket',
        key: `recordings/${STEREO.conversationId}/segment-0007.wav`,
      });
      const frames = [8000, 8160, 8320, 9000].map((p, i) => rampFrame(p, i === 3 ? 1600 : 160, STEREO.roles));
      for (const f of frames) rec?.write(f);

      const outcome = await rec?.finish();

      expect(outcome).toMatchObject({ status: 'stored', attempts: 1 });
      expect(store.puts).toHaveLength(1);
      const [{ upload, bytes }] = store.puts as [{ upload: RecordingUpload; bytes: Buffer }];
      const pcm = expectedPcm(frames, STEREO.roles);
      expect(bytes.length).toBe(44 + pcm.length);
      expect(upload.contentLength).toBe(bytes.length);
      const wav = parseWav(bytes);
      expect(wav).toMatchObject({ format: 'L16', channels: 2, sampleRate: 8000, durationSamples: 2080 });
      expect(Buffer.from(wav.data).equals(pcm)).toBe(true);
      expect(bytes.readUInt32LE(4)).toBe(36 + pcm.length); // RIFF size
      expect(bytes.readUInt32LE(40)).toBe(pcm.length); // data size
      expect(upload.key).toBe(`recordings/${STEREO.conversationId}/segment-0007.wav`);
      expect(upload.metadata).toMatchObject({
        'channel-roles': 'agent,customer',
        'channel-names': 'internal,external',
        'start-position': '8000',
        samples: '2080',
        'sample-rate': '8000',
      });
      // Uploaded: the spool file is gone.
      expect(readdirSync(spoolDir)).toEqual([]);
      expect(recordings.stats()).toMatchObject({ started: 1, stored: 1, kept: 0, pending: 0 });
    });

    it('records a mono session as a one-channel WAV', async () => {
      const { store, recordings } = setup();
      const rec = recordings.begin({ ...STEREO, roles: ['customer'], channels: ['external'] });
      const frame = rampFrame(0, 800, ['customer']);
      rec?.write(frame);
      await rec?.finish();
      const wav = parseWav(store.puts[0]?.bytes ?? Buffer.alloc(0));
      expect(wav.channels).toBe(1);
      expect(Buffer.from(wav.data).equals(expectedPcm([frame], ['customer']))).toBe(true);
    });

    it("leaves out a frame whose channels are other than the segment's, keeping the file aligned", async () => {
      const { store, recordings } = setup();
      const rec = recordings.begin(STEREO);
      rec?.write(frameOf(0, 4, { customer: Int16Array.from([9, 9, 9, 9]) }, ['customer'])); // mono: never, one media
      const stereo = rampFrame(0, 4, STEREO.roles);
      rec?.write(stereo);
      await rec?.finish();
      const wav = parseWav(store.puts[0]?.bytes ?? Buffer.alloc(0));
      expect(Buffer.from(wav.data).equals(expectedPcm([stereo], STEREO.roles))).toBe(true);
    });

    it('stores a valid empty WAV for a segment that received no audio', async () => {
      const { store, recordings } = setup();
      const rec = recordings.begin(STEREO);
      await rec?.finish();
      expect(store.puts[0]?.bytes.length).toBe(44);
      expect(parseWav(store.puts[0]?.bytes ?? Buffer.alloc(0)).durationSamples).toBe(0);
    });

    it('ignores audio written after finish, and finishes once', async () => {
      const { store, recordings } = setup();
      const rec = recordings.begin(STEREO);
      rec?.write(rampFrame(0, 160, STEREO.roles));
      const first = rec?.finish();
      rec?.write(rampFrame(160, 160, STEREO.roles));
      const second = rec?.finish();
      expect(second).toBe(first);
      await first;
      expect(store.calls).toBe(1);
      expect(parseWav(store.puts[0]?.bytes ?? Buffer.alloc(0)).durationSamples).toBe(160);
    });
  });

  describe('when the upload fails', () => {
    it('retries with growing delays and succeeds without losing audio', async () => {
      const { store, recordings, time, logger } = setup({ attempts: 3 });
      store.failures = 2;
      const rec = recordings.begin(STEREO);
      rec?.write(rampFrame(0, 160, STEREO.roles));
      const done = rec?.finish();
      await until(() => time.pending === 1); // the first attempt failed; its retry is scheduled
      expect(store.calls).toBe(1);
      await time.advance(700); // first delay: half of 1 s plus jitter (750 ms with random 0.5)
      expect(store.calls).toBe(1);
      await time.advance(100);
      await until(() => store.calls === 2 && time.pending === 1);
      await time.advance(999); // second delay: between 1 and 2 s (1500 ms with random 0.5)
      expect(store.calls).toBe(2);
      await time.advance(1001);
      await until(() => store.calls === 3);
      expect(await done).toMatchObject({ status: 'stored', attempts: 3 });
      expect(logger.find('recording upload failed: retrying')).toHaveLength(2);
      expect(recordings.stats().uploadRetries).toBe(2);
    });

    it('keeps the WAV in the spool directory after the last attempt and logs RECORDING_UPLOAD_FAILED with its path', async () => {
      const { store, recordings, time, logger, spoolDir } = setup({ attempts: 2 });
      store.failures = 99;
      const rec = recordings.begin(STEREO);
      const frame = rampFrame(0, 320, STEREO.roles);
      rec?.write(frame);
      const done = rec?.finish();
      await until(() => time.pending === 1);
      await time.advance(10_000);
      const outcome = await done;
      expect(outcome).toMatchObject({ status: 'kept', attempts: 2 });
      const path = outcome?.status === 'kept' ? outcome.path : '';
      // The WAV and its sidecar (what a later upload needs), nothing else.
      const name = path.slice(spoolDir.length + 1, -'.wav'.length);
      expect(readdirSync(spoolDir).sort()).toEqual([`${name}.json`, `${name}.wav`]);
      // The kept file is a complete WAV with the audio.
      const wav = parseWav(readFileSync(path));
      expect(Buffer.from(wav.data).equals(expectedPcm([frame], STEREO.roles))).toBe(true);
      const [err] = logger.entries.filter((e) => e.level === 'error');
      expect(err?.obj).toMatchObject({ code: 'RECORDING_UPLOAD_FAILED', path, key: rec?.target?.key });
      expect(err?.msg).toContain(path);
      expect(recordings.stats()).toMatchObject({ kept: 1, stored: 0 });
    });
  });

  describe('when spooling fails', () => {
    it('gives the recording up with RECORDING_SPOOL_FAILED, uploads nothing and leaves no file', async () => {
      const { store, recordings, logger, spoolDir } = setup();
      rmSync(spoolDir, { recursive: true, force: true });
      const rec = recordings.begin(STEREO);
      rec?.write(rampFrame(0, 160, STEREO.roles));
      const outcome = await rec?.finish();
      expect(outcome?.status).toBe('abandoned');
      expect(rec?.target).toBeUndefined();
      expect(store.calls).toBe(0);
      expect(logger.entries.filter((e) => e.level === 'error').map((e) => e.obj.code)).toEqual([
        'RECORDING_SPOOL_FAILED',
      ]);
      expect(existsSync(spoolDir)).toBe(false);
    });

    it('leaves later audio out when the disk falls behind, instead of buffering without bound', async () => {
      const spoolDir = tempDir();
      const store = new FakeStore();
      const logger = new CaptureLogger();
      const recordings = new SegmentRecordings({
        store,
        logger,
        timers: new ManualTime(),
        spoolDir,
        spoolBatchBytes: 640,
        spoolMaxBacklogBytes: 2000,
      });
      const rec = recordings.begin(STEREO);
      // Written synchronously, nothing reaches the disk in between: only ~2000 bytes may wait.
      for (let p = 0; p < 1600; p += 160) rec?.write(rampFrame(p, 160, STEREO.roles));
      await rec?.finish();
      const wav = parseWav(store.puts[0]?.bytes ?? Buffer.alloc(0));
      expect(wav.durationSamples).toBeLessThan(1600);
      expect(wav.durationSamples).toBeGreaterThan(0);
      expect(logger.find(/cannot keep up/)).toHaveLength(1);
    });
  });

  it('refuses a conversation id that cannot name an object, without throwing', () => {
    const { recordings, logger, spoolDir } = setup();
    expect(recordings.begin({ ...STEREO, conversationId: '../other' })).toBeUndefined();
    expect(logger.entries.find((e) => e.level === 'error')?.obj.code).toBe('RECORDING_KEY_INVALID');
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it('waits for pending uploads on close and refuses new recordings afterwards', async () => {
    const { store, recordings, time } = setup({ attempts: 2 });
    store.failures = 1;
    const rec = recordings.begin(STEREO);
    rec?.write(rampFrame(0, 160, STEREO.roles));
    void rec?.finish();
    let closed = false;
    const closing = recordings.close().then(() => {
      closed = true;
    });
    await until(() => time.pending === 1);
    expect(closed).toBe(false);
    await time.advance(2000);
    await closing;
    expect(store.puts).toHaveLength(1);
    expect(recordings.begin({ ...STEREO, segment: 8 })).toBeUndefined();
  });

  it('runs at most maxConcurrentUploads uploads at once', async () => {
    const spoolDir = tempDir();
    let running = 0;
    let peak = 0;
    const releases: (() => void)[] = [];
    const store: RecordingStore = {
      bucket: 'b',
      put: async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise<void>((r) => releases.push(r));
        running--;
      },
    };
    const recordings = new SegmentRecordings({
      store,
      logger: new CaptureLogger(),
      timers: new ManualTime(),
      spoolDir,
      maxConcurrentUploads: 2,
    });
    const done = Promise.all([1, 2, 3, 4, 5].map((segment) => recordings.begin({ ...STEREO, segment })?.finish()));
    await until(() => releases.length === 2);
    await new Promise((r) => setTimeout(r, 20));
    expect(running).toBe(2);
    while (recordings.stats().pending > 0) {
      await until(() => releases.length > 0 || recordings.stats().pending === 0);
      releases.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    await done;
    expect(peak).toBe(2);
  });
});

describe('an unusable spool directory', () => {
  function unusable(opts: { spoolRetryMs?: number } = {}) {
    const d = tempDir();
    const file = join(d, 'not-a-dir');
    writeFileSync(file, 'x');
    const logger = new CaptureLogger();
    const time = new ManualTime();
    const store = new FakeStore();
    const recordings = new SegmentRecordings({ store, logger, timers: time, spoolDir: file, ...opts });
    return { file, logger, time, store, recordings };
  }

  it('turns recordings off instead of failing start-up, logged once as RECORDINGS_SPOOL_UNAVAILABLE', () => {
    const { recordings, logger, file } = unusable();
    expect(recordings.available).toBe(false);
    const errors = logger.entries.filter((e) => e.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]?.obj).toMatchObject({ code: RECORDINGS_SPOOL_UNAVAILABLE, spoolDir: file });
    expect(errors[0]?.msg).toMatch(/calls are still transcribed/);
    expect(recordings.stats()).toMatchObject({ spoolAvailable: false, skippedNoSpool: 0 });
  });

  it('gives segments that allow recording no recording (said in the log), without throwing', () => {
    const { recordings, logger } = unusable();
    expect(recordings.begin(STEREO)).toBeUndefined();
    expect(recordings.begin({ ...STEREO, segment: 8 })).toBeUndefined();
    const skipped = logger.find(/is not recorded: the recordings spool directory is unusable/);
    expect(skipped).toHaveLength(2);
    expect(skipped[0]).toMatchObject({ level: 'warn', obj: { code: RECORDINGS_SPOOL_UNAVAILABLE, segment: 7 } });
    // Reported once, not at every segment.
    expect(logger.entries.filter((e) => e.level === 'error')).toHaveLength(1);
    expect(recordings.stats()).toMatchObject({ started: 0, skippedNoSpool: 2 });
  });

  it('recovers at the next segment once the directory can be created', async () => {
    const { recordings, logger, file, store } = unusable();
    rmSync(file);
    const rec = recordings.begin(STEREO);
    expect(rec).toBeDefined();
    expect(recordings.available).toBe(true);
    expect(logger.find(/usable again/)).toHaveLength(1);
    rec?.write(rampFrame(0, 160, STEREO.roles));
    await expect(rec?.finish()).resolves.toMatchObject({ status: 'stored' });
    expect(store.puts).toHaveLength(1);
  });

  it('retries periodically, so the gauge recovers without a segment', async () => {
    const { recordings, file, time } = unusable({ spoolRetryMs: 10_000 });
    await time.advance(10_000);
    expect(recordings.available).toBe(false);
    rmSync(file);
    await time.advance(10_000);
    expect(recordings.available).toBe(true);
    expect(time.pending).toBe(0);
  });

  it('close() stops the periodic retry', async () => {
    const { recordings, time } = unusable({ spoolRetryMs: 10_000 });
    await recordings.close();
    expect(time.pending).toBe(0);
  });
});

describe('the default spool directory', () => {
  it('is a fresh private directory per instance under the OS temp directory, not a shared predictable path', () => {
    const make = () =>
      new SegmentRecordings({ store: new FakeStore(), logger: new CaptureLogger(), timers: new ManualTime() });
    const a = make();
    const b = make();
    removeAfterTest(a.spoolDir);
    removeAfterTest(b.spoolDir);
    expect(a.available).toBe(true);
    expect(a.spoolDir).not.toBe(b.spoolDir);
    expect(a.spoolDir.startsWith(join(tmpdir(), 'audiohook-recordings-'))).toBe(true);
    expect(statSync(a.spoolDir).mode & 0o777).toBe(0o700);
  });

  it('removes its own default directory at close when empty, and keeps a configured one', async () => {
    const own = new SegmentRecordings({
      store: new FakeStore(),
      logger: new CaptureLogger(),
      timers: new ManualTime(),
    });
    removeAfterTest(own.spoolDir);
    const configuredDir = mkdtempSync(join(tmpdir(), 'spool-configured-'));
    removeAfterTest(configuredDir);
    const configured = new SegmentRecordings({
      store: new FakeStore(),
      logger: new CaptureLogger(),
      timers: new ManualTime(),
      spoolDir: configuredDir,
    });
    expect(existsSync(own.spoolDir)).toBe(true);
    await own.close();
    await configured.close();
    expect(existsSync(own.spoolDir)).toBe(false);
    expect(existsSync(configuredDir)).toBe(true);
  });
});

async function until(cond: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
}

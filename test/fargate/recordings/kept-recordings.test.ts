/**
 * Kept recordings (issue #14): a recording whose first round of uploads failed is retried in the
 * background until stored, survives a restart on the same spool directory through its sidecar, and gets a
 * last attempt at close. Real temp directories, a fake store, manual time.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type RecordingOutcome,
  type RecordingSegmentInfo,
  SegmentRecordings,
} from '../../../fargate/src/recordings/recordings';
import { frameOf } from '../../helpers/audio-frames';
import { CaptureLogger } from '../../helpers/capture-logger';
import { ManualTime, until } from '../transcribe/helpers';
import { FakeStore, tempDir as newTempDir } from './fakes';

const tempDir = () => newTempDir('kept-rec-test-');

const SEGMENT: RecordingSegmentInfo = {
  conversationId: '3f9c1b0e-0000-4000-8000-00000000beef',
  segment: 2,
  roles: ['customer', 'agent'],
  channels: ['external', 'internal'],
};

/** First round: 2 attempts 1 s apart (750 ms with random 0.5). Background: 60 s doubling to 240 s. */
function setup(spoolDir = tempDir(), time = new ManualTime()) {
  const store = new FakeStore(() => time.monotonic());
  const logger = new CaptureLogger();
  const recordings = new SegmentRecordings({
    store,
    logger,
    timers: time,
    spoolDir,
    retry: { attempts: 2, baseMs: 1000, capMs: 1000 },
    keptRetry: { baseMs: 60_000, capMs: 240_000 },
    random: () => 0.5,
  });
  return { spoolDir, store, time, logger, recordings };
}

type Setup = ReturnType<typeof setup>;

/** Records one segment whose first round of uploads fails; resolves with the kept WAV's path. */
async function keepOne(t: Setup, segment = SEGMENT): Promise<string> {
  t.store.failures += 2;
  const timers = t.time.pending;
  const rec = t.recordings.begin(segment);
  rec?.write(frameOf(800, 160, { customer: new Int16Array(160).fill(3), agent: new Int16Array(160).fill(-3) }));
  const done = rec?.finish() ?? Promise.reject(new Error('not recorded'));
  await until(() => t.time.pending === timers + 1, 5_000, 'the first retry');
  await t.time.advance(750);
  const outcome: RecordingOutcome = await done;
  if (outcome.status !== 'kept') throw new Error(`expected a kept recording, got ${outcome.status}`);
  return outcome.path;
}

/** Moves time by `ms` and waits for the store to have been called `calls` times in all. */
async function advanceTo(t: Setup, ms: number, calls: number): Promise<void> {
  await t.time.advance(ms);
  await until(() => t.store.calledAt.length === calls, 5_000, `store call ${calls}`);
}

const sidecarOf = (wav: string) => `${wav.slice(0, -'.wav'.length)}.json`;

describe('a kept recording', () => {
  it('gets a sidecar with what the upload needs, written whole (no temporary file left)', async () => {
    const t = setup();
    const wav = await keepOne(t);
    const sidecar = JSON.parse(readFileSync(sidecarOf(wav), 'utf8'));
    expect(sidecar).toMatchObject({
      version: 1,
      bucket: 'rec-bucket',
      key: `recordings/${SEGMENT.conversationId}/segment-0002.wav`,
      attempts: 2,
      metadata: { 'channel-roles': 'customer,agent', 'start-position': '800', samples: '160' },
    });
    expect(readdirSync(t.spoolDir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(t.recordings.stats()).toMatchObject({ kept: 1, recordingsKept: 1, stored: 0 });
  });

  it('is retried in the background with a doubling, capped wait until stored, then its WAV and sidecar are removed', async () => {
    const t = setup();
    const wav = await keepOne(t);
    const kept = readFileSync(wav);
    const keptAt = t.time.monotonic();
    t.store.failures = 3;
    await until(() => t.time.pending === 1, 5_000, 'the background retry');
    await t.time.advance(44_999); // first wait: 60 s step, 45 s with random 0.5
    expect(t.store.calledAt).toHaveLength(2);
    await advanceTo(t, 1, 3);
    await until(() => t.time.pending === 1, 5_000, 'the next retry');
    await advanceTo(t, 90_000, 4); // 120 s step
    await until(() => t.time.pending === 1, 5_000, 'the next retry');
    await advanceTo(t, 180_000, 5); // 240 s step
    await until(() => t.time.pending === 1, 5_000, 'the next retry');
    await advanceTo(t, 180_000, 6); // capped at 240 s
    await until(() => t.recordings.stats().recordingsKept === 0, 5_000, 'the upload');

    const background = t.store.calledAt.slice(2).map((at, i, all) => at - (i === 0 ? keptAt : (all[i - 1] ?? 0)));
    expect(background).toEqual([45_000, 90_000, 180_000, 180_000]);
    expect(t.store.puts).toHaveLength(1);
    expect(t.store.puts[0]?.bytes.equals(kept)).toBe(true);
    expect(t.store.puts[0]?.upload.key).toBe(`recordings/${SEGMENT.conversationId}/segment-0002.wav`);
    await until(() => readdirSync(t.spoolDir).length === 0, 5_000, 'the files to be removed');
    expect(t.logger.find('recording uploaded after 6 attempts')).toMatchObject([{ level: 'info', obj: { path: wav } }]);
    expect(t.logger.find('kept recording upload failed: retrying later')).toHaveLength(3);
    expect(t.recordings.stats()).toMatchObject({ kept: 1, stored: 1, recordingsKept: 0, keptRetries: 3 });
    expect(t.time.pending).toBe(0);
  });

  it('is still retried by this process when its sidecar cannot be written (RECORDING_SIDECAR_FAILED)', async () => {
    const t = setup();
    t.store.failures = 2;
    const rec = t.recordings.begin(SEGMENT);
    await until(() => readdirSync(t.spoolDir).length === 1, 5_000, 'the spool file'); // opened asynchronously
    const [spoolName = ''] = readdirSync(t.spoolDir);
    // A directory where the sidecar should go: the rename onto it fails.
    mkdirSync(join(t.spoolDir, spoolName.replace(/\.wav$/, '.json')));
    const done = rec?.finish();
    await until(() => t.time.pending === 1, 5_000, 'the first retry');
    await t.time.advance(750);
    expect(await done).toMatchObject({ status: 'kept' });
    expect(t.logger.find(/has no sidecar/)[0]).toMatchObject({
      level: 'error',
      obj: { code: 'RECORDING_SIDECAR_FAILED' },
    });
    expect(readdirSync(t.spoolDir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    await advanceTo(t, 45_000, 3);
    await until(() => t.recordings.stats().recordingsKept === 0, 5_000, 'the upload');
    expect(t.store.puts).toHaveLength(1);
    await until(() => !existsSync(join(t.spoolDir, spoolName)), 5_000, 'the WAV to be removed');
  });

  it('stops being retried, and loses its sidecar, when its WAV is removed by hand', async () => {
    const t = setup();
    const wav = await keepOne(t);
    unlinkSync(wav);
    await t.time.advance(60_000);
    await until(() => t.recordings.stats().recordingsKept === 0, 5_000, 'the retry');
    expect(t.store.calledAt).toHaveLength(2);
    expect(t.logger.find(/no longer on disk/)[0]?.obj.code).toBe('RECORDING_KEPT_FILE_GONE');
    await until(() => !existsSync(sidecarOf(wav)), 5_000, 'the sidecar to be removed');
    expect(t.time.pending).toBe(0);
  });
});

describe('a restart on the same spool directory', () => {
  it('uploads the recording an earlier process kept, under its key and metadata, and removes both files', async () => {
    const first = setup();
    const wav = await keepOne(first);
    const bytes = readFileSync(wav);
    const metadata = JSON.parse(readFileSync(sidecarOf(wav), 'utf8')).metadata;

    const next = setup(first.spoolDir); // a new process: nothing shared but the directory
    expect(next.recordings.stats()).toMatchObject({ recovered: 1, recordingsKept: 1 });
    expect(next.logger.find(/1 recording\(s\) kept by an earlier process found/)).toHaveLength(1);
    await advanceTo(next, 45_000, 1);
    await until(() => next.recordings.stats().recordingsKept === 0, 5_000, 'the upload');

    expect(next.store.puts[0]?.upload).toMatchObject({
      key: `recordings/${SEGMENT.conversationId}/segment-0002.wav`,
      contentLength: bytes.length,
      metadata,
    });
    expect(next.store.puts[0]?.bytes.equals(bytes)).toBe(true);
    expect(next.logger.find('recording uploaded after 3 attempts')).toHaveLength(1);
    await until(() => readdirSync(first.spoolDir).length === 0, 5_000, 'the files to be removed');
  });

  it('leaves a WAV without a sidecar and one with an invalid sidecar alone, and says so', async () => {
    const spoolDir = tempDir();
    writeFileSync(join(spoolDir, 'c1-1-aaaaaaaa.wav'), Buffer.alloc(44));
    writeFileSync(join(spoolDir, 'c1-2-bbbbbbbb.wav'), Buffer.alloc(44));
    writeFileSync(join(spoolDir, 'c2-1-cccccccc.wav'), Buffer.alloc(44));
    writeFileSync(join(spoolDir, 'c2-1-cccccccc.json'), '{"version":1,"bucket":"b","key":"elsewhere/x.wav"');
    writeFileSync(join(spoolDir, 'gone-1-dddddddd.json'), '{}'); // its WAV was stored: a leftover
    writeFileSync(join(spoolDir, 'c3-1-eeeeeeee.json.0123abcd.tmp'), '{"vers'); // an interrupted write

    const t = setup(spoolDir);
    const unfinished = t.logger.find(/without a sidecar/);
    expect(unfinished).toHaveLength(1);
    expect(unfinished[0]).toMatchObject({ level: 'warn', obj: { count: 2, code: 'RECORDING_SPOOL_UNFINISHED' } });
    expect(t.logger.find(/its sidecar is not valid/)[0]?.obj.code).toBe('RECORDING_SIDECAR_INVALID');
    expect(t.recordings.stats()).toMatchObject({ recovered: 0, recordingsKept: 0 });
    await t.time.advance(3_600_000);
    expect(t.store.calledAt).toEqual([]);
    expect(readdirSync(spoolDir).sort()).toEqual([
      'c1-1-aaaaaaaa.wav',
      'c1-2-bbbbbbbb.wav',
      'c2-1-cccccccc.json',
      'c2-1-cccccccc.wav',
    ]);
  });

  it('says which problem an invalid sidecar has', async () => {
    const spoolDir = tempDir();
    const sidecar = { version: 1, bucket: 'b', key: 'elsewhere/x.wav', metadata: {}, attempts: 5, keptAt: 'now' };
    writeFileSync(join(spoolDir, 'c-1-aaaaaaaa.wav'), Buffer.alloc(44));
    writeFileSync(join(spoolDir, 'c-1-aaaaaaaa.json'), JSON.stringify(sidecar));
    const t = setup(spoolDir);
    const [warning] = t.logger.find(/its sidecar is not valid/);
    expect(warning?.obj.err).toMatchObject({ message: expect.stringContaining('"key" must start with recordings/') });
  });
});

describe('close()', () => {
  it('makes one last attempt for a kept recording before its background retry is due', async () => {
    const t = setup();
    const wav = await keepOne(t);
    await t.recordings.close();
    expect(t.store.calledAt).toEqual([0, 750, 750]); // no time passed: the attempt did not wait for its turn
    expect(t.store.puts).toHaveLength(1);
    expect(existsSync(wav)).toBe(false);
    expect(existsSync(sidecarOf(wav))).toBe(false);
    expect(t.logger.at('error').filter((e) => e.msg.includes('at shutdown'))).toEqual([]);
    expect(t.time.pending).toBe(0);
  });

  it('logs the paths still kept at error and leaves them with their sidecars for the next process', async () => {
    const t = setup();
    const wav = await keepOne(t);
    const other = await keepOne(t, { ...SEGMENT, segment: 3 });
    t.store.failures = 2;
    await t.recordings.close();
    await t.recordings.close(); // idempotent: one last attempt in all
    expect(t.store.calledAt).toHaveLength(6);
    const [shutdown] = t.logger.find(/still not uploaded at shutdown/);
    expect(shutdown).toMatchObject({ level: 'error', obj: { code: 'RECORDING_UPLOAD_FAILED', count: 2 } });
    expect(shutdown?.obj.paths).toEqual(expect.arrayContaining([wav, other]));
    for (const path of [wav, other]) {
      expect(existsSync(path)).toBe(true);
      expect(existsSync(sidecarOf(path))).toBe(true);
    }
    expect(t.time.pending).toBe(0);
  });
});

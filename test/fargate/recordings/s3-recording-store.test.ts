/**
 * Recordings against a real S3 wire protocol: the local S3 (s3rver) on a free loopback port, the real
 * S3 client and lib-storage `Upload`, driven through the transcription sink exactly as a session does.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../../core/audio/roles';
import { parseWav } from '../../../core/audio/wav';
import type { AudioFrame, SinkStartInfo } from '../../../core/audiohook/ports';
import { SegmentRecordings } from '../../../fargate/src/recordings/recordings';
import { createRecordingsS3Client, S3RecordingStore } from '../../../fargate/src/recordings/s3-recording-store';
import { TranscriptionSink } from '../../../fargate/src/transcribe/transcription-sink';
import { LOCAL_S3_CREDENTIALS, type LocalS3, startLocalS3 } from '../../../local/s3';
import { frameOf, rolePcm } from '../../helpers/audio-frames';
import { CaptureLogger } from '../../helpers/capture-logger';
import { FakeTranscribe, ManualTime, RecordingLogger, RecordingSink, until } from '../transcribe/helpers';

const BUCKET = 'test-recordings';
const CONVERSATION = '0b7e5a52-3f3c-4c43-9d1e-4a3a2a6f7c11';

let s3: LocalS3;
let client: S3Client;
const dirs: string[] = [];

beforeAll(async () => {
  s3 = await startLocalS3({ bucket: BUCKET });
  client = createRecordingsS3Client({ endpoint: s3.endpoint, credentials: LOCAL_S3_CREDENTIALS });
});

afterAll(async () => {
  client?.destroy();
  await s3?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function spoolDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'rec-s3-'));
  dirs.push(d);
  return d;
}

/** Pseudo-random speech-like samples, different per role and position. */
function frame(position: number, samples: number, roles: readonly Role[]): AudioFrame {
  const pcm: Partial<Record<Role, Int16Array>> = {};
  for (const role of roles) {
    const seed = role === 'customer' ? 7919 : 104_729;
    pcm[role] = Int16Array.from({ length: samples }, (_, i) => (((position + i) * seed) % 65_536) - 32_768);
  }
  return frameOf(position, samples, pcm, roles);
}

async function getObject(key: string): Promise<{ body: Buffer; metadata: Record<string, string> }> {
  const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return {
    body: Buffer.from(await (got.Body?.transformToByteArray() ?? new Uint8Array())),
    metadata: got.Metadata ?? {},
  };
}

describe('segment recordings in S3 (local S3)', () => {
  it('stores the audio forwarded to Transcribe as a WAV, byte for byte, with the channel roles in its metadata', async () => {
    const dir = spoolDir();
    const time = new ManualTime();
    const transcribe = new FakeTranscribe();
    const recordings = new SegmentRecordings({
      store: new S3RecordingStore({ client, bucket: BUCKET }),
      logger: new CaptureLogger(),
      timers: time,
      spoolDir: dir,
    });
    const sink = new TranscriptionSink({
      client: transcribe,
      utterances: new RecordingSink(),
      logger: new RecordingLogger(),
      clock: time,
      timers: time,
      random: () => 0,
      config: { idleEndMs: 0 },
      recordings,
    });
    const roles: Role[] = ['customer', 'agent'];
    const start: SinkStartInfo = {
      sessionId: 'sess-rec',
      conversationId: CONVERSATION,
      media: { type: 'audio', format: 'PCMU', channels: ['external', 'internal'], rate: 8000 },
      roles,
      channels: ['external', 'internal'],
    };
    sink.start(start);
    sink.startSegment({
      segment: 3,
      streamIds: { customer: 'c-3', agent: 'a-3' },
      params: { language: 'en-US', redactionOutput: 'unredacted', detailedToken: false },
      audioRecordingAllowed: true,
    });
    const SAMPLES = 8000 * 3;
    for (let p = 0; p < SAMPLES; p += 160) sink.write(frame(p, 160, roles));
    await until(() => transcribe.streams[0]?.bytes === SAMPLES * 4);

    const summary = await sink.stopSegment();
    const key = `recordings/${CONVERSATION}/segment-0003.wav`;
    expect(summary?.recording).toEqual({ bucket: BUCKET, key });
    await recordings.idle();

    const { body, metadata } = await getObject(key);
    const wav = parseWav(body);
    expect(wav).toMatchObject({ format: 'L16', channels: 2, sampleRate: 8000, durationSamples: SAMPLES });
    const sentToTranscribe = Buffer.concat(transcribe.stream(0).chunks);
    expect(Buffer.from(wav.data).equals(sentToTranscribe)).toBe(true);
    expect(metadata).toMatchObject({
      'channel-roles': 'customer,agent',
      'channel-names': 'external,internal',
      'conversation-id': CONVERSATION,
      segment: '3',
      samples: String(SAMPLES),
    });
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(head.ContentType).toBe('audio/wav');
    expect(readdirSync(dir)).toEqual([]);
    await recordings.close();
  });

  it('streams a recording larger than one part as a multipart upload, byte for byte', async () => {
    const commands: string[] = [];
    const observed = createRecordingsS3Client({ endpoint: s3.endpoint, credentials: LOCAL_S3_CREDENTIALS });
    observed.middlewareStack.add(
      (next, context) => async (args) => {
        commands.push(String(context.commandName));
        return next(args);
      },
      { step: 'initialize', name: 'observeCommands' },
    );
    const recordings = new SegmentRecordings({
      store: new S3RecordingStore({ client: observed, bucket: BUCKET }),
      logger: new CaptureLogger(),
      timers: new ManualTime(),
      spoolDir: spoolDir(),
      // This test is about the multipart upload, not the disk-backlog cap: on a loaded machine the spool's
      // writes fall behind this tight loop and the default 4 MiB cap would drop audio.
      spoolMaxBacklogBytes: 16 * 1024 * 1024,
    });
    const roles: Role[] = ['agent', 'customer'];
    const rec = recordings.begin({
      conversationId: CONVERSATION,
      segment: 12,
      roles,
      channels: ['internal', 'external'],
    });
    // 6 MiB of stereo PCM (about 3 minutes): more than the 5 MiB part size.
    const SAMPLES = (6 * 1024 * 1024) / 4;
    const frames: AudioFrame[] = [];
    for (let p = 0; p < SAMPLES; p += 1600) frames.push(frame(p, Math.min(1600, SAMPLES - p), roles));
    for (const [i, f] of frames.entries()) {
      rec?.write(f);
      // Calls arrive at 32 KB/s; let the spool reach the disk now and then (its backlog is capped).
      if (i % 200 === 199) await new Promise((r) => setTimeout(r, 5));
    }
    expect(await rec?.finish()).toMatchObject({ status: 'stored' });

    const { body } = await getObject(`recordings/${CONVERSATION}/segment-0012.wav`);
    const wav = parseWav(body);
    expect(wav.durationSamples).toBe(SAMPLES);
    const data = Buffer.from(wav.data);
    // Spot checks across both parts, then the whole payload.
    for (const f of [frames[0], frames[Math.floor(frames.length / 2)], frames.at(-1)] as AudioFrame[]) {
      const at = f.position * 4;
      expect(data.readInt16LE(at)).toBe(rolePcm(f, roles, 'agent')?.[0]);
      expect(data.readInt16LE(at + 2)).toBe(rolePcm(f, roles, 'customer')?.[0]);
    }
    const expected = Buffer.alloc(SAMPLES * 4);
    for (const f of frames) {
      const agent = rolePcm(f, roles, 'agent') as Int16Array;
      const customer = rolePcm(f, roles, 'customer') as Int16Array;
      for (let i = 0; i < f.samples; i++) {
        expected.writeInt16LE(agent[i] ?? 0, (f.position + i) * 4);
        expected.writeInt16LE(customer[i] ?? 0, (f.position + i) * 4 + 2);
      }
    }
    expect(data.equals(expected)).toBe(true);
    expect(commands).toEqual([
      'CreateMultipartUploadCommand',
      'UploadPartCommand',
      'UploadPartCommand',
      'CompleteMultipartUploadCommand',
    ]);
    await recordings.close();
    observed.destroy();
  });

  it('replaces an existing object of the same key (a retried upload is harmless)', async () => {
    const key = `recordings/${CONVERSATION}/segment-0020.wav`;
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'old' }));
    const recordings = new SegmentRecordings({
      store: new S3RecordingStore({ client, bucket: BUCKET }),
      logger: new CaptureLogger(),
      timers: new ManualTime(),
      spoolDir: spoolDir(),
    });
    const rec = recordings.begin({
      conversationId: CONVERSATION,
      segment: 20,
      roles: ['customer'],
      channels: ['external'],
    });
    rec?.write(frame(0, 800, ['customer']));
    await rec?.finish();
    expect(parseWav((await getObject(key)).body).durationSamples).toBe(800);
  });

  it('keeps the file and reports RECORDING_UPLOAD_FAILED when the bucket does not exist', async () => {
    const dir = spoolDir();
    const time = new ManualTime();
    const logger = new CaptureLogger();
    const recordings = new SegmentRecordings({
      store: new S3RecordingStore({ client, bucket: 'no-such-bucket' }),
      logger,
      timers: time,
      spoolDir: dir,
      retry: { attempts: 2, baseMs: 10, capMs: 10 },
    });
    const rec = recordings.begin({
      conversationId: CONVERSATION,
      segment: 1,
      roles: ['customer'],
      channels: ['external'],
    });
    rec?.write(frame(0, 160, ['customer']));
    const done = rec?.finish();
    await until(() => time.pending === 1);
    await time.advance(10);
    const outcome = await done;
    expect(outcome?.status).toBe('kept');
    // The WAV and its sidecar, for the background retry (and a later process).
    expect(
      readdirSync(dir)
        .map((n) => n.slice(n.lastIndexOf('.')))
        .sort(),
    ).toEqual(['.json', '.wav']);
    expect(logger.entries.find((e) => e.level === 'error')?.obj.code).toBe('RECORDING_UPLOAD_FAILED');
  });
});

describe('S3RecordingStore request', () => {
  it('asks for aws:kms encryption only when a KMS key is configured', async () => {
    const inputs: Record<string, unknown>[] = [];
    const capture = createRecordingsS3Client({ endpoint: s3.endpoint, credentials: LOCAL_S3_CREDENTIALS });
    capture.middlewareStack.add(
      (next) => async (args) => {
        inputs.push({ ...(args.input as Record<string, unknown>) });
        return next(args);
      },
      { step: 'initialize', name: 'captureInput' },
    );
    const recordings = new SegmentRecordings({
      store: new S3RecordingStore({ client: capture, bucket: BUCKET, kmsKeyId: 'alias/recordings' }),
      logger: new CaptureLogger(),
      timers: new ManualTime(),
      spoolDir: spoolDir(),
      retry: { attempts: 1 },
    });
    await recordings
      .begin({ conversationId: CONVERSATION, segment: 30, roles: ['agent'], channels: ['internal'] })
      ?.finish();
    const plain = new SegmentRecordings({
      store: new S3RecordingStore({ client: capture, bucket: BUCKET }),
      logger: new CaptureLogger(),
      timers: new ManualTime(),
      spoolDir: spoolDir(),
      retry: { attempts: 1 },
    });
    await plain
      .begin({ conversationId: CONVERSATION, segment: 31, roles: ['agent'], channels: ['internal'] })
      ?.finish();
    capture.destroy();
    const [withKms, withoutKms] = inputs;
    expect(withKms).toMatchObject({
      Key: `recordings/${CONVERSATION}/segment-0030.wav`,
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: 'alias/recordings',
    });
    expect(withoutKms).toMatchObject({ Key: `recordings/${CONVERSATION}/segment-0031.wav` });
    expect(withoutKms).not.toHaveProperty('ServerSideEncryption');
    expect(withoutKms).not.toHaveProperty('SSEKMSKeyId');
  });
});

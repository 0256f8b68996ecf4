/**
 * The pipeline's recordings wiring: built from the configuration, pointed at the local S3, and awaited by
 * `pipeline.close()` so a drain never drops a recording still uploading.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseWav } from '../../../core/audio/wav';
import { systemClock, systemTimers } from '../../../core/ports';
import { createPipeline } from '../../../fargate/src/control/pipeline';
import { createRecordingsS3Client } from '../../../fargate/src/recordings/s3-recording-store';
import { LOCAL_S3_CREDENTIALS, type LocalS3, startLocalS3 } from '../../../local/s3';
import { frameOf } from '../../helpers/audio-frames';
import { CaptureLogger } from '../../helpers/capture-logger';

const BUCKET = 'pipeline-recordings';
const BASE = {
  taskId: 'task-1',
  conversationsTable: 'c-t',
  utterancesTable: 'u-t',
  region: 'us-east-1',
  dynamodbEndpoint: 'http://127.0.0.1:9',
  transcribeEndpoint: 'http://127.0.0.1:9',
};

let s3: LocalS3;
const dirs: string[] = [];

beforeAll(async () => {
  s3 = await startLocalS3({ bucket: BUCKET });
});
afterAll(async () => {
  await s3?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
afterEach(() => {
  vi.unstubAllEnvs();
});

describe('createPipeline recordings', () => {
  it('says once at start-up that audioRecordingAllowed is ignored without a recordings bucket', async () => {
    const logger = new CaptureLogger();
    const pipeline = createPipeline(BASE, { clock: systemClock, timers: systemTimers, logger });
    expect(pipeline.recordings).toBeUndefined();
    expect(logger.find(/audioRecordingAllowed is ignored/)).toHaveLength(1);
    await pipeline.close();
  });

  it('stores recordings in the configured bucket, and close() waits for uploads still running', async () => {
    // The recordings client uses the SDK credential chain, as the gateway does under npm start.
    vi.stubEnv('AWS_ACCESS_KEY_ID', LOCAL_S3_CREDENTIALS.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', LOCAL_S3_CREDENTIALS.secretAccessKey);
    const spoolDir = mkdtempSync(join(tmpdir(), 'rec-pipeline-'));
    dirs.push(spoolDir);
    const logger = new CaptureLogger();
    const pipeline = createPipeline(
      { ...BASE, recordings: { bucket: BUCKET, s3Endpoint: s3.endpoint, spoolDir } },
      { clock: systemClock, timers: systemTimers, logger },
    );
    expect(logger.find(/segment recordings on/)[0]?.obj).toMatchObject({
      recordings: { bucket: BUCKET, spoolDir, encryption: 'bucket default' },
    });
    const rec = pipeline.recordings?.begin({
      conversationId: 'conv-7',
      segment: 2,
      roles: ['customer', 'agent'],
      channels: ['external', 'internal'],
    });
    rec?.write(frameOf(0, 800, { customer: new Int16Array(800).fill(5) }));
    void rec?.finish();

    await pipeline.close();

    expect(pipeline.recordings?.stats()).toMatchObject({ stored: 1, pending: 0 });
    expect(readdirSync(spoolDir)).toEqual([]);
    const client = createRecordingsS3Client({ endpoint: s3.endpoint, credentials: LOCAL_S3_CREDENTIALS });
    const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'recordings/conv-7/segment-0002.wav' }));
    const wav = parseWav(await (got.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array())));
    expect(wav.durationSamples).toBe(800);
    client.destroy();
  });
});

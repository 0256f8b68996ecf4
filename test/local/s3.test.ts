import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCAL_S3_CREDENTIALS, type LocalS3ObjectCreated, startLocalS3 } from '../../local/s3';
import { createFeedsS3Client } from '../../store/feeds';
import { listeningAddresses } from './listeners';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('local S3', () => {
  it('serves a bucket on a free loopback port, reports created objects, and cleans up its temporary data', async () => {
    const s3 = await startLocalS3({ bucket: 'b1' });
    expect(s3.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(s3.bucket).toBe('b1');
    const seen: LocalS3ObjectCreated[] = [];
    const unsubscribe = s3.onObjectCreated((e) => seen.push(e));
    const client = createFeedsS3Client({ endpoint: s3.endpoint, credentials: LOCAL_S3_CREDENTIALS });
    await client.send(new PutObjectCommand({ Bucket: 'b1', Key: 'feeds/a b.json', Body: '{"x":1}' }));
    unsubscribe();
    await client.send(new PutObjectCommand({ Bucket: 'b1', Key: 'after.json', Body: '{}' }));
    const got = await client.send(new GetObjectCommand({ Bucket: 'b1', Key: 'feeds/a b.json' }));
    expect(await got.Body?.transformToString()).toBe('{"x":1}');
    expect(seen).toEqual([{ bucket: 'b1', key: 'feeds/a b.json' }]);
    client.destroy();
    await s3.stop();
    await s3.stop();
    expect(existsSync(s3.dataDir)).toBe(false);
  });

  it('keeps objects across restarts in a given data directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 's3-persist-'));
    dirs.push(dir);
    const first = await startLocalS3({ bucket: 'keep', dataDir: dir });
    let client = createFeedsS3Client({ endpoint: first.endpoint, credentials: LOCAL_S3_CREDENTIALS });
    await client.send(new PutObjectCommand({ Bucket: 'keep', Key: 'k', Body: 'v' }));
    client.destroy();
    await first.stop();
    const second = await startLocalS3({ bucket: 'keep', dataDir: dir });
    client = createFeedsS3Client({ endpoint: second.endpoint, credentials: LOCAL_S3_CREDENTIALS });
    const got = await client.send(new GetObjectCommand({ Bucket: 'keep', Key: 'k' }));
    expect(await got.Body?.transformToString()).toBe('v');
    client.destroy();
    await second.stop();
    expect(existsSync(dir)).toBe(true);
  });

  it('rejects signatures made with other credentials (as S3 would)', async () => {
    const s3 = await startLocalS3({ bucket: 'b2' });
    const client = createFeedsS3Client({
      endpoint: s3.endpoint,
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    });
    await expect(client.send(new PutObjectCommand({ Bucket: 'b2', Key: 'k', Body: 'v' }))).rejects.toThrow();
    client.destroy();
    await s3.stop();
  });

  it('listens on loopback only, keeps a given data directory private, and refuses another host', async () => {
    const dir = mkdtempSync(join(tmpdir(), 's3-private-'));
    dirs.push(dir);
    chmodSync(dir, 0o755);
    const s3 = await startLocalS3({ bucket: 'priv', dataDir: dir });
    try {
      expect(listeningAddresses(s3.port)).toEqual(['127.0.0.1']);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(readdirSync(dir)).toContain('priv');
    } finally {
      await s3.stop();
    }
    await expect(startLocalS3({ host: '0.0.0.0' })).rejects.toThrow(/local S3 host must be a loopback/);
  });
});

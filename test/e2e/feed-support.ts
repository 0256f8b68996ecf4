/**
 * The nightly feed as the e2e flows read it: `npm run export -- --day <day>` against a running local
 * stack (found through its endpoints.json), then every feed object of those days read back from the
 * stack's local S3, gunzipped and parsed.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { expect } from 'vitest';
import type { UtteranceFeedRow } from '../../core/feeds/feed-row';
import { LOCAL_S3_CREDENTIALS } from '../../local/s3';
import type { LocalStack } from './harness';

const ROOT = join(import.meta.dirname, '..', '..');

/** `npm run export -- --day <day>` against the running stack. */
export function runExport(stack: LocalStack, day: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', '--silent', 'export', '--', '--day', day], {
      cwd: ROOT,
      env: { ...process.env, LOCAL_DATA_DIR: stack.dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.once('exit', (code) => resolve({ code, output }));
  });
}

/**
 * Exports each day and returns every row of its feed files. Each export must succeed, write at least one
 * file and report the number of rows the files hold.
 */
export async function exportedRows(stack: LocalStack, days: readonly string[]): Promise<UtteranceFeedRow[]> {
  const s3 = stack.endpoints.s3;
  expect(s3, 'endpoints.json s3').toBeDefined();
  const { endpoint, bucket } = s3 as { endpoint: string; bucket: string };
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: LOCAL_S3_CREDENTIALS,
  });
  const rows: UtteranceFeedRow[] = [];
  try {
    for (const day of days) {
      const out = await runExport(stack, day);
      expect(out.code, out.output).toBe(0);
      const listed = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: `feeds/utterances/version=1/format=jsonl/dt=${day}/` }),
      );
      const keys = (listed.Contents ?? []).map((o) => o.Key as string).filter((k) => k.endsWith('.jsonl.gz'));
      expect(keys.length, out.output).toBeGreaterThan(0);
      for (const key of keys) {
        const obj = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        const text = gunzipSync(
          Buffer.from(await (obj.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()),
        ).toString('utf8');
        for (const line of text.split('\n')) if (line !== '') rows.push(JSON.parse(line) as UtteranceFeedRow);
      }
      expect(out.output).toContain(`exported ${day}: ${rows.filter((r) => r.dt === day).length} rows`);
    }
  } finally {
    client.destroy();
  }
  return rows;
}

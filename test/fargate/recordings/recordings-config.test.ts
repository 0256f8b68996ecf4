import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../core/config-error';
import { loadConfig } from '../../../fargate/src/config';

const PIPELINE = {
  AUDIOHOOK_API_KEYS: JSON.stringify({ 'test-api-key-1': '' }),
  CONVERSATIONS_TABLE: 'c-t',
  UTTERANCES_TABLE: 'u-t',
  AWS_REGION: 'eu-west-1',
};

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
}

describe('gateway configuration of segment recordings', () => {
  it('has no recordings without RECORDINGS_BUCKET', () => {
    expect(loadConfig(PIPELINE).transcription?.recordings).toBeUndefined();
  });

  it('records to RECORDINGS_BUCKET with the optional endpoint, spool directory and KMS key', () => {
    const c = loadConfig({
      ...PIPELINE,
      RECORDINGS_BUCKET: 'acme-recordings',
      S3_ENDPOINT: 'http://127.0.0.1:4568',
      RECORDINGS_SPOOL_DIR: '/var/spool/recordings',
      RECORDINGS_KMS_KEY_ID: 'alias/recordings',
    });
    expect(c.transcription?.recordings).toEqual({
      bucket: 'acme-recordings',
      s3Endpoint: 'http://127.0.0.1:4568',
      spoolDir: '/var/spool/recordings',
      kmsKeyId: 'alias/recordings',
    });
  });

  it('leaves the optional settings unset by default', () => {
    const c = loadConfig({ ...PIPELINE, RECORDINGS_BUCKET: 'acme-recordings' });
    expect(c.transcription?.recordings).toEqual({ bucket: 'acme-recordings' });
  });

  it('names a bad bucket name and a bad endpoint', () => {
    expect(problems({ ...PIPELINE, RECORDINGS_BUCKET: 'Bad_Bucket', S3_ENDPOINT: 'localhost:4568' })).toEqual([
      expect.stringMatching(/RECORDINGS_BUCKET must be an S3 bucket name/),
      expect.stringMatching(/S3_ENDPOINT must be an http\(s\) URL/),
    ]);
  });
});

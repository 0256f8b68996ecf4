import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../core/config-error';
import { loadConfig } from '../../../fargate/src/config';
import { isLoopbackEndpoint } from '../../../fargate/src/control/pipeline';

const BASE = { AUDIOHOOK_API_KEYS: JSON.stringify({ 'test-api-key-1': '' }) };

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
}

describe('gateway configuration of the transcription pipeline', () => {
  it('stays protocol-only without the tables', () => {
    const c = loadConfig({ ...BASE });
    expect(c.transcription).toBeUndefined();
    expect(c.taskId).toBeUndefined();
  });

  it('runs the pipeline when both tables are set, with local endpoints and a task id override', () => {
    const c = loadConfig({
      ...BASE,
      CONVERSATIONS_TABLE: 'aht-conversations',
      UTTERANCES_TABLE: 'aht-utterances',
      DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000',
      TRANSCRIBE_ENDPOINT: 'http://127.0.0.1:8001',
      TASK_ID: 'local-task-1',
      CONTROL_POLL_MS: '150',
    });
    expect(c.taskId).toBe('local-task-1');
    expect(c.transcription).toEqual({
      conversationsTable: 'aht-conversations',
      utterancesTable: 'aht-utterances',
      region: 'us-east-1',
      dynamodbEndpoint: 'http://127.0.0.1:8000',
      transcribeEndpoint: 'http://127.0.0.1:8001',
      controlPollMs: 150,
    });
  });

  it('defaults the poll period to 200 ms and takes the region from AWS_REGION', () => {
    const c = loadConfig({ ...BASE, CONVERSATIONS_TABLE: 'c-t', UTTERANCES_TABLE: 'u-t', AWS_REGION: 'eu-west-1' });
    expect(c.transcription).toMatchObject({ region: 'eu-west-1', controlPollMs: 200 });
  });

  it('names every problem: one table only, no region for AWS, a bad endpoint, a bad poll period', () => {
    expect(problems({ ...BASE, CONVERSATIONS_TABLE: 'c-t' })).toEqual([
      expect.stringMatching(/set both CONVERSATIONS_TABLE and UTTERANCES_TABLE/),
    ]);
    expect(problems({ ...BASE, CONVERSATIONS_TABLE: 'c-t', UTTERANCES_TABLE: 'u-t' })).toEqual([
      expect.stringMatching(/AWS_REGION is required/),
    ]);
    const many = problems({
      ...BASE,
      CONVERSATIONS_TABLE: 'c-t',
      UTTERANCES_TABLE: 'u-t',
      AWS_REGION: 'us-east-1',
      DYNAMODB_ENDPOINT: 'localhost:8000',
      CONTROL_POLL_MS: '5',
      AUDIO_SINK: 'wav',
    });
    expect(many).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/AUDIO_SINK=wav is for protocol-only mode/),
        expect.stringMatching(/DYNAMODB_ENDPOINT must be an http\(s\) URL/),
        expect.stringMatching(/CONTROL_POLL_MS must be at least 20/),
      ]),
    );
  });

  it('uses local credentials only for endpoints on loopback', () => {
    expect(isLoopbackEndpoint('http://127.0.0.1:8000')).toBe(true);
    expect(isLoopbackEndpoint('http://localhost:8001')).toBe(true);
    expect(isLoopbackEndpoint('https://transcribestreaming.us-east-1.amazonaws.com')).toBe(false);
    expect(isLoopbackEndpoint(undefined)).toBe(false);
  });
});

/**
 * Live partials configuration: `SUBSCRIPTIONS_TABLE` and `WEBSOCKET_MANAGEMENT_ENDPOINT` together turn
 * them on; one alone, or both without the transcription pipeline, is an error naming what to set.
 */

import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../fargate/src/config';
import { configProblems } from '../helpers/config-problems';

const PIPELINE = {
  AUDIOHOOK_API_KEYS: JSON.stringify({ 'test-api-key-1': '' }),
  CONVERSATIONS_TABLE: 'conversations',
  UTTERANCES_TABLE: 'utterances',
  AWS_REGION: 'eu-west-1',
};
const ENDPOINT = 'https://abc123.execute-api.eu-west-1.amazonaws.com/prod';

const problemsOf = (env: NodeJS.ProcessEnv) => configProblems(() => loadConfig(env));

describe('loadConfig: live partials', () => {
  it('are on with both variables (the management endpoint keeps its stage path)', () => {
    const c = loadConfig({
      ...PIPELINE,
      SUBSCRIPTIONS_TABLE: 'subscriptions',
      WEBSOCKET_MANAGEMENT_ENDPOINT: ENDPOINT,
    });
    expect(c.transcription?.partials).toEqual({ subscriptionsTable: 'subscriptions', managementEndpoint: ENDPOINT });
  });

  it('accept the local front’s management URL (http, secret path)', () => {
    const local = 'http://127.0.0.1:8083/_management/abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
    const c = loadConfig({ ...PIPELINE, SUBSCRIPTIONS_TABLE: 'subscriptions', WEBSOCKET_MANAGEMENT_ENDPOINT: local });
    expect(c.transcription?.partials?.managementEndpoint).toBe(local);
  });

  it('are off with neither', () => {
    const c = loadConfig(PIPELINE);
    expect(c.transcription).toBeDefined();
    expect(c.transcription?.partials).toBeUndefined();
  });

  it.each([
    ['SUBSCRIPTIONS_TABLE', { SUBSCRIPTIONS_TABLE: 'subscriptions' }],
    ['WEBSOCKET_MANAGEMENT_ENDPOINT', { WEBSOCKET_MANAGEMENT_ENDPOINT: ENDPOINT }],
  ])('refuse %s alone, naming both', (_name, extra) => {
    const problems = problemsOf({ ...PIPELINE, ...extra });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('SUBSCRIPTIONS_TABLE');
    expect(problems[0]).toContain('WEBSOCKET_MANAGEMENT_ENDPOINT');
  });

  it('refuse both without the transcription pipeline', () => {
    const { CONVERSATIONS_TABLE: _c, UTTERANCES_TABLE: _u, ...protocolOnly } = PIPELINE;
    const problems = problemsOf({
      ...protocolOnly,
      SUBSCRIPTIONS_TABLE: 'subscriptions',
      WEBSOCKET_MANAGEMENT_ENDPOINT: ENDPOINT,
    });
    expect(problems).toEqual([expect.stringContaining('need the transcription pipeline')]);
  });

  it('refuse a management endpoint that is not an http(s) URL', () => {
    const problems = problemsOf({
      ...PIPELINE,
      SUBSCRIPTIONS_TABLE: 'subscriptions',
      WEBSOCKET_MANAGEMENT_ENDPOINT: 'wss://x/y',
    });
    expect(problems).toEqual([expect.stringContaining('WEBSOCKET_MANAGEMENT_ENDPOINT must be an http(s) URL')]);
  });
});

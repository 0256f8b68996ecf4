import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../fargate/src/config';
import { configProblems } from '../../helpers/config-problems';

const KEYS = JSON.stringify({ 'test-api-key-1': Buffer.from('a-client-secret-of-32-bytes-long').toString('base64') });

const problemsOf = (env: NodeJS.ProcessEnv) => configProblems(() => loadConfig(env));

describe('gateway configuration: metrics and task protection', () => {
  it('publishes no metrics and protects nothing by default (local runs)', () => {
    const c = loadConfig({ AUDIOHOOK_API_KEYS: KEYS });
    expect(c.metrics).toBeUndefined();
    expect(c.taskProtection).toBeUndefined();
  });

  it('publishes metrics when METRICS_NAMESPACE is set, every 60 s as service audiohook-gateway', () => {
    const c = loadConfig({ AUDIOHOOK_API_KEYS: KEYS, METRICS_NAMESPACE: 'AudiohookTranscribe' });
    expect(c.metrics).toEqual({ namespace: 'AudiohookTranscribe', service: 'audiohook-gateway', intervalMs: 60_000 });
  });

  it('takes the service dimension and the interval from the environment', () => {
    const c = loadConfig({
      AUDIOHOOK_API_KEYS: KEYS,
      METRICS_NAMESPACE: 'NS',
      METRICS_SERVICE: 'gw-blue',
      METRICS_INTERVAL_SEC: '15',
    });
    expect(c.metrics).toEqual({ namespace: 'NS', service: 'gw-blue', intervalMs: 15_000 });
  });

  it('protects the task only when enabled and ECS gave the agent URI', () => {
    expect(loadConfig({ AUDIOHOOK_API_KEYS: KEYS, TASK_PROTECTION_ENABLED: 'true' }).taskProtection).toBeUndefined();
    expect(
      loadConfig({ AUDIOHOOK_API_KEYS: KEYS, ECS_AGENT_URI: 'http://169.254.170.2/api/abc' }).taskProtection,
    ).toBeUndefined();
    expect(
      loadConfig({
        AUDIOHOOK_API_KEYS: KEYS,
        TASK_PROTECTION_ENABLED: 'true',
        ECS_AGENT_URI: 'http://169.254.170.2/api/abc',
        TASK_PROTECTION_EXPIRES_MIN: '120',
      }).taskProtection,
    ).toEqual({ agentUri: 'http://169.254.170.2/api/abc', expiresInMinutes: 120, releaseDelayMs: 30_000 });
  });

  it('names each invalid setting', () => {
    const problems = problemsOf({
      AUDIOHOOK_API_KEYS: KEYS,
      METRICS_NAMESPACE: 'has spaces',
      METRICS_INTERVAL_SEC: '1',
      TASK_PROTECTION_ENABLED: 'yes',
      TASK_PROTECTION_EXPIRES_MIN: '5000',
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('METRICS_NAMESPACE'),
        expect.stringContaining('METRICS_INTERVAL_SEC'),
        expect.stringContaining('TASK_PROTECTION_ENABLED'),
        expect.stringContaining('TASK_PROTECTION_EXPIRES_MIN'),
      ]),
    );
  });
});

import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/config-error';
import { loadConfig } from '../../fargate/src/config';

const KEYS = JSON.stringify({ 'test-api-key-1': Buffer.from('a-client-secret-of-32-bytes-long').toString('base64') });

describe('loadConfig: per-source limits', () => {
  it('turns them on by default: 50 upgrades/s (burst 100) and 10 failures/s (burst 20) per source', () => {
    expect(loadConfig({ AUDIOHOOK_API_KEYS: KEYS }).sourceLimits).toEqual({
      upgrades: { ratePerSec: 50, burst: 100 },
      failures: { ratePerSec: 10, burst: 20 },
    });
  });

  it('reads each SOURCE_LIMIT_* variable', () => {
    const c = loadConfig({
      AUDIOHOOK_API_KEYS: KEYS,
      SOURCE_LIMIT_UPGRADES_PER_SEC: '500',
      SOURCE_LIMIT_UPGRADES_BURST: '2000',
      SOURCE_LIMIT_FAILURES_PER_SEC: '3',
      SOURCE_LIMIT_FAILURES_BURST: '7',
    });
    expect(c.sourceLimits).toEqual({
      upgrades: { ratePerSec: 500, burst: 2000 },
      failures: { ratePerSec: 3, burst: 7 },
    });
  });

  it('turns them off with SOURCE_LIMIT_ENABLED=false', () => {
    expect(loadConfig({ AUDIOHOOK_API_KEYS: KEYS, SOURCE_LIMIT_ENABLED: 'false' }).sourceLimits).toBeUndefined();
  });

  it('names every invalid value', () => {
    let error: unknown;
    try {
      loadConfig({
        AUDIOHOOK_API_KEYS: KEYS,
        SOURCE_LIMIT_ENABLED: 'yes',
        SOURCE_LIMIT_UPGRADES_PER_SEC: '0',
        SOURCE_LIMIT_FAILURES_BURST: 'lots',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toContain('SOURCE_LIMIT_ENABLED must be true or false');
    expect(problems).toContain('SOURCE_LIMIT_UPGRADES_PER_SEC must be at least 1');
    expect(problems).toContain('SOURCE_LIMIT_FAILURES_BURST must be a whole number');
  });
});

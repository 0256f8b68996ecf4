import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../fargate/src/config';
import { configProblems } from '../helpers/config-problems';

const SECRET = Buffer.from('a-client-secret-of-32-bytes-long').toString('base64');
const KEYS = JSON.stringify({ 'test-api-key-1': SECRET });

const problemsOf = (env: NodeJS.ProcessEnv) => configProblems(() => loadConfig(env));

describe('loadConfig', () => {
  describe('with only API keys set', () => {
    it('applies the documented defaults', () => {
      const c = loadConfig({ AUDIOHOOK_API_KEYS: KEYS });
      expect(c).toMatchObject({
        port: 8080,
        host: '0.0.0.0',
        audiohookPaths: ['/api/v1/audiohook/ws'],
        audioSink: 'null',
        wavDir: '.local/recordings',
        supportedLanguages: ['en-US', 'es-US'],
        maxSessions: 1000,
        drainTimeoutSec: 7200,
        closeFlushBudgetMs: 3000,
        logLevel: 'info',
        signatureMaxAgeSec: 10,
        signatureClockSkewSec: 3,
      });
      expect(c.admin).toBeUndefined();
      expect(c.expectedAuthority).toBeUndefined();
      expect(c.apiKeys).toEqual({ source: 'env', json: { 'test-api-key-1': SECRET } });
    });

    it('does not read process.env when an env object is given', () => {
      expect(loadConfig({ AUDIOHOOK_API_KEYS: KEYS, PORT: '9000' }).port).toBe(9000);
    });
  });

  describe('parsing', () => {
    it('reads every variable', () => {
      const c = loadConfig({
        PORT: '9001',
        HOST: '127.0.0.1',
        AUDIOHOOK_PATHS: ' /a/ws , /b/ws,/a/ws ',
        AUDIOHOOK_API_KEYS_SECRET_ID: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:keys-AbCdEf',
        AUDIOHOOK_EXPECTED_AUTHORITY: 'audiohook.example.com',
        AUDIO_SINK: 'wav',
        WAV_DIR: '/tmp/rec',
        SUPPORTED_LANGUAGES: 'en-US, fr-CA',
        MAX_SESSIONS: '50',
        DRAIN_TIMEOUT_SEC: '110',
        CLOSE_FLUSH_BUDGET_MS: '6000',
        ADMIN_PORT: '9100',
        LOG_LEVEL: 'debug',
        AWS_REGION: 'eu-west-1',
        SIGNATURE_MAX_AGE_SEC: '20',
        SIGNATURE_CLOCK_SKEW_SEC: '5',
      });
      expect(c).toMatchObject({
        port: 9001,
        host: '127.0.0.1',
        audiohookPaths: ['/a/ws', '/b/ws'],
        apiKeys: {
          source: 'secrets-manager',
          secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:keys-AbCdEf',
        },
        expectedAuthority: 'audiohook.example.com',
        audioSink: 'wav',
        wavDir: '/tmp/rec',
        supportedLanguages: ['en-US', 'fr-CA'],
        maxSessions: 50,
        drainTimeoutSec: 110,
        closeFlushBudgetMs: 6000,
        admin: { port: 9100, host: '127.0.0.1' },
        logLevel: 'debug',
        awsRegion: 'eu-west-1',
        signatureMaxAgeSec: 20,
        signatureClockSkewSec: 5,
      });
    });

    it('keeps the close flush budget under the client close timeout', () => {
      expect(() => loadConfig({ AUDIOHOOK_API_KEYS: KEYS, CLOSE_FLUSH_BUDGET_MS: '9000' })).toThrow(
        /CLOSE_FLUSH_BUDGET_MS/,
      );
    });

    it('reads OPEN_TIMEOUT_MS (default 5000) and refuses values the open deadline cannot use', () => {
      expect(loadConfig({ AUDIOHOOK_API_KEYS: KEYS }).openTimeoutMs).toBe(5000);
      expect(loadConfig({ AUDIOHOOK_API_KEYS: KEYS, OPEN_TIMEOUT_MS: '250' }).openTimeoutMs).toBe(250);
      for (const bad of ['0', '99', '60001', '5s', '-1']) {
        expect(problemsOf({ AUDIOHOOK_API_KEYS: KEYS, OPEN_TIMEOUT_MS: bad })).toEqual([
          expect.stringMatching(
            /^OPEN_TIMEOUT_MS must be (a whole number between 100 and 60000|at least 100|at most 60000)/,
          ),
        ]);
      }
    });

    it('treats blank variables as unset', () => {
      const c = loadConfig({ AUDIOHOOK_API_KEYS: KEYS, PORT: '', ADMIN_PORT: '  ', AUDIOHOOK_API_KEYS_SECRET_ID: '' });
      expect(c.port).toBe(8080);
      expect(c.admin).toBeUndefined();
      expect(c.apiKeys.source).toBe('env');
    });

    it('passes TRANSCRIBE_END_TIMEOUT_MS to the streamer, and bounds it', () => {
      const tables = {
        AUDIOHOOK_API_KEYS: KEYS,
        CONVERSATIONS_TABLE: 'conv',
        UTTERANCES_TABLE: 'utt',
        AWS_REGION: 'us-east-1',
      };
      expect(loadConfig(tables).transcription?.streamerConfig).toBeUndefined();
      expect(loadConfig({ ...tables, TRANSCRIBE_END_TIMEOUT_MS: '30000' }).transcription?.streamerConfig).toEqual({
        endTimeoutMs: 30_000,
      });
      expect(problemsOf({ ...tables, TRANSCRIBE_END_TIMEOUT_MS: '10' }).join('\n')).toMatch(
        /TRANSCRIBE_END_TIMEOUT_MS/,
      );
    });

    it('lets ADMIN_HOST move the admin server off loopback', () => {
      const c = loadConfig({ AUDIOHOOK_API_KEYS: KEYS, ADMIN_PORT: '9100', ADMIN_HOST: '0.0.0.0' });
      expect(c.admin).toEqual({ port: 9100, host: '0.0.0.0' });
    });
  });

  describe('API keys', () => {
    it('fails when neither variable is set, saying how to set AUDIOHOOK_API_KEYS', () => {
      const problems = problemsOf({});
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/AUDIOHOOK_API_KEYS=/);
      expect(problems[0]).toMatch(/AUDIOHOOK_API_KEYS_SECRET_ID/);
    });

    it('fails when both variables are set', () => {
      expect(problemsOf({ AUDIOHOOK_API_KEYS: KEYS, AUDIOHOOK_API_KEYS_SECRET_ID: 'keys' })[0]).toMatch(
        /either AUDIOHOOK_API_KEYS or AUDIOHOOK_API_KEYS_SECRET_ID/,
      );
    });

    it('rejects malformed JSON without echoing the value', () => {
      const value = `{"test-api-key-1": "${SECRET}"`;
      const problems = problemsOf({ AUDIOHOOK_API_KEYS: value });
      expect(problems[0]).toMatch(/AUDIOHOOK_API_KEYS is not valid JSON/);
      expect(problems.join('\n')).not.toContain(SECRET);
    });

    it('rejects an invalid key map without echoing the secret', () => {
      const badSecret = 'c2hvcnQ='; // decodes to 5 bytes: too short for HMAC
      const problems = problemsOf({ AUDIOHOOK_API_KEYS: JSON.stringify({ 'test-api-key-1': badSecret }) });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/AUDIOHOOK_API_KEYS/);
      expect(problems[0]).not.toContain(badSecret);
    });

    it('rejects an empty key map', () => {
      expect(problemsOf({ AUDIOHOOK_API_KEYS: '{}' })[0]).toMatch(/AUDIOHOOK_API_KEYS/);
    });
  });

  describe('invalid values', () => {
    it('reports every problem at once, each naming its variable', () => {
      const problems = problemsOf({
        AUDIOHOOK_API_KEYS: KEYS,
        PORT: 'eighty',
        AUDIO_SINK: 'mp3',
        MAX_SESSIONS: '0',
        LOG_LEVEL: 'loud',
        SUPPORTED_LANGUAGES: 'english',
        AUDIOHOOK_PATHS: 'ws',
        AWS_REGION: 'Europe',
        ADMIN_PORT: '70000',
      });
      for (const name of [
        'PORT',
        'AUDIO_SINK',
        'MAX_SESSIONS',
        'LOG_LEVEL',
        'SUPPORTED_LANGUAGES',
        'AUDIOHOOK_PATHS',
        'AWS_REGION',
        'ADMIN_PORT',
      ]) {
        expect(problems.some((p) => p.startsWith(name) || p.includes(`${name} `))).toBe(true);
      }
      expect(problems).toHaveLength(8);
    });

    it('reports a bad language list with the shared message (contract/env.ts languageList)', () => {
      expect(problemsOf({ AUDIOHOOK_API_KEYS: KEYS, SUPPORTED_LANGUAGES: 'en-US,en_GB' })).toEqual([
        'SUPPORTED_LANGUAGES must be comma-separated BCP-47 tags, e.g. en-US,es-US',
      ]);
    });

    it('reports an API keys problem together with the others', () => {
      const problems = problemsOf({ AUDIOHOOK_API_KEYS: '{', PORT: 'x' });
      expect(problems).toHaveLength(2);
      expect(problems[0]).toMatch(/^AUDIOHOOK_API_KEYS is not valid JSON/);
      expect(problems[1]).toMatch(/^PORT /);
    });

    it('puts every problem in the error message', () => {
      expect(() => loadConfig({ AUDIOHOOK_API_KEYS: KEYS, PORT: '0', DRAIN_TIMEOUT_SEC: '-1' })).toThrow(
        /PORT must be at least 1[\s\S]*DRAIN_TIMEOUT_SEC must be a whole number/,
      );
    });

    it('rejects an expected authority with a scheme', () => {
      expect(
        problemsOf({ AUDIOHOOK_API_KEYS: KEYS, AUDIOHOOK_EXPECTED_AUTHORITY: 'https://audiohook.example.com' })[0],
      ).toMatch(/AUDIOHOOK_EXPECTED_AUTHORITY must be host\[:port\]/);
    });
  });
});

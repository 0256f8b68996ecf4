import { describe, expect, it } from 'vitest';
import {
  AppConfigError,
  type AppConfigInput,
  CONFIG_CONTEXT_KEY,
  CONFIG_FILE_CONTEXT_KEY,
  DRAIN_MARGIN_SEC,
  loadAppConfig,
  parseAppConfig,
} from '../../bin/config';
import { BASE_CONFIG } from './fixtures';

function problemsOf(input: unknown): readonly string[] {
  try {
    parseAppConfig(input);
  } catch (err) {
    if (err instanceof AppConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected the configuration to be rejected');
}

const withGateway = (gateway: AppConfigInput['gateway']): AppConfigInput => ({ ...BASE_CONFIG, gateway });

describe('AppConfig', () => {
  describe('defaults', () => {
    it('fills every default a platform team would expect', () => {
      const c = parseAppConfig(BASE_CONFIG);
      expect(c.gateway).toMatchObject({
        cpu: 1024,
        memoryMiB: 2048,
        architecture: 'arm64',
        stopTimeoutSec: 120,
        deregistrationDelaySec: 3600,
        idleTimeoutSec: 120,
        audiohookPaths: ['/mg-genesysaudiohook-autotranscribe/', '/mg-genesysaudiohook-autotranscribe'],
      });
      expect(c.retention).toEqual({ transcriptDays: 7, feedDays: 90, logDays: 30, recordingsDays: 30 });
      expect(c.realtime).toEqual({
        supervisorApiIds: [],
        browserTokens: true,
        tokenTtlSec: 300,
        throttleRatePerSec: 50,
        throttleBurst: 100,
      });
      expect(c.features).toEqual({ feedExport: true, realtimeDelivery: true });
      expect(c.transcription).toEqual({ languages: ['en-US', 'es-US'], defaultLanguage: 'en-US', redaction: true });
      expect(c.api).toMatchObject({ throttleRatePerSec: 100, throttleBurst: 200, waf: false, clients: [] });
      expect(c.retainData).toBe(true);
    });

    it('derives the gateway drain deadline from stopTimeout minus a margin', () => {
      const c = parseAppConfig(withGateway({ stopTimeoutSec: 60, deregistrationDelaySec: 600 }));
      expect(c.gatewayDrainTimeoutSec).toBe(60 - DRAIN_MARGIN_SEC);
    });

    it('is frozen', () => {
      expect(Object.isFrozen(parseAppConfig(BASE_CONFIG))).toBe(true);
    });
  });

  describe('fails fast with fix-it messages', () => {
    it('says where to put the configuration when there is none', () => {
      expect(problemsOf(undefined)[0]).toMatch(/add a "audiohook" object to the "context" of cdk.json/);
    });

    it('names each missing required setting', () => {
      const problems = problemsOf({ domain: { gatewayDomainName: 'a.example.com' } });
      expect(problems).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^audiohook\.region: is required/),
          expect.stringMatching(/^audiohook\.domain\.apiDomainName:/),
        ]),
      );
    });

    it('rejects unknown settings, naming them', () => {
      expect(problemsOf({ ...BASE_CONFIG, regoin: 'eu-west-1' })).toContainEqual(
        'audiohook: unknown setting(s) regoin (check the spelling)',
      );
    });

    it('rejects a host name with a scheme', () => {
      expect(
        problemsOf({ ...BASE_CONFIG, domain: { ...BASE_CONFIG.domain, apiDomainName: 'https://api.example.com' } })[0],
      ).toMatch(/^audiohook\.domain\.apiDomainName: must be a lower-case DNS name/);
    });

    it('needs a hosted zone or a certificate', () => {
      const { hostedZone: _zone, ...domain } = BASE_CONFIG.domain;
      expect(problemsOf({ ...BASE_CONFIG, domain })[0]).toMatch(/set hostedZone \{id, name\} .* or certificateArn/);
    });

    it('accepts an imported certificate without a hosted zone', () => {
      const { hostedZone: _zone, ...domain } = BASE_CONFIG.domain;
      const c = parseAppConfig({
        ...BASE_CONFIG,
        domain: { ...domain, certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc' },
      });
      expect(c.domain.hostedZone).toBeUndefined();
    });

    it('wants both host names inside the hosted zone', () => {
      expect(
        problemsOf({ ...BASE_CONFIG, domain: { ...BASE_CONFIG.domain, apiDomainName: 'api.other.org' } }),
      ).toContainEqual(
        'audiohook.domain.apiDomainName (api.other.org) must be inside hostedZone.name (cc.example.com)',
      );
    });

    it('rejects a task size Fargate does not offer, listing the valid ones', () => {
      expect(problemsOf(withGateway({ cpu: 1000 }))[0]).toMatch(
        /cpu: 1000 is not a Fargate size; use one of 256, 512, 1024, 2048, 4096/,
      );
      expect(problemsOf(withGateway({ cpu: 512, memoryMiB: 8192 }))[0]).toMatch(/memoryMiB: 8192 does not fit cpu 512/);
    });

    it('caps stopTimeout at the Fargate maximum and explains what protects long calls', () => {
      expect(problemsOf(withGateway({ stopTimeoutSec: 300 }))[0]).toMatch(
        /at most 120; long calls are protected by task scale-in protection/,
      );
    });

    it('keeps the deregistration delay at least as long as stopTimeout', () => {
      expect(problemsOf(withGateway({ stopTimeoutSec: 120, deregistrationDelaySec: 60 }))[0]).toMatch(
        /deregistrationDelaySec \(60\) must be at least stopTimeoutSec \(120\)/,
      );
    });

    it('refuses an idle timeout that would cut paused calls', () => {
      expect(problemsOf(withGateway({ idleTimeoutSec: 10 }))[0]).toMatch(/idleTimeoutSec: use 30–4000/);
    });

    it('wants scale-out to start before tasks refuse calls', () => {
      expect(problemsOf(withGateway({ targetSessionsPerTask: 300, maxSessionsPerTask: 300 }))[0]).toMatch(
        /targetSessionsPerTask \(300\) must be below maxSessionsPerTask \(300\)/,
      );
    });

    it('wants the default language among the languages', () => {
      expect(
        problemsOf({ ...BASE_CONFIG, transcription: { languages: ['en-US'], defaultLanguage: 'es-US' } })[0],
      ).toMatch(/defaultLanguage \(es-US\) must be one of languages \(en-US\)/);
    });

    it('needs the account to look up an existing VPC', () => {
      expect(problemsOf({ ...BASE_CONFIG, vpc: { vpcId: 'vpc-0abc1234' } })[0]).toMatch(
        /vpcId: .* needs audiohook.account/,
      );
    });

    it('reports every problem at once', () => {
      expect(problemsOf(withGateway({ cpu: 1000, minTasks: 5, maxTasks: 2, idleTimeoutSec: 5 }))).toHaveLength(3);
    });

    it('wants an https webhook and a usage key that looks like one', () => {
      const problems = problemsOf({
        ...BASE_CONFIG,
        webhook: { url: 'http://hooks.example.com' },
        api: { clients: [{ name: 'crm', usageKey: 'short' }] },
      });
      expect(problems).toEqual(
        expect.arrayContaining([
          'audiohook.webhook.url: must be an https:// URL',
          expect.stringMatching(/^audiohook\.api\.clients\.0\.usageKey: must be the usageKey printed by/),
        ]),
      );
    });
  });

  describe('loading from context', () => {
    const context = (values: Record<string, unknown>) => ({ tryGetContext: (key: string) => values[key] });

    it('reads the context object', () => {
      const c = loadAppConfig(context({ [CONFIG_CONTEXT_KEY]: BASE_CONFIG }), () => '');
      expect(c.domain.gatewayDomainName).toBe('audiohook.cc.example.com');
    });

    it('accepts the JSON text given with -c', () => {
      const c = loadAppConfig(context({ [CONFIG_CONTEXT_KEY]: JSON.stringify(BASE_CONFIG) }), () => '');
      expect(c.region).toBe('eu-west-1');
    });

    it('explains how to quote broken JSON', () => {
      expect(() => loadAppConfig(context({ [CONFIG_CONTEXT_KEY]: '{domain:' }), () => '')).toThrow(
        /is not valid JSON; quote it as -c/,
      );
    });

    it('merges the context over a configuration file, key by key', () => {
      const files: Record<string, string> = {
        'deploy/prod.json': JSON.stringify({ ...BASE_CONFIG, gateway: { minTasks: 3, maxTasks: 20 } }),
      };
      const c = loadAppConfig(
        context({ [CONFIG_FILE_CONTEXT_KEY]: 'deploy/prod.json', [CONFIG_CONTEXT_KEY]: { gateway: { maxTasks: 30 } } }),
        (path) => {
          const text = files[path];
          if (text === undefined) throw new Error('ENOENT');
          return text;
        },
      );
      expect(c.gateway.minTasks).toBe(3);
      expect(c.gateway.maxTasks).toBe(30);
    });

    it('names an unreadable configuration file', () => {
      expect(() =>
        loadAppConfig(context({ [CONFIG_FILE_CONTEXT_KEY]: 'missing.json' }), () => {
          throw new Error('ENOENT');
        }),
      ).toThrow(/audiohookConfigFile: cannot read missing.json/);
    });
  });
});

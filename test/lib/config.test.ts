import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  AppConfigError,
  CONFIG_FILE_ALIAS_CONTEXT_KEY,
  CONFIG_FILE_CONTEXT_KEY,
  loadAppConfig,
  parseAppConfig,
} from '../../bin/config';
import { type AppConfigInput, CONFIG_CONTEXT_KEY, DRAIN_MARGIN_SEC } from '../../contract/app-config';
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
        targetCpuPercent: 50,
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
      expect(c.api).toMatchObject({ throttleRatePerSec: 100, throttleBurst: 200, waf: true, clients: [] });
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

    it('caps the deregistration delay at the network load balancer maximum', () => {
      expect(problemsOf(withGateway({ deregistrationDelaySec: 4000 }))[0]).toMatch(
        /deregistrationDelaySec: the network load balancer allows at most 3600/,
      );
      expect(parseAppConfig(withGateway({ deregistrationDelaySec: 300 })).gateway.deregistrationDelaySec).toBe(300);
    });

    it('refuses the ALB-era idle timeout with the reason (a TLS listener of an NLB has a fixed one)', () => {
      expect(problemsOf({ ...BASE_CONFIG, gateway: { idleTimeoutSec: 120 } as never })[0]).toMatch(
        /idleTimeoutSec: is no longer a setting: .* fixed 350 s idle timeout/,
      );
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
      expect(
        problemsOf(
          withGateway({ cpu: 1000, minTasks: 5, maxTasks: 2, targetSessionsPerTask: 90, maxSessionsPerTask: 80 }),
        ),
      ).toHaveLength(3);
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

  describe('loading: the file is the source of truth, -c audiohook.<path> overrides it', () => {
    const ROOT = '/srv/audiohook-transcribe';
    const PROD = `${ROOT}/deploy/prod.json`;
    const PROD_CONFIG = {
      ...BASE_CONFIG,
      domain: {
        gatewayDomainName: 'audiohook.calls.acme.test',
        apiDomainName: 'api.calls.acme.test',
        hostedZone: { id: 'Z07ACMEZONE42', name: 'calls.acme.test' },
      },
      gateway: { minTasks: 3, maxTasks: 20 },
      api: { clients: [{ name: 'crm', usageKey: 'uk-0123456789abcdefghij' }] },
    } satisfies AppConfigInput;

    /** A construct node's view of context: `-c` values arrive as strings. */
    const context = (values: Record<string, unknown>) => ({
      tryGetContext: (key: string) => values[key],
      getAllContext: () => ({ '@aws-cdk/core:checkSecretUsage': true, ...values }),
    });
    const reads: string[] = [];
    const files = (byPath: Record<string, string> = { [PROD]: JSON.stringify(PROD_CONFIG) }) => ({
      projectRoot: ROOT,
      readFile: (path: string) => {
        reads.push(path);
        const text = byPath[path];
        if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
        return text;
      },
    });
    const load = (values: Record<string, unknown>, byPath?: Record<string, string>) =>
      loadAppConfig(context({ [CONFIG_FILE_CONTEXT_KEY]: 'deploy/prod.json', ...values }), files(byPath));
    const loadProblems = (values: Record<string, unknown>, byPath?: Record<string, string>): readonly string[] => {
      try {
        load(values, byPath);
      } catch (err) {
        if (err instanceof AppConfigError) return err.problems;
        throw err;
      }
      throw new Error('expected the configuration to be rejected');
    };

    it('uses the file as given: domain, zone and sizes are the customer’s', () => {
      const c = load({});
      expect(c.domain).toEqual(PROD_CONFIG.domain);
      expect(c.gateway).toMatchObject({ minTasks: 3, maxTasks: 20 });
      expect(c.stackName).toBe('AudiohookTest');
    });

    it('resolves a relative path against the project root, not the working directory; keeps an absolute one', () => {
      reads.length = 0;
      load({});
      loadAppConfig(context({ [CONFIG_FILE_CONTEXT_KEY]: PROD }), files());
      expect(reads).toEqual([PROD, PROD]);
    });

    it('accepts the short alias -c config=<file>, but not two different files', () => {
      const c = loadAppConfig(context({ [CONFIG_FILE_ALIAS_CONTEXT_KEY]: 'deploy/prod.json' }), files());
      expect(c.gateway.maxTasks).toBe(20);
      expect(loadProblems({ [CONFIG_FILE_ALIAS_CONTEXT_KEY]: 'deploy/test.json' })[0]).toMatch(
        /^audiohookConfigFile \(deploy\/prod.json\) and config \(deploy\/test.json\) name different files/,
      );
    });

    it('says to copy the example and pass the file when none is given', () => {
      const problem =
        'no configuration file: copy deploy/example.json to deploy/<env>.json, set your domain, region and ' +
        'certificate or hosted zone in it, and pass -c audiohookConfigFile=deploy/<env>.json';
      expect(() => loadAppConfig(context({}), files())).toThrow(problem);
      expect(() => loadAppConfig(context({ [CONFIG_FILE_CONTEXT_KEY]: '' }), files())).toThrow(problem);
      expect(problemsOf(undefined)).toEqual([problem]);
    });

    it('names an unreadable file with the path it tried', () => {
      expect(() => loadAppConfig(context({ [CONFIG_FILE_CONTEXT_KEY]: 'missing.json' }), files())).toThrow(
        `audiohookConfigFile: cannot read missing.json (${ROOT}/missing.json: ENOENT); a relative path is resolved ` +
          'against the project root, the folder of cdk.json (start from deploy/example.json)',
      );
    });

    it('names a file that is not JSON, or not an object', () => {
      expect(loadProblems({}, { [PROD]: '{ "region": "us-east-1", }' })[0]).toMatch(
        /^deploy\/prod.json: not valid JSON \(.+\); JSON has no comments or trailing commas$/,
      );
      expect(loadProblems({}, { [PROD]: '[]' })).toEqual([
        'deploy/prod.json: must hold one JSON object {…} with the settings (see deploy/example.json)',
      ]);
    });

    it('validates the file like any configuration', () => {
      expect(loadProblems({}, { [PROD]: JSON.stringify({ ...PROD_CONFIG, regoin: 'x' }) })).toContainEqual(
        'audiohook: unknown setting(s) regoin (check the spelling)',
      );
    });

    it('refuses the old whole-object "audiohook" context key, with the way to migrate', () => {
      for (const old of [{ gateway: { maxTasks: 20 } }, '{"gateway":{"maxTasks":20}}']) {
        const problems = loadProblems({ [CONFIG_CONTEXT_KEY]: old });
        expect(problems).toHaveLength(1);
        expect(problems[0]).toMatch(/^context "audiohook" \(the whole configuration as one object\) is no longer read/);
        expect(problems[0]).toContain('start from deploy/example.json');
        expect(problems[0]).toContain('-c audiohook.gateway.maxTasks=20');
        expect(problems[0]).toContain('delete "audiohook" from the "context" of cdk.json');
      }
    });

    describe('dotted overrides', () => {
      it('reads numbers, booleans, arrays and strings from the -c text, over the file', () => {
        const c = load({
          'audiohook.gateway.maxTasks': '30',
          'audiohook.retainData': 'false',
          'audiohook.transcription.languages': '["en-US"]',
          'audiohook.alarmEmail': 'ops@example.com',
          'audiohook.stackName': 'AudiohookProd',
        });
        expect(c.gateway).toMatchObject({ minTasks: 3, maxTasks: 30 });
        expect(c.retainData).toBe(false);
        expect(c.transcription.languages).toEqual(['en-US']);
        expect(c.alarmEmail).toBe('ops@example.com');
        expect(c.stackName).toBe('AudiohookProd');
        expect(c.domain).toEqual(PROD_CONFIG.domain);
      });

      it('takes JSON text as a string when quoted, and non-string values (cdk.json) as they are', () => {
        const c = load({ 'audiohook.gateway.initialApiKey': '"12345678"', 'audiohook.gateway.minTasks': 4 });
        expect(c.gateway.initialApiKey).toBe('12345678');
        expect(c.gateway.minTasks).toBe(4);
      });

      it('creates missing sections, replaces a section given as an object, and lets the deeper key win', () => {
        const c = load({
          'audiohook.vpc.natGateways': '2',
          'audiohook.gateway': '{"maxTasks":40,"minTasks":1}',
          'audiohook.gateway.minTasks': '5',
          'audiohook.domain.hostedZone.id': 'Z0NEWZONE99',
        });
        expect(c.vpc.natGateways).toBe(2);
        expect(c.gateway).toMatchObject({ minTasks: 5, maxTasks: 40, targetSessionsPerTask: 35 });
        expect(c.domain.hostedZone).toEqual({ id: 'Z0NEWZONE99', name: 'calls.acme.test' });
      });

      it('removes a setting with null (e.g. to use a certificate instead of the zone)', () => {
        const c = load({
          'audiohook.domain.hostedZone': 'null',
          'audiohook.domain.certificateArn': 'arn:aws:acm:eu-west-1:123456789012:certificate/abc',
          'audiohook.webhook.url': 'null',
        });
        expect(c.domain.hostedZone).toBeUndefined();
        expect(c.domain.certificateArn).toBe('arn:aws:acm:eu-west-1:123456789012:certificate/abc');
        expect(c.webhook).toBeUndefined();
      });

      it('ignores other context keys and leaves the file alone', () => {
        const text = JSON.stringify(PROD_CONFIG);
        const c = load({ audiohookFoo: '1', '@aws-cdk/core:target-partitions': ['aws'] }, { [PROD]: text });
        expect(c.gateway.maxTasks).toBe(20);
        load({ 'audiohook.gateway.maxTasks': '7' }, { [PROD]: text });
        expect(JSON.parse(text)).toEqual(PROD_CONFIG);
      });

      it('reports bad paths at once, naming each key (shorter paths first)', () => {
        expect(
          loadProblems({
            'audiohook.gateway.maxTasks.value': '1',
            'audiohook.api.clients.0.name': 'erp',
            'audiohook.gateway..maxTasks': '1',
            'audiohook.': '1',
            'audiohook.__proto__.polluted': '1',
          }),
        ).toEqual([
          expect.stringMatching(/^-c audiohook\.: the setting path has an empty name/),
          expect.stringMatching(/^-c audiohook\.__proto__\.polluted: "__proto__" is not a setting name$/),
          expect.stringMatching(/^-c audiohook\.gateway\.\.maxTasks: the setting path has an empty name/),
          '-c audiohook.gateway.maxTasks.value: audiohook.gateway.maxTasks is the number 20, not a group of settings, ' +
            `so it has no "value"; set audiohook.gateway.maxTasks as a whole, e.g. -c audiohook.gateway.maxTasks='<JSON value>'`,
          '-c audiohook.api.clients.0.name: audiohook.api.clients is a list, not a group of settings, so it has no "0"; ' +
            "set audiohook.api.clients as a whole, e.g. -c audiohook.api.clients='<JSON value>'",
        ]);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      });

      it('validates overridden values like the file, naming the setting', () => {
        expect(loadProblems({ 'audiohook.gateway.maxTasks': 'many', 'audiohook.region': 'mars' })).toEqual(
          expect.arrayContaining([
            expect.stringMatching(/^audiohook\.gateway\.maxTasks: /),
            'audiohook.region: must be a region such as us-east-1',
          ]),
        );
      });
    });

    it('ships a valid, complete example in deploy/example.json (read from the real project root)', () => {
      const c = loadAppConfig(context({ [CONFIG_FILE_CONTEXT_KEY]: 'deploy/example.json' }), {
        readFile: (path) => readFileSync(path, 'utf8'),
      });
      expect(c.domain.hostedZone?.id).toBe('Z0123456789EXAMPLE');
      expect(c.alarmEmail).toBe('oncall@example.com');
    });
  });
});

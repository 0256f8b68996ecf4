/**
 * The configuration path end to end, through the real CDK CLI from node_modules (`cdk synth`, which runs the
 * `app` of cdk.json): offline, with no AWS credentials and no Docker, every Lambda bundled by the local
 * esbuild. Proves that the customer's file reaches the template (domain names, hosted zone, certificate) and
 * that `-c audiohook.<path>=<value>` overrides arrive as the CLI passes them (strings). The cloud assembly goes
 * to a temporary directory, so the working tree is left as it was.
 *
 * Resources are found by type and content, not by logical id, so the stack's internals may move freely.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_FILE_CONTEXT_KEY } from '../../bin/config';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CDK = join(ROOT, 'node_modules', '.bin', 'cdk');
/** A real synth bundles every Lambda: 40 s on an idle 2-core machine, over two minutes on a busy one. */
const SYNTH_TIMEOUT_MS = 360_000;

interface Resource {
  Type: string;
  Properties?: Record<string, unknown>;
}
type Template = { Resources: Record<string, Resource> };

let work: string;
const repoBefore = { cdkOut: false, context: '' };

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'audiohook-cdk-cli-'));
  repoBefore.cdkOut = existsSync(join(ROOT, 'cdk.out'));
  repoBefore.context = readFileSync(join(ROOT, 'cdk.context.json'), 'utf8');
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** An environment without any way to AWS credentials: the synth must not need them. */
function offlineEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key.startsWith('AWS_') || key.startsWith('CDK_')) delete env[key];
  }
  return {
    ...env,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: join(work, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(work, 'no-aws-credentials'),
    CDK_DISABLE_VERSION_CHECK: 'true',
    CI: 'true',
  };
}

/** Writes `config` to a temporary file, runs `cdk synth` with it and `extraArgs`; returns the out dir. */
async function synth(name: string, config: object, extraArgs: readonly string[]): Promise<string> {
  const file = join(work, `${name}.json`);
  const out = join(work, `${name}.out`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  const args = [
    'synth',
    '--quiet',
    '--no-notices',
    '-o',
    out,
    '-c',
    `${CONFIG_FILE_CONTEXT_KEY}=${file}`,
    ...extraArgs,
  ];
  await new Promise<void>((resolve, reject) => {
    execFile(
      CDK,
      args,
      { cwd: ROOT, env: offlineEnv(), maxBuffer: 64 * 1024 * 1024, timeout: SYNTH_TIMEOUT_MS - 10_000 },
      (err, _stdout, stderr) => {
        if (err) reject(new Error(`cdk ${args.join(' ')} failed: ${err.message}\n${stderr.slice(-4000)}`));
        else resolve();
      },
    );
  });
  return out;
}

function readTemplate(out: string, stackName: string): Template {
  return JSON.parse(readFileSync(join(out, `${stackName}.template.json`), 'utf8')) as Template;
}

function resourcesOf(template: Template, type: string): Resource[] {
  return Object.values(template.Resources).filter((r) => r.Type === type);
}

const stripDot = (name: unknown) => String(name).replace(/\.$/, '');

function expectRepoUntouched(): void {
  expect(existsSync(join(ROOT, 'cdk.out'))).toBe(repoBefore.cdkOut);
  expect(readFileSync(join(ROOT, 'cdk.context.json'), 'utf8')).toBe(repoBefore.context);
}

describe('cdk synth through the real CLI (offline, no credentials, no Docker)', () => {
  const GATEWAY = 'hook.cli-e2e.acme-calls.net';
  const API = 'transcripts.cli-e2e.acme-calls.net';
  const ZONE = 'Z07CLIE2EZONE5';
  const CERT = 'arn:aws:acm:eu-central-1:210987654321:certificate/5c1e0000-cafe-4bad-beef-000000000042';
  let template: Template;
  let text: string;
  let out: string;

  // One synth (each bundles every Lambda): the file names a hosted zone for the DNS records and an existing
  // certificate, and four overrides of each kind (number, string, list, the stack name) sit over it.
  beforeAll(async () => {
    out = await synth(
      'acme',
      {
        stackName: 'AcmeCallsFromFile',
        region: 'eu-central-1',
        domain: {
          gatewayDomainName: GATEWAY,
          apiDomainName: API,
          hostedZone: { id: ZONE, name: 'cli-e2e.acme-calls.net' },
          certificateArn: CERT,
        },
        gateway: { minTasks: 3, maxTasks: 12 },
        alarmEmail: 'file@acme-calls.net',
      },
      [
        '-c',
        'audiohook.gateway.maxTasks=7',
        '-c',
        'audiohook.stackName=AcmeCallsOverride',
        '-c',
        'audiohook.alarmEmail=ops@acme-calls.net',
        '-c',
        'audiohook.gateway.ingressCidrs=["198.51.100.0/24"]',
      ],
    );
    template = readTemplate(out, 'AcmeCallsOverride');
    text = JSON.stringify(template);
  }, SYNTH_TIMEOUT_MS);

  it('puts the file’s domain names, hosted zone and certificate into the template', () => {
    // The defect this guards against: the committed example silently replacing the customer's domain.
    expect(text).not.toContain('Z0123456789EXAMPLE');
    expect(text).not.toContain('example.com');

    const records = resourcesOf(template, 'AWS::Route53::RecordSet');
    expect(records.length).toBeGreaterThan(0);
    for (const r of records) expect(r.Properties?.HostedZoneId).toBe(ZONE);
    expect(new Set(records.map((r) => stripDot(r.Properties?.Name)))).toEqual(new Set([GATEWAY, API]));

    // The file's certificate: on the AudioHook listener and on the API's custom domain; none is created.
    const listeners = resourcesOf(template, 'AWS::ElasticLoadBalancingV2::Listener');
    expect(listeners.filter((l) => JSON.stringify(l.Properties?.Certificates ?? []).includes(CERT))).toHaveLength(1);
    const apiDomains = resourcesOf(template, 'AWS::ApiGateway::DomainName');
    expect(apiDomains.map((d) => d.Properties?.DomainName)).toEqual([API]);
    expect(JSON.stringify(apiDomains[0])).toContain(CERT);
    expect(resourcesOf(template, 'AWS::CertificateManager::Certificate')).toEqual([]);
    expect(text).toContain(GATEWAY);
    expectRepoUntouched();
  });

  it('applies -c audiohook.<path>=<value> overrides over the file', () => {
    expect(existsSync(join(out, 'AcmeCallsFromFile.template.json'))).toBe(false);

    // Number override over the file's maxTasks; the file's minTasks stays.
    const scaling = resourcesOf(template, 'AWS::ApplicationAutoScaling::ScalableTarget').filter(
      (t) => t.Properties?.ScalableDimension === 'ecs:service:DesiredCount',
    );
    expect(scaling).toHaveLength(1);
    expect(scaling[0]?.Properties).toMatchObject({ MinCapacity: 3, MaxCapacity: 7 });

    // String override (not JSON) over the file's value; list override (JSON).
    const emails = resourcesOf(template, 'AWS::SNS::Subscription').map((s) => s.Properties?.Endpoint);
    expect(emails).toContain('ops@acme-calls.net');
    expect(emails).not.toContain('file@acme-calls.net');
    expect(text).toContain('"CidrIp":"198.51.100.0/24"');
  });
});

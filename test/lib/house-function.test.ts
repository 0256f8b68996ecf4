import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as logs from 'aws-cdk-lib/aws-logs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOUSE_ESBUILD_TARGET, HouseFunction } from '../../lib/house-function';
import { synthesize } from './fixtures';

describe('HouseFunction', () => {
  let outdir: string;
  let template: Template;
  let fn: HouseFunction;
  let stack: Stack;

  beforeAll(() => {
    // Real bundling here (the stack tests skip it): with no Docker daemon on this machine, a fallback to
    // Docker bundling would fail, so a green run proves the local esbuild did the work.
    outdir = mkdtempSync(join(tmpdir(), 'house-fn-'));
    const app = new App({ outdir });
    stack = new Stack(app, 'HouseFunctionTest', { env: { region: 'eu-west-1' } });
    fn = new HouseFunction(stack, 'Status', {
      entry: 'lambdas/conversation-status/handler.ts',
      description: 'status route',
      logRetentionDays: logs.RetentionDays.ONE_MONTH,
      environment: { CONVERSATIONS_TABLE: 't' },
    });
    app.synth();
    template = Template.fromStack(stack);
  }, 120_000);

  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('bundles the entry with the local esbuild into an ESM file with its source map', () => {
    const assetDirs = readdirSync(outdir).filter((d) => d.startsWith('asset.'));
    const bundled = assetDirs.filter((d) => existsSync(join(outdir, d, 'index.mjs')));
    expect(bundled).toHaveLength(1);
    expect(existsSync(join(outdir, bundled[0] as string, 'index.mjs.map'))).toBe(true);
  });

  it('runs Node.js 24 on arm64 with X-Ray tracing, JSON logs and source maps enabled', () => {
    expect(HOUSE_ESBUILD_TARGET).toBe('node24');
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: {
        LogFormat: 'JSON',
        LogGroup: { Ref: stack.getLogicalId(fn.functionLogGroup.node.defaultChild as never) },
      },
      Environment: { Variables: { CONVERSATIONS_TABLE: 't', NODE_OPTIONS: '--enable-source-maps' } },
    });
  });

  it('keeps its logs for the configured retention', () => {
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('may write only to its own log group (no AWS-managed execution policy)', () => {
    template.hasResourceProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [
          {
            Sid: 'OwnLogGroup',
            Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
            Effect: 'Allow',
            Resource: { 'Fn::GetAtt': [stack.getLogicalId(fn.functionLogGroup.node.defaultChild as never), 'Arn'] },
          },
          { Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], Effect: 'Allow', Resource: '*' },
        ],
      },
    });
  });
});

describe('Lambda runtimes of the whole stack', () => {
  it('runs every function we define on nodejs24.x; the others are CDK-provided handlers', { timeout: 180_000 }, () => {
    const { stack, template } = synthesize({ retainData: false, vpc: { transcribeEndpoint: true } });
    const ours = new Set(
      stack.node
        .findAll()
        .filter((c): c is HouseFunction => c instanceof HouseFunction)
        .map((fn) => stack.getLogicalId(fn.node.defaultChild as never)),
    );
    expect(ours.size).toBeGreaterThan(15);
    const functions = template.findResources('AWS::Lambda::Function') as Record<
      string,
      { Properties: { Runtime?: string } }
    >;
    const theirs: Record<string, string | undefined> = {};
    for (const [id, fn] of Object.entries(functions)) {
      if (ours.has(id)) expect(fn.Properties.Runtime, id).toBe('nodejs24.x');
      else theirs[id.replace(/[0-9A-F]{8}$/, '')] = fn.Properties.Runtime;
    }
    // CDK's own singleton handlers: their runtime is set by aws-cdk-lib, not by us. A new entry here is a
    // function whose runtime must be checked (and chosen by us when the construct allows it).
    expect(theirs).toEqual({
      CustomVpcRestrictDefaultSGCustomResourceProviderHandler: 'nodejs24.x',
      BucketNotificationsHandler050a0587b7544547bf325f094a3db834: 'python3.13',
    });
  });
});

/**
 * Builds the stack for infra tests from a configuration close to a real deployment. Bundling of the Lambda
 * assets is skipped (CDK's own `aws:cdk:bundling-stacks` switch) so a test file synthesizes in seconds;
 * `house-function.test.ts` proves the real bundling with the local esbuild.
 */
import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { parseAppConfig } from '../../bin/config';
import type { AppConfigInput } from '../../contract/app-config';
import { AudiohookTranscribeStack } from '../../lib/audiohook-transcribe-stack';

/** The feature flags of cdk.json (what `cdk synth` uses): its `@aws-cdk/` context keys. */
const FEATURE_FLAGS: Record<string, unknown> = Object.fromEntries(
  Object.entries(
    (
      JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
        context: Record<string, unknown>;
      }
    ).context,
  ).filter(([key]) => key.startsWith('@aws-cdk/')),
);

/** A valid configuration; tests override parts of it. */
export const BASE_CONFIG: AppConfigInput = {
  stackName: 'AudiohookTest',
  region: 'eu-west-1',
  domain: {
    gatewayDomainName: 'audiohook.cc.example.com',
    apiDomainName: 'api.cc.example.com',
    hostedZone: { id: 'Z0123456789ABC', name: 'cc.example.com' },
  },
};

/** The stack and its template, synthesized once. */
export interface Synthesized {
  readonly stack: AudiohookTranscribeStack;
  readonly template: Template;
}

/** Synthesizes the stack for `config` (merged over {@link BASE_CONFIG} at the top level). */
export function synthesize(config: Partial<AppConfigInput> = {}): Synthesized {
  const app = new App({ context: { ...FEATURE_FLAGS, 'aws:cdk:bundling-stacks': [] } });
  const parsed = parseAppConfig({ ...BASE_CONFIG, ...config });
  const stack = new AudiohookTranscribeStack(app, parsed.stackName, {
    config: parsed,
    env: { region: parsed.region, account: parsed.account },
  });
  return { stack, template: Template.fromStack(stack) };
}

/** The single resource of a type whose properties match, with its logical id. */
export function onlyResource(template: Template, type: string, props: object = {}): [string, Record<string, unknown>] {
  const found = Object.entries(template.findResources(type, { Properties: props }));
  if (found.length !== 1) throw new Error(`expected exactly one ${type}, found ${found.length}`);
  const [id, resource] = found[0] as [string, { Properties: Record<string, unknown> }];
  return [id, resource.Properties];
}

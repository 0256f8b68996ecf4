/**
 * The gateway starts `genesys`-controlled sessions with the deployment's start defaults (docs/genesys.md §0):
 * its container gets the same `SUPPORTED_LANGUAGES`, `DEFAULT_LANGUAGE` and `REDACTION_ENABLED` as the
 * control API's start function, from the same app configuration values.
 */
import type { CfnElement } from 'aws-cdk-lib';
import { beforeAll, describe, expect, it } from 'vitest';
import { onlyResource, type Synthesized, synthesize } from './fixtures';

const START_DEFAULTS = ['SUPPORTED_LANGUAGES', 'DEFAULT_LANGUAGE', 'REDACTION_ENABLED'] as const;

function gatewayEnv(s: Synthesized): Record<string, unknown> {
  const [, task] = onlyResource(s.template, 'AWS::ECS::TaskDefinition');
  const [container] = task.ContainerDefinitions as Array<{ Environment: Array<{ Name: string; Value: unknown }> }>;
  if (!container) throw new Error('the gateway task definition has no container');
  return Object.fromEntries(container.Environment.map((e) => [e.Name, e.Value]));
}

function startFunctionEnv(s: Synthesized): Record<string, unknown> {
  const fn = s.stack.controlApi.routeFunctions.get('start-streaming');
  if (!fn) throw new Error('no start-streaming function in the control API');
  const id = s.stack.getLogicalId(fn.node.defaultChild as CfnElement);
  const resource = s.template.toJSON().Resources[id] as { Properties: { Environment: { Variables: object } } };
  return resource.Properties.Environment.Variables as Record<string, unknown>;
}

const pick = (env: Record<string, unknown>) => Object.fromEntries(START_DEFAULTS.map((n) => [n, env[n]]));

describe('gateway start defaults', () => {
  describe('with a non-default app config (redaction off, default es-US)', () => {
    let s: Synthesized;
    beforeAll(() => {
      s = synthesize({
        transcription: { languages: ['en-US', 'es-US', 'fr-CA'], defaultLanguage: 'es-US', redaction: false },
      });
    });

    it('gives the gateway the configured values', () => {
      expect(pick(gatewayEnv(s))).toEqual({
        SUPPORTED_LANGUAGES: 'en-US,es-US,fr-CA',
        DEFAULT_LANGUAGE: 'es-US',
        REDACTION_ENABLED: 'false',
      });
    });

    it('gives the gateway the same three values as the start function', () => {
      expect(pick(gatewayEnv(s))).toEqual(pick(startFunctionEnv(s)));
    });
  });

  describe('with the default app config', () => {
    it('gives both en-US among en-US and es-US, with redaction on', () => {
      const s = synthesize();
      const expected = { SUPPORTED_LANGUAGES: 'en-US,es-US', DEFAULT_LANGUAGE: 'en-US', REDACTION_ENABLED: 'true' };
      expect(pick(gatewayEnv(s))).toEqual(expected);
      expect(pick(startFunctionEnv(s))).toEqual(expected);
    });
  });
});

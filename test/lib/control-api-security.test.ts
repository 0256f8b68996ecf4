/**
 * What the control API puts in front of and behind its routes for security (issue #15): the WAF web ACL with
 * its per-IP rate limit and the opt-out, and the generated key of the messages route's `nextToken`s, readable
 * by that route alone and only through GetSecretValue.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { WAF_MIN_RATE_LIMIT_PER_5_MIN, wafRateLimitPer5Min } from '../../lib/control-api';
import { onlyResource, type Synthesized, synthesize } from './fixtures';

// Each synth builds the whole stack: allow for a slow, shared machine.
const SYNTH_TIMEOUT = 180_000;

interface Resource {
  Type: string;
  Properties: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
}
interface Statement {
  Sid?: string;
  Action: string | string[];
  Resource: unknown;
}

const resourcesOf = (s: Synthesized) => s.template.toJSON().Resources as Record<string, Resource>;

/** Logical id of the messages route's function. */
function messagesFunctionId(s: Synthesized): string {
  const [id] = onlyResource(s.template, 'AWS::Lambda::Function', {
    Description: 'GET /conversation/v1/conversation/messages',
  });
  return id;
}

/** The role of a function and every statement of the policies attached to that role. */
function statementsOf(s: Synthesized, functionId: string): Statement[] {
  const fn = resourcesOf(s)[functionId] as Resource;
  const [roleId] = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'];
  return Object.values(resourcesOf(s))
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .filter((r) => (r.Properties.Roles as { Ref: string }[]).some((ref) => ref.Ref === roleId))
    .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

describe('control API security', () => {
  let withWaf: Synthesized;
  let withoutWaf: Synthesized;
  beforeAll(() => {
    withWaf = synthesize({ api: { waf: true } });
    withoutWaf = synthesize({ api: { waf: false } });
  }, SYNTH_TIMEOUT);

  describe('WAF (api.waf)', () => {
    it('counts every request per source IP first, and blocks an address past a quarter of the stage rate', () => {
      const [, acl] = onlyResource(withWaf.template, 'AWS::WAFv2::WebACL');
      const rules = acl.Rules as { Name: string; Priority: number; Action?: unknown; Statement: unknown }[];
      const ordered = [...rules].sort((a, b) => a.Priority - b.Priority).map((r) => r.Name);
      expect(ordered).toEqual(['RatePerIp', 'AWSManagedRulesCommonRuleSet', 'AWSManagedRulesKnownBadInputsRuleSet']);
      expect(rules.find((r) => r.Name === 'RatePerIp')).toMatchObject({
        Action: { Block: {} },
        // The default stage throttle is 100 requests/s: 100 × 300 / 4.
        Statement: { RateBasedStatement: { Limit: 7500, EvaluationWindowSec: 300, AggregateKeyType: 'IP' } },
      });
      expect(acl).toMatchObject({ Scope: 'REGIONAL', DefaultAction: { Allow: {} } });
    });

    it('keeps the AWS managed groups blocking, with only the missing User-Agent rule counting', () => {
      withWaf.template.hasResourceProperties('AWS::WAFv2::WebACL', {
        Rules: Match.arrayWith([
          Match.objectLike({
            Name: 'AWSManagedRulesCommonRuleSet',
            OverrideAction: { None: {} },
            Statement: {
              ManagedRuleGroupStatement: {
                VendorName: 'AWS',
                Name: 'AWSManagedRulesCommonRuleSet',
                RuleActionOverrides: [{ Name: 'NoUserAgent_HEADER', ActionToUse: { Count: {} } }],
              },
            },
          }),
          Match.objectLike({
            Name: 'AWSManagedRulesKnownBadInputsRuleSet',
            OverrideAction: { None: {} },
            Statement: {
              ManagedRuleGroupStatement: Match.objectEquals({
                VendorName: 'AWS',
                Name: 'AWSManagedRulesKnownBadInputsRuleSet',
              }),
            },
          }),
        ]),
      });
    });

    it('attaches the web ACL to the REST stage and needs no APIG3 acknowledgement', () => {
      const [stageId] = onlyResource(withWaf.template, 'AWS::ApiGateway::Stage');
      const [aclId] = onlyResource(withWaf.template, 'AWS::WAFv2::WebACL');
      const [, association] = onlyResource(withWaf.template, 'AWS::WAFv2::WebACLAssociation');
      expect(association.WebACLArn).toEqual({ 'Fn::GetAtt': [aclId, 'Arn'] });
      expect(JSON.stringify(association.ResourceArn)).toContain(stageId);
      expect(JSON.stringify(resourcesOf(withWaf)[stageId]?.Metadata ?? {})).not.toContain('AwsSolutions-APIG3');
    });

    it('answers a blocked request with 403 and the contract error body, not the generic 400', () => {
      withWaf.template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
        ResponseType: 'WAF_FILTERED',
        StatusCode: '403',
        ResponseTemplates: { 'application/json': Match.stringLikeRegexp('"code":"403-01"') },
      });
    });

    it('with api.waf=false creates no web ACL and acknowledges APIG3 with the opt-out as the reason', () => {
      withoutWaf.template.resourceCountIs('AWS::WAFv2::WebACL', 0);
      withoutWaf.template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 0);
      const [stageId] = onlyResource(withoutWaf.template, 'AWS::ApiGateway::Stage');
      const stage = withoutWaf.stack.controlApi.api.deploymentStage;
      expect(resourcesOf(withoutWaf)[stageId]).toBeDefined();
      const acknowledged = stage.node.metadata
        .flatMap((m) => (typeof m.data === 'object' && m.data !== null ? Object.entries(m.data) : []))
        .filter(([id]) => id.endsWith('AwsSolutions-APIG3'));
      expect(acknowledged).toHaveLength(1);
      expect(acknowledged[0]?.[1]).toMatch(/api\.waf=false/);
    });
  });

  describe('wafRateLimitPer5Min', () => {
    it('is a quarter of what the stage admits in five minutes', () => {
      expect(wafRateLimitPer5Min(100)).toBe(7500);
      expect(wafRateLimitPer5Min(50)).toBe(3750);
      expect(wafRateLimitPer5Min(2.5)).toBe(187);
    });

    it('never goes below the floor that keeps a retrying client in', () => {
      expect(wafRateLimitPer5Min(1)).toBe(WAF_MIN_RATE_LIMIT_PER_5_MIN);
    });

    it('refuses a rate that is not positive', () => {
      expect(() => wafRateLimitPer5Min(0)).toThrow(/throttleRatePerSec must be positive/);
      expect(() => wafRateLimitPer5Min(Number.NaN)).toThrow(/throttleRatePerSec must be positive/);
    });
  });

  describe('page-token key (nextToken signing)', () => {
    const pageTokenSecretId = (s: Synthesized): string =>
      onlyResource(s.template, 'AWS::SecretsManager::Secret', {
        Description: Match.stringLikeRegexp('nextTokens of GET /conversation/v1/conversation/messages'),
      })[0];

    it('is generated at deploy time, never written in the template, with the default Secrets Manager key', () => {
      const [, secret] = onlyResource(withWaf.template, 'AWS::SecretsManager::Secret', {
        Description: Match.stringLikeRegexp('nextTokens'),
      });
      expect(secret.GenerateSecretString).toEqual({
        PasswordLength: 64,
        ExcludePunctuation: true,
        IncludeSpace: false,
      });
      expect(secret.SecretString).toBeUndefined();
      expect(secret.KmsKeyId).toBeUndefined();
      withWaf.template.hasOutput('PageTokenKeySecretArn', { Value: { Ref: pageTokenSecretId(withWaf) } });
    });

    it('is named to the messages route by ARN in PAGE_TOKEN_SECRET_ID', () => {
      const fnId = messagesFunctionId(withWaf);
      const fn = resourcesOf(withWaf)[fnId] as Resource;
      const env = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(env.PAGE_TOKEN_SECRET_ID).toEqual({ Ref: pageTokenSecretId(withWaf) });
      expect(env.PAGE_TOKEN_SECRET).toBeUndefined();
    });

    it('may be read by the messages route through GetSecretValue only', () => {
      const secretRef = { Ref: pageTokenSecretId(withWaf) };
      const onSecret = statementsOf(withWaf, messagesFunctionId(withWaf)).filter(
        (st) => JSON.stringify(st.Resource) === JSON.stringify(secretRef),
      );
      expect(onSecret).toEqual([expect.objectContaining({ Action: 'secretsmanager:GetSecretValue' })]);
    });

    it('is in no other function environment and no other policy', () => {
      const id = pageTokenSecretId(withWaf);
      const messagesFn = messagesFunctionId(withWaf);
      const messagesRole = (
        (resourcesOf(withWaf)[messagesFn] as Resource).Properties.Role as { 'Fn::GetAtt': [string, string] }
      )['Fn::GetAtt'][0];
      for (const [logicalId, r] of Object.entries(resourcesOf(withWaf))) {
        if (r.Type === 'AWS::Lambda::Function' && logicalId !== messagesFn) {
          expect(JSON.stringify(r.Properties.Environment ?? {}), logicalId).not.toContain(id);
        }
        if (r.Type === 'AWS::IAM::Policy') {
          const roles = (r.Properties.Roles as { Ref: string }[]).map((ref) => ref.Ref);
          if (!roles.includes(messagesRole)) {
            expect(JSON.stringify(r.Properties.PolicyDocument), logicalId).not.toContain(id);
          }
        }
      }
    });
  });
});

import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAppConfig } from '../../bin/config';
import { ROUTES } from '../../contract/routes';
import {
  API_GATEWAY_INTEGRATION_TIMEOUT_SEC,
  executionLogGroupName,
  STOP_ROUTE_OVERHEAD_SEC,
  stopRouteTimeoutSec,
} from '../../lib/control-api';
import { BASE_CONFIG, onlyResource, type Synthesized, synthesize } from './fixtures';

// Tests that synthesize a stack of their own: allow for a slow, shared machine.
const SYNTH_TIMEOUT = { timeout: 180_000 };

describe('control API', () => {
  let s: Synthesized;
  let metered: Synthesized;
  beforeAll(() => {
    s = synthesize();
    metered = synthesize({
      api: {
        throttleRatePerSec: 50,
        throttleBurst: 80,
        quotaPerDay: 100_000,
        waf: true,
        clients: [
          { name: 'genesys-prod', usageKey: 'uk-0123456789abcdef0123456789' },
          { name: 'crm', usageKey: 'uk-abcdefabcdefabcdefabcdefab', throttleRatePerSec: 5, throttleBurst: 10 },
        ],
      },
    });
  }, SYNTH_TIMEOUT.timeout);

  const resourcePathOf = (synth: Synthesized, method: Record<string, unknown>): string => {
    const resources = synth.template.toJSON().Resources as Record<
      string,
      { Type: string; Properties: Record<string, unknown> }
    >;
    const parts: string[] = [];
    let ref = method.ResourceId as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
    while (ref.Ref) {
      const r = resources[ref.Ref];
      if (!r) break;
      parts.unshift(r.Properties.PathPart as string);
      ref = r.Properties.ParentId as typeof ref;
    }
    return `/${parts.join('/')}`;
  };

  describe('routes', () => {
    it.each(ROUTES.map((r) => [r.method, r.path, r] as const))(
      '%s %s sits behind the REQUEST authorizer',
      (method, path, route) => {
        const methods = Object.values(
          s.template.findResources('AWS::ApiGateway::Method', { Properties: { HttpMethod: method } }),
        )
          .map((m) => (m as { Properties: Record<string, unknown> }).Properties)
          .filter((m) => resourcePathOf(s, m) === path);
        expect(methods).toHaveLength(1);
        const [authorizerId] = onlyResource(s.template, 'AWS::ApiGateway::Authorizer');
        expect(methods[0]).toMatchObject({
          AuthorizationType: 'CUSTOM',
          AuthorizerId: { Ref: authorizerId },
          OperationName: route.operationId,
          ApiKeyRequired: false,
          Integration: { Type: 'AWS_PROXY', IntegrationHttpMethod: 'POST' },
        });
      },
    );

    it('has no other method than the contract routes', () => {
      expect(Object.keys(s.template.findResources('AWS::ApiGateway::Method'))).toHaveLength(ROUTES.length);
    });

    it('authorizes on both asapp headers and caches verdicts for 5 minutes', () => {
      s.template.hasResourceProperties('AWS::ApiGateway::Authorizer', {
        Type: 'REQUEST',
        IdentitySource: 'method.request.header.asapp-api-id,method.request.header.asapp-api-secret',
        AuthorizerResultTtlInSeconds: 300,
      });
    });

    it('gives each handler its tables and the authorizer its credential secret', () => {
      const fns = s.stack.controlApi.routeFunctions;
      expect([...fns.keys()].sort()).toEqual(ROUTES.map((r) => r.id).sort());
      s.template.hasResourceProperties('AWS::Lambda::Function', {
        Description: 'POST /mg-autotranscribe/v1/stop-streaming',
        Timeout: 10,
        Environment: {
          Variables: Match.objectLike({
            CONVERSATIONS_TABLE: { Ref: Match.stringLikeRegexp('StoreConversations') },
            UTTERANCES_TABLE: { Ref: Match.stringLikeRegexp('StoreUtterances') },
            STOP_WAIT_MS: '5000',
            RETENTION_DAYS: '7',
            REDACTION_ENABLED: 'true',
          }),
        },
      });
      s.template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: Match.objectLike({
            API_CREDENTIALS_SECRET_ID: { Ref: Match.stringLikeRegexp('StoreApiCredentials') },
          }),
        },
      });
    });
  });

  describe('stage', () => {
    it('throttles every method at the stage (100 rps steady by default) and logs errors without bodies', () => {
      s.template.hasResourceProperties('AWS::ApiGateway::Stage', {
        StageName: 'live',
        TracingEnabled: true,
        MethodSettings: [
          Match.objectLike({
            HttpMethod: '*',
            ResourcePath: '/*',
            ThrottlingRateLimit: 100,
            ThrottlingBurstLimit: 200,
            LoggingLevel: 'ERROR',
            DataTraceEnabled: false,
          }),
        ],
      });
    });

    it('writes JSON access logs with the request id, caller and status', () => {
      const [, stage] = onlyResource(s.template, 'AWS::ApiGateway::Stage');
      const setting = stage.AccessLogSetting as { DestinationArn: unknown; Format: string };
      const logGroupId = s.stack.getLogicalId(s.stack.controlApi.accessLogGroup.node.defaultChild as never);
      expect(JSON.stringify(setting.DestinationArn)).toContain(`{"Ref":"${logGroupId}"}`);
      const format = JSON.parse(setting.Format) as Record<string, string>;
      expect(format).toMatchObject({
        requestId: '$context.requestId',
        status: '$context.status',
        apiId: '$context.authorizer.apiId',
      });
    });
  });

  describe('custom domain', () => {
    it('serves the API on its own host name, TLS 1.2+', () => {
      s.template.hasResourceProperties('AWS::ApiGateway::DomainName', {
        DomainName: 'api.cc.example.com',
        SecurityPolicy: 'TLS_1_2',
        EndpointConfiguration: { Types: ['REGIONAL'] },
      });
    });

    it('maps the stage at the root, so paths are exactly the contract paths', () => {
      const [, mapping] = onlyResource(s.template, 'AWS::ApiGateway::BasePathMapping');
      expect(mapping.BasePath ?? '').toBe('');
      const [stageId] = onlyResource(s.template, 'AWS::ApiGateway::Stage');
      expect(mapping.Stage).toEqual({ Ref: stageId });
    });

    it('turns off the execute-api endpoint (callers only use the custom domain)', () => {
      s.template.hasResourceProperties('AWS::ApiGateway::RestApi', {
        DisableExecuteApiEndpoint: true,
        ApiKeySourceType: 'AUTHORIZER',
      });
    });
  });

  describe('errors before any Lambda runs', () => {
    it.each([
      ['UNAUTHORIZED', '401', '401-01'],
      ['ACCESS_DENIED', '403', '403-01'],
      ['THROTTLED', '429', '429-01'],
      ['MISSING_AUTHENTICATION_TOKEN', '404', '404-01'],
      ['DEFAULT_5XX', '500', '500-01'],
    ])('answers %s with %s and the contract envelope (%s)', (type, status, code) => {
      s.template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
        ResponseType: type,
        StatusCode: status,
        ResponseTemplates: {
          'application/json': Match.stringLikeRegexp(`"requestId":"\\$context.requestId".*"code":"${code}"`),
        },
      });
    });

    it('adds Retry-After to 429s', () => {
      s.template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
        ResponseType: 'THROTTLED',
        ResponseParameters: Match.objectLike({ 'gatewayresponse.header.Retry-After': "'1'" }),
      });
    });
  });

  describe('usage plans (configured clients)', () => {
    it('has no usage plan and no API key when no client is configured', () => {
      s.template.resourceCountIs('AWS::ApiGateway::UsagePlan', 0);
      s.template.resourceCountIs('AWS::ApiGateway::ApiKey', 0);
    });

    it('gives each client its own plan with its throttle and the daily quota', () => {
      metered.template.resourceCountIs('AWS::ApiGateway::UsagePlan', 2);
      metered.template.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
        Throttle: { RateLimit: 50, BurstLimit: 80 },
        Quota: { Limit: 100_000, Period: 'DAY' },
      });
      metered.template.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
        Throttle: { RateLimit: 5, BurstLimit: 10 },
      });
    });

    it('registers the usage keys the authorizer hands back and requires one on every method', () => {
      metered.template.hasResourceProperties('AWS::ApiGateway::ApiKey', {
        Value: 'uk-0123456789abcdef0123456789',
        Enabled: true,
      });
      const methods = Object.values(metered.template.findResources('AWS::ApiGateway::Method')) as Array<{
        Properties: { ApiKeyRequired: boolean };
      }>;
      expect(methods.every((m) => m.Properties.ApiKeyRequired)).toBe(true);
    });

    it('associates a WAF web ACL with the stage when enabled', () => {
      metered.template.hasResourceProperties('AWS::WAFv2::WebACL', {
        Scope: 'REGIONAL',
        Rules: Match.arrayWith([Match.objectLike({ Name: 'AWSManagedRulesCommonRuleSet' })]),
      });
      metered.template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 1);
    });
  });

  describe('stop route timeout (API Gateway gives up after 29 s)', () => {
    it('derives the stop timeout from stopWaitMs plus a 5 s margin, and refuses one that reaches 29 s', () => {
      expect(STOP_ROUTE_OVERHEAD_SEC).toBe(5);
      expect(stopRouteTimeoutSec(5000)).toBe(10);
      expect(stopRouteTimeoutSec(20_000)).toBe(25);
      expect(stopRouteTimeoutSec(20_001)).toBe(26);
      expect(() => stopRouteTimeoutSec(24_000)).toThrow(/below API Gateway's 29 s/);
    });

    it('caps api.stopWaitMs at 20 s in the configuration', () => {
      expect(() => parseAppConfig({ ...BASE_CONFIG, api: { stopWaitMs: 20_001 } })).toThrow(/api\.stopWaitMs/);
      expect(parseAppConfig({ ...BASE_CONFIG, api: { stopWaitMs: 20_000 } }).api.stopWaitMs).toBe(20_000);
    });

    it('keeps every function behind the REST API below 29 s, even with the longest stop wait', SYNTH_TIMEOUT, () => {
      const longest = synthesize({ api: { stopWaitMs: 20_000 } });
      const functions = longest.template.toJSON().Resources as Record<string, { Properties: { Timeout?: number } }>;
      const behindApi = [
        longest.stack.controlApi.authorizerFunction,
        ...longest.stack.controlApi.routeFunctions.values(),
      ];
      expect(behindApi.length).toBe(ROUTES.length + 1);
      for (const fn of behindApi) {
        const logicalId = longest.stack.getLogicalId(fn.node.defaultChild as never);
        expect(functions[logicalId]?.Properties.Timeout, logicalId).toBeLessThan(API_GATEWAY_INTEGRATION_TIMEOUT_SEC);
      }
      longest.template.hasResourceProperties('AWS::Lambda::Function', {
        Description: 'POST /mg-autotranscribe/v1/stop-streaming',
        Timeout: 25,
        Environment: { Variables: Match.objectLike({ STOP_WAIT_MS: '20000' }) },
      });
    });
  });

  describe('account-level CloudWatch role (api.manageCloudWatchRole)', () => {
    it('creates the role and the account setting by default, the role retained on deletion', () => {
      s.template.resourceCountIs('AWS::ApiGateway::Account', 1);
      const roles = Object.entries(s.template.findResources('AWS::IAM::Role')).filter(([id]) =>
        id.startsWith('ControlApiCloudWatchRole'),
      );
      expect(roles).toHaveLength(1);
      const [, role] = roles[0] as [string, { DeletionPolicy?: string }];
      expect(role.DeletionPolicy).toBe('Retain');
      expect(JSON.stringify(role)).toContain('AmazonAPIGatewayPushToCloudWatchLogs');
    });

    it(
      'creates neither when false, and both stages still write access logs (through the account role)',
      SYNTH_TIMEOUT,
      () => {
        const unmanaged = synthesize({ api: { manageCloudWatchRole: false } });
        unmanaged.template.resourceCountIs('AWS::ApiGateway::Account', 0);
        const roles = Object.keys(unmanaged.template.findResources('AWS::IAM::Role'));
        expect(roles.filter((id) => id.includes('CloudWatchRole'))).toEqual([]);
        const [, rest] = onlyResource(unmanaged.template, 'AWS::ApiGateway::Stage');
        expect(rest.AccessLogSetting).toBeDefined();
        const [, ws] = onlyResource(unmanaged.template, 'AWS::ApiGatewayV2::Stage');
        expect(ws.AccessLogSettings).toBeDefined();
      },
    );
  });

  describe('execution logs', () => {
    it('creates API-Gateway-Execution-Logs_{apiId}/live with the log retention before the stage', () => {
      const groupId = s.stack.getLogicalId(s.stack.controlApi.executionLogGroup.node.defaultChild as never);
      const apiId = s.stack.getLogicalId(s.stack.controlApi.api.node.defaultChild as never);
      const group = s.template.toJSON().Resources[groupId] as { Properties: unknown; DeletionPolicy?: string };
      expect(group.Properties).toEqual({
        LogGroupName: { 'Fn::Join': ['', ['API-Gateway-Execution-Logs_', { Ref: apiId }, '/live']] },
        RetentionInDays: 30,
      });
      expect(group.DeletionPolicy).toBe('Retain');
      const [stageId] = onlyResource(s.template, 'AWS::ApiGateway::Stage');
      const stage = s.template.toJSON().Resources[stageId] as { DependsOn?: string[] };
      expect(stage.DependsOn).toContain(groupId);
      expect(executionLogGroupName('abc123', 'live')).toBe('API-Gateway-Execution-Logs_abc123/live');
    });

    it('lets the execution-log groups go with the stack when retainData is false', SYNTH_TIMEOUT, () => {
      const disposable = synthesize({ retainData: false });
      for (const group of [
        disposable.stack.controlApi.executionLogGroup,
        disposable.stack.realtime?.executionLogGroup,
      ]) {
        const logicalId = disposable.stack.getLogicalId(group?.node.defaultChild as never);
        expect((disposable.template.toJSON().Resources[logicalId] as { DeletionPolicy?: string }).DeletionPolicy).toBe(
          'Delete',
        );
      }
    });
  });

  it('outputs the base URL of the API', () => {
    s.template.hasOutput('ApiBaseUrl', { Value: 'https://api.cc.example.com' });
  });
});

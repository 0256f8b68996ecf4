import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { beforeAll, describe, expect, it } from 'vitest';
import { FANOUT_STREAM_SETTINGS, RealtimeDelivery, WEBSOCKET_STAGE_NAME } from '../../lib/realtime-delivery';
import { onlyResource, type Synthesized, synthesize } from './fixtures';

type Statement = { Sid?: string; Action: string | string[]; Resource: unknown; Condition?: unknown };
type Env = Record<string, unknown>;

const actionsOf = (st: Statement | undefined) => [st?.Action ?? []].flat().sort();

describe('real-time delivery', () => {
  let s: Synthesized;
  const id = (c: { node: { defaultChild?: unknown } } | undefined) =>
    s.stack.getLogicalId(c?.node.defaultChild as never);
  const realtime = () => {
    const r = s.stack.realtime;
    if (!r) throw new Error('no real-time delivery in the stack');
    return r;
  };
  /** Every statement of the policies attached to a function's role. */
  const statementsOf = (fn: { role?: { node: { defaultChild?: unknown } } }) => {
    const roleId = id(fn.role as never);
    return Object.values(
      s.template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } }),
    ).flatMap(
      (p) => (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement,
    );
  };
  const envOf = (fn: { node: { defaultChild?: unknown } }) =>
    (s.template.toJSON().Resources[id(fn)] as { Properties: { Environment: { Variables: Env } } }).Properties
      .Environment.Variables;

  beforeAll(() => {
    s = synthesize({
      webhook: { url: 'https://hooks.example.com/transcripts', auth: 'none', timeoutMs: 3000 },
      realtime: { supervisorApiIds: ['supervisor-1'], browserTokens: true },
    });
  });

  describe('fan-out on the Utterances stream', () => {
    it('maps the stream with the real-time batching, ordering and retry settings', () => {
      const [, mapping] = onlyResource(s.template, 'AWS::Lambda::EventSourceMapping');
      expect(mapping).toMatchObject({
        EventSourceArn: { 'Fn::GetAtt': [id(s.stack.store.utterancesTable), 'StreamArn'] },
        FunctionName: { Ref: id(realtime().fanoutFunction) },
        StartingPosition: 'LATEST',
        BatchSize: 100,
        ParallelizationFactor: 1,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: 1000,
        MaximumRecordAgeInSeconds: 24 * 3600,
        DestinationConfig: {
          OnFailure: { Destination: { 'Fn::GetAtt': [id(realtime().deadLetterQueue), 'Arn'] } },
        },
      });
      expect(FANOUT_STREAM_SETTINGS.maxRecordAgeHours).toBe(24);
    });

    it('creates the mapping only once the fan-out may read the stream (Lambda checks at creation)', () => {
      const mapping = Object.values(s.template.findResources('AWS::Lambda::EventSourceMapping'))[0] as {
        DependsOn?: string[];
      };
      const policyId = s.stack.getLogicalId(
        realtime().fanoutFunction.role?.node.findChild('DefaultPolicy').node.defaultChild as never,
      );
      expect(mapping.DependsOn).toContain(policyId);
    });

    it('sends failed records to an encrypted, TLS-only dead-letter queue', () => {
      const q = s.template.toJSON().Resources[id(realtime().deadLetterQueue)] as {
        Properties: Record<string, unknown>;
      };
      expect(q.Properties).toMatchObject({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
      s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: id(realtime().deadLetterQueue) }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    });

    it('reads webhook targets from Secrets Manager by id, never from a plain environment value', () => {
      const env = envOf(realtime().fanoutFunction);
      expect(env.WEBHOOK_TARGETS_SECRET_ID).toEqual({ Ref: id(s.stack.store.webhookTargetsSecret) });
      expect(Object.keys(env).filter((k) => k.startsWith('WEBHOOK_') && k !== 'WEBHOOK_TARGETS_SECRET_ID')).toEqual([
        'WEBHOOK_TIMEOUT_MS',
      ]);
      expect(env.WEBHOOK_TIMEOUT_MS).toBe('3000');
      expect(env.SUBSCRIPTIONS_TABLE).toEqual({ Ref: id(s.stack.store.subscriptionsTable) });
      expect(JSON.stringify(env.WEBSOCKET_MANAGEMENT_ENDPOINT)).toContain(`/${WEBSOCKET_STAGE_NAME}`);
      // Scoped to the stack: two stacks in one account publish under different service dimensions.
      expect(env.POWERTOOLS_SERVICE_NAME).toBe(`${s.stack.stackName}-fanout`);
    });

    it('reads only this stream, and reaches the Subscriptions table itself (no index, no scan)', () => {
      const statements = statementsOf(realtime().fanoutFunction);
      const stream = statements.find((st) => st.Sid === 'UtterancesStream');
      expect(actionsOf(stream)).toEqual([
        'dynamodb:DescribeStream',
        'dynamodb:GetRecords',
        'dynamodb:GetShardIterator',
      ]);
      expect(stream?.Resource).toEqual({ 'Fn::GetAtt': [id(s.stack.store.utterancesTable), 'StreamArn'] });
      const subs = statements.find((st) => st.Sid === 'SubscriptionsTable');
      expect(subs?.Resource).toEqual({ 'Fn::GetAtt': [id(s.stack.store.subscriptionsTable), 'Arn'] });
      expect(actionsOf(subs)).not.toContain('dynamodb:Scan');
    });
  });

  describe('WebSocket API', () => {
    it('routes on the frame action: $connect, $disconnect, subscribe, unsubscribe, $default', () => {
      s.template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
        ProtocolType: 'WEBSOCKET',
        RouteSelectionExpression: '$request.body.action',
      });
      const keys = Object.values(s.template.findResources('AWS::ApiGatewayV2::Route')).map(
        (r) => (r as { Properties: { RouteKey: string } }).Properties.RouteKey,
      );
      expect(keys.sort()).toEqual(['$connect', '$default', '$disconnect', 'subscribe', 'unsubscribe']);
    });

    it('has a throttled stage with JSON access logs', () => {
      const [, stage] = onlyResource(s.template, 'AWS::ApiGatewayV2::Stage');
      expect(stage).toMatchObject({
        StageName: WEBSOCKET_STAGE_NAME,
        AutoDeploy: true,
        DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
        AccessLogSettings: { DestinationArn: { 'Fn::GetAtt': [id(realtime().accessLogGroup), 'Arn'] } },
      });
      const format = JSON.parse((stage.AccessLogSettings as { Format: string }).Format) as Record<string, string>;
      expect(format).toMatchObject({ requestId: '$context.requestId', routeKey: '$context.routeKey' });
    });

    it('deploys the stage after the account-level logging role exists', () => {
      const stage = Object.values(s.template.findResources('AWS::ApiGatewayV2::Stage'))[0] as { DependsOn?: string[] };
      expect(stage.DependsOn?.some((d) => d.includes('Account'))).toBe(true);
    });

    it('logs errors (no frame bodies) to an execution-log group it creates first, with the log retention', () => {
      const [stageId, stage] = onlyResource(s.template, 'AWS::ApiGatewayV2::Stage');
      expect(stage.DefaultRouteSettings).toMatchObject({ LoggingLevel: 'ERROR', DataTraceEnabled: false });
      const groupId = id(realtime().executionLogGroup);
      const group = s.template.toJSON().Resources[groupId] as {
        Properties: Record<string, unknown>;
        DeletionPolicy?: string;
      };
      expect(group.Properties).toEqual({
        LogGroupName: {
          'Fn::Join': ['', ['API-Gateway-Execution-Logs_', { Ref: id(realtime().webSocketApi) }, '/live']],
        },
        RetentionInDays: 30,
      });
      // retainData (the default) keeps it with the data; otherwise it goes with the stack.
      expect(group.DeletionPolicy).toBe('Retain');
      const deps = (s.template.toJSON().Resources[stageId] as { DependsOn?: string[] }).DependsOn;
      expect(deps).toContain(groupId);
    });

    it('keeps connections in the Subscriptions table built from contract/tables.ts', () => {
      for (const fn of new Set(realtime().routeFunctions.values())) {
        expect(envOf(fn).SUBSCRIPTIONS_TABLE).toEqual({ Ref: id(s.stack.store.subscriptionsTable) });
      }
    });

    it('lets $connect read the API credentials and the token key, and nobody else among the route handlers', () => {
      const connect = realtime().routeFunctions.get('Connect');
      if (!connect) throw new Error('no $connect handler');
      const reads = (fn: typeof connect) =>
        statementsOf(fn).filter((st) => JSON.stringify(st.Action).includes('secretsmanager:GetSecretValue'));
      expect(reads(connect).flatMap((st) => [st.Resource].flat())).toEqual(
        expect.arrayContaining([
          { Ref: id(s.stack.store.apiCredentialsSecret) },
          { Ref: s.stack.getLogicalId(s.stack.node.findChild('RealtimeTokenKey').node.defaultChild as never) },
        ]),
      );
      for (const name of ['Disconnect', 'Subscribe', 'Default']) {
        const fn = realtime().routeFunctions.get(name);
        if (!fn) throw new Error(`no ${name} handler`);
        expect(reads(fn)).toEqual([]);
      }
      expect(envOf(connect).REALTIME_SUPERVISOR_API_IDS).toBe('supervisor-1');
    });

    it('gives $connect the token key by secret ARN, and no other route handler the key at all', () => {
      const tokenKey = {
        Ref: s.stack.getLogicalId(s.stack.node.findChild('RealtimeTokenKey').node.defaultChild as never),
      };
      const connect = realtime().routeFunctions.get('Connect');
      if (!connect) throw new Error('no $connect handler');
      expect(envOf(connect).REALTIME_TOKEN_SECRET_ID).toEqual(tokenKey);
      for (const name of ['Disconnect', 'Subscribe', 'Default']) {
        const fn = realtime().routeFunctions.get(name);
        if (!fn) throw new Error(`no ${name} handler`);
        expect(Object.keys(envOf(fn)).filter((k) => k.startsWith('REALTIME_TOKEN_SECRET'))).toEqual([]);
      }
    });
  });

  describe('history and status reads of subscribe (read only)', () => {
    const route = (name: string) => {
      const fn = realtime().routeFunctions.get(name);
      if (!fn) throw new Error(`no ${name} handler`);
      return fn;
    };
    const dynamoStatements = (fn: Parameters<typeof statementsOf>[0]) =>
      statementsOf(fn).filter(
        (st) => JSON.stringify(st.Action).includes('dynamodb:') && st.Sid !== 'SubscriptionsTable',
      );

    it('lets subscribe Query the Utterances table and read the Conversations table, and tells it their names', () => {
      const utterances = { 'Fn::GetAtt': [id(s.stack.store.utterancesTable), 'Arn'] };
      const conversations = { 'Fn::GetAtt': [id(s.stack.store.conversationsTable), 'Arn'] };
      expect(dynamoStatements(route('Subscribe'))).toEqual([
        expect.objectContaining({ Sid: 'UtterancesHistoryRead', Action: 'dynamodb:Query', Resource: utterances }),
        expect.objectContaining({
          Sid: 'ConversationStateRead',
          Action: ['dynamodb:GetItem', 'dynamodb:Query'],
          Resource: conversations,
        }),
      ]);
      expect(envOf(route('Subscribe')).UTTERANCES_TABLE).toEqual({ Ref: id(s.stack.store.utterancesTable) });
      expect(envOf(route('Subscribe')).CONVERSATIONS_TABLE).toEqual({ Ref: id(s.stack.store.conversationsTable) });
    });

    it('gives no other route handler any table but Subscriptions, nor its name', () => {
      for (const name of ['Connect', 'Disconnect', 'Default']) {
        expect(dynamoStatements(route(name))).toEqual([]);
        expect(Object.keys(envOf(route(name)))).not.toEqual(
          expect.arrayContaining([expect.stringMatching(/^(UTTERANCES|CONVERSATIONS)_TABLE$/)]),
        );
      }
    });

    it('with a Conversations table, lets subscribe GetItem and Query it (no write, no index, no scan)', () => {
      const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
      const stack = new Stack(app, 'RealtimeOnly', { env: { region: 'eu-west-1', account: '111111111111' } });
      const table = (name: string, stream?: dynamodb.StreamViewType) =>
        new dynamodb.Table(stack, name, {
          partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
          sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
          ...(stream && { stream }),
        });
      const conversations = table('Conversations');
      const realtimeOnly = new RealtimeDelivery(stack, 'Realtime', {
        utterancesTable: table('Utterances', dynamodb.StreamViewType.NEW_IMAGE),
        conversationsTable: conversations,
        subscriptionsTable: table('Subscriptions'),
        apiCredentialsSecret: new secretsmanager.Secret(stack, 'Credentials'),
        supervisorApiIds: [],
        throttleRatePerSec: 10,
        throttleBurst: 20,
        metricsNamespace: 'Test',
        logRetentionDays: logs.RetentionDays.ONE_WEEK,
      });
      const template = Template.fromStack(stack);
      const subscribe = realtimeOnly.routeFunctions.get('Subscribe');
      const roleId = stack.getLogicalId(subscribe?.role?.node.defaultChild as never);
      const statements = Object.values(
        template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } }),
      ).flatMap(
        (p) =>
          (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement,
      );
      const state = statements.find((st) => st.Sid === 'ConversationStateRead');
      expect(actionsOf(state)).toEqual(['dynamodb:GetItem', 'dynamodb:Query']);
      expect(state?.Resource).toEqual({
        'Fn::GetAtt': [stack.getLogicalId(conversations.node.defaultChild as never), 'Arn'],
      });
      const fnId = stack.getLogicalId(subscribe?.node.defaultChild as never);
      const env = (template.toJSON().Resources[fnId] as { Properties: { Environment: { Variables: Env } } }).Properties
        .Environment.Variables;
      expect(env.CONVERSATIONS_TABLE).toEqual({ Ref: stack.getLogicalId(conversations.node.defaultChild as never) });
    });
  });

  describe('execute-api:ManageConnections (least privilege)', () => {
    const manageStatements = (fn: Parameters<typeof statementsOf>[0]) =>
      statementsOf(fn).filter((st) => JSON.stringify(st.Action).includes('execute-api:'));

    it("is granted to the fan-out on this API's stage connections only (post and delete)", () => {
      const [st, ...more] = manageStatements(realtime().fanoutFunction);
      expect(more).toEqual([]);
      expect(st?.Action).toBe('execute-api:ManageConnections');
      const resources = JSON.stringify(st?.Resource);
      expect(resources).toContain(`{"Ref":"${id(realtime().webSocketApi)}"}`);
      expect(resources).toContain(`/${WEBSOCKET_STAGE_NAME}/POST/@connections/*`);
      expect(resources).toContain(`/${WEBSOCKET_STAGE_NAME}/DELETE/@connections/*`);
      expect(resources).not.toMatch(/\/\*\/\*\//);
    });

    it('lets the handlers that answer frames post to connections, and $connect/$disconnect nothing', () => {
      const get = (name: string) => {
        const fn = realtime().routeFunctions.get(name);
        if (!fn) throw new Error(`no ${name} handler`);
        return fn;
      };
      for (const name of ['Subscribe', 'Default']) {
        const resources = JSON.stringify(manageStatements(get(name)).map((st) => st.Resource));
        expect(resources).toContain('/POST/@connections/*');
        expect(resources).not.toContain('DELETE');
      }
      expect(manageStatements(get('Connect'))).toEqual([]);
      expect(manageStatements(get('Disconnect'))).toEqual([]);
    });

    it('grants no wildcard action to any real-time function', () => {
      const fns = [realtime().fanoutFunction, ...new Set(realtime().routeFunctions.values())];
      const actions = fns.flatMap((fn) => statementsOf(fn).flatMap((st) => [st.Action].flat()));
      expect(actions.filter((a) => a.includes('*'))).toEqual([]);
    });
  });

  describe('realtime token route', () => {
    const tokenKeyOf = (x: Synthesized) =>
      x.stack.node.tryFindChild('RealtimeTokenKey') as { node: { defaultChild?: unknown } } | undefined;
    const environments = (x: Synthesized) =>
      (
        Object.values(x.template.findResources('AWS::Lambda::Function')) as Array<{
          Properties: { Environment?: { Variables?: Env } };
        }>
      ).map((f) => f.Properties.Environment?.Variables ?? {});

    it('tells the token route the WebSocket URL, the supervisors and the token key secret (by ARN)', () => {
      const fn = s.stack.controlApi.routeFunctions.get('realtime-token');
      if (!fn) throw new Error('no realtime-token function');
      const env = envOf(fn);
      expect(JSON.stringify(env.WEBSOCKET_URL)).toContain('wss://');
      expect(env.REALTIME_SUPERVISOR_API_IDS).toBe('supervisor-1');
      expect(env.REALTIME_TOKEN_TTL_SEC).toBe('300');
      expect(env.REALTIME_TOKEN_SECRET_ID).toEqual({ Ref: id(tokenKeyOf(s)) });
      s.template.hasOutput('RealtimeTokenKeySecretArn', { Value: { Ref: id(tokenKeyOf(s)) } });
    });

    it('lets exactly the token route and $connect read the token key secret', () => {
      const secretRef = { Ref: id(tokenKeyOf(s)) };
      const readsKey = (st: Statement) =>
        JSON.stringify(st.Action).includes('secretsmanager:GetSecretValue') &&
        [st.Resource].flat().some((r) => JSON.stringify(r) === JSON.stringify(secretRef));
      const readers = (
        Object.values(s.template.findResources('AWS::IAM::Policy')) as Array<{
          Properties: { PolicyDocument: { Statement: Statement[] }; Roles: unknown[] };
        }>
      )
        .filter((p) => p.Properties.PolicyDocument.Statement.some(readsKey))
        .flatMap((p) => p.Properties.Roles);
      const tokenRoute = s.stack.controlApi.routeFunctions.get('realtime-token');
      const connect = realtime().routeFunctions.get('Connect');
      expect(readers).toHaveLength(2);
      expect(readers).toEqual(
        expect.arrayContaining([{ Ref: id(tokenRoute?.role as never) }, { Ref: id(connect?.role as never) }]),
      );
    });

    it('turns browser tokens on by default, with no key or dynamic reference in any function configuration', () => {
      const plain = synthesize();
      expect(tokenKeyOf(plain)).toBeDefined();
      const envs = environments(plain);
      expect(envs.filter((e) => e.REALTIME_TOKEN_SECRET_ID !== undefined)).toHaveLength(2);
      for (const x of [plain, s]) {
        expect(environments(x).filter((e) => 'REALTIME_TOKEN_SECRET' in e)).toEqual([]);
        expect(JSON.stringify(environments(x))).not.toContain('{{resolve:secretsmanager');
      }
    });

    it('creates no token key when browser tokens are turned off', () => {
      const off = synthesize({ realtime: { browserTokens: false } });
      expect(tokenKeyOf(off)).toBeUndefined();
      expect(JSON.stringify(environments(off))).not.toContain('REALTIME_TOKEN_SECRET');
      expect(off.stack.realtime).toBeDefined();
    });
  });

  it('can be turned off', () => {
    const off = synthesize({ features: { realtimeDelivery: false } });
    off.template.resourceCountIs('AWS::ApiGatewayV2::Api', 0);
    off.template.resourceCountIs('AWS::Lambda::EventSourceMapping', 0);
  });
});

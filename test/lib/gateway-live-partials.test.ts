/**
 * The gateway posts live partial transcripts straight to WebSocket subscribers (issue #16): with real-time
 * delivery deployed its container learns the Subscriptions table and the stage's management endpoint, and its
 * task role may Query that table and POST to the stage's connections, nothing more; without it, none of that.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { WEBSOCKET_STAGE_NAME } from '../../lib/realtime-delivery';
import { onlyResource, type Synthesized, synthesize } from './fixtures';

type Env = { Name: string; Value: unknown };
type Statement = { Sid?: string; Action: string | string[]; Resource: unknown; Condition?: unknown };
type Node = { node: { defaultChild?: unknown } };

const LIVE_PARTIAL_ENV = ['SUBSCRIPTIONS_TABLE', 'WEBSOCKET_MANAGEMENT_ENDPOINT'];

function gatewayEnv(s: Synthesized): Env[] {
  const [, task] = onlyResource(s.template, 'AWS::ECS::TaskDefinition');
  const [container] = task.ContainerDefinitions as Array<{ Environment: Env[] }>;
  if (!container) throw new Error('the gateway task definition has no container');
  return container.Environment;
}

function policyStatements(s: Synthesized, role: Node): Statement[] {
  const roleId = s.stack.getLogicalId(role.node.defaultChild as never);
  const policies = Object.values(
    s.template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } }),
  ) as Array<{ Properties: { PolicyDocument: { Statement: Statement[] } } }>;
  return policies.flatMap((p) => p.Properties.PolicyDocument.Statement);
}

const actions = (statements: Statement[]) => statements.flatMap((st) => [st.Action].flat());

describe('gateway live partials', () => {
  describe('with real-time delivery on (the default)', () => {
    let s: Synthesized;
    let env: Env[];
    let statements: Statement[];
    const id = (c: Node) => s.stack.getLogicalId(c.node.defaultChild as never);
    const envValue = (name: string) => env.find((e) => e.Name === name)?.Value;
    const realtime = () => {
      const r = s.stack.realtime;
      if (!r) throw new Error('no real-time delivery in the stack');
      return r;
    };

    beforeAll(() => {
      s = synthesize();
      env = gatewayEnv(s);
      statements = policyStatements(s, s.stack.gateway.taskDefinition.taskRole);
    });

    it('tells the gateway the Subscriptions table by name', () => {
      expect(envValue('SUBSCRIPTIONS_TABLE')).toEqual({ Ref: id(s.stack.store.subscriptionsTable) });
      expect(env.filter((e) => e.Name === 'SUBSCRIPTIONS_TABLE')).toHaveLength(1);
    });

    it('gives the gateway the same management endpoint as the fan-out: this API’s stage callback URL', () => {
      const endpoint = envValue('WEBSOCKET_MANAGEMENT_ENDPOINT');
      expect(endpoint).toEqual(s.stack.resolve(realtime().callbackUrl));
      const [, fanout] = onlyResource(s.template, 'AWS::Lambda::Function', {
        Description: 'Delivers stored utterances to the webhook and WebSocket subscribers (Utterances stream)',
      });
      const fanoutEnv = (fanout.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(endpoint).toEqual(fanoutEnv.WEBSOCKET_MANAGEMENT_ENDPOINT);
      const rendered = JSON.stringify(endpoint);
      expect(rendered).toContain(`{"Ref":"${id(realtime().webSocketApi)}"}`);
      expect(rendered).toMatch(new RegExp(`/${WEBSOCKET_STAGE_NAME}"\\]\\]\\}$`));
      expect(rendered.startsWith('{"Fn::Join":["",["https://"')).toBe(true);
    });

    it('may Query the Subscriptions table itself, and nothing else on it', () => {
      const tableArn = { 'Fn::GetAtt': [id(s.stack.store.subscriptionsTable), 'Arn'] };
      expect(statements.find((st) => st.Sid === 'LivePartialsSubscribers')).toEqual({
        Sid: 'LivePartialsSubscribers',
        Effect: 'Allow',
        Action: 'dynamodb:Query',
        Resource: tableArn,
      });
      const onTable = statements.filter((st) => JSON.stringify(st.Resource).includes(JSON.stringify(tableArn)));
      expect(actions(onTable)).toEqual(['dynamodb:Query']);
      // The store's tables use the AWS-managed key: no key grant is needed, and none is made.
      expect(actions(statements).filter((a) => a.startsWith('kms:'))).toEqual([]);
    });

    it('may POST to connections of this WebSocket API stage only (no GET, no DELETE, no other stage)', () => {
      const post = statements.find((st) => st.Sid === 'LivePartialsPost');
      expect(post).toEqual({
        Sid: 'LivePartialsPost',
        Effect: 'Allow',
        Action: 'execute-api:ManageConnections',
        Resource: {
          'Fn::Join': [
            '',
            [
              'arn:aws:execute-api:eu-west-1:',
              { Ref: 'AWS::AccountId' },
              ':',
              { Ref: id(realtime().webSocketApi) },
              `/${WEBSOCKET_STAGE_NAME}/POST/@connections/*`,
            ],
          ],
        },
      });
      const executeApi = statements.filter((st) => actions([st]).some((a) => a.startsWith('execute-api:')));
      expect(executeApi).toEqual([post]);
    });

    it('refuses to be enabled twice, with a message that says so', () => {
      const r = realtime();
      expect(() =>
        s.stack.gateway.enableLivePartials({
          subscriptionsTable: s.stack.store.subscriptionsTable,
          managementEndpoint: r.callbackUrl,
          postToConnections: r.connectionsResource('POST'),
        }),
      ).toThrow(/enableLivePartials was already called/);
    });
  });

  describe('with real-time delivery off', () => {
    let s: Synthesized;
    let statements: Statement[];

    beforeAll(() => {
      s = synthesize({ features: { realtimeDelivery: false } });
      statements = policyStatements(s, s.stack.gateway.taskDefinition.taskRole);
    });

    it('sets neither variable', () => {
      expect(s.stack.realtime).toBeUndefined();
      const names = gatewayEnv(s).map((e) => e.Name);
      expect(names).toContain('UTTERANCES_TABLE');
      expect(names.filter((n) => LIVE_PARTIAL_ENV.includes(n))).toEqual([]);
    });

    it('grants no Subscriptions table access and no connection management', () => {
      const subscriptionsId = s.stack.getLogicalId(s.stack.store.subscriptionsTable.node.defaultChild as never);
      expect(statements.length).toBeGreaterThan(0);
      expect(statements.map((st) => st.Sid)).not.toContain('LivePartialsSubscribers');
      expect(statements.map((st) => st.Sid)).not.toContain('LivePartialsPost');
      expect(JSON.stringify(statements)).not.toContain(subscriptionsId);
      expect(actions(statements).filter((a) => a.startsWith('execute-api:'))).toEqual([]);
    });
  });
});

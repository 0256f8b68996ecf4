import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHandler as makeStatus } from '../../lambdas/conversation-status/handler';
import { repositoriesOf } from '../../lambdas/shared/deps';
import { makeHandler } from '../../lambdas/start-streaming/handler';
import { ControlInbox } from '../../store/control-inbox';
import { setupDynamoDb, type TestDynamoDb } from '../helpers/dynamodb';
import {
  apiEvent,
  bodyOf,
  metricTotal,
  newGuid,
  SimulatedGateway,
  startBody,
  TEST_POLICY,
  testDeps,
} from './helpers/api';

const PATH = '/mg-autotranscribe/v1/start-streaming';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface StartBody {
  isOk: boolean;
  autotranscribeResponse: Record<
    'customer' | 'agent',
    { streamId: string; status: { code: number; description: string } }
  >;
}
interface Envelope {
  error: { requestId: string; message: string; code: string };
}

let db: TestDynamoDb;
beforeAll(async () => {
  db = await setupDynamoDb();
});
afterAll(async () => {
  await db?.stop();
});

function post(deps: ReturnType<typeof testDeps>, body: unknown, extra: Parameters<typeof apiEvent>[0] = {}) {
  return makeHandler(deps)(apiEvent({ method: 'POST', path: PATH, body, ...extra }));
}

describe('POST /mg-autotranscribe/v1/start-streaming', () => {
  describe('on a valid start', () => {
    it('answers the compatible body with one streamId per role and status 1000 OK', async () => {
      const deps = testDeps(db);
      const res = await post(deps, startBody(newGuid(), { autotranscribeParams: { language: 'en-US' } }));
      expect(res.statusCode).toBe(200);
      expect(res.headers?.['Content-Type']).toBe('application/json');
      const body = bodyOf<StartBody>(res);
      expect(Object.keys(body)).toEqual(['isOk', 'autotranscribeResponse']);
      expect(body.isOk).toBe(true);
      for (const role of ['customer', 'agent'] as const) {
        expect(body.autotranscribeResponse[role].streamId).toMatch(UUID_RE);
        expect(body.autotranscribeResponse[role].status).toEqual({ code: 1000, description: 'OK' });
      }
      expect(body.autotranscribeResponse.customer.streamId).not.toBe(body.autotranscribeResponse.agent.streamId);
      expect(metricTotal(deps.metrics, 'StartAccepted')).toBe(1);
      expect(deps.metrics.flushes).toBe(1);
    });

    it('records the streamIds and the params with defaults applied', async () => {
      const deps = testDeps(db);
      const guid = newGuid();
      const body = bodyOf<StartBody>(await post(deps, startBody(guid)));
      const meta = await deps.conversations.getMeta(guid);
      expect(meta?.desired).toBe('on');
      expect(meta?.streamIds).toEqual({
        customer: body.autotranscribeResponse.customer.streamId,
        agent: body.autotranscribeResponse.agent.streamId,
      });
      expect(meta?.params).toEqual({
        customerId: 'cust-0001',
        agentId: 'agent-0042',
        language: 'en-US',
        detailedToken: false,
        audioRecordingAllowed: false,
        redactionOutput: 'redacted',
      });
    });

    it('matches the language case-insensitively and records its canonical spelling', async () => {
      const deps = testDeps(db);
      const guid = newGuid();
      const res = await post(deps, startBody(guid, { autotranscribeParams: { language: 'es-us' } }));
      expect(res.statusCode).toBe(200);
      expect((await deps.conversations.getMeta(guid))?.params?.language).toBe('es-US');
    });

    it('accepts detailed tokens with an unredacted output', async () => {
      const deps = testDeps(db);
      const guid = newGuid();
      const res = await post(
        deps,
        startBody(guid, { autotranscribeParams: { detailedToken: true, redactionOutput: 'unredacted' } }),
      );
      expect(res.statusCode).toBe(200);
      expect((await deps.conversations.getMeta(guid))?.params).toMatchObject({
        detailedToken: true,
        redactionOutput: 'unredacted',
      });
    });

    it('ignores unknown fields at the top level and inside autotranscribeParams', async () => {
      const deps = testDeps(db);
      const guid = newGuid();
      const res = await post(
        deps,
        startBody(guid, {
          siprecParams: { mediaLineOrder: 'AGENT_FIRST' },
          somethingNew: 42,
          autotranscribeParams: { language: 'en-US', futureOption: true },
        }),
      );
      expect(res.statusCode).toBe(200);
      expect((await deps.conversations.getMeta(guid))?.params).not.toHaveProperty('futureOption');
    });

    it('treats null optional fields as absent (Genesys templates render unset variables as null)', async () => {
      const deps = testDeps(db);
      const res = await post(
        deps,
        startBody(newGuid(), { autotranscribeParams: { language: null, redactionOutput: null } }),
      );
      expect(res.statusCode).toBe(200);
    });

    it('accepts a start before any AudioHook session and shows it as waiting-for-audio', async () => {
      const deps = testDeps(db);
      const guid = newGuid();
      expect((await post(deps, startBody(guid))).statusCode).toBe(200);
      const status = await makeStatus(deps)(
        apiEvent({
          method: 'GET',
          path: `/mg-autotranscribe/v1/conversations/${guid}/status`,
          pathParameters: { guid },
        }),
      );
      expect(status.statusCode).toBe(200);
      expect(bodyOf(status)).toMatchObject({
        state: 'waiting-for-audio',
        desired: 'on',
        desiredVersion: 1,
        sessions: [],
      });
    });

    it('notifies the gateway task that holds the session', async () => {
      const deps = testDeps(db);
      const guid = newGuid();
      const gateway = new SimulatedGateway(deps, db, guid);
      await gateway.open();
      expect((await post(deps, startBody(guid))).statusCode).toBe(200);
      const inbox = new ControlInbox(db.doc, { tableName: db.tables.conversations });
      const items = await inbox.poll(gateway.taskId);
      expect(items).toEqual([expect.objectContaining({ conversationId: guid, version: 1, desired: 'on' })]);
    });

    it('logs ids and outcomes at info, never participant ids in the message text', async () => {
      const deps = testDeps(db);
      const guid = newGuid();
      await post(deps, startBody(guid));
      const line = deps.logger.lines.find((l) => l.message === 'start recorded');
      expect(line?.level).toBe('info');
      expect(line?.attributes).toMatchObject({ conversationId: guid, outcome: 'started', segment: 1 });
    });
  });

  describe('on a repeated start of a running segment', () => {
    it('answers 200 with the same streamIds and changes nothing', async () => {
      const deps = testDeps(db);
      const guid = newGuid();
      const first = bodyOf<StartBody>(await post(deps, startBody(guid)));
      const again = await post(deps, startBody(guid, { autotranscribeParams: { language: 'es-US' } }));
      expect(again.statusCode).toBe(200);
      expect(bodyOf<StartBody>(again)).toEqual(first);
      const meta = await deps.conversations.getMeta(guid);
      expect(meta?.desiredVersion).toBe(1);
      expect(meta?.params?.language).toBe('en-US');
      expect(metricTotal(deps.metrics, 'StartRepeated')).toBe(1);
    });

    it('stays idempotent under concurrent identical starts', async () => {
      const deps = testDeps(db);
      const guid = newGuid();
      const handler = makeHandler(deps);
      const results = await Promise.all(
        Array.from({ length: 5 }, () => handler(apiEvent({ method: 'POST', path: PATH, body: startBody(guid) }))),
      );
      expect(results.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200]);
      const ids = new Set(results.map((r) => bodyOf<StartBody>(r).autotranscribeResponse.customer.streamId));
      expect(ids.size).toBe(1);
      expect((await deps.conversations.getMeta(guid))?.desiredVersion).toBe(1);
    });
  });

  describe('rejects', () => {
    const cases: [string, unknown, string, string | RegExp][] = [
      [
        'a namespace this deployment does not serve',
        { namespace: 'siprec' },
        '400-201',
        "namespace 'siprec' is not supported by this deployment",
      ],
      ['a namespace outside the enum', { namespace: 'zoom' }, '400-201', /namespace must be one of/],
      ['a missing guid', { guid: undefined }, '400-201', 'guid is required'],
      ['an empty guid', { guid: '' }, '400-201', 'guid must not be empty'],
      ['a guid over 255 characters', { guid: 'x'.repeat(256) }, '400-201', /at most 255/],
      ['a missing customerId', { customerId: undefined }, '400-201', 'customerId is required'],
      ['a numeric agentId', { agentId: 42 }, '400-201', 'agentId must be a string'],
      [
        'an unsupported language',
        { autotranscribeParams: { language: 'fr-FR' } },
        '400-202',
        /language 'fr-FR' is not supported/,
      ],
      [
        'a non-boolean detailedToken',
        { autotranscribeParams: { detailedToken: 'yes' } },
        '400-202',
        /detailedToken must be a boolean/,
      ],
      [
        'an unknown redactionOutput',
        { autotranscribeParams: { redactionOutput: 'partial' } },
        '400-202',
        /redactionOutput must be one of/,
      ],
      ['autotranscribeParams that is not an object', { autotranscribeParams: 'en-US' }, '400-202', /must be an object/],
      [
        'detailed tokens with the default (redacted) output',
        { autotranscribeParams: { detailedToken: true } },
        '400-202',
        /detailedToken requires redactionOutput 'unredacted'/,
      ],
      [
        'detailed tokens with redacted_and_unredacted',
        { autotranscribeParams: { detailedToken: true, redactionOutput: 'redacted_and_unredacted' } },
        '400-202',
        /detailedToken requires/,
      ],
    ];
    for (const [what, patch, code, message] of cases) {
      it(`${what} with ${code}`, async () => {
        const deps = testDeps(db);
        const guid = newGuid();
        const body = { ...startBody(guid), ...(patch as Record<string, unknown>) };
        const requestId = `req-${guid}`;
        const res = await post(deps, body, { requestId });
        expect(res.statusCode).toBe(Number(code.slice(0, 3)));
        const env = bodyOf<Envelope>(res);
        expect(env.error.code).toBe(code);
        expect(env.error.requestId).toBe(requestId);
        if (typeof message === 'string') expect(env.error.message).toBe(message);
        else expect(env.error.message).toMatch(message);
        expect(await deps.conversations.getMeta(guid)).toBeUndefined();
      });
    }

    it('redaction when the deployment has none configured (400-202), but defaults to unredacted', async () => {
      const deps = testDeps(db, { policy: { ...TEST_POLICY, redactionEnabled: false } });
      const rejected = await post(
        deps,
        startBody(newGuid(), { autotranscribeParams: { redactionOutput: 'redacted' } }),
      );
      expect(bodyOf<Envelope>(rejected).error.code).toBe('400-202');
      const guid = newGuid();
      expect((await post(deps, startBody(guid))).statusCode).toBe(200);
      expect((await deps.conversations.getMeta(guid))?.params?.redactionOutput).toBe('unredacted');
    });

    it('malformed JSON with 400-01', async () => {
      const res = await post(testDeps(db), undefined, {
        rawBody: '{"namespace":',
        headers: { 'content-type': 'application/json' },
      });
      expect(res.statusCode).toBe(400);
      expect(bodyOf<Envelope>(res).error).toMatchObject({ code: '400-01', message: 'Request body is not valid JSON' });
    });

    it('a non-JSON Content-Type with 400-01 (the contract has no 415)', async () => {
      const res = await post(testDeps(db), undefined, {
        rawBody: 'namespace=genesysaudiohook',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      });
      expect(res.statusCode).toBe(400);
      expect(bodyOf<Envelope>(res).error.code).toBe('400-01');
      expect(bodyOf<Envelope>(res).error.message).toMatch(/Content-Type must be application\/json/);
    });

    it('accepts application/json with a charset parameter', async () => {
      const res = await post(testDeps(db), undefined, {
        rawBody: JSON.stringify(startBody(newGuid())),
        headers: { 'content-type': 'application/json; charset=utf-8' },
      });
      expect(res.statusCode).toBe(200);
    });

    it('a body over 64 KiB with 413-01', async () => {
      const res = await post(testDeps(db), startBody(newGuid(), { padding: 'x'.repeat(64 * 1024) }));
      expect(res.statusCode).toBe(413);
      expect(bodyOf<Envelope>(res).error.code).toBe('413-01');
    });

    it('a JSON array or an empty body with 400-201', async () => {
      const arr = await post(testDeps(db), [startBody(newGuid())]);
      expect(bodyOf<Envelope>(arr).error).toMatchObject({
        code: '400-201',
        message: 'Request body must be a JSON object',
      });
      const empty = await post(testDeps(db), undefined);
      expect(bodyOf<Envelope>(empty).error.code).toBe('400-201');
    });
  });

  describe('when the store fails', () => {
    it('answers 500-201 without internals and logs the cause', async () => {
      const deps = testDeps(db, {
        ...repositoriesOf(db.client, {
          conversationsTable: 'no-such-table',
          utterancesTable: 'no-such-table',
          retentionDays: 7,
        }),
      });
      const res = await post(deps, startBody(newGuid()), { requestId: 'req-500' });
      expect(res.statusCode).toBe(500);
      expect(bodyOf<Envelope>(res)).toEqual({
        error: { requestId: 'req-500', message: 'Internal error in the router or transcriber', code: '500-201' },
      });
      expect(res.body).not.toMatch(/no-such-table|Exception|stack/i);
      const logged = deps.logger.lines.find((l) => l.level === 'error');
      expect(logged?.attributes).toMatchObject({ requestId: 'req-500', code: '500-201' });
    });

    it('answers 503-01 with Retry-After when DynamoDB is unreachable', async () => {
      const dead = new DynamoDBClient({
        endpoint: 'http://127.0.0.1:9',
        region: 'us-east-1',
        credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
        maxAttempts: 1,
      });
      const deps = testDeps(db, {
        ...repositoriesOf(dead, { conversationsTable: 'c', utterancesTable: 'u', retentionDays: 7 }),
      });
      const res = await post(deps, startBody(newGuid()));
      dead.destroy();
      expect(res.statusCode).toBe(503);
      expect(res.headers?.['Retry-After']).toBe('1');
      expect(bodyOf<Envelope>(res).error.code).toBe('503-01');
    });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utteranceIdOf } from '../../core/transcript/utterance';
import { makeHandler } from '../../lambdas/get-messages/handler';
import { makeHandler as makeStart } from '../../lambdas/start-streaming/handler';
import type { FinalUtteranceInput } from '../../store/utterances';
import { setupDynamoDb, type TestDynamoDb } from '../helpers/dynamodb';
import { apiEvent, bodyOf, newGuid, SimulatedGateway, startBody, testDeps } from './helpers/api';

const PATH = '/conversation/v1/conversation/messages';

interface Message {
  text: string;
  sender: { role: 'customer' | 'agent'; externalId: string | null };
  messageId: string;
  createdTimestamp: string;
  clientTimestamp: string;
}
interface Page {
  items: Message[];
  nextToken?: string;
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

type Deps = ReturnType<typeof testDeps>;

const get = (deps: Deps, query?: Record<string, string>, extra: Parameters<typeof apiEvent>[0] = {}) =>
  makeHandler(deps)(apiEvent({ method: 'GET', path: PATH, ...(query && { query }), ...extra }));

/** A started conversation whose segment a gateway session opened; returns the session's open time. */
async function startedCall(
  deps: Deps,
  guid: string,
): Promise<{ streamIds: Record<'customer' | 'agent', string>; openedAtMs: number }> {
  const gateway = new SimulatedGateway(deps, db, guid);
  await gateway.open();
  await makeStart(deps)(apiEvent({ path: '/mg-autotranscribe/v1/start-streaming', body: startBody(guid) }));
  await gateway.openSegment(1);
  const session = (await deps.conversations.listSessions(guid))[0];
  const meta = await deps.conversations.getMeta(guid);
  if (!session || !meta?.streamIds) throw new Error('setup failed');
  return { streamIds: meta.streamIds, openedAtMs: Date.parse(session.openedAt) };
}

function utterance(
  guid: string,
  streamIds: Record<'customer' | 'agent', string>,
  role: 'customer' | 'agent',
  i: number,
  startMs: number,
  createdAt: number,
): FinalUtteranceInput {
  const resultId = `r-${role}-${i}`;
  return {
    conversationId: guid,
    segment: 1,
    streamId: streamIds[role],
    role,
    resultId,
    utteranceId: utteranceIdOf(guid, streamIds[role], resultId),
    startMs,
    endMs: startMs + 900,
    text: `${role} utterance ${i}`,
    language: 'en-US',
    senderExternalId: role === 'customer' ? 'cust-0001' : 'agent-0042',
    createdAt,
  };
}

async function putAll(deps: Deps, items: FinalUtteranceInput[]): Promise<void> {
  for (let i = 0; i < items.length; i += 25) {
    await Promise.all(items.slice(i, i + 25).map((u) => deps.utterances.putFinal(u)));
  }
}

describe('GET /conversation/v1/conversation/messages', () => {
  describe('for a conversation with utterances', () => {
    it('answers the ASAPP items, oldest first, with the documented timestamps', async () => {
      const deps = testDeps(db);
      const guid = newGuid();
      const { streamIds, openedAtMs } = await startedCall(deps, guid);
      const created = Date.parse('2025-01-15T14:02:05.310Z');
      await putAll(deps, [
        utterance(guid, streamIds, 'agent', 1, 4_000, created + 3000),
        utterance(guid, streamIds, 'customer', 0, 1_200, created),
      ]);
      const res = await get(deps, { externalId: guid });
      expect(res.statusCode).toBe(200);
      const body = bodyOf<Page>(res);
      expect(Object.keys(body)).toEqual(['items']);
      expect(body.items).toHaveLength(2);
      const [first, second] = body.items;
      expect(first).toEqual({
        text: 'customer utterance 0',
        sender: { role: 'customer', externalId: 'cust-0001' },
        messageId: expect.stringMatching(/^[0-9A-Z]{26}$/),
        createdTimestamp: '2025-01-15T14:02:05.310Z',
        clientTimestamp: new Date(openedAtMs + 1_200).toISOString(),
      });
      expect(second).toMatchObject({ sender: { role: 'agent', externalId: 'agent-0042' }, text: 'agent utterance 1' });
      expect(second?.clientTimestamp).toBe(new Date(openedAtMs + 4_000).toISOString());
    });

    it('keeps a stable order across roles for utterances that start at the same offset', async () => {
      const deps = testDeps(db);
      const guid = newGuid();
      const { streamIds } = await startedCall(deps, guid);
      await putAll(deps, [
        utterance(guid, streamIds, 'customer', 1, 5_000, Date.now()),
        utterance(guid, streamIds, 'agent', 1, 5_000, Date.now()),
        utterance(guid, streamIds, 'customer', 0, 1_000, Date.now()),
      ]);
      const first = bodyOf<Page>(await get(deps, { externalId: guid })).items.map((m) => m.text);
      const again = bodyOf<Page>(await get(deps, { externalId: guid })).items.map((m) => m.text);
      expect(first).toEqual(['customer utterance 0', 'agent utterance 1', 'customer utterance 1']);
      expect(again).toEqual(first);
    });

    it('answers a conversation in progress with what exists so far, and an empty list before any utterance', async () => {
      const deps = testDeps(db);
      const guid = newGuid();
      await startedCall(deps, guid);
      expect(bodyOf<Page>(await get(deps, { externalId: guid }))).toEqual({ items: [] });
    });

    it('accepts externalConversationId as a query alias and a JSON body externalId when no query is given', async () => {
      const deps = testDeps(db);
      const guid = newGuid();
      const { streamIds } = await startedCall(deps, guid);
      await putAll(deps, [utterance(guid, streamIds, 'customer', 0, 100, Date.now())]);
      const alias = await get(deps, { externalConversationId: guid });
      expect(bodyOf<Page>(alias).items).toHaveLength(1);
      const viaBody = await get(deps, undefined, { method: 'GET', path: PATH, body: { externalId: guid } });
      expect(viaBody.statusCode).toBe(200);
      expect(bodyOf<Page>(viaBody).items).toHaveLength(1);
    });
  });

  describe('with more than 1,000 utterances', () => {
    it('answers the first 1,000 plus a nextToken, then the remaining 200 without one', async () => {
      const deps = testDeps(db);
      const guid = newGuid();
      const { streamIds } = await startedCall(deps, guid);
      const items: FinalUtteranceInput[] = [];
      for (let i = 0; i < 1200; i++) {
        items.push(utterance(guid, streamIds, i % 2 === 0 ? 'customer' : 'agent', i, i * 1000, Date.now()));
      }
      await putAll(deps, items);
      const first = bodyOf<Page>(await get(deps, { externalId: guid }));
      expect(first.items).toHaveLength(1000);
      expect(typeof first.nextToken).toBe('string');
      expect(first.items[0]?.text).toBe('customer utterance 0');
      expect(first.items[999]?.text).toBe('agent utterance 999');
      const second = bodyOf<Page>(await get(deps, { externalId: guid, nextToken: first.nextToken as string }));
      expect(second.items).toHaveLength(200);
      expect(second.nextToken).toBeUndefined();
      expect(second.items[0]?.text).toBe('customer utterance 1000');
      const ids = new Set([...first.items, ...second.items].map((m) => m.messageId));
      expect(ids.size).toBe(1200);
      const small = bodyOf<Page>(await get(deps, { externalId: guid, limit: '10' }));
      expect(small.items.map((m) => m.text)[9]).toBe('agent utterance 9');
      expect(small.nextToken).toBeDefined();
    }, 120_000);
  });

  describe('rejects', () => {
    it('an unknown conversation with 404-01', async () => {
      const res = await get(testDeps(db), { externalId: newGuid() }, { requestId: 'req-404' });
      expect(res.statusCode).toBe(404);
      expect(bodyOf<Envelope>(res).error).toEqual({
        requestId: 'req-404',
        message: 'No conversation found for this externalId',
        code: '404-01',
      });
    });

    it('a conversation past its retention with 404-01, even before DynamoDB deletes it', async () => {
      const guid = newGuid();
      await startedCall(testDeps(db), guid);
      const later = testDeps(db, { now: () => Date.now() + 8 * 24 * 3600 * 1000 });
      expect(bodyOf<Envelope>(await get(later, { externalId: guid })).error.code).toBe('404-01');
    });

    it('a request without any externalId with 400-01', async () => {
      const res = await get(testDeps(db));
      expect(res.statusCode).toBe(400);
      expect(bodyOf<Envelope>(res).error).toMatchObject({ code: '400-01', message: 'externalId is required' });
    });

    for (const limit of ['0', '1001', 'abc', '-5', '2.5']) {
      it(`limit=${limit} with 400-01`, async () => {
        const res = await get(testDeps(db), { externalId: 'x', limit });
        expect(bodyOf<Envelope>(res).error.code).toBe('400-01');
      });
    }

    it('a forged or foreign nextToken with 400-01', async () => {
      const deps = testDeps(db);
      const guid = newGuid();
      await startedCall(deps, guid);
      for (const nextToken of ['not-a-token', 'eyJ2IjoxfQ.AAAAAAAAAAAAAAAAAAAAAA']) {
        const res = await get(deps, { externalId: guid, nextToken });
        expect(res.statusCode).toBe(400);
        expect(bodyOf<Envelope>(res).error.code).toBe('400-01');
      }
    });

    it('a body externalId that is not a string with 400-01', async () => {
      const res = await get(testDeps(db), undefined, { method: 'GET', path: PATH, body: { externalId: 12 } });
      expect(bodyOf<Envelope>(res).error).toMatchObject({ code: '400-01', message: 'externalId must be a string' });
    });
  });

  it('never logs transcript text', async () => {
    const deps = testDeps(db);
    const guid = newGuid();
    const { streamIds } = await startedCall(deps, guid);
    await putAll(deps, [utterance(guid, streamIds, 'customer', 0, 100, Date.now())]);
    await get(deps, { externalId: guid });
    expect(JSON.stringify(deps.logger.lines)).not.toContain('customer utterance 0');
  });
});

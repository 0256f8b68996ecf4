import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../core/audio/roles';
import { utteranceIdOf } from '../../core/transcript/utterance';
import { InvalidArgumentError, InvalidTokenError } from '../../store/errors';
import {
  deterministicUlid,
  EXPORT_SHARDS,
  type ExportPage,
  exportShardOf,
  type FinalUtteranceInput,
  UtterancesRepository,
} from '../../store/utterances';
import { setupDynamoDb, type TestDynamoDb } from '../helpers/dynamodb';

// DynamoDB Local deletes items whose ttl has passed, so creation times sit near the real clock.
const T0 = Math.floor(Date.now() / 1000) * 1000;
const DAY_MS = 24 * 3600 * 1000;
const SEVEN_DAYS = 7 * 24 * 3600;
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

function utterance(
  conversationId: string,
  role: Role,
  startMs: number,
  resultId: string,
  extra: Partial<FinalUtteranceInput> = {},
): FinalUtteranceInput {
  const streamId = `${conversationId}-${role}-stream`;
  return {
    conversationId,
    segment: 1,
    streamId,
    role,
    resultId,
    utteranceId: utteranceIdOf(conversationId, streamId, resultId),
    startMs,
    endMs: startMs + 900,
    text: `words of ${resultId}`,
    language: 'en-US',
    senderExternalId: role === 'customer' ? 'cust-0001' : 'agent-0042',
    createdAt: T0 + startMs,
    ...extra,
  };
}

async function putAll(repo: UtterancesRepository, items: FinalUtteranceInput[], concurrency = 40): Promise<void> {
  for (let i = 0; i < items.length; i += concurrency) {
    await Promise.all(items.slice(i, i + concurrency).map((u) => repo.putFinal(u)));
  }
}

async function collect(pages: AsyncIterable<ExportPage>): Promise<ExportPage[]> {
  const out: ExportPage[] = [];
  for await (const p of pages) out.push(p);
  return out;
}

describe('UtterancesRepository (DynamoDB Local)', () => {
  let db: TestDynamoDb;
  let repo: UtterancesRepository;
  const newConversation = () => `conv-${randomUUID()}`;

  beforeAll(async () => {
    db = await setupDynamoDb();
    repo = new UtterancesRepository(db.doc, { tableName: db.tables.utterances, tokenKey: 'test-token-key' });
  });

  afterAll(async () => {
    await db?.stop();
  });

  describe('putFinal', () => {
    it('stores the utterance with its sort key, messageId, export keys and ttl', async () => {
      const id = newConversation();
      const u = utterance(id, 'customer', 1200, 'r-1', {
        tokens: [{ content: 'words', startMs: 1200, endMs: 1500, confidence: 0.9, type: 'word' }],
      });
      const r = await repo.putFinal(u);
      expect(r.outcome).toBe('created');
      if (r.outcome !== 'created') return;
      const createdAt = new Date(T0 + 1200).toISOString();
      expect(r.item).toMatchObject({
        conversationId: id,
        sk: `0000001200#customer#${u.utteranceId}`,
        createdAt,
        exportDay: `${createdAt.slice(0, 10)}#${String(exportShardOf(id)).padStart(2, '0')}`,
        exportSk: `${createdAt}#${id}#0000001200#customer#${u.utteranceId}`,
        ttl: Math.floor((T0 + 1200) / 1000) + SEVEN_DAYS,
        senderExternalId: 'cust-0001',
      });
      expect(r.item.messageId).toMatch(ULID);
      expect(r.item.messageId).toBe(deterministicUlid(T0 + 1200, u.utteranceId));

      const [stored] = (await repo.listByConversation(id, { consistentRead: true })).items;
      expect(stored).toEqual(r.item);
    });

    it('answers duplicate for a retried write and keeps the first copy', async () => {
      const id = newConversation();
      const u = utterance(id, 'agent', 5000, 'r-2');
      expect((await repo.putFinal(u)).outcome).toBe('created');
      const retry = await repo.putFinal({ ...u, createdAt: T0 + 99_000 });
      expect(retry).toEqual({
        outcome: 'duplicate',
        conversationId: id,
        sk: `0000005000#agent#${u.utteranceId}`,
        utteranceId: u.utteranceId,
      });
      const { items } = await repo.listByConversation(id, { consistentRead: true });
      expect(items).toHaveLength(1);
      expect(items[0]?.createdAt).toBe(new Date(T0 + 5000).toISOString());
    });

    it('creates exactly one item when the same utterance is written many times at once', async () => {
      const id = newConversation();
      const u = utterance(id, 'customer', 700, 'r-3');
      const results = await Promise.all(Array.from({ length: 15 }, () => repo.putFinal(u)));
      expect(results.filter((r) => r.outcome === 'created')).toHaveLength(1);
      expect(results.filter((r) => r.outcome === 'duplicate')).toHaveLength(14);
      expect((await repo.listByConversation(id, { consistentRead: true })).items).toHaveLength(1);
    });

    it('honours a configured retention', async () => {
      const short = new UtterancesRepository(db.doc, { tableName: db.tables.utterances, retentionSeconds: 86_400 });
      const r = await short.putFinal(utterance(newConversation(), 'agent', 0, 'r-4'));
      expect(r.outcome === 'created' && r.item.ttl).toBe(T0 / 1000 + 86_400);
    });

    it('rejects malformed utterances before writing', async () => {
      const id = newConversation();
      await expect(repo.putFinal(utterance(id, 'customer', -1, 'r'))).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(repo.putFinal({ ...utterance(id, 'customer', 10, 'r'), endMs: 5 })).rejects.toMatchObject({
        code: 'STORE_INVALID_ARGUMENT',
      });
      await expect(repo.putFinal({ ...utterance(id, 'customer', 10, 'r'), utteranceId: 'x#y' })).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
      await expect(repo.putFinal({ ...utterance(id, 'customer', 10, 'r'), text: '' })).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
    });
  });

  describe('listByConversation', () => {
    it('returns utterances oldest first across both roles, whatever the write order', async () => {
      const id = newConversation();
      const items = [
        utterance(id, 'agent', 4_000, 'a2'),
        utterance(id, 'customer', 120_000, 'c3'),
        utterance(id, 'customer', 900, 'c1'),
        utterance(id, 'agent', 2_500, 'a1'),
        utterance(id, 'customer', 4_000, 'c2'),
        utterance(id, 'agent', 99_999, 'a3'),
      ];
      await putAll(repo, items);
      const { items: listed, nextToken } = await repo.listByConversation(id, { consistentRead: true });
      expect(nextToken).toBeUndefined();
      // Same start: ordered by role name (agent before customer), so the order is stable.
      expect(listed.map((u) => u.resultId)).toEqual(['c1', 'a1', 'a2', 'c2', 'a3', 'c3']);
    });

    it('pages 1,200 utterances as 1,000 then 200, and only the first page has a nextToken', async () => {
      const id = newConversation();
      const items = Array.from({ length: 1200 }, (_, i) =>
        utterance(id, i % 2 === 0 ? 'customer' : 'agent', i * 1000, `r-${i}`),
      );
      await putAll(repo, items, 100);
      const first = await repo.listByConversation(id, { consistentRead: true });
      expect(first.items).toHaveLength(1000);
      expect(first.nextToken).toEqual(expect.any(String));
      const second = await repo.listByConversation(id, { nextToken: first.nextToken, consistentRead: true });
      expect(second.items).toHaveLength(200);
      expect(second.nextToken).toBeUndefined();
      const all = [...first.items, ...second.items].map((u) => u.startMs);
      expect(all).toEqual(items.map((u) => u.startMs));
    });

    it('does not hand out a token when the page ends exactly at the last utterance', async () => {
      const id = newConversation();
      await putAll(
        repo,
        [0, 1, 2, 3].map((i) => utterance(id, 'agent', i * 10, `e${i}`)),
      );
      const page1 = await repo.listByConversation(id, { limit: 2, consistentRead: true });
      expect(page1.items.map((u) => u.resultId)).toEqual(['e0', 'e1']);
      const page2 = await repo.listByConversation(id, { limit: 2, nextToken: page1.nextToken, consistentRead: true });
      expect(page2.items.map((u) => u.resultId)).toEqual(['e2', 'e3']);
      expect(page2.nextToken).toBeUndefined();
      expect(await repo.listByConversation(newConversation())).toEqual({ items: [] });
    });

    it('rejects a limit outside 1..1000', async () => {
      for (const limit of [0, 1001, 1.5]) {
        await expect(repo.listByConversation('c', { limit })).rejects.toBeInstanceOf(InvalidArgumentError);
      }
    });

    describe('nextToken', () => {
      let id: string;
      let token: string;

      beforeAll(async () => {
        id = newConversation();
        await putAll(
          repo,
          [0, 1, 2].map((i) => utterance(id, 'customer', i, `t${i}`)),
        );
        token = (await repo.listByConversation(id, { limit: 1, consistentRead: true })).nextToken as string;
      });

      const rejects = async (r: UtterancesRepository, t: string, conversationId = id) => {
        const err = await r.listByConversation(conversationId, { nextToken: t }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InvalidTokenError);
        expect(err).toMatchObject({ name: 'InvalidTokenError', code: 'STORE_INVALID_TOKEN' });
      };

      it('is opaque base64url and resumes where the page ended', async () => {
        expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
        const next = await repo.listByConversation(id, { limit: 1, nextToken: token, consistentRead: true });
        expect(next.items.map((u) => u.resultId)).toEqual(['t1']);
      });

      it('rejects garbage, truncation and oversized input', async () => {
        for (const t of ['', 'not a token', '!!!', token.slice(0, -1), `${token}x`, 'a'.repeat(5000)]) {
          await rejects(repo, t);
        }
      });

      it('rejects a tampered position (signature mismatch)', async () => {
        const [payload, mac] = token.split('.') as [string, string];
        const decoded = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
        decoded.k = decoded.k.replace(/^\d{10}/, '0000000002');
        expect(decoded.k).not.toBe(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')).k);
        const forged = `${Buffer.from(JSON.stringify(decoded)).toString('base64url')}.${mac}`;
        await rejects(repo, forged);
      });

      it('rejects a token without its signature, or signed with another key', async () => {
        await rejects(repo, token.split('.')[0] as string);
        const other = new UtterancesRepository(db.doc, { tableName: db.tables.utterances, tokenKey: 'another-key' });
        await rejects(other, token);
      });

      it('rejects a token issued for another conversation', async () => {
        await rejects(repo, token, newConversation());
      });

      it('is still strictly validated when no signing key is configured', async () => {
        const unsigned = new UtterancesRepository(db.doc, { tableName: db.tables.utterances });
        const t = (await unsigned.listByConversation(id, { limit: 1, consistentRead: true })).nextToken as string;
        expect(t).not.toContain('.');
        expect((await unsigned.listByConversation(id, { nextToken: t, limit: 5 })).items).toHaveLength(2);
        await rejects(unsigned, t, newConversation());
        await rejects(unsigned, Buffer.from(JSON.stringify({ v: 1, c: id, k: 'zzz' })).toString('base64url'));
        await rejects(unsigned, token);
      });
    });
  });

  describe('queryExportDay', () => {
    // Days no other test of this file writes to (they all store "now"), still inside the 7-day ttl.
    const today = new Date(T0 - 3 * DAY_MS).toISOString().slice(0, 10);
    const yesterday = new Date(T0 - 4 * DAY_MS).toISOString().slice(0, 10);
    let shard: number;
    let sameShard: [string, string];
    let otherShard: string;

    beforeAll(async () => {
      const first = newConversation();
      shard = exportShardOf(first);
      let second = newConversation();
      while (exportShardOf(second) !== shard) second = newConversation();
      otherShard = newConversation();
      while (exportShardOf(otherShard) === shard) otherShard = newConversation();
      sameShard = [first, second];
      const startOfToday = Date.parse(`${today}T00:00:00.000Z`);
      const exportRepo = new UtterancesRepository(db.doc, {
        tableName: db.tables.utterances,
        retentionSeconds: 30 * 86_400,
      });
      await putAll(exportRepo, [
        utterance(first, 'customer', 0, 'x1', { createdAt: startOfToday + 3_000 }),
        utterance(second, 'agent', 0, 'x2', { createdAt: startOfToday + 1_000 }),
        utterance(first, 'agent', 10, 'x3', { createdAt: startOfToday + 2_000 }),
        utterance(second, 'customer', 10, 'x4', { createdAt: startOfToday + 5_000 }),
        utterance(first, 'agent', 20, 'x5', { createdAt: startOfToday + 4_000 }),
        utterance(first, 'customer', 30, 'y1', { createdAt: startOfToday - 1_000 }),
        utterance(otherShard, 'customer', 0, 'z1', { createdAt: startOfToday + 1_500 }),
      ]);
    });

    it('returns one shard of one UTC day, in createdAt order', async () => {
      const pages = await collect(repo.queryExportDay(today, shard));
      const items = pages.flatMap((p) => p.items);
      expect(items.map((u) => u.resultId)).toEqual(['x2', 'x3', 'x1', 'x5', 'x4']);
      expect(new Set(items.map((u) => u.conversationId))).toEqual(new Set(sameShard));
      expect(pages.at(-1)?.lastEvaluatedKey).toBeUndefined();
    });

    it('files an utterance under the UTC day it was stored, and other shards apart', async () => {
      const previous = (await collect(repo.queryExportDay(yesterday, shard))).flatMap((p) => p.items);
      expect(previous.map((u) => u.resultId)).toEqual(['y1']);
      const other = (await collect(repo.queryExportDay(today, exportShardOf(otherShard)))).flatMap((p) => p.items);
      expect(other.map((u) => u.resultId)).toContain('z1');
      expect(other.map((u) => u.resultId)).not.toContain('x1');
    });

    it('pages, and resumes from a checkpointed lastEvaluatedKey', async () => {
      const pages = await collect(repo.queryExportDay(today, shard, { pageSize: 2 }));
      expect(pages[0]?.items.map((u) => u.resultId)).toEqual(['x2', 'x3']);
      const cursor = JSON.parse(JSON.stringify(pages[0]?.lastEvaluatedKey));
      const resumed = (await collect(repo.queryExportDay(today, shard, { exclusiveStartKey: cursor, pageSize: 2 })))
        .flatMap((p) => p.items)
        .map((u) => u.resultId);
      expect(resumed).toEqual(['x1', 'x5', 'x4']);
    });

    it('spreads conversations over all shards', () => {
      const shards = new Set(Array.from({ length: 400 }, (_, i) => exportShardOf(`conversation-${i}`)));
      expect(shards.size).toBe(EXPORT_SHARDS);
    });

    it('rejects a malformed day or shard', async () => {
      await expect(collect(repo.queryExportDay('2025-1-5', 0))).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(collect(repo.queryExportDay(today, EXPORT_SHARDS))).rejects.toBeInstanceOf(InvalidArgumentError);
    });
  });
});

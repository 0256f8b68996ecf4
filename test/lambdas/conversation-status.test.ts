import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHandler } from '../../lambdas/conversation-status/handler';
import { makeHandler as makeStart } from '../../lambdas/start-streaming/handler';
import { makeHandler as makeStop } from '../../lambdas/stop-streaming/handler';
import { setupDynamoDb, type TestDynamoDb } from '../helpers/dynamodb';
import { apiEvent, bodyOf, newGuid, SimulatedGateway, startBody, testDeps } from './helpers/api';

let db: TestDynamoDb;
beforeAll(async () => {
  db = await setupDynamoDb();
});
afterAll(async () => {
  await db?.stop();
});

type Deps = ReturnType<typeof testDeps>;
const status = (deps: Deps, guid: string | undefined) =>
  makeHandler(deps)(
    apiEvent({
      method: 'GET',
      path: `/mg-autotranscribe/v1/conversations/${guid}/status`,
      ...(guid !== undefined && { pathParameters: { guid } }),
    }),
  );

describe('GET /mg-autotranscribe/v1/conversations/{guid}/status', () => {
  it('shows an AudioHook session that nobody started as idle, with a connected session', async () => {
    const deps = testDeps(db);
    const guid = newGuid();
    const gateway = new SimulatedGateway(deps, db, guid);
    await gateway.open();
    const body = bodyOf(await status(deps, guid));
    expect(body).toMatchObject({
      conversationId: guid,
      state: 'idle',
      desired: 'off',
      desiredVersion: 0,
      segments: [],
    });
    expect(body.sessions).toEqual([
      expect.objectContaining({
        sessionId: gateway.sessionId,
        taskId: gateway.taskId,
        state: 'open',
        health: 'connected',
      }),
    ]);
  });

  it('follows a call through transcribing and stopped, with per-segment summaries', async () => {
    const deps = testDeps(db);
    const guid = newGuid();
    const gateway = new SimulatedGateway(deps, db, guid);
    await gateway.open();
    await makeStart(deps)(apiEvent({ path: '/mg-autotranscribe/v1/start-streaming', body: startBody(guid) }));
    await gateway.openSegment(1);
    await gateway.count(1, 'customer', {
      totalAudioBytes: 1600,
      audioDurationMs: 100,
      streamingSeconds: 1,
      transcripts: 1,
    });
    const live = bodyOf(await status(deps, guid));
    expect(live).toMatchObject({
      state: 'transcribing',
      desired: 'on',
      currentSegment: 1,
      params: { language: 'en-US', customerId: 'cust-0001', agentId: 'agent-0042' },
    });
    expect(live.sessions).toEqual([expect.objectContaining({ health: 'streaming' })]);
    gateway.startPolling();
    try {
      await makeStop(deps)(
        apiEvent({ path: '/mg-autotranscribe/v1/stop-streaming', body: { namespace: 'genesysaudiohook', guid } }),
      );
    } finally {
      gateway.stop();
    }
    const after = bodyOf(await status(deps, guid));
    expect(after).toMatchObject({ state: 'stopped', desired: 'off', desiredVersion: 2 });
    expect(after.segments).toEqual([
      expect.objectContaining({
        segment: 1,
        state: 'closed',
        customer: expect.objectContaining({
          summary: { totalAudioBytes: 1600, audioDurationMs: 100, streamingSeconds: 1, transcripts: 1 },
        }),
      }),
    ]);
  });

  it('shows the heartbeat of a streaming segment and a holder-lost close', async () => {
    const deps = { ...testDeps(db, { stopWaitMs: 100 }), now: () => Date.now() + 60_000 };
    const guid = newGuid();
    const gateway = new SimulatedGateway(deps, db, guid);
    await gateway.open();
    await makeStart(deps)(apiEvent({ path: '/mg-autotranscribe/v1/start-streaming', body: startBody(guid) }));
    await gateway.openSegment(1);
    const beat = Date.now();
    await deps.conversations.heartbeatSegment(guid, 1, beat);
    const live = bodyOf<{ segments: unknown[] }>(await status(deps, guid));
    expect(live.segments).toEqual([
      expect.objectContaining({ state: 'active', heartbeatAt: new Date(beat).toISOString() }),
    ]);
    // The holder never confirms and its heartbeat is a minute old by the stop's clock.
    await makeStop(deps)(
      apiEvent({ path: '/mg-autotranscribe/v1/stop-streaming', body: { namespace: 'genesysaudiohook', guid } }),
    );
    const after = bodyOf<{ segments: unknown[] }>(await status(deps, guid));
    expect(after.segments).toEqual([expect.objectContaining({ state: 'closed', closeReason: 'holder-lost' })]);
  });

  it('answers 404-01 for an unknown conversation and 400-01 without a guid', async () => {
    const deps = testDeps(db);
    const unknown = await status(deps, newGuid());
    expect(unknown.statusCode).toBe(404);
    expect(bodyOf<{ error: { code: string } }>(unknown).error.code).toBe('404-01');
    const missing = await status(deps, undefined);
    expect(missing.statusCode).toBe(400);
    expect(bodyOf<{ error: { code: string } }>(missing).error.code).toBe('400-01');
  });
});

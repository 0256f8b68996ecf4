import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHandler as makeStart } from '../../lambdas/start-streaming/handler';
import { makeHandler as makeStop } from '../../lambdas/stop-streaming/handler';
import { setupDynamoDb, type TestDynamoDb } from '../helpers/dynamodb';
import { apiEvent, bodyOf, metricTotal, newGuid, SimulatedGateway, startBody, testDeps } from './helpers/api';

const START = '/mg-autotranscribe/v1/start-streaming';
const STOP = '/mg-autotranscribe/v1/stop-streaming';

type Role = 'customer' | 'agent';
interface Summary {
  totalAudioBytes: number;
  audioDurationMs: number;
  streamingSeconds: number;
  transcripts: number;
}
interface StopBody {
  isOk: boolean;
  autotranscribeResponse: Record<
    Role,
    { streamId: string; status: { code: number; description: string }; summary: Summary }
  >;
}
interface StartBody {
  autotranscribeResponse: Record<Role, { streamId: string }>;
}
interface Envelope {
  error: { requestId: string; message: string; code: string };
}

const ZERO: Summary = { totalAudioBytes: 0, audioDurationMs: 0, streamingSeconds: 0, transcripts: 0 };

let db: TestDynamoDb;
beforeAll(async () => {
  db = await setupDynamoDb();
});
afterAll(async () => {
  await db?.stop();
});

type Deps = ReturnType<typeof testDeps>;
const start = (deps: Deps, guid: string) => makeStart(deps)(apiEvent({ path: START, body: startBody(guid) }));
const stop = (deps: Deps, body: unknown, requestId?: string) =>
  makeStop(deps)(apiEvent({ path: STOP, body, ...(requestId && { requestId }) }));
const stopBody = (guid: string) => ({ namespace: 'genesysaudiohook', guid });

describe('POST /mg-autotranscribe/v1/stop-streaming', () => {
  describe('when no gateway ever opened the segment', () => {
    it('closes it at once and answers the start streamIds with a zero summary', async () => {
      const deps = testDeps(db);
      const guid = newGuid();
      const started = bodyOf<StartBody>(await start(deps, guid));
      const t0 = Date.now();
      const res = await stop(deps, stopBody(guid));
      expect(Date.now() - t0).toBeLessThan(deps.stopWaitMs);
      expect(res.statusCode).toBe(200);
      const body = bodyOf<StopBody>(res);
      expect(body.isOk).toBe(true);
      for (const role of ['customer', 'agent'] as const) {
        expect(body.autotranscribeResponse[role]).toEqual({
          streamId: started.autotranscribeResponse[role].streamId,
          status: { code: 1000, description: 'OK' },
          summary: ZERO,
        });
      }
      expect((await deps.conversations.getSegment(guid, 1))?.state).toBe('closed');
      expect(metricTotal(deps.metrics, 'StopConfirmed')).toBe(1);
    });
  });

  describe('when a gateway streams the segment', () => {
    it('returns the summary the gateway recorded through the store', async () => {
      const deps = testDeps(db);
      const guid = newGuid();
      const gateway = new SimulatedGateway(deps, db, guid);
      await gateway.open();
      await start(deps, guid);
      gateway.startPolling();
      try {
        await expect
          .poll(async () => (await deps.conversations.getSegment(guid, 1))?.state, { timeout: 5000 })
          .toBe('active');
        // Two batches of 20 ms frames per role, counted the way the gateway counts (16-bit PCM bytes).
        await gateway.count(1, 'customer', { totalAudioBytes: 480_000, audioDurationMs: 30_000, streamingSeconds: 30 });
        await gateway.count(1, 'customer', {
          totalAudioBytes: 160_000,
          audioDurationMs: 10_000,
          streamingSeconds: 10,
          transcripts: 3,
        });
        await gateway.count(1, 'agent', {
          totalAudioBytes: 640_000,
          audioDurationMs: 40_000,
          streamingSeconds: 40,
          transcripts: 5,
        });
        const res = await stop(deps, stopBody(guid));
        expect(res.statusCode).toBe(200);
        const body = bodyOf<StopBody>(res);
        expect(body.autotranscribeResponse.customer.summary).toEqual({
          totalAudioBytes: 640_000,
          audioDurationMs: 40_000,
          streamingSeconds: 40,
          transcripts: 3,
        });
        expect(body.autotranscribeResponse.agent.summary).toEqual({
          totalAudioBytes: 640_000,
          audioDurationMs: 40_000,
          streamingSeconds: 40,
          transcripts: 5,
        });
        expect(gateway.closed).toEqual([1]);
        expect(metricTotal(deps.metrics, 'StopConfirmed')).toBe(1);
      } finally {
        gateway.stop();
      }
    });

    it('reports the final totals the gateway writes when it closes the segment', async () => {
      const deps = testDeps(db);
      const guid = newGuid();
      const finalSummary = {
        customer: { totalAudioBytes: 960_000, audioDurationMs: 60_000, streamingSeconds: 61, transcripts: 7 },
        agent: { totalAudioBytes: 960_000, audioDurationMs: 60_000, streamingSeconds: 61, transcripts: 9 },
      };
      const gateway = new SimulatedGateway(deps, db, guid, { finalSummary });
      await gateway.open();
      await start(deps, guid);
      gateway.startPolling();
      try {
        await expect
          .poll(async () => (await deps.conversations.getSegment(guid, 1))?.state, { timeout: 5000 })
          .toBe('active');
        await gateway.count(1, 'customer', { totalAudioBytes: 1000, audioDurationMs: 62 });
        const body = bodyOf<StopBody>(await stop(deps, stopBody(guid)));
        expect(body.autotranscribeResponse.customer.summary).toEqual(finalSummary.customer);
        expect(body.autotranscribeResponse.agent.summary).toEqual(finalSummary.agent);
      } finally {
        gateway.stop();
      }
    });

    it('answers 200 with the counters so far and warns when the gateway does not confirm in time', async () => {
      const deps = testDeps(db, { stopWaitMs: 300 });
      const guid = newGuid();
      const gateway = new SimulatedGateway(deps, db, guid);
      await gateway.open();
      await start(deps, guid);
      await gateway.openSegment(1);
      await gateway.count(1, 'agent', {
        totalAudioBytes: 32_000,
        audioDurationMs: 2000,
        streamingSeconds: 2,
        transcripts: 1,
      });
      // The gateway never polls its inbox: it cannot confirm.
      const t0 = Date.now();
      const res = await stop(deps, stopBody(guid));
      const elapsed = Date.now() - t0;
      expect(elapsed).toBeGreaterThanOrEqual(300);
      expect(elapsed).toBeLessThan(3000);
      expect(res.statusCode).toBe(200);
      const body = bodyOf<StopBody>(res);
      expect(body.autotranscribeResponse.agent.summary).toEqual({
        totalAudioBytes: 32_000,
        audioDurationMs: 2000,
        streamingSeconds: 2,
        transcripts: 1,
      });
      expect(body.autotranscribeResponse.customer.summary).toEqual(ZERO);
      expect(metricTotal(deps.metrics, 'StopUnconfirmed')).toBe(1);
      const warning = deps.logger.lines.find((l) => l.level === 'warn');
      expect(warning?.attributes).toMatchObject({ conversationId: guid, segment: 1, segmentState: 'closing' });
      // The stop is recorded even though unconfirmed.
      expect((await deps.conversations.getMeta(guid))?.desired).toBe('off');
    });
  });

  describe('when the gateway task holding the segment died', () => {
    it('closes the segment as holder-lost once its holder has been silent for 30 s, keeping the counters', async () => {
      const later = () => Date.now() + 31_000;
      const deps = { ...testDeps(db, { stopWaitMs: 200 }), now: later };
      const guid = newGuid();
      const gateway = new SimulatedGateway(deps, db, guid);
      await gateway.open();
      await start(deps, guid);
      await gateway.openSegment(1);
      await gateway.count(1, 'customer', {
        totalAudioBytes: 16_000,
        audioDurationMs: 1000,
        streamingSeconds: 1,
        transcripts: 0,
      });
      const res = await stop(deps, stopBody(guid));
      expect(res.statusCode).toBe(200);
      expect(bodyOf<StopBody>(res).autotranscribeResponse.customer.summary.audioDurationMs).toBe(1000);
      expect(await deps.conversations.getSegment(guid, 1)).toMatchObject({
        state: 'closed',
        closeReason: 'holder-lost',
      });
      expect(metricTotal(deps.metrics, 'StopHolderLost')).toBe(1);
      expect(metricTotal(deps.metrics, 'StopUnconfirmed')).toBe(0);
    });

    it('leaves the segment to a holder that heartbeated recently', async () => {
      const deps = testDeps(db, { stopWaitMs: 200 });
      const guid = newGuid();
      const gateway = new SimulatedGateway(deps, db, guid);
      await gateway.open();
      await start(deps, guid);
      await gateway.openSegment(1);
      await deps.conversations.heartbeatSegment(guid, 1, Date.now());
      const res = await stop(deps, stopBody(guid));
      expect(res.statusCode).toBe(200);
      expect((await deps.conversations.getSegment(guid, 1))?.state).toBe('closing');
      expect(metricTotal(deps.metrics, 'StopUnconfirmed')).toBe(1);
    });
  });

  describe('when a stop is repeated after an unconfirmed one', () => {
    it('still answers 409-201, and closes the segment as holder-lost once its holder is silent', async () => {
      let offset = 0;
      const deps = { ...testDeps(db, { stopWaitMs: 200 }), now: () => Date.now() + offset };
      const guid = newGuid();
      const gateway = new SimulatedGateway(deps, db, guid);
      await gateway.open();
      await start(deps, guid);
      await gateway.openSegment(1);
      await deps.conversations.heartbeatSegment(guid, 1, Date.now());
      // First stop: the holder heartbeated recently but never confirms (its task is about to die).
      expect((await stop(deps, stopBody(guid))).statusCode).toBe(200);
      expect((await deps.conversations.getSegment(guid, 1))?.state).toBe('closing');
      // Repeated at once: the holder is not yet silent, the segment stays with it.
      const early = await stop(deps, stopBody(guid));
      expect(early.statusCode).toBe(409);
      expect((await deps.conversations.getSegment(guid, 1))?.state).toBe('closing');
      // Repeated 31 s later: the contract's answer is unchanged, but the dead holder loses the segment.
      offset = 31_000;
      const late = await stop(deps, stopBody(guid));
      expect(late.statusCode).toBe(409);
      expect(bodyOf<Envelope>(late).error.code).toBe('409-201');
      expect(await deps.conversations.getSegment(guid, 1)).toMatchObject({
        state: 'closed',
        closeReason: 'holder-lost',
      });
      expect(metricTotal(deps.metrics, 'StopHolderLost')).toBe(1);
    });
  });

  describe('on a start after a stop', () => {
    it('opens a new segment with new streamIds, and its stop reports that segment', async () => {
      const deps = testDeps(db);
      const guid = newGuid();
      const first = bodyOf<StartBody>(await start(deps, guid));
      await stop(deps, stopBody(guid));
      const second = bodyOf<StartBody>(await start(deps, guid));
      expect(second.autotranscribeResponse.customer.streamId).not.toBe(first.autotranscribeResponse.customer.streamId);
      const body = bodyOf<StopBody>(await stop(deps, stopBody(guid)));
      expect(body.autotranscribeResponse.customer.streamId).toBe(second.autotranscribeResponse.customer.streamId);
      expect((await deps.conversations.getMeta(guid))?.desiredVersion).toBe(4);
    });
  });

  describe('rejects', () => {
    it('an unknown guid with 400-203', async () => {
      const res = await stop(testDeps(db), stopBody(newGuid()), 'req-unknown');
      expect(res.statusCode).toBe(400);
      expect(bodyOf<Envelope>(res)).toEqual({
        error: { requestId: 'req-unknown', message: 'No call known for this guid', code: '400-203' },
      });
    });

    it('a stop of a stopped call with 409-201', async () => {
      const deps = testDeps(db);
      const guid = newGuid();
      await start(deps, guid);
      expect((await stop(deps, stopBody(guid))).statusCode).toBe(200);
      const again = await stop(deps, stopBody(guid));
      expect(again.statusCode).toBe(409);
      expect(bodyOf<Envelope>(again).error).toMatchObject({
        code: '409-201',
        message: 'Call transcription already stopped',
      });
    });

    it('a stop of a call whose session is known but never started with 409-201', async () => {
      const deps = testDeps(db);
      const guid = newGuid();
      await new SimulatedGateway(deps, db, guid).open();
      const res = await stop(deps, stopBody(guid));
      expect(res.statusCode).toBe(409);
      expect(bodyOf<Envelope>(res).error).toMatchObject({ code: '409-201', message: 'Call transcription not started' });
    });

    const invalid: [string, unknown, RegExp][] = [
      ['a missing namespace', { guid: 'g' }, /namespace must be one of/],
      ['a missing guid', { namespace: 'genesysaudiohook' }, /guid is required/],
      ['a namespace not served here', { namespace: 'twilio', guid: 'g' }, /namespace 'twilio' is not supported/],
      ['a non-string guid', { namespace: 'genesysaudiohook', guid: 7 }, /guid must be a string/],
      ['a body that is not an object', 'genesysaudiohook', /must be a JSON object/],
    ];
    for (const [what, body, message] of invalid) {
      it(`${what} with 400-201`, async () => {
        const res = await stop(testDeps(db), body);
        expect(res.statusCode).toBe(400);
        const env = bodyOf<Envelope>(res);
        expect(env.error.code).toBe('400-201');
        expect(env.error.message).toMatch(message);
      });
    }
  });

  describe('under concurrent start and stop of one conversation', () => {
    it('keeps the conditional writes: the answers and the final state tell one consistent order', async () => {
      const deps = testDeps(db);
      for (let round = 0; round < 4; round++) {
        const guid = newGuid();
        const [s, p] = await Promise.all([start(deps, guid), stop(deps, stopBody(guid))]);
        expect(s.statusCode).toBe(200);
        const meta = await deps.conversations.getMeta(guid);
        if (p.statusCode === 200) {
          // start ran first, then stop closed its segment
          expect(bodyOf<StopBody>(p).autotranscribeResponse.customer.streamId).toBe(
            bodyOf<StartBody>(s).autotranscribeResponse.customer.streamId,
          );
          expect(meta).toMatchObject({ desired: 'off', desiredVersion: 2 });
        } else {
          // stop ran first on an unknown call (or lost the race), then start recorded
          expect([400, 409]).toContain(p.statusCode);
          expect(['400-203', '409-202']).toContain(bodyOf<Envelope>(p).error.code);
          expect(meta).toMatchObject({ desired: 'on', desiredVersion: 1 });
        }
      }
    });

    it('lets exactly one of two concurrent stops close the segment', async () => {
      const deps = testDeps(db);
      const guid = newGuid();
      await start(deps, guid);
      const results = await Promise.all([stop(deps, stopBody(guid)), stop(deps, stopBody(guid))]);
      const codes = results.map((r) => r.statusCode).sort();
      expect(codes).toEqual([200, 409]);
      const refused = results.find((r) => r.statusCode === 409);
      if (!refused) throw new Error('expected one refused stop');
      expect(['409-201', '409-202']).toContain(bodyOf<Envelope>(refused).error.code);
      expect((await deps.conversations.getMeta(guid))?.desiredVersion).toBe(2);
    });
  });
});

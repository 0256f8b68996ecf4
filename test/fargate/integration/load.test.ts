/**
 * A hundred simulated calls at once against one gateway (docs/audiohook-protocol.md §6.2 items 9, 11):
 * every session closes cleanly with its own exchange, every sink holds exactly its own call's audio (each
 * call has its own tones and length, so cross-talk would show), and one misbehaving client is disconnected
 * without disturbing the others.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AudioSource, toneSource } from '../../../local/simulator/audio-source';
import { runSimulatedSession } from '../../../local/simulator/client';
import { runManySessions } from '../../../local/simulator/multi';
import {
  messageOf,
  pcmMismatches,
  sequencingViolations,
  startTestGateway,
  TEST_KEYS,
  type TestGateway,
  timelineProblems,
  typesOf,
  waitFor,
} from '../../helpers/gateway';

const SESSIONS = 100;
/** The client that skips a `seq`. */
const MISBEHAVING = 37;

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
  // One call first, so module loading and JIT warm-up do not land on the first sessions of the burst.
  const warmUp = await runSimulatedSession({
    uri: gw.url,
    ...TEST_KEYS.signed,
    audio: toneSource({ format: 'PCMU', channels: 2, durationMs: 400 }),
    speed: 0,
  });
  if (warmUp.outcome !== 'closed') throw new Error(`warm-up call failed: ${warmUp.failure}`);
  gw.gateway.resetStats();
});

afterAll(async () => {
  await gw?.close();
});

describe('gateway ⇄ simulator: many concurrent sessions', () => {
  it('runs 100 concurrent calls cleanly, each sink gets exactly its own audio, and one misbehaving client is disconnected alone', async () => {
    const ids = Array.from({ length: SESSIONS }, () => randomUUID());
    // 4.0–4.8 s of audio at speed 4 (1–1.2 s each), started over one second: all overlap.
    const durationsMs = ids.map((_, i) => 4000 + 200 * (i % 5));
    const sources: AudioSource[] = ids.map((_, i) =>
      toneSource({
        format: 'PCMU',
        channels: 2,
        durationMs: durationsMs[i] as number,
        hz: [300 + 10 * i, 2000 + 10 * i],
      }),
    );
    let peakActive = 0;

    const { results, summary } = await runManySessions({
      sessions: SESSIONS,
      rampPerSec: 100,
      makeOptions: (i) => ({
        uri: gw.url,
        ...TEST_KEYS.signed,
        sessionId: ids[i] as string,
        audio: sources[i] as AudioSource,
        speed: 4,
        record: 'text',
        // This test is about correctness under concurrency, not latency (that is the benchmark's job): on a
        // CPU-starved CI machine the simulated Genesys must not give up on a slow handshake or pong.
        openTimeoutMs: 30_000,
        pingIntervalMs: 30_000,
        ...(i === MISBEHAVING && {
          actions: [{ atMs: 400, action: 'update' as const, language: 'es-US' }],
          faults: { seqGapAt: 2 },
        }),
      }),
      onProgress: (p) => {
        peakActive = Math.max(peakActive, p.active);
      },
    });

    const failures = results.flatMap((r, i) =>
      r && i !== MISBEHAVING && r.outcome !== 'closed' ? [`#${i} ${r.outcome}: ${r.failure}`] : [],
    );
    expect(failures).toEqual([]);
    expect(summary.started).toBe(SESSIONS);
    expect(summary.byOutcome).toMatchObject({ closed: SESSIONS - 1, disconnected: 1 });
    expect(summary.protocolErrors).toBe(0);
    expect(peakActive).toBeGreaterThanOrEqual(75);
    await waitFor(() => gw.gateway.activeSessions() === 0, 10_000, 'every session to be forgotten');
    expect(gw.gateway.stats().sessionsTotal).toBe(SESSIONS);

    const problems: string[] = [];
    results.forEach((result, i) => {
      const id = ids[i] as string;
      if (!result) {
        problems.push(`#${i}: never ran`);
        return;
      }
      const report = (what: string, list: string[]) => {
        if (list.length > 0) problems.push(`#${i} ${what}: ${list.join('; ')}`);
      };
      if (result.sessionId !== id) problems.push(`#${i}: result for session ${result.sessionId}`);
      if (i === MISBEHAVING) return;
      if (result.outcome !== 'closed') problems.push(`#${i}: ${result.outcome} (${result.failure})`);
      report('sequencing', sequencingViolations(result));
      const inTypes = typesOf(result, 'in', false).join();
      if (inTypes !== 'opened,closed') problems.push(`#${i}: server sent ${inTypes}`);
      const sink = gw.sinks.get(id);
      if (!sink) {
        problems.push(`#${i}: no sink`);
        return;
      }
      const samples = ((durationsMs[i] as number) * 8000) / 1000;
      const counts = sink.counts();
      if (counts.samples.customer !== samples || counts.samples.agent !== samples) {
        problems.push(`#${i}: sink got ${JSON.stringify(counts.samples)}, expected ${samples} per role`);
      }
      if (sink.info?.sessionId !== id) problems.push(`#${i}: sink started for ${sink.info?.sessionId}`);
      if (counts.ended !== 'close') problems.push(`#${i}: sink ended by ${counts.ended}`);
      report('timeline', timelineProblems(sink, samples));
      report('audio', pcmMismatches(sink, sources[i] as AudioSource, ['external', 'internal'], 2));
    });
    expect(problems).toEqual([]);

    const bad = results[MISBEHAVING];
    if (!bad) throw new Error('the misbehaving session never ran');
    expect(bad.outcome).toBe('disconnected');
    expect(typesOf(bad, 'in', false)).toEqual(['opened', 'disconnect', 'closed']);
    expect(messageOf(bad, 'in', 'disconnect').parameters).toEqual({
      reason: 'error',
      info: 'unexpected seq 3 (expected 2)',
    });
    expect(sequencingViolations(bad, { clientSeqGap: true })).toEqual([]);
    expect(gw.sink(ids[MISBEHAVING] as string).counts().ended).toBe('disconnect');
  });
});

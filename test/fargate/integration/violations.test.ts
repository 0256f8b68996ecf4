/**
 * Client protocol violations against a real gateway (docs/audiohook-protocol.md §4.5, §6.1): integrity
 * failures get exactly one `disconnect{reason:"error"}` and the close transaction still completes; so does
 * audio before `open` (it would end at the open deadline anyway, core/audiohook/session-open-deadline.ts).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toneSource } from '../../../local/simulator/audio-source';
import { runSimulatedSession } from '../../../local/simulator/client';
import type { SimulatedSessionOptions, SimulatedSessionResult } from '../../../local/simulator/options';
import {
  messageOf,
  sequencingViolations,
  startTestGateway,
  TEST_KEYS,
  type TestGateway,
  transcript,
  typesOf,
  waitFor,
} from '../../helpers/gateway';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});

afterAll(async () => {
  await gw?.close();
});

const audio = toneSource({ format: 'PCMU', channels: 2, durationMs: 2400, hz: [1000, 400] });

/**
 * A call whose second text message is a language `update` at 0.4 s (well before the first ping at 1 s),
 * so a fault "at message 2" hits a known message.
 */
function callWithFault(faults: SimulatedSessionOptions['faults']): Promise<SimulatedSessionResult> {
  return runSimulatedSession({
    uri: gw.url,
    ...TEST_KEYS.signed,
    sessionId: randomUUID(),
    audio,
    speed: 4,
    actions: [{ atMs: 400, action: 'update', language: 'es-US' }],
    ...(faults && { faults }),
  });
}

async function ended(sessionId: string): Promise<void> {
  await waitFor(() => gw.ends.has(sessionId), 5000, `session ${sessionId} to end`);
}

describe('gateway ⇄ simulator: protocol violations', () => {
  it('malformed JSON after open → disconnect{error}; the client closes → closed', async () => {
    const result = await callWithFault({ malformedJsonAt: 2 });

    expect(result.outcome).toBe('disconnected');
    expect(result.disconnect).toEqual({ reason: 'error', info: 'malformed JSON' });
    // The malformed message (seq 2) never parsed, so the disconnect acknowledges seq 1; the client's close
    // (seq 3) is still answered, with the client's numbering adopted.
    expect(transcript(result)).toEqual([
      'out open seq=1 serverseq=0',
      'in opened seq=1 clientseq=1',
      'in disconnect seq=2 clientseq=1',
      'out close seq=3 serverseq=2',
      'in closed seq=3 clientseq=3',
    ]);
    expect(sequencingViolations(result, { clientSeqGap: true })).toEqual([]);
    expect(result.exchange.some((e) => e.dir === 'out' && e.raw !== undefined)).toBe(true);
    expect(messageOf(result, 'in', 'disconnect').parameters).toEqual({ reason: 'error', info: 'malformed JSON' });
    expect(messageOf(result, 'out', 'close').parameters).toEqual({ reason: 'disconnect' });
    expect(messageOf(result, 'in', 'closed').parameters).toEqual({});
    expect(result.protocolErrors).toEqual([]);

    await ended(result.sessionId);
    expect(gw.sink(result.sessionId).counts().ended).toBe('disconnect');
    expect(gw.ends.get(result.sessionId)).toMatchObject({ disconnect: 'error', closeReason: 'disconnect' });
  });

  it('a seq gap → disconnect{error} naming the gap; the out-of-sequence message is not applied', async () => {
    const result = await callWithFault({ seqGapAt: 2 });

    expect(result.outcome).toBe('disconnected');
    expect(transcript(result)).toEqual([
      'out open seq=1 serverseq=0',
      'in opened seq=1 clientseq=1',
      'out update seq=3 serverseq=1',
      'in disconnect seq=2 clientseq=3',
      'out close seq=4 serverseq=2',
      'in closed seq=3 clientseq=4',
    ]);
    expect(sequencingViolations(result, { clientSeqGap: true })).toEqual([]);
    expect(messageOf(result, 'in', 'disconnect').parameters).toEqual({
      reason: 'error',
      info: 'unexpected seq 3 (expected 2)',
    });

    await ended(result.sessionId);
    const sink = gw.sink(result.sessionId);
    expect(sink.events.filter((e) => e.kind === 'language')).toEqual([]);
    expect(sink.counts()).toMatchObject({ language: undefined, ended: 'disconnect' });
  });

  it('a text message over 65 535 characters → disconnect{error: message too large}', async () => {
    const result = await callWithFault({ oversizedMessageAt: 2 });

    expect(result.outcome).toBe('disconnected');
    expect(transcript(result)).toEqual([
      'out open seq=1 serverseq=0',
      'in opened seq=1 clientseq=1',
      'out update seq=2 serverseq=1',
      'in disconnect seq=2 clientseq=1',
      'out close seq=3 serverseq=2',
      'in closed seq=3 clientseq=3',
    ]);
    expect(sequencingViolations(result)).toEqual([]);
    expect(messageOf(result, 'in', 'disconnect').parameters).toEqual({ reason: 'error', info: 'message too large' });
    expect(result.protocolErrors).toEqual([]);
  });

  it('a message carrying another session id → disconnect{error: session id mismatch}', async () => {
    const result = await callWithFault({ wrongSessionIdAt: 2 });

    expect(result.outcome).toBe('disconnected');
    expect(transcript(result)).toEqual([
      'out open seq=1 serverseq=0',
      'in opened seq=1 clientseq=1',
      'out update seq=2 serverseq=1',
      'in disconnect seq=2 clientseq=2',
      'out close seq=3 serverseq=2',
      'in closed seq=3 clientseq=3',
    ]);
    expect(messageOf(result, 'in', 'disconnect').parameters).toEqual({ reason: 'error', info: 'session id mismatch' });
    await ended(result.sessionId);
    expect(gw.sink(result.sessionId).counts().language).toBeUndefined();
  });

  it('a client error message without a close is no violation: no reply, the call goes on (§6.2 item 5)', async () => {
    const result = await runSimulatedSession({
      uri: gw.url,
      ...TEST_KEYS.signed,
      sessionId: randomUUID(),
      audio,
      speed: 4,
      actions: [{ atMs: 400, action: 'error', code: 500, message: 'simulated media glitch' }],
    });

    expect(result.outcome, result.failure).toBe('closed');
    expect(transcript(result).filter((l) => !/ (ping|pong) /.test(l))).toEqual([
      'out open seq=1 serverseq=0',
      'in opened seq=1 clientseq=1',
      'out error seq=2 serverseq=1',
      expect.stringMatching(/^out close seq=\d+ serverseq=\d+$/),
      expect.stringMatching(/^in closed seq=\d+ clientseq=\d+$/),
    ]);
    expect(sequencingViolations(result)).toEqual([]);
    await ended(result.sessionId);
    expect(gw.sink(result.sessionId).counts().samples).toEqual({ customer: 19_200, agent: 19_200 });
  });

  it('a binary frame before open → disconnect{error} at once; the open that follows is ignored, close → closed', async () => {
    const result = await callWithFault({ binaryBeforeOpen: true });

    expect(result.outcome, result.failure).toBe('disconnected');
    expect(result.exchange[0]).toMatchObject({ dir: 'out', kind: 'binary', bytes: 3200 });
    expect(messageOf(result, 'in', 'disconnect').parameters).toEqual({
      reason: 'error',
      info: 'audio received before open',
    });
    // Nothing was numbered before the frame: the disconnect is the server's seq 1 and acknowledges no client seq.
    expect(messageOf(result, 'in', 'disconnect')).toMatchObject({ seq: 1, ack: 0 });
    expect(typesOf(result, 'in', false)).toEqual(['disconnect', 'closed']);
    expect(typesOf(result, 'out', false)).toEqual(expect.arrayContaining(['open', 'close']));
    expect(messageOf(result, 'out', 'close').parameters).toEqual({ reason: 'disconnect' });

    await ended(result.sessionId);
    expect(gw.ends.get(result.sessionId)).toMatchObject({ disconnect: 'error' });
    expect(gw.sink(result.sessionId).events).toEqual([]);
    expect(gw.ends.get(result.sessionId)?.stats).toMatchObject({ framesReceived: 1, samplesAccepted: 0 });
  });
});

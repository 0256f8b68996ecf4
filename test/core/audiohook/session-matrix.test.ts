/**
 * The §4.2 handling matrix of docs/audiohook-protocol.md (REC column), one test per cell: every state the
 * server can be in × every client input (each message type, a binary frame, an unknown type). One cell
 * follows the reference column instead: audio before any `open` is a violation (`disconnect{error}`), as
 * it ends in one at the open deadline anyway (session-open-deadline.ts).
 */
import { describe, expect, it, vi } from 'vitest';
import { samplesToDuration } from '../../../core/audiohook/duration';
import type { OpenDecision } from '../../../core/audiohook/ports';
import type { SessionState } from '../../../core/audiohook/session-tables';
import { deferred, flush, type Harness, harness, OTHER_ORG_ID, RecordingSink } from './session-harness';

type LiveState = Exclude<SessionState, 'finalized'>;
type Input = 'open' | 'ping' | 'close' | 'paused' | 'resumed' | 'discarded' | 'update' | 'error' | 'binary' | 'unknown';

interface Ctx extends Omit<Harness, 'hooks'> {
  hooks: {
    onOpen: ReturnType<typeof vi.fn>;
    onClientPauseChanged: ReturnType<typeof vi.fn>;
    onEnd: ReturnType<typeof vi.fn>;
  };
  decision: ReturnType<typeof deferred<OpenDecision>>;
  sinkRelease: () => void;
  mark: { texts: number; sinkCalls: number; stats: ReturnType<Harness['session']['stats']> };
}

/** Drives a fresh session into `state`, then marks what has happened so far. */
async function enter(state: LiveState): Promise<Ctx> {
  const sink = new RecordingSink();
  if (state === 'closing') sink.endMode = 'manual';
  const decision = deferred<OpenDecision>();
  const hooks = {
    onOpen: vi.fn(() => (state === 'opening' ? decision.promise : { startPaused: false })),
    onClientPauseChanged: vi.fn(),
    onEnd: vi.fn(),
  };
  const h = harness({ hooks, sink });
  const { client, session } = h;
  switch (state) {
    case 'preparing':
      break;
    case 'opening':
      client.open();
      break;
    case 'active':
      client.open();
      client.audio();
      break;
    case 'paused':
      client.open();
      client.audio();
      client.send('paused', {});
      break;
    case 'closing':
    case 'closed':
      client.open();
      client.audio();
      client.close();
      await flush();
      break;
    case 'unauthorized':
      client.open({ organizationId: OTHER_ORG_ID });
      break;
    case 'signaled-error':
      client.open();
      client.audio();
      session.handleInvalid('malformed JSON');
      break;
  }
  expect(session.state).toBe(state);
  return {
    ...h,
    hooks,
    decision,
    sinkRelease: () => sink.releaseEnd(),
    mark: { texts: h.transport.texts.length, sinkCalls: sink.calls.length, stats: session.stats() },
  };
}

const newTypes = (c: Ctx) => c.transport.types.slice(c.mark.texts);
const newSinkCalls = (c: Ctx) => c.sink.calls.slice(c.mark.sinkCalls);

async function send(c: Ctx, input: Input): Promise<void> {
  const { client } = c;
  switch (input) {
    case 'open':
      client.open();
      break;
    case 'ping':
      client.ping();
      break;
    case 'close':
      client.close();
      break;
    case 'paused':
      client.send('paused', {});
      break;
    case 'resumed': {
      const start = client.position;
      client.position += 8000;
      client.send('resumed', { start: samplesToDuration(start), discarded: 'PT1S' });
      break;
    }
    case 'discarded': {
      const start = client.position;
      client.position += 4000;
      client.send('discarded', { start: samplesToDuration(start), discarded: 'PT0.5S' });
      break;
    }
    case 'update':
      client.send('update', { language: 'fr-CA' });
      break;
    case 'error':
      client.send('error', { code: 429, message: 'Too many requests', retryAfter: 'PT1S' });
      break;
    case 'binary':
      client.audio(800);
      break;
    case 'unknown':
      client.sendUnknown('transcriptionhint', { hint: 1 });
      break;
  }
  await flush();
}

/** The input changed nothing observable: no message out, no sink call, same state. */
function unchanged(c: Ctx, state: LiveState): void {
  expect(newTypes(c)).toEqual([]);
  expect(newSinkCalls(c)).toEqual([]);
  expect(c.session.state).toBe(state);
  expect(c.hooks.onClientPauseChanged.mock.calls.length).toBe(state === 'paused' ? 1 : 0);
}

type Cell = [does: string, check: (c: Ctx, state: LiveState) => void | Promise<void>];

const ignored: Cell = ['is ignored', (c, s) => unchanged(c, s)];
const pong: Cell = [
  'gets a pong with clientseq = ping seq',
  (c, s) => {
    expect(newTypes(c)).toEqual(['pong']);
    expect(c.transport.last?.clientseq).toBe(c.client.seq);
    expect(c.session.state).toBe(s);
  },
];
const closed: Cell = [
  'gets exactly one closed',
  (c) => {
    expect(newTypes(c)).toEqual(['closed']);
    expect(c.session.state).toBe('closed');
  },
];
const logged: Cell = [
  'is logged (429: events are held when still allowed)',
  (c, s) => {
    expect(newTypes(c)).toEqual([]);
    expect(c.logger.at('warn').some((e) => e.msg === 'audiohook client error' && e.obj.code === 429)).toBe(true);
    expect(c.session.state).toBe(s);
    const eventsAllowed = s === 'active' || s === 'paused' || s === 'closing';
    expect(c.session.sendEvent([{ type: 'x', data: 1 }])).toBe(eventsAllowed);
    expect(newTypes(c)).toEqual([]);
  },
];
const recordedOnly: Cell = [
  'is recorded on the timeline (no sink yet or any more)',
  (c, s) => {
    expect(newTypes(c)).toEqual([]);
    expect(newSinkCalls(c)).toEqual([]);
    expect(c.session.stats().discardedSamples).toBe(c.mark.stats.discardedSamples + 4000);
    expect(c.session.state).toBe(s);
  },
];
const recordedGap: Cell = [
  'is recorded and reported to the sink as a discarded gap',
  (c, s) => {
    expect(newTypes(c)).toEqual([]);
    expect(newSinkCalls(c)).toEqual([{ method: 'gap', gap: { kind: 'discarded', start: 800, length: 4000 } }]);
    expect(c.session.stats().discardedSamples).toBe(4000);
    expect(c.session.state).toBe(s);
  },
];
const ignoredDiscard: Cell = [
  'is ignored',
  (c, s) => {
    unchanged(c, s);
    expect(c.session.stats().discardedSamples).toBe(0);
  },
];
const dropped: Cell = [
  'is dropped and counted, never a disconnect',
  (c, s) => {
    unchanged(c, s);
    const stats = c.session.stats();
    expect(stats.framesReceived).toBe(c.mark.stats.framesReceived + 1);
    expect(stats.samplesAccepted).toBe(c.mark.stats.samplesAccepted);
  },
];
const audioBeforeOpen: Cell = [
  'is a violation: disconnect{error} at once, the frame counted and not written',
  (c) => {
    expect(newTypes(c)).toEqual(['disconnect']);
    expect(c.transport.last?.parameters).toEqual({ reason: 'error', info: 'audio received before open' });
    expect(newSinkCalls(c)).toEqual([]);
    expect(c.session.state).toBe('signaled-error');
    expect(c.session.stats().framesReceived).toBe(c.mark.stats.framesReceived + 1);
  },
];
const unknown: Cell = [
  'is logged and ignored, its seq still counts',
  async (c, s) => {
    unchanged(c, s);
    c.client.ping();
    expect(newTypes(c)).toEqual(['pong']);
  },
];
const applied: Cell = [
  'is applied (sink told the new language)',
  (c, s) => {
    expect(newTypes(c)).toEqual([]);
    expect(newSinkCalls(c)).toEqual([{ method: 'languageChanged', language: 'fr-CA' }]);
    expect(c.session.state).toBe(s);
  },
];
const openIgnored: Cell = [
  'is ignored (no second opened)',
  (c, s) => {
    unchanged(c, s);
    expect(c.hooks.onOpen.mock.calls.length).toBeLessThanOrEqual(1);
  },
];

const MATRIX: Record<LiveState, Record<Input, Cell>> = {
  preparing: {
    open: [
      'starts the open transaction',
      (c) => {
        expect(newTypes(c)).toEqual(['opened']);
        expect(c.session.state).toBe('active');
        expect(newSinkCalls(c).map((x) => x.method)).toEqual(['start']);
      },
    ],
    ping: pong,
    close: closed,
    paused: ignored,
    resumed: ignored,
    discarded: recordedOnly,
    update: ignored,
    error: logged,
    binary: audioBeforeOpen,
    unknown,
  },
  opening: {
    open: openIgnored,
    ping: pong,
    close: [
      'gets closed and the pending open never produces opened',
      async (c) => {
        expect(newTypes(c)).toEqual(['closed']);
        c.decision.resolve({ startPaused: false });
        await c.time.advance(2000);
        expect(newTypes(c)).toEqual(['closed']);
        expect(c.sink.calls).toEqual([]);
      },
    ],
    paused: ignored,
    resumed: ignored,
    discarded: recordedOnly,
    update: ignored,
    error: logged,
    binary: dropped,
    unknown,
  },
  active: {
    open: openIgnored,
    ping: pong,
    close: [
      'gets closed after the sink flushed',
      (c) => {
        expect(newSinkCalls(c)).toEqual([{ method: 'end', reason: 'close' }]);
        closed[1](c, 'active');
      },
    ],
    paused: [
      'moves to paused',
      (c) => {
        expect(newTypes(c)).toEqual([]);
        expect(c.session.state).toBe('paused');
        expect(c.hooks.onClientPauseChanged.mock.calls).toEqual([[true]]);
      },
    ],
    resumed: ignored,
    discarded: recordedGap,
    update: applied,
    error: logged,
    binary: [
      'is decoded and written to the sink',
      (c) => {
        expect(newTypes(c)).toEqual([]);
        expect(newSinkCalls(c).map((x) => x.method)).toEqual(['write']);
        expect(c.session.stats().samplesAccepted).toBe(1600);
      },
    ],
    unknown,
  },
  paused: {
    open: openIgnored,
    ping: pong,
    close: [
      'gets closed after the sink flushed',
      (c) => {
        expect(newSinkCalls(c)).toEqual([{ method: 'end', reason: 'close' }]);
        closed[1](c, 'paused');
      },
    ],
    paused: ['is a tolerated duplicate', (c, s) => unchanged(c, s)],
    resumed: [
      'moves to active and reports the paused span',
      (c) => {
        expect(newTypes(c)).toEqual([]);
        expect(c.session.state).toBe('active');
        expect(newSinkCalls(c)).toEqual([{ method: 'gap', gap: { kind: 'paused', start: 800, length: 8000 } }]);
        expect(c.hooks.onClientPauseChanged.mock.calls).toEqual([[true], [false]]);
      },
    ],
    discarded: recordedGap,
    update: applied,
    error: logged,
    binary: dropped,
    unknown,
  },
  closing: {
    open: ignored,
    ping: pong,
    close: [
      'is an ignored duplicate: one closed in the end',
      async (c) => {
        expect(newTypes(c)).toEqual([]);
        c.sinkRelease();
        await flush();
        expect(newTypes(c)).toEqual(['closed']);
        expect(c.sink.of('end')).toHaveLength(1);
      },
    ],
    paused: ignored,
    resumed: ignored,
    discarded: recordedOnly,
    update: ignored,
    error: logged,
    binary: dropped,
    unknown,
  },
  closed: {
    open: ignored,
    ping: pong,
    close: ['is an ignored duplicate', (c, s) => unchanged(c, s)],
    paused: ignored,
    resumed: ignored,
    discarded: recordedOnly,
    update: ignored,
    error: logged,
    binary: dropped,
    unknown,
  },
  unauthorized: {
    open: ignored,
    ping: pong,
    close: closed,
    paused: ignored,
    resumed: ignored,
    discarded: ignoredDiscard,
    update: ignored,
    error: logged,
    binary: dropped,
    unknown,
  },
  'signaled-error': {
    open: ignored,
    ping: pong,
    close: closed,
    paused: ignored,
    resumed: ignored,
    discarded: ignoredDiscard,
    update: ignored,
    error: logged,
    binary: dropped,
    unknown,
  },
};

describe('session §4.2 handling matrix', () => {
  for (const [state, row] of Object.entries(MATRIX) as Array<[LiveState, Record<Input, Cell>]>) {
    describe(`in ${state}`, () => {
      for (const [input, [does, check]] of Object.entries(row) as Array<[Input, Cell]>) {
        it(`${input} ${does}`, async () => {
          const c = await enter(state);
          await send(c, input);
          await check(c, state);
          const disconnected =
            state === 'unauthorized' || state === 'signaled-error' || (state === 'preparing' && input === 'binary');
          expect(c.transport.ofType('disconnect').length).toBe(disconnected ? 1 : 0);
        });
      }
    });
  }
});

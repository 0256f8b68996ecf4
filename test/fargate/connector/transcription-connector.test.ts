import { describe, expect, it } from 'vitest';
import type { EventEntity, TranscriptEntityData } from '../../../core/audiohook/messages';
import type { SessionControl, SessionStats } from '../../../core/audiohook/ports';
import { newSessionCounters } from '../../../core/audiohook/session-stats';
import type { Utterance, UtteranceSink } from '../../../core/transcript/utterance';
import {
  decideConnector,
  TranscriptionConnector,
  withTranscriptionConnector,
} from '../../../fargate/src/connector/transcription-connector';
import { CaptureLogger } from '../../helpers/capture-logger';

const SESSION_ID = '30b0e395-84d3-4570-ac13-9a62d8f514c0';
const SECRET_TEXT = 'my account number is secret-words';

/** The session's control surface: records events, accepts them until told to refuse. */
class FakeSession implements SessionControl {
  readonly sessionId = SESSION_ID;
  readonly events: EventEntity[][] = [];
  accept = true;
  pause(): void {}
  resume(): void {}
  sendEvent(entities: EventEntity[]): boolean {
    if (!this.accept) return false;
    this.events.push(entities);
    return true;
  }
  disconnect(): void {}
  stats(): SessionStats {
    return { ...newSessionCounters(), position: 0 };
  }
  get transcripts(): TranscriptEntityData[] {
    return this.events.map((e) => e[0]?.data as TranscriptEntityData);
  }
}

let n = 0;
function utterance(over: Partial<Utterance> = {}): Utterance {
  n++;
  return {
    conversationId: '5b4f2f6a-2c3e-4a1b-9f0d-7e6c5d4b3a21',
    segment: 1,
    streamId: 's-1',
    role: 'customer',
    resultId: `r-${n}`,
    utteranceId: `00000000-0000-5000-8000-${String(n).padStart(12, '0')}`,
    startMs: n * 1000,
    endMs: n * 1000 + 800,
    text: SECRET_TEXT,
    language: 'en-US',
    confidence: 0.9,
    ...over,
  };
}

function setup(opts: { session?: FakeSession | undefined; maxMessageBytes?: number } = {}) {
  const session = 'session' in opts ? opts.session : new FakeSession();
  const logger = new CaptureLogger();
  const connector = new TranscriptionConnector({
    sessionId: SESSION_ID,
    session: () => session,
    logger,
    ...(opts.maxMessageBytes !== undefined && { maxMessageBytes: opts.maxMessageBytes }),
  });
  return { session, logger, connector };
}

const STEREO = { roles: ['customer', 'agent'] as ('customer' | 'agent')[] };

describe('TranscriptionConnector', () => {
  describe('opt-in', () => {
    it('is off by default', () => {
      expect(decideConnector(undefined, undefined)).toEqual({ enabled: false, source: 'default' });
      expect(decideConnector({ transcriptionConnector: false }, {})).toEqual({ enabled: false, source: 'default' });
    });

    it('is on when the API key has the feature', () => {
      expect(decideConnector({ transcriptionConnector: true }, { other: 1 })).toEqual({
        enabled: true,
        source: 'api-key',
      });
    });

    it('is on when the integration customConfig asks for it (boolean or "true")', () => {
      expect(decideConnector(undefined, { transcriptionConnector: true })).toEqual({
        enabled: true,
        source: 'custom-config',
      });
      expect(decideConnector({}, { transcriptionConnector: ' TRUE ' })).toMatchObject({ enabled: true });
    });

    it('lets customConfig turn it off for an integration whose key has it on', () => {
      expect(decideConnector({ transcriptionConnector: true }, { transcriptionConnector: false })).toEqual({
        enabled: false,
        source: 'custom-config',
      });
      expect(decideConnector({ transcriptionConnector: true }, { transcriptionConnector: 'false' })).toMatchObject({
        enabled: false,
      });
    });

    it('ignores values that are not a boolean (falls back to the key)', () => {
      expect(decideConnector({ transcriptionConnector: true }, { transcriptionConnector: 'yes' })).toEqual({
        enabled: true,
        source: 'api-key',
      });
      expect(decideConnector(undefined, { transcriptionConnector: 1 })).toMatchObject({ enabled: false });
    });

    it('sends nothing until open enables it', () => {
      const { session, connector } = setup();
      connector.deliver(utterance());
      connector.open({ ...STEREO }, undefined);
      connector.deliver(utterance());
      expect(session?.events).toEqual([]);
      expect(connector.enabled).toBe(false);
      expect(connector.stats().utterances).toBe(0);
    });
  });

  describe('delivery', () => {
    it('sends each utterance as its own event with one transcript entity, in order, on the right channel', () => {
      const { session, connector } = setup();
      expect(connector.open({ roles: ['agent', 'customer'] }, { transcriptionConnector: true })).toBe(true);
      const a = utterance({ role: 'agent' });
      const b = utterance({ role: 'customer' });
      const c = utterance({ role: 'agent' });
      for (const u of [a, b, c]) connector.deliver(u);
      expect(session?.events.map((e) => e.length)).toEqual([1, 1, 1]);
      expect(session?.events.every((e) => e[0]?.type === 'transcript')).toBe(true);
      expect(session?.transcripts.map((t) => [t.id, t.channelId, t.isFinal])).toEqual([
        [a.utteranceId, 0, true],
        [b.utteranceId, 1, true],
        [c.utteranceId, 0, true],
      ]);
      expect(connector.stats()).toMatchObject({ utterances: 3, sent: 3, refused: 0 });
    });

    it('counts refusals (e.g. after closed) and warns once, then only at debug', () => {
      const { session, connector, logger } = setup();
      connector.open(STEREO, { transcriptionConnector: true });
      (session as FakeSession).accept = false;
      connector.deliver(utterance());
      connector.deliver(utterance());
      expect(connector.stats()).toMatchObject({ utterances: 2, sent: 0, refused: 2 });
      const refusals = logger.entries.filter((e) => e.obj.code === 'CONNECTOR_EVENT_REFUSED');
      expect(refusals.map((e) => e.level)).toEqual(['warn', 'debug']);
    });

    it('counts an utterance whose session is gone from the registry', () => {
      const { connector, logger } = setup({ session: undefined });
      connector.open(STEREO, { transcriptionConnector: true });
      connector.deliver(utterance());
      expect(connector.stats()).toMatchObject({ noSession: 1, sent: 0 });
      expect(logger.entries.some((e) => e.obj.code === 'CONNECTOR_NO_SESSION')).toBe(true);
    });

    it('skips an utterance of a role the negotiated media does not carry', () => {
      const { session, connector, logger } = setup();
      connector.open({ roles: ['customer'] }, { transcriptionConnector: true });
      connector.deliver(utterance({ role: 'agent' }));
      expect(session?.events).toEqual([]);
      expect(connector.stats()).toMatchObject({ skipped: 1 });
      expect(logger.entries.find((e) => e.obj.code === 'CONNECTOR_UTTERANCE_SKIPPED')?.obj.reason).toBe(
        'unknown-channel',
      );
    });

    it('splits an utterance too large for one event and counts it', () => {
      const { session, connector } = setup({ maxMessageBytes: 1_000 });
      connector.open(STEREO, { transcriptionConnector: true });
      connector.deliver(utterance({ text: 'lorem ipsum '.repeat(100) }));
      expect(session?.events.length).toBeGreaterThan(1);
      expect(connector.stats()).toMatchObject({ utterances: 1, split: 1 });
      expect(connector.stats().sent).toBe(session?.events.length);
    });

    it('never logs transcript text', () => {
      const { session, connector, logger } = setup({ maxMessageBytes: 600 });
      connector.open(STEREO, { transcriptionConnector: true });
      connector.deliver(utterance());
      connector.deliver(utterance({ text: `${SECRET_TEXT} `.repeat(40) }));
      connector.deliver(utterance({ role: 'agent', text: SECRET_TEXT }));
      (session as FakeSession).accept = false;
      connector.deliver(utterance());
      connector.finish();
      expect(logger.entries.length).toBeGreaterThan(3);
      expect(logger.text()).not.toContain('secret-words');
    });

    it('logs a summary once at finish', () => {
      const { connector, logger } = setup();
      connector.open(STEREO, { transcriptionConnector: true });
      connector.deliver(utterance());
      connector.finish();
      connector.finish();
      const summaries = logger.find('transcription connector summary');
      expect(summaries).toHaveLength(1);
      expect(summaries[0]?.obj).toMatchObject({ source: 'api-key', utterances: 1, sent: 1 });
    });
  });

  describe('withTranscriptionConnector (after the store write)', () => {
    it('stores first, then sends', async () => {
      const { session, connector } = setup();
      connector.open(STEREO, { transcriptionConnector: true });
      const order: string[] = [];
      const inner: UtteranceSink = {
        async put(u) {
          await Promise.resolve();
          order.push(`stored ${u.utteranceId}`);
          expect(session?.events).toHaveLength(order.length - 1);
        },
      };
      const sink = withTranscriptionConnector(inner, connector);
      const u = utterance();
      await sink.put(u);
      order.push(`sent ${session?.transcripts[0]?.id}`);
      expect(order).toEqual([`stored ${u.utteranceId}`, `sent ${u.utteranceId}`]);
    });

    it('still sends when the store failed, and still reports the failure to the streamer', async () => {
      const { session, connector } = setup();
      connector.open(STEREO, { transcriptionConnector: true });
      const failing: UtteranceSink = { put: () => Promise.reject(new Error('table unavailable')) };
      await expect(withTranscriptionConnector(failing, connector).put(utterance())).rejects.toThrow(
        'table unavailable',
      );
      expect(session?.events).toHaveLength(1);
    });
  });
});

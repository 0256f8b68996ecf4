/**
 * The Transcription Connector through the real control layer: a core AudioHook session (createSession)
 * driven message by message, wired to the ConversationController's hooks and sink exactly as the gateway
 * wires them, the real store on DynamoDB Local, and the recognizer stream replaced by a fake that hands
 * its last finals over only when the session's end flushes it (as Transcribe does at end of stream).
 *
 * What it proves: the finals of the segment closed by the session's end reach the client as `event`s
 * *before* `closed` (docs/audiohook-protocol.md §5.3), each after it was stored.
 */

import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { samplesToDuration } from '../../../core/audiohook/duration';
import type {
  ClientMessage,
  ClientMessageType,
  MediaParameter,
  OpenParameters,
  TranscriptEntityData,
} from '../../../core/audiohook/messages';
import type { AudioHookSession, ConnectionInfo } from '../../../core/audiohook/ports';
import { createSession } from '../../../core/audiohook/session';
import type { StartParams } from '../../../core/conversation/conversation';
import { silentLogger, systemClock, systemTimers } from '../../../core/ports';
import type { Utterance } from '../../../core/transcript/utterance';
import { utteranceIdOf } from '../../../core/transcript/utterance';
import { ConversationController } from '../../../fargate/src/control/conversation-controller';
import type { TranscribeClientLike } from '../../../fargate/src/transcribe/start-request';
import type { SegmentStreamer } from '../../../fargate/src/transcribe/streamer';
import type { SegmentStreamerOptions } from '../../../fargate/src/transcribe/streamer-config';
import type { StreamerStats } from '../../../fargate/src/transcribe/streamer-stats';
import { ControlInbox } from '../../../store/control-inbox';
import { ConversationsRepository } from '../../../store/conversations';
import type { FinalUtteranceInput } from '../../../store/utterances';
import { UtterancesRepository } from '../../../store/utterances';
import { setupDynamoDb, type TestDynamoDb } from '../../helpers/dynamodb';
import { streamerStats } from '../control/controller-fakes';
import { until } from '../transcribe/helpers';

const TASK = 'connector-task';
const STEREO: MediaParameter = { type: 'audio', format: 'PCMU', channels: ['external', 'internal'], rate: 8000 };
const PARAMS: StartParams = {
  language: 'en-US',
  redactionOutput: 'redacted',
  detailedToken: false,
  audioRecordingAllowed: false,
  customerId: 'cust-1',
  agentId: 'agent-1',
};

/** A recognizer stream that delivers its finals only while ending, after `endDelayMs`. */
class EndFlushingStreamer {
  static endDelayMs = 20;
  static finals: Array<{ role: 'customer' | 'agent'; text: string; startMs: number; endMs: number }> = [];
  readonly delivered: Utterance[] = [];
  #ended = false;
  constructor(readonly opts: SegmentStreamerOptions) {}
  get state() {
    return this.#ended ? 'ended' : 'streaming';
  }
  write(): void {}
  gap(): void {}
  async end(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    await new Promise((r) => setTimeout(r, EndFlushingStreamer.endDelayMs));
    const seg = this.opts.segment;
    for (const [i, f] of EndFlushingStreamer.finals.entries()) {
      const streamId = seg.streamIds[f.role] as string;
      const u: Utterance = {
        conversationId: seg.conversationId,
        segment: seg.segment,
        streamId,
        role: f.role,
        resultId: `final-${i}`,
        utteranceId: utteranceIdOf(seg.conversationId, streamId, `final-${i}`),
        startMs: f.startMs,
        endMs: f.endMs,
        text: f.text,
        language: 'en-US',
        confidence: 0.9,
      };
      // The real streamer's delivery chain: one put at a time, in result order.
      try {
        await this.opts.utterances.put(u);
      } catch {}
      this.delivered.push(u);
    }
  }
  stats(): StreamerStats {
    return streamerStats(this.state);
  }
}

let db: TestDynamoDb;
let conversations: ConversationsRepository;
let inbox: ControlInbox;
let utterances: UtterancesRepository;

beforeAll(async () => {
  db = await setupDynamoDb();
  conversations = new ConversationsRepository(db.doc, { tableName: db.tables.conversations });
  inbox = new ControlInbox(db.doc, { tableName: db.tables.conversations });
  utterances = new UtterancesRepository(db.doc, { tableName: db.tables.utterances });
});

afterAll(async () => {
  await db?.stop();
});

const noClient: TranscribeClientLike = { send: () => Promise.reject(new Error('never called')) };

/**
 * One call: a controller, a core session wired to it like the gateway does, and a client that numbers its
 * messages. `texts` is every message the session sent, in order; `trace` interleaves store writes with them.
 */
function call(opts: { features?: ConnectionInfo['features']; flushBudgetMs?: number } = {}) {
  const sessionId = randomUUID();
  const conversationId = randomUUID();
  const texts: string[] = [];
  const trace: string[] = [];
  const streamers: EndFlushingStreamer[] = [];
  const controller = new ConversationController({
    taskId: TASK,
    conversations,
    inbox,
    utterances: {
      async putFinal(input: FinalUtteranceInput) {
        const result = await utterances.putFinal(input);
        trace.push(`stored ${input.utteranceId}`);
        return result;
      },
    },
    transcribe: noClient,
    clock: systemClock,
    timers: systemTimers,
    logger: silentLogger,
    createStreamer: (o) => {
      const s = new EndFlushingStreamer(o);
      streamers.push(s);
      return s as unknown as SegmentStreamer;
    },
  });
  const connection: ConnectionInfo = {
    sessionId,
    organizationId: randomUUID(),
    correlationId: randomUUID(),
    apiKeyLabel: 'test',
    ...(opts.features !== undefined && { features: opts.features }),
  };
  const hooks = controller.hooksFactory({ sessionId, connection });
  const sink = controller.sinkFactory({ sessionId });
  const session: AudioHookSession = createSession({
    connection,
    transport: {
      sendText: (t) => {
        texts.push(t);
        trace.push(`sent ${(JSON.parse(t) as { type: string }).type}`);
      },
      close: () => {},
    },
    sink,
    hooks,
    clock: systemClock,
    timers: systemTimers,
    logger: silentLogger,
    options: {
      supportedLanguages: ['en-US'],
      ...(opts.flushBudgetMs !== undefined && { flushBudgetMs: opts.flushBudgetMs }),
    },
  });
  controller.attach({ sessions: () => new Map([[sessionId, session]]) });

  let seq = 0;
  let position = 0;
  const send = <T extends ClientMessageType>(
    type: T,
    parameters: Extract<ClientMessage, { type: T }>['parameters'],
  ) => {
    seq++;
    const last = texts.at(-1);
    session.handleMessage({
      version: '2',
      id: sessionId,
      type,
      seq,
      serverseq: last ? (JSON.parse(last) as { seq: number }).seq : 0,
      position: samplesToDuration(position),
      parameters,
    } as ClientMessage);
  };
  const messages = () => texts.map((t) => JSON.parse(t) as { type: string; parameters: Record<string, unknown> });
  const types = () => messages().map((m) => m.type);

  return {
    sessionId,
    conversationId,
    controller,
    session,
    streamers,
    trace,
    types,
    transcripts: () =>
      messages()
        .filter((m) => m.type === 'event')
        .map((m) => (m.parameters.entities as Array<{ data: TranscriptEntityData }>)[0]?.data as TranscriptEntityData),
    async startTranscription() {
      const r = await conversations.requestStart(conversationId, PARAMS, Date.now());
      if (r.outcome === 'conflict') throw new Error('conflict');
    },
    async open(customConfig?: Record<string, unknown>) {
      const params: OpenParameters = {
        organizationId: connection.organizationId,
        conversationId,
        participant: { id: randomUUID(), ani: '+15555550100', aniName: 'Caller', dnis: '+18005550100' },
        media: [STEREO],
        language: 'en-US',
        ...(customConfig !== undefined && { customConfig }),
      };
      send('open', params);
      await until(() => types().includes('opened'), 10_000);
    },
    audio(ms: number) {
      const samples = (ms * 8000) / 1000;
      session.handleAudio(new Uint8Array(samples * 2).fill(0xff));
      position += samples;
    },
    async close() {
      send('close', { reason: 'end' });
      await until(() => types().includes('closed'), 10_000);
    },
    async end() {
      session.handleTransportClosed(1000, 'done');
      await controller.idle();
    },
  };
}

describe('Transcription Connector: finals flushed before closed', () => {
  it('sends the finals of the segment closed by the end of the session as events, stored first, then closed', async () => {
    EndFlushingStreamer.endDelayMs = 50;
    EndFlushingStreamer.finals = [
      { role: 'agent', text: 'thank you for calling', startMs: 200, endMs: 1400 },
      { role: 'customer', text: 'my PIN is ####', startMs: 1600, endMs: 2900 },
    ];
    const c = call();
    await c.startTranscription();
    await c.open({ transcriptionConnector: true });
    expect(c.types()).toEqual(['opened']);
    c.audio(3000);
    await c.close();

    expect(c.types()).toEqual(['opened', 'event', 'event', 'closed']);
    const delivered = c.streamers[0]?.delivered ?? [];
    expect(c.transcripts()).toEqual([
      expect.objectContaining({
        id: delivered[0]?.utteranceId,
        channelId: 1, // agent = `internal`, second in the negotiated order
        isFinal: true,
        offset: 'PT0.2S',
        duration: 'PT1.2S',
      }),
      expect.objectContaining({ id: delivered[1]?.utteranceId, channelId: 0, offset: 'PT1.6S', duration: 'PT1.3S' }),
    ]);
    expect(c.transcripts()[1]?.alternatives[0]?.interpretations[0]?.transcript).toBe('my PIN is ####');
    // Each event went out after its utterance was stored.
    const stored = delivered.map((u) => `stored ${u.utteranceId}`);
    expect(c.trace.filter((t) => t !== 'sent opened')).toEqual([
      stored[0],
      'sent event',
      stored[1],
      'sent event',
      'sent closed',
    ]);
    await c.end();
  });

  it('is enabled by the API key feature too', async () => {
    EndFlushingStreamer.endDelayMs = 0;
    EndFlushingStreamer.finals = [{ role: 'customer', text: 'hello', startMs: 100, endMs: 600 }];
    const c = call({ features: { transcriptionConnector: true } });
    await c.startTranscription();
    await c.open();
    c.audio(1000);
    await c.close();
    expect(c.types()).toEqual(['opened', 'event', 'closed']);
    await c.end();
  });

  it('sends no event when the connector is off, though the utterances are stored', async () => {
    EndFlushingStreamer.endDelayMs = 0;
    EndFlushingStreamer.finals = [{ role: 'customer', text: 'hello', startMs: 100, endMs: 600 }];
    const c = call({ features: { transcriptionConnector: true } });
    await c.startTranscription();
    await c.open({ transcriptionConnector: false });
    c.audio(1000);
    await c.close();
    expect(c.types()).toEqual(['opened', 'closed']);
    expect(c.trace.filter((t) => t.startsWith('stored'))).toHaveLength(1);
    await c.end();
  });

  it('finals later than the session flush budget are refused after closed, never sent after it', async () => {
    EndFlushingStreamer.endDelayMs = 400;
    EndFlushingStreamer.finals = [{ role: 'agent', text: 'late words', startMs: 100, endMs: 600 }];
    const c = call({ flushBudgetMs: 100 });
    await c.startTranscription();
    await c.open({ transcriptionConnector: true });
    c.audio(1000);
    await c.close();
    // Delivered: the store write settled and the connector has already offered (or not) its event.
    await until(() => c.streamers[0]?.delivered.length === 1, 10_000);
    // Stored after `closed` went out: the session refused the event rather than break the protocol.
    expect(c.trace.filter((t) => t !== 'sent opened').map((t) => t.split(' ')[0])).toEqual(['sent', 'stored']);
    expect(c.types()).toEqual(['opened', 'closed']);
    await c.end();
  });
});

/**
 * The `genesys` control policy (fargate/src/control/genesys-control.ts): sessions of a `genesys`-controlled
 * API key are transcribed from open to close with no start-streaming call. The start parameters are a pure
 * function of the open message, the key and the deployment policy; the control flow runs against the real
 * store (DynamoDB Local) with the recognizer stream replaced by a fake and the session driven through the
 * hooks and sink the gateway would use (as in conversation-controller.test.ts).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { conversationStatusView } from '../../../core/api/status';
import type { MediaParameter } from '../../../core/audiohook/messages';
import type { AudioSink, ConnectionInfo, OpenDecision, OpenInfo, SessionHooks } from '../../../core/audiohook/ports';
import type { ConversationsPort } from '../../../fargate/src/control/controller-ports';
import type { ConversationController } from '../../../fargate/src/control/conversation-controller';
import {
  DEFAULT_GENESYS_START_POLICY,
  GENESYS_AGENT_ID,
  genesysStartParams,
} from '../../../fargate/src/control/genesys-control';
import { ControlInbox } from '../../../store/control-inbox';
import { ConversationsRepository } from '../../../store/conversations';
import { StoreUnavailableError } from '../../../store/errors';
import { frameOf } from '../../helpers/audio-frames';
import { setupDynamoDb, type TestDynamoDb } from '../../helpers/dynamodb';
import { until } from '../transcribe/helpers';
import { FakeSession, type FakeStreamer, fakeController } from './controller-fakes';

const TASK = 'genesys-task';
const MEDIA: MediaParameter = { type: 'audio', format: 'PCMU', channels: ['external', 'internal'], rate: 8000 };
const POLICY = { supportedLanguages: ['en-US', 'es-US'], defaultLanguage: 'en-US', redactionEnabled: true };

let db: TestDynamoDb;
let conversations: ConversationsRepository;
let inbox: ControlInbox;
let streamers: FakeStreamer[];
let registry: Map<string, FakeSession>;
let controller: ConversationController;

beforeAll(async () => {
  db = await setupDynamoDb();
  conversations = new ConversationsRepository(db.doc, { tableName: db.tables.conversations });
  inbox = new ControlInbox(db.doc, { tableName: db.tables.conversations });
});

afterAll(async () => {
  await db?.stop();
});

function newController(taskId: string, store: ConversationsPort = conversations): ConversationController {
  return fakeController({
    taskId,
    db,
    conversations: store,
    inbox,
    genesysPolicy: POLICY,
    onStreamer: (s) => streamers.push(s),
    sessions: () => registry,
  });
}

beforeEach(() => {
  streamers = [];
  registry = new Map();
  controller = newController(TASK);
});

function openInfo(conversationId: string, extra: Partial<OpenInfo> = {}): OpenInfo {
  return {
    sessionId: randomUUID(),
    organizationId: randomUUID(),
    conversationId,
    participantId: randomUUID(),
    media: MEDIA,
    roles: ['customer', 'agent'],
    position: 0,
    ...extra,
  };
}

/** One AudioHook session of a key with the given policy, as the gateway drives the hooks and the sink. */
function connect(
  conversationId: string,
  control: ConnectionInfo['control'],
  opts: { on?: ConversationController; open?: Partial<OpenInfo> } = {},
) {
  const on = opts.on ?? controller;
  const sessionId = randomUUID();
  const hooks: SessionHooks = on.hooksFactory({
    sessionId,
    connection: {
      sessionId,
      organizationId: randomUUID(),
      correlationId: randomUUID(),
      apiKeyLabel: control === 'genesys' ? 'connector' : 'monitor',
      ...(control !== undefined && { control }),
    },
  });
  const sink: AudioSink = on.sinkFactory({ sessionId });
  const control_ = new FakeSession(sessionId);
  registry.set(sessionId, control_);
  const info = openInfo(conversationId, { ...opts.open, sessionId });
  let position = 0;
  return {
    sessionId,
    info,
    control: control_,
    async open(): Promise<OpenDecision> {
      const decision = await (hooks.onOpen as NonNullable<SessionHooks['onOpen']>)(info);
      sink.start({ sessionId, conversationId, media: MEDIA, roles: ['customer', 'agent'], channels: MEDIA.channels });
      return decision;
    },
    write(frames: number) {
      for (let i = 0; i < frames; i++) {
        sink.write(frameOf(position, 1600, {}));
        position += 1600;
      }
    },
    async end() {
      await sink.end('close');
      hooks.onEnd?.({ reason: 'closed', stats: control_.stats() });
      await on.idle();
    },
  };
}

async function statusOf(conversationId: string) {
  const meta = await conversations.getMeta(conversationId);
  if (!meta) throw new Error('no META');
  const [segments, sessions] = await Promise.all([
    conversations.listSegments(conversationId),
    conversations.listSessions(conversationId),
  ]);
  return conversationStatusView(conversationId, meta, segments, sessions);
}

describe('genesysStartParams', () => {
  const connection = (language?: string): ConnectionInfo => ({
    sessionId: randomUUID(),
    organizationId: randomUUID(),
    correlationId: randomUUID(),
    apiKeyLabel: 'k',
    control: 'genesys',
    ...(language !== undefined && { defaults: { language } }),
  });

  it('takes the open language when supported, in its canonical spelling, derives the speaker ids and follows language updates', () => {
    const info = openInfo('c1', { language: 'ES-us' });
    const start = genesysStartParams(info, connection('en-US'), POLICY);
    expect(start).toEqual({
      params: {
        language: 'es-US',
        redactionOutput: 'redacted',
        detailedToken: false,
        audioRecordingAllowed: false,
        customerId: info.participantId,
        agentId: GENESYS_AGENT_ID,
        followLanguageUpdates: true,
      },
      languageFrom: 'open',
      ignored: [],
    });
  });

  it('falls back to the key default, then to the deployment default, noting what it set aside', () => {
    const fromKey = genesysStartParams(openInfo('c', { language: 'fr-FR' }), connection('es-us'), POLICY);
    expect(fromKey.params.language).toBe('es-US');
    expect(fromKey.languageFrom).toBe('key-default');
    expect(fromKey.ignored).toEqual(['open language fr-FR: not supported']);

    const fromDeployment = genesysStartParams(openInfo('c'), connection('de-DE'), POLICY);
    expect(fromDeployment.params.language).toBe('en-US');
    expect(fromDeployment.languageFrom).toBe('deployment-default');
    expect(fromDeployment.ignored).toEqual(['key default language de-DE: not supported']);
  });

  it('applies customConfig start parameters, and falls back to the defaults when the rules refuse them', () => {
    const ok = genesysStartParams(
      openInfo('c', {
        customConfig: { redactionOutput: 'unredacted', detailedToken: 'true', audioRecordingAllowed: 1 },
      }),
      connection(),
      POLICY,
    );
    expect(ok.params).toMatchObject({
      redactionOutput: 'unredacted',
      detailedToken: true,
      audioRecordingAllowed: false,
    });
    expect(ok.ignored).toEqual(['customConfig.audioRecordingAllowed: not true or false']);

    const refused = genesysStartParams(openInfo('c', { customConfig: { detailedToken: true } }), connection(), POLICY);
    expect(refused.params).toMatchObject({ redactionOutput: 'redacted', detailedToken: false });
    expect(refused.params.followLanguageUpdates).toBe(true);
    expect(refused.ignored[0]).toMatch(/^customConfig: detailedToken requires redactionOutput 'unredacted'/);
  });

  it("applies the key's redaction and token defaults, which customConfig overrides", () => {
    const tokens: ConnectionInfo = {
      ...connection(),
      defaults: { redactionOutput: 'unredacted', detailedToken: true },
    };
    const fromKey = genesysStartParams(openInfo('c'), tokens, POLICY);
    expect(fromKey.params).toMatchObject({ redactionOutput: 'unredacted', detailedToken: true });
    expect(fromKey.ignored).toEqual([]);
    // customConfig asks for redaction: tokens are refused with it, so the key's defaults apply instead.
    const clash = genesysStartParams(openInfo('c', { customConfig: { redactionOutput: 'redacted' } }), tokens, POLICY);
    expect(clash.params).toMatchObject({ redactionOutput: 'unredacted', detailedToken: true });
    expect(clash.ignored[0]).toMatch(/^customConfig: detailedToken requires/);
    const off = genesysStartParams(openInfo('c', { customConfig: { detailedToken: false } }), tokens, POLICY);
    expect(off.params).toMatchObject({ redactionOutput: 'unredacted', detailedToken: false });
  });

  it('defaults to the start Lambda policy', () => {
    expect(DEFAULT_GENESYS_START_POLICY).toEqual({
      supportedLanguages: ['en-US', 'es-US'],
      defaultLanguage: 'en-US',
      redactionEnabled: true,
    });
  });
});

describe('ConversationController with a genesys-controlled key', () => {
  it('transcribes from open with no API call, marks the conversation, and stops at the end', async () => {
    const conv = randomUUID();
    const s = connect(conv, 'genesys', { open: { language: 'es-US' } });
    expect(await s.open()).toEqual({ startPaused: false });
    expect(streamers).toHaveLength(1);
    expect(streamers[0]?.opts.segment).toMatchObject({
      conversationId: conv,
      segment: 1,
      params: { language: 'es-US' },
    });
    const during = await statusOf(conv);
    expect(during).toMatchObject({ control: 'genesys', desired: 'on', state: 'transcribing' });
    expect(during.params).toMatchObject({ customerId: s.info.participantId, agentId: GENESYS_AGENT_ID });
    expect(during.sessions).toMatchObject([{ sessionId: s.sessionId, health: 'streaming' }]);

    s.write(5);
    await s.end();
    const after = await statusOf(conv);
    expect(after).toMatchObject({ control: 'genesys', desired: 'off', state: 'stopped' });
    expect(after.segments).toHaveLength(1);
    expect(after.segments[0]).toMatchObject({ state: 'closed', customer: { summary: { audioDurationMs: 1000 } } });
    expect(controller.stats().counters).toMatchObject({ genesysStarts: 1, genesysStops: 1 });
  });

  it('keeps an api-controlled key waiting for start-streaming, and says so on the status route', async () => {
    const conv = randomUUID();
    const s = connect(conv, undefined);
    expect(await s.open()).toEqual({ startPaused: true });
    expect(streamers).toHaveLength(0);
    expect(await statusOf(conv)).toMatchObject({ control: 'api', desired: 'off', state: 'idle' });
    await s.end();
  });

  it('stays on while another genesys session of the call is live (on another task), then stops', async () => {
    const conv = randomUUID();
    const other = newController('genesys-task-2');
    const first = connect(conv, 'genesys');
    const second = connect(conv, 'genesys', { on: other });
    expect(await first.open()).toEqual({ startPaused: false });
    // The segment is held by the first session: the second one stays paused (never transcribed twice).
    expect(await second.open()).toEqual({ startPaused: true });
    expect(streamers).toHaveLength(1);

    await first.end();
    expect(await conversations.getMeta(conv)).toMatchObject({ desired: 'on' });
    // The hand-over reaches the other task through its inbox: it renews transcription with segment 2.
    await other.pollNow();
    expect(second.control.calls).toEqual(['resume']);
    expect(await conversations.getMeta(conv)).toMatchObject({ desired: 'on', currentSegment: 2 });

    await second.end();
    expect(await statusOf(conv)).toMatchObject({ desired: 'off', state: 'stopped' });
    await other.stop();
  });

  it('lets an HTTP stop pause a genesys session until the call ends; the session does not restart itself', async () => {
    const conv = randomUUID();
    const s = connect(conv, 'genesys');
    expect(await s.open()).toEqual({ startPaused: false });
    const stop = await conversations.requestStop(conv, Date.now());
    if (stop.outcome !== 'stopped') throw new Error(stop.outcome);
    await inbox.notifyTasks(conv, stop.meta.desiredVersion, [TASK], { desired: 'off' });
    await controller.pollNow();
    expect(s.control.calls).toEqual(['pause']);
    expect(await conversations.getSegment(conv, 1)).toMatchObject({ state: 'closed' });
    await controller.pollNow();
    expect(s.control.calls).toEqual(['pause']);
    await s.end();
    expect(await conversations.getMeta(conv)).toMatchObject({
      desired: 'off',
      desiredVersion: stop.meta.desiredVersion,
    });
  });

  it('opens paused when the start cannot be recorded, and starts once in the background', async () => {
    // storeAttempts is 4: every attempt at open fails, the first background retry succeeds.
    let failures = 4;
    const throttled: ConversationsPort = Object.assign(Object.create(conversations) as ConversationsRepository, {
      requestStart: (...args: Parameters<ConversationsRepository['requestStart']>) => {
        if (failures > 0) {
          failures--;
          return Promise.reject(new StoreUnavailableError('throttled (test)'));
        }
        return conversations.requestStart(...args);
      },
    });
    const flaky = newController('genesys-task-flaky', throttled);
    const conv = randomUUID();
    const s = connect(conv, 'genesys', { on: flaky });
    expect(await s.open()).toEqual({ startPaused: true });
    await until(() => s.control.calls.includes('resume'), 15_000, 'the background start');
    await flaky.idle();
    expect(s.control.calls).toEqual(['resume']);
    expect(streamers).toHaveLength(1);
    expect(await conversations.listSegments(conv)).toMatchObject([{ segment: 1, state: 'active' }]);
    expect(flaky.stats().counters.registrationFailures).toBe(1);
    await s.end();
    expect(await conversations.getMeta(conv)).toMatchObject({ desired: 'off' });
    await flaky.stop();
  });
});

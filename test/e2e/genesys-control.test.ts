/**
 * The `genesys` control policy end to end through the local stack (`npm start`): the stack's second
 * AudioHook key (`gateway.connectorApiKey`: control `genesys`, Transcription Connector on) transcribes a
 * call that nobody called start-streaming for. Its utterances reach the messages API and a WebSocket
 * subscriber, the session itself receives them as `transcript` events before `closed`, and once the call
 * is over the status route says transcription is off; the subscriber got live partials before each
 * final; the webhook got every utterance and the nightly export puts them in the day's feed. A language `update` in the middle of a turn splits it there, and what follows is recognised in
 * the new language (the local endpoint reports the language it was asked for). Real recognition
 * (pocketsphinx, the recognizer the other flows use), calls played at real time.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runSimulatedSession } from '../../local/simulator/client';
import { durationSeconds } from '../../local/simulator/transcript-checks';
import { pocketsphinxAvailable } from '../../local/transcribe/pocketsphinx';
import { exportedRows } from './feed-support';
import {
  awaitPushes,
  buildCall,
  type CallLine,
  expectLineTranscribed,
  expectMessagesMatch,
  expectNoDuplicates,
  loadFixture,
  messagesOf,
} from './flow-support';
import { eventually, type LocalStack, printLogTail, type Subscriber, startLocalStack } from './harness';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver';

const greeting = loadFixture('greeting');
const orderStatus = loadFixture('order-status');

let dataDir: string;
let stack: LocalStack;
let receiver: WebhookReceiver;
/** The connector call's conversation, for the feed export at the end. */
let connectorCall: string | undefined;

beforeAll(async () => {
  expect(pocketsphinxAvailable(), 'pocketsphinx_continuous is required (npm run bootstrap installs it)').toBe(true);
  dataDir = mkdtempSync(join(tmpdir(), 'ahx-e2e-genesys-'));
  receiver = await startWebhookReceiver();
  stack = await startLocalStack({ name: 'genesys-control', dataDir, env: { WEBHOOK_URL: receiver.url } });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

describe('a genesys-controlled Transcription Connector key (npm start)', { timeout: 90_000 }, () => {
  let sub: Subscriber | undefined;
  afterEach(async (ctx) => {
    await sub?.close();
    sub = undefined;
    if (ctx.task.result?.state === 'fail') {
      printLogTail(stack);
    }
  });

  it('is listed in endpoints.json beside the api-controlled key', () => {
    const gw = stack.endpoints.gateway;
    expect(gw.connectorApiKey).toEqual(expect.any(String));
    expect(gw.connectorClientSecret).toEqual(expect.any(String));
    expect(gw.connectorApiKey).not.toBe(gw.apiKey);
    expect(stack.log()).toContain(gw.connectorApiKey as string);
  });

  it('transcribes a call with no API call: messages API, webhook, WebSocket with partials, transcript events before closed, then off', async () => {
    const guid = randomUUID();
    connectorCall = guid;
    const customerParticipant = randomUUID();
    const lines: CallLine[] = [
      { role: 'agent', fixture: greeting, atMs: 300 },
      { role: 'customer', fixture: orderStatus, atMs: 3_800 },
    ];
    sub = await stack.subscribe(guid);
    const gw = stack.endpoints.gateway;
    const result = await runSimulatedSession({
      uri: gw.url,
      apiKey: gw.connectorApiKey as string,
      clientSecret: gw.connectorClientSecret as string,
      conversationId: guid,
      participant: { id: customerParticipant },
      language: 'en-US',
      // Unredacted, so the fixtures' words come back as words (redaction is the deployment default).
      customConfig: { redactionOutput: 'unredacted' },
      audio: buildCall(lines, 10_500),
      speed: 1,
      record: 'text',
    });
    expect(result.outcome, result.failure).toBe('closed');
    // Genesys decided: the session was not asked to start paused.
    expect(result.opened?.startPaused).not.toBe(true);

    // The end of the call closes the segment once the recognizer's last finals are stored, then records
    // the stop: from then on the status route says off and the messages API holds the whole call.
    await eventually(
      async () => {
        const res = await stack.api(`/mg-autotranscribe/v1/conversations/${guid}/status`);
        const body = (await res.json()) as { desired?: string; control?: string; state?: string };
        return res.status === 200 && body.desired === 'off' && body.control === 'genesys' && body.state === 'stopped';
      },
      30_000,
      'the status route to say off after the call',
    );

    const messages = await messagesOf(stack, guid);
    expect(messages.length).toBeGreaterThanOrEqual(2);
    const heard = await awaitPushes(sub.messages, guid, messages.length);
    expectNoDuplicates(heard);
    for (const line of lines) expectLineTranscribed(heard, line);
    expectMessagesMatch(messages, heard);
    for (const u of heard) expect(u.externalId).toBe(u.role === 'customer' ? customerParticipant : 'genesys-agent');
    // The webhook received each stored utterance under its id.
    const delivered = () =>
      new Set(
        receiver.deliveries
          .filter((d) => d.status === 200 && JSON.parse(d.body).externalConversationId === guid)
          .map((d) => String(d.headers['idempotency-key'])),
      );
    await eventually(() => delivered().size >= heard.length, 15_000, 'the webhook deliveries');
    expect(delivered()).toEqual(new Set(heard.map((u) => u.utteranceId)));

    // The stored utterances went back over AudioHook before `closed` (the call ends with seconds of
    // silence, more than the recognizer needs to finalize), final, under their stored ids and texts.
    const stored = new Map(heard.map((u) => [u.utteranceId, u.text]));
    const events = result.transcripts ?? [];
    expect(events.length).toBe(heard.length);
    for (const t of events) {
      expect(t.isFinal).toBe(true);
      expect(stored.get(t.id), `event ${t.id}`).toBe(t.alternatives[0]?.interpretations[0]?.transcript);
    }

    // Live partials (an unredacted call): each went straight from the gateway to the subscriber, under
    // the id its final later came with, and before that final (which travels through the table stream).
    const pushed = sub.messages;
    const arrival = (type: string, id: string) => pushed.findIndex((m) => m.type === type && m.utteranceId === id);
    const partials = sub.messages.filter((m) => m.type === 'partial');
    expect(partials.length, 'partial frames pushed').toBeGreaterThan(0);
    for (const p of partials) {
      const id = p.utteranceId as string;
      expect(stored.has(id), `partial ${id} has a final`).toBe(true);
      // Every partial came before its own final: none arrived after it.
      expect(pushed.indexOf(p), `partial of ${id} before its final`).toBeLessThan(arrival('transcript', id));
    }
  });

  it("puts the connector call in the day's feed: one row per stored utterance", async () => {
    expect(connectorCall, 'the connector call ran first').toBeDefined();
    const messages = await messagesOf(stack, connectorCall as string);
    expect(messages.length).toBeGreaterThan(0);
    const days = [...new Set(messages.map((m) => m.createdTimestamp.slice(0, 10)))];
    const rows = (await exportedRows(stack, days)).filter((r) => r.external_conversation_id === connectorCall);
    expect(rows.map((r) => r.message_id).sort()).toEqual(messages.map((m) => m.messageId).sort());
    for (const r of rows) expect(r.utterance).toBe(messages.find((m) => m.messageId === r.message_id)?.text);
  });

  it('acts on a language update: the utterance is split where it came and the rest is recognised in the new language', async () => {
    const guid = randomUUID();
    // One customer turn (speech from about 0.7 s to 3.1 s), the language changed at 1.8 s, inside it.
    const updateAtMs = 1_800;
    const lines: CallLine[] = [{ role: 'customer', fixture: orderStatus, atMs: 500 }];
    const gw = stack.endpoints.gateway;
    const result = await runSimulatedSession({
      uri: gw.url,
      apiKey: gw.connectorApiKey as string,
      clientSecret: gw.connectorClientSecret as string,
      conversationId: guid,
      participant: { id: randomUUID() },
      language: 'en-US',
      customConfig: { redactionOutput: 'unredacted' },
      audio: buildCall(lines, 6_000),
      actions: [{ atMs: updateAtMs, action: 'update', language: 'es-US' }],
      speed: 1,
      record: 'text',
    });
    expect(result.outcome, result.failure).toBe('closed');
    const events = (result.transcripts ?? []).map((t) => {
      const offsetMs = Math.round((durationSeconds(t.offset) ?? Number.NaN) * 1000);
      const durationMs = Math.round((durationSeconds(t.duration) ?? Number.NaN) * 1000);
      return {
        language: t.alternatives[0]?.languages?.[0],
        startMs: offsetMs,
        endMs: offsetMs + durationMs,
        text: t.alternatives[0]?.interpretations[0]?.transcript ?? '',
      };
    });
    const what = JSON.stringify(events);
    const before = events.filter((e) => e.language === 'en-US');
    const after = events.filter((e) => e.language === 'es-US');
    // Both halves were heard, each in its language, and nothing else.
    expect(before.length, what).toBeGreaterThan(0);
    expect(after.length, what).toBeGreaterThan(0);
    expect(before.length + after.length, what).toBe(events.length);
    // The split is at the update: the first stream heard audio up to it, the second from it on (a frame
    // of slack each way: the update is sent between frames).
    const slackMs = 100;
    for (const e of before) expect(e.endMs, what).toBeLessThanOrEqual(updateAtMs + slackMs);
    for (const e of after) expect(e.startMs, what).toBeGreaterThanOrEqual(updateAtMs - slackMs);
  });
});

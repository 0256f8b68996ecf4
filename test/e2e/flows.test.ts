import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../core/audio/roles';
import { verifySignature } from '../../core/delivery/signature';
import { pocketsphinxAvailable } from '../../local/transcribe/pocketsphinx';
import { wordErrorRate } from '../../local/transcribe/wer';
import { exportedRows } from './feed-support';
import {
  type ApiMessage,
  awaitPushes,
  BOUNDARY_TOLERANCE_MS,
  buildCall,
  type CallLine,
  callClock,
  closedSegment,
  closedSegments,
  durationMs,
  exchanged,
  expectLineTranscribed,
  expectMessagesMatch,
  expectNoDuplicates,
  expectSenders,
  FRAME_MS,
  type Heard,
  heardOf,
  loadFixture,
  MAX_WER,
  messagesOf,
  participants,
  type RoleSummary,
  type SegmentView,
  sleep,
  speechSpan,
  startStreaming,
  stopStreaming,
} from './flow-support';
import { eventually, type LocalStack, printLogTail, type Subscriber, startLocalStack } from './harness';
import { startWebhookReceiver, type WebhookDelivery, type WebhookReceiver } from './webhook-receiver';

const _ROOT = join(import.meta.dirname, '..', '..');
const greeting = loadFixture('greeting');
const orderStatus = loadFixture('order-status');
const pin = loadFixture('pin');
/** Words of the pin fixture: they must never come out of a flow where the pin is not transcribed. */
const PIN_WORDS = /\b(four|five|six|seven|pin)\b/;
const HMAC_SECRET = 'e2e-webhook-signing-secret-0123456789';
const ROLES: Role[] = ['customer', 'agent'];

let dataDir: string;
let receiver: WebhookReceiver;
let stack: LocalStack;
/** Every conversation played, for the export flow. */
const conversations: string[] = [];

function stackEnv(): Record<string, string> {
  return {
    WEBHOOK_URL: receiver.url,
    WEBHOOK_HMAC_SECRET: HMAC_SECRET,
    // Quick retries so "down then back" converges in seconds, not the production minutes.
    WEBHOOK_BACKOFF_BASE_MS: '100',
    WEBHOOK_BACKOFF_MAX_MS: '400',
    WEBHOOK_TIMEOUT_MS: '2000',
  };
}

function newConversation(): string {
  const id = randomUUID();
  conversations.push(id);
  return id;
}

function play(conversationId: string, lines: CallLine[], durationMsTotal: number, extra = {}) {
  return stack.simulate({
    conversationId,
    audio: buildCall(lines, durationMsTotal),
    speed: 1,
    record: 'text',
    ...extra,
  });
}

/** The receiver's deliveries of one conversation, parsed. */
function deliveriesFor(
  conversationId: string,
): Array<WebhookDelivery & { key: string; message: Record<string, unknown> }> {
  return receiver.deliveries
    .map((d) => ({
      ...d,
      key: String(d.headers['idempotency-key']),
      message: JSON.parse(d.body) as Record<string, unknown>,
    }))
    .filter((d) => d.message.externalConversationId === conversationId);
}

/** Utterance ids the receiver accepted (2xx) for one conversation. */
function acceptedKeys(conversationId: string): Set<string> {
  return new Set(
    deliveriesFor(conversationId)
      .filter((d) => d.status === 200)
      .map((d) => d.key),
  );
}

/** Every delivery is signed with our secret, and every copy under one key is byte-identical. */
function expectWebhookIntegrity(conversationId: string): void {
  const nowSec = Math.floor(Date.now() / 1000);
  const byKey = new Map<string, string>();
  for (const d of deliveriesFor(conversationId)) {
    const signature = d.headers['x-transcript-signature'];
    expect(verifySignature(typeof signature === 'string' ? signature : undefined, d.body, HMAC_SECRET, nowSec).ok).toBe(
      true,
    );
    expect(d.headers['content-type']).toMatch(/^application\/json/);
    const first = byKey.get(d.key);
    if (first === undefined) byKey.set(d.key, d.body);
    else expect(d.body, `copies of ${d.key}`).toBe(first);
  }
}

/** What the receiver heard of a conversation, one per idempotency key, ordered by start. */
function webhookHeard(conversationId: string): Heard[] {
  const byKey = new Map<string, Heard>();
  for (const d of deliveriesFor(conversationId)) {
    if (d.status === 200 && !byKey.has(d.key)) byKey.set(d.key, heardOf(d.message, d.key));
  }
  return [...byKey.values()].sort((a, b) => a.startMs - b.startMs);
}

function summary(segment: SegmentView, role: Role): RoleSummary {
  return segment[role].summary;
}

function countByRole(heard: readonly Heard[], role: Role): number {
  return heard.filter((u) => u.role === role).length;
}

beforeAll(async () => {
  // Real recognition is the point: without pocketsphinx the endpoint answers placeholder words and every
  // text assertion would fail for the wrong reason.
  expect(pocketsphinxAvailable(), 'pocketsphinx_continuous is required (npm run bootstrap installs it)').toBe(true);
  dataDir = mkdtempSync(join(tmpdir(), 'ahx-e2e-flows-'));
  receiver = await startWebhookReceiver();
  stack = await startLocalStack({ name: 'flows', dataDir, env: stackEnv() });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

describe('end to end through the local stack (npm start)', { timeout: 90_000 }, () => {
  let sub: Subscriber | undefined;
  const subscribe = async (conversationId: string) => {
    sub = await stack.subscribe(conversationId);
    return sub;
  };
  afterEach(async (ctx) => {
    await sub?.close();
    sub = undefined;
    // The stack's own log is the first thing to read when a flow fails.
    if (ctx.task.result?.state === 'fail') {
      // Retry lines of a webhook that is down on purpose would drown everything else.
      printLogTail(stack, (l) => !l.includes('webhook attempt failed'));
    }
  });

  it('honours a start that arrives before the AudioHook session opens: transcribed from the first word', async () => {
    const guid = newConversation();
    const lines: CallLine[] = [
      { role: 'agent', fixture: greeting, atMs: 300 },
      { role: 'customer', fixture: orderStatus, atMs: 3_800 },
    ];
    const live = await subscribe(guid);
    const start = await startStreaming(stack, guid);
    const result = await play(guid, lines, 7_500);
    await stopStreaming(stack, guid);
    const segment = await closedSegment(stack, guid);

    expect(result.outcome, result.failure).toBe('closed');
    // No pause round trip at all: the session opened streaming.
    expect(result.opened?.startPaused).toBe(false);
    expect(exchanged(result, 'in', 'pause')).toHaveLength(0);

    const messages = await messagesOf(stack, guid);
    const heard = await awaitPushes(live.messages, guid, messages.length);
    expect(heard.map((u) => u.role)).toEqual(['agent', 'customer']);
    for (const line of lines) expectLineTranscribed(heard, line);
    expectNoDuplicates(heard);
    expectMessagesMatch(messages, heard);
    expectSenders(heard, guid, start);
    // The call ended while transcription was on: the segment is everything the client sent.
    for (const role of ROLES) {
      expect(summary(segment, role).audioDurationMs, role).toBe(result.audioMsSent);
      expect(summary(segment, role).totalAudioBytes, role).toBe(result.audioMsSent * 16);
      expect(summary(segment, role).transcripts, role).toBe(countByRole(heard, role));
    }
  });

  it('transcribes a two-party call started and stopped mid-call: roles, order, offsets, summary, live pushes and webhook', async () => {
    const guid = newConversation();
    const lines: CallLine[] = [
      { role: 'agent', fixture: greeting, atMs: 2_500 },
      { role: 'customer', fixture: orderStatus, atMs: 6_500 },
    ];
    const live = await subscribe(guid);
    const clock = callClock();
    const call = play(guid, lines, 15_000);
    await clock.at(1_000);
    const start = await startStreaming(stack, guid);
    // 3 s after the customer's last word: the stop lands in silence, while the call goes on.
    await clock.at(12_000);
    const stop = await stopStreaming(stack, guid);
    const result = await call;
    const segment = await closedSegment(stack, guid);

    expect(result.outcome, result.failure).toBe('closed');
    // Opened before any start: paused, resumed by the start, paused again by the stop.
    expect(result.opened?.startPaused).toBe(true);
    expect(exchanged(result, 'in', 'resume')).toHaveLength(1);
    expect(exchanged(result, 'in', 'pause')).toHaveLength(1);
    // Both answers name the same segment's streams.
    for (const role of ROLES) {
      expect(stop.autotranscribeResponse[role].streamId).toBe(start.autotranscribeResponse[role].streamId);
      expect(segment[role].streamId).toBe(start.autotranscribeResponse[role].streamId);
    }

    const messages = await messagesOf(stack, guid);
    expect(messages.map((m) => m.sender.role)).toEqual(['agent', 'customer']);
    const heard = await awaitPushes(live.messages, guid, messages.length);
    expect(heard).toHaveLength(messages.length);
    for (const line of lines) expectLineTranscribed(heard, line);
    expectNoDuplicates(heard);
    expectMessagesMatch(messages, heard);
    expectSenders(heard, guid, start);

    // The summary is the segment: the audio forwarded between the start and the stop (all the client
    // sent, less the frames in flight when `pause` crossed them), as 16-bit PCM bytes.
    for (const role of ROLES) {
      const s = summary(segment, role);
      expect(s.audioDurationMs, role).toBeLessThanOrEqual(result.audioMsSent);
      expect(s.audioDurationMs, role).toBeGreaterThanOrEqual(result.audioMsSent - 2 * FRAME_MS);
      expect(s.audioDurationMs, role).toBeGreaterThan(8_000);
      expect(s.totalAudioBytes, role).toBe(s.audioDurationMs * 16);
      expect(s.transcripts, role).toBe(countByRole(heard, role));
      expect(s.streamingSeconds, role).toBeGreaterThanOrEqual(8);
    }

    // The webhook got the same utterances, keyed by their ids, signed.
    await eventually(() => acceptedKeys(guid).size >= heard.length, 15_000, 'the webhook deliveries');
    expectWebhookIntegrity(guid);
    expect(webhookHeard(guid)).toEqual(heard);
  });

  it('never transcribes the audio of a hold (stop … start), and opens a fresh segment for the second start', async () => {
    const guid = newConversation();
    const transcribed: CallLine[] = [
      { role: 'agent', fixture: greeting, atMs: 1_500 },
      { role: 'customer', fixture: orderStatus, atMs: 16_000 },
    ];
    const onHold: CallLine = { role: 'customer', fixture: pin, atMs: 7_500 };
    const live = await subscribe(guid);
    const clock = callClock();
    const call = play(guid, [...transcribed, onHold], 21_000);
    await clock.at(500);
    const first = await startStreaming(stack, guid);
    await clock.at(6_000);
    // The second start does not wait for the stop's answer (which waits for the segment's last finals).
    const holding = stopStreaming(stack, guid);
    await clock.at(11_000);
    const second = await startStreaming(stack, guid);
    const hold = await holding;
    const result = await call;
    const end = await stopStreaming(stack, guid);
    const [held, resumedSegment] = (await closedSegments(stack, guid, 2)) as [SegmentView, SegmentView];

    expect(result.outcome, result.failure).toBe('closed');
    for (const role of ROLES) {
      expect(hold.autotranscribeResponse[role].streamId).toBe(first.autotranscribeResponse[role].streamId);
      // A new segment has new streams.
      expect(second.autotranscribeResponse[role].streamId).not.toBe(first.autotranscribeResponse[role].streamId);
      expect(end.autotranscribeResponse[role].streamId).toBe(second.autotranscribeResponse[role].streamId);
    }
    // The hold as the client lived it: paused by the gateway, resumed with the span it never sent.
    const resumed = exchanged(result, 'out', 'resumed');
    expect(resumed).toHaveLength(2); // after startPaused, and after the hold
    const holdStart = durationMs(resumed[1]?.start);
    const holdEnd = holdStart + durationMs(resumed[1]?.discarded);
    const pinSpan = speechSpan(onHold);
    expect(holdStart).toBeLessThan(pinSpan.startMs);
    expect(holdEnd).toBeGreaterThan(pinSpan.endMs);

    const messages = await messagesOf(stack, guid);
    const heard = await awaitPushes(live.messages, guid, messages.length);
    expect(heard.map((u) => u.role)).toEqual(['agent', 'customer']);
    for (const line of transcribed) expectLineTranscribed(heard, line);
    for (const u of heard) {
      expect(u.endMs <= holdStart || u.startMs >= holdEnd, `"${u.text}" ${u.startMs}-${u.endMs} in the hold`).toBe(
        true,
      );
      expect(u.text).not.toMatch(PIN_WORDS);
    }
    expectNoDuplicates(heard);
    expectMessagesMatch(messages, heard);
    // Each utterance belongs to the segment it was spoken in.
    expect(heard.map((u) => u.streamId)).toEqual([
      first.autotranscribeResponse.agent.streamId,
      second.autotranscribeResponse.customer.streamId,
    ]);
    expect(summary(held, 'agent').transcripts).toBe(1);
    expect(summary(held, 'customer').transcripts).toBe(0);
    expect(summary(resumedSegment, 'customer').transcripts).toBe(1);
    expect(summary(resumedSegment, 'agent').transcripts).toBe(0);
    // The hold is in neither segment: they add up to what the client sent.
    for (const role of ROLES) {
      expect(summary(held, role).audioDurationMs + summary(resumedSegment, role).audioDurationMs).toBeLessThanOrEqual(
        result.audioMsSent,
      );
    }
  });

  it('keeps times on the conversation timeline across a client pause and a discard, and transcribes neither gap', async () => {
    const guid = newConversation();
    const transcribed: CallLine[] = [
      { role: 'agent', fixture: greeting, atMs: 500 },
      { role: 'customer', fixture: orderStatus, atMs: 11_500 },
    ];
    // Spoken while the client is paused, and inside the span it discards: never sent.
    const unsent: CallLine[] = [
      { role: 'customer', fixture: pin, atMs: 4_300 },
      { role: 'customer', fixture: pin, atMs: 8_100 },
    ];
    const live = await subscribe(guid);
    await startStreaming(stack, guid);
    const result = await play(guid, [...transcribed, ...unsent], 15_500, {
      actions: [
        { atMs: 4_000, action: 'pause' },
        { atMs: 7_500, action: 'resume' },
        { atMs: 8_000, action: 'discard', ms: 3_000 },
      ],
    });
    await stopStreaming(stack, guid);
    const segment = await closedSegment(stack, guid);

    expect(result.outcome, result.failure).toBe('closed');
    const resumed = exchanged(result, 'out', 'resumed');
    expect(resumed).toHaveLength(1);
    expect(durationMs(resumed[0]?.start)).toBe(4_000);
    expect(durationMs(resumed[0]?.discarded)).toBe(3_600); // resumed at the first frame boundary after 7.5 s
    const discarded = exchanged(result, 'out', 'discarded');
    expect(discarded.map((d) => [durationMs(d.start), durationMs(d.discarded)])).toEqual([[8_000, 3_000]]);
    expect(result.audioMsSent).toBe(15_500 - 3_600 - 3_000);

    const messages = await messagesOf(stack, guid);
    const heard = await awaitPushes(live.messages, guid, messages.length);
    expect(heard.map((u) => u.role)).toEqual(['agent', 'customer']);
    // Had offsets been counted in sent audio, the customer's line would sit 6.6 s early.
    for (const line of transcribed) expectLineTranscribed(heard, line);
    for (const u of heard) expect(u.text).not.toMatch(PIN_WORDS);
    expectNoDuplicates(heard);
    expectMessagesMatch(messages, heard);
    for (const role of ROLES) {
      expect(summary(segment, role).audioDurationMs, role).toBe(result.audioMsSent);
      expect(summary(segment, role).transcripts, role).toBe(countByRole(heard, role));
    }
  });

  it('keeps two concurrent calls apart: each conversation gets only its own utterances, ids and pushes', async () => {
    const x = newConversation();
    const y = newConversation();
    // The same two lines with the roles and order swapped: a leak shows as an extra or misplaced utterance.
    const xLines: CallLine[] = [
      { role: 'agent', fixture: greeting, atMs: 300 },
      { role: 'customer', fixture: orderStatus, atMs: 3_500 },
    ];
    const yLines: CallLine[] = [
      { role: 'customer', fixture: orderStatus, atMs: 300 },
      { role: 'agent', fixture: greeting, atMs: 3_500 },
    ];
    const subX = await stack.subscribe(x);
    const subY = await stack.subscribe(y);
    try {
      const [startX, startY] = await Promise.all([startStreaming(stack, x), startStreaming(stack, y)]);
      const [resX, resY] = await Promise.all([play(x, xLines, 6_500), play(y, yLines, 6_500)]);
      await Promise.all([stopStreaming(stack, x), stopStreaming(stack, y)]);
      await Promise.all([closedSegment(stack, x), closedSegment(stack, y)]);

      expect(resX.outcome, resX.failure).toBe('closed');
      expect(resY.outcome, resY.failure).toBe('closed');
      for (const role of ROLES) {
        expect(startX.autotranscribeResponse[role].streamId).not.toBe(startY.autotranscribeResponse[role].streamId);
      }
      const [msgX, msgY] = await Promise.all([messagesOf(stack, x), messagesOf(stack, y)]);
      const heardX = await awaitPushes(subX.messages, x, msgX.length);
      const heardY = await awaitPushes(subY.messages, y, msgY.length);
      expect(heardX.map((u) => u.role)).toEqual(['agent', 'customer']);
      expect(heardY.map((u) => u.role)).toEqual(['customer', 'agent']);
      for (const line of xLines) expectLineTranscribed(heardX, line);
      for (const line of yLines) expectLineTranscribed(heardY, line);
      expectMessagesMatch(msgX, heardX);
      expectMessagesMatch(msgY, heardY);
      expectSenders(heardX, x, startX);
      expectSenders(heardY, y, startY);
      // Each subscriber was pushed its own conversation only.
      expect(subX.transcripts().every((m) => m.externalConversationId === x)).toBe(true);
      expect(subY.transcripts().every((m) => m.externalConversationId === y)).toBe(true);
      const idsX = new Set(heardX.map((u) => u.utteranceId));
      expect(heardY.some((u) => idsX.has(u.utteranceId))).toBe(false);
    } finally {
      await subX.close();
      await subY.close();
    }
  });

  it('delivers to a webhook receiver that was down once it is back: nothing lost, copies only under one idempotency key', async () => {
    const guid = newConversation();
    const lines: CallLine[] = [
      { role: 'agent', fixture: greeting, atMs: 500 },
      { role: 'customer', fixture: orderStatus, atMs: 4_000 },
    ];
    const live = await subscribe(guid);
    await receiver.goDown();
    let messages: ApiMessage[] = [];
    try {
      await startStreaming(stack, guid);
      const result = await play(guid, lines, 8_000);
      await stopStreaming(stack, guid);
      await closedSegment(stack, guid);
      expect(result.outcome, result.failure).toBe('closed');
      messages = await messagesOf(stack, guid);
      expect(messages.map((m) => m.sender.role)).toEqual(['agent', 'customer']);
      // Down: connections refused while the fan-out keeps retrying.
      await sleep(2_000);
      expect(deliveriesFor(guid)).toHaveLength(0);
      // The WebSocket subscriber is not held back by the webhook outage: the stream is retried with a
      // fresh read, and every retry pushes what it has not pushed yet.
      const early = await awaitPushes(live.messages, guid, messages.length);
      expect(early.map((u) => u.text)).toEqual(messages.map((m) => m.text));
      expect(deliveriesFor(guid)).toHaveLength(0);
    } finally {
      // Back (also when the flow failed: later flows need the receiver), with two more failures (503)
      // before it accepts.
      receiver.failNext(2);
      await receiver.comeBack();
    }
    await eventually(() => acceptedKeys(guid).size >= messages.length, 30_000, 'the redelivered utterances');
    const heard = await awaitPushes(live.messages, guid, messages.length);
    for (const line of lines) expectLineTranscribed(heard, line);
    expectMessagesMatch(messages, heard);
    const all = deliveriesFor(guid);
    expect(all.filter((d) => d.status === 503).length).toBe(2);
    // The first request that got through was already a retry of the attempts refused while down.
    expect(Number(all[0]?.headers['x-delivery-attempt'])).toBeGreaterThan(1);
    expectWebhookIntegrity(guid);
    // Exactly the stored utterances, each under its own key: nothing lost, nothing extra.
    expect([...acceptedKeys(guid)].sort()).toEqual(heard.map((u) => u.utteranceId).sort());
    expect(webhookHeard(guid)).toEqual(heard);
    // Per-conversation order held through the outage: first acceptances in stream (start) order.
    const firstAccepted = [...new Set(all.filter((d) => d.status === 200).map((d) => d.key))];
    expect(firstAccepted).toEqual(heard.map((u) => u.utteranceId));
  });

  it('loses no utterance and stores none twice when Transcribe fails mid-call', async () => {
    const guid = newConversation();
    const lines: CallLine[] = [
      { role: 'agent', fixture: greeting, atMs: 500 },
      { role: 'customer', fixture: orderStatus, atMs: 4_000 },
    ];
    const live = await subscribe(guid);
    const before = await stack.transcribeStats();
    // Armed for the next stream: this call's, 2 s of audio in, inside the agent's line.
    await stack.transcribeFaults({ errorMidStream: { afterAudioMs: 2_000, type: 'InternalFailureException' } });
    await startStreaming(stack, guid);
    // Trailing silence lets the recognizer work off the re-sent audio before the segment's end budget.
    const result = await play(guid, lines, 11_000);
    await stopStreaming(stack, guid);
    const segment = await closedSegment(stack, guid);
    const after = await stack.transcribeStats();

    expect(result.outcome, result.failure).toBe('closed');
    expect((after.exceptions.InternalFailureException ?? 0) - (before.exceptions.InternalFailureException ?? 0)).toBe(
      1,
    );
    // The failed stream was replaced (and its unfinished audio re-sent on the new one).
    expect(after.streamsStarted - before.streamsStarted).toBeGreaterThanOrEqual(2);
    const messages = await messagesOf(stack, guid);
    const heard = await awaitPushes(live.messages, guid, messages.length);
    expect(heard.map((u) => u.role)).toEqual(['agent', 'customer']);
    for (const line of lines) expectLineTranscribed(heard, line);
    expectNoDuplicates(heard);
    expectMessagesMatch(messages, heard);
    // Re-sent audio is not counted twice.
    for (const role of ROLES) {
      expect(summary(segment, role).audioDurationMs, role).toBe(result.audioMsSent);
      expect(summary(segment, role).transcripts, role).toBe(countByRole(heard, role));
    }
  });

  describe('a gateway SIGTERM mid-call, then a restart on the same data', () => {
    const guid = randomUUID();
    const lines: CallLine[] = [
      { role: 'agent', fixture: greeting, atMs: 500 },
      { role: 'customer', fixture: orderStatus, atMs: 4_000 },
    ];

    it('drains: health 503, new sessions refused, the live call gets disconnect{error} after the drain timeout', async () => {
      conversations.push(guid);
      const gatewayPid = stack.endpoints.processes?.gateway;
      expect(gatewayPid, 'endpoints.json processes.gateway').toBeTypeOf('number');
      await startStreaming(stack, guid);
      const clock = callClock();
      const call = play(guid, lines, 25_000);
      // Just after the customer's last word (6.56 s): its final may not be stored yet.
      await clock.at(7_000);
      const signalled = performance.now();
      process.kill(gatewayPid as number, 'SIGTERM');
      await eventually(
        async () => (await fetch(stack.endpoints.gateway.health).catch(() => undefined))?.status === 503,
        3_000,
        'gateway health 503',
      );
      const refused = await stack.simulate({ audio: buildCall([], 2_000), speed: 1, record: 'none' });
      expect(refused.outcome).toBe('rejected');
      expect(refused.httpStatus).toBe(503);
      const result = await call;
      const heldMs = performance.now() - signalled;

      expect(result.outcome).toBe('disconnected');
      expect(result.disconnect?.reason).toBe('error');
      // The call was kept through the drain window (DRAIN_TIMEOUT_SEC=5 locally), not cut at the signal,
      // and ended well before its own end.
      expect(heldMs).toBeGreaterThanOrEqual(4_500);
      expect(result.positionMs).toBeLessThan(20_000);
      // The local stack follows its gateway down; nothing it started may outlive it.
      await stack.exited;
      await stack.stop();
    });

    it('keeps what was said before the SIGTERM: stored, closed with its summary, and still delivered after a restart', async () => {
      stack = await startLocalStack({ name: 'flows-restarted', dataDir, fresh: false, env: stackEnv() });
      // The drained session closed its segment (the call ended while transcription was on) with the
      // summary of what it heard, before the gateway exited: no stop needed.
      const segment = await closedSegment(stack, guid);
      for (const role of ROLES) expect(summary(segment, role).transcripts, role).toBe(1);
      const messages = await messagesOf(stack, guid);
      expect(messages.map((m) => m.sender.role)).toEqual(['agent', 'customer']);
      const ids = participants(guid);
      expect(messages.map((m) => m.sender.externalId)).toEqual([ids.agentId, ids.customerId]);
      const [agent, customer] = messages as [ApiMessage, ApiMessage];
      expect(wordErrorRate(greeting.text, agent.text).wer, agent.text).toBeLessThanOrEqual(MAX_WER);
      expect(wordErrorRate(orderStatus.text, customer.text).wer, customer.text).toBeLessThanOrEqual(MAX_WER);
      // Offsets on one timeline: the two lines start (4.18 − 0.84) s apart.
      const apart = Date.parse(customer.clientTimestamp) - Date.parse(agent.clientTimestamp);
      const expected = speechSpan(lines[1] as CallLine).startMs - speechSpan(lines[0] as CallLine).startMs;
      expect(Math.abs(apart - expected)).toBeLessThanOrEqual(2 * BOUNDARY_TOLERANCE_MS);
      // Whatever the fan-out had not delivered when the stack went down, it delivers after the restart.
      await eventually(() => acceptedKeys(guid).size >= messages.length, 20_000, 'deliveries after the restart');
      expect(acceptedKeys(guid).size).toBe(messages.length);
      expectWebhookIntegrity(guid);
    });
  });

  it("exports the day's calls to the local S3 feed: one row per stored utterance", async () => {
    const stored = new Map<string, ApiMessage & { conversationId: string }>();
    for (const c of conversations) {
      for (const m of await messagesOf(stack, c)) stored.set(m.messageId, { ...m, conversationId: c });
    }
    // Whatever the flows above stored (each checked its own): the feed must hold exactly that.
    expect(stored.size).toBeGreaterThan(0);
    // Rows are partitioned by the day each utterance was stored (a run across midnight spans two).
    const days = [...new Set([...stored.values()].map((m) => m.createdTimestamp.slice(0, 10)))];
    const rows = await exportedRows(stack, days);
    // Exactly the stored utterances of this run's calls, once each, with what the API serves.
    expect(rows.map((r) => r.message_id).sort()).toEqual([...stored.keys()].sort());
    for (const r of rows) {
      const m = stored.get(r.message_id as string);
      expect(m).toBeDefined();
      expect(r.external_conversation_id).toBe(m?.conversationId);
      expect(r.sender_role).toBe(m?.sender.role);
      expect(r.sender_id).toBe(m?.sender.externalId);
      expect(r.utterance).toBe(m?.text);
      expect(r.created_ts).toBe(m?.createdTimestamp);
      expect(r.utterance_end_ms).toBeGreaterThan(r.utterance_start_ms);
    }
    expect(new Set(rows.map((r) => r.event_uuid)).size).toBe(rows.length);
  });
});

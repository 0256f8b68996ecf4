/**
 * What the end-to-end flows share: the REST calls of a call's life (start, stop, messages) through the
 * local stack, and the checks every flow makes on what came out, all through public surfaces (the REST
 * API, the WebSocket API's pushes, the webhook).
 *
 * Thresholds (the same recognizer and pipeline as test/integration/pipeline.test.ts, which measured them):
 * - Boundaries within 300 ms of the fixtures' known speech start/end on the conversation timeline
 *   (measured ≤ 80 ms: pocketsphinx's word times, the 8→16 kHz resampler and the 100 ms chunks).
 * - WER ≤ 0.25 per line: pocketsphinx with Debian's en-us model reads these flite voices with no error
 *   here; 0.25 tolerates two word substitutions per sentence across model builds, while a lost utterance
 *   (all deletions) or a duplicated one (all insertions) scores ≥ 1.0 for its line.
 */
import { expect } from 'vitest';
import type { Role } from '../../core/audio/roles';
import type { SimulatedSessionResult } from '../../local/simulator/options';
import { wordErrorRate } from '../../local/transcribe/wer';
import { type CallLine, speechSpan } from '../fargate/control/pipeline-harness';
import { eventually, type LocalStack, type PushedMessage } from './harness';

export { buildCall, type CallLine, loadFixture, speechSpan } from '../fargate/control/pipeline-harness';

export const BOUNDARY_TOLERANCE_MS = 300;
export const MAX_WER = 0.25;
/** The simulator's 200 ms frames, in 8 kHz samples. */
export const FRAME_MS = 200;

/** An utterance as a WebSocket subscriber (or the webhook) received it. */
export interface Heard {
  utteranceId: string;
  streamId: string;
  role: Role;
  externalId: string | null;
  startMs: number;
  endMs: number;
  text: string;
}

/** A message of GET /conversation/v1/conversation/messages. */
export interface ApiMessage {
  text: string;
  sender: { role: Role; externalId: string | null };
  messageId: string;
  createdTimestamp: string;
  clientTimestamp: string;
}

/** A start/stop answer's per-role part. */
export interface RoleAnswer {
  streamId: string;
  status: { code: number; description: string };
  summary?: { totalAudioBytes: number; audioDurationMs: number; streamingSeconds: number; transcripts: number };
}

/** A start/stop answer. */
export interface StartStopAnswer {
  isOk: boolean;
  autotranscribeResponse: Record<Role, RoleAnswer>;
}

/** The participant ids a flow's start-streaming names (distinct per conversation, so leaks show). */
export function participants(conversationId: string): { customerId: string; agentId: string } {
  const tag = conversationId.slice(0, 8);
  return { customerId: `cust-${tag}`, agentId: `agent-${tag}` };
}

/** POST start-streaming (unredacted, so the fixtures' digits stay words); expects 200 isOk. */
export async function startStreaming(stack: LocalStack, conversationId: string): Promise<StartStopAnswer> {
  const res = await stack.api('/mg-autotranscribe/v1/start-streaming', {
    json: {
      namespace: 'genesysaudiohook',
      guid: conversationId,
      ...participants(conversationId),
      autotranscribeParams: { redactionOutput: 'unredacted', language: 'en-US' },
    },
  });
  const body = (await res.json()) as StartStopAnswer;
  expect(res.status, JSON.stringify(body)).toBe(200);
  expect(body.isOk).toBe(true);
  for (const role of ['customer', 'agent'] as Role[]) {
    expect(body.autotranscribeResponse[role].status.code).toBe(1000);
  }
  return body;
}

/** POST stop-streaming; expects 200 isOk with a summary per role. */
export async function stopStreaming(stack: LocalStack, conversationId: string): Promise<StartStopAnswer> {
  const res = await stack.api('/mg-autotranscribe/v1/stop-streaming', {
    json: { namespace: 'genesysaudiohook', guid: conversationId },
  });
  const body = (await res.json()) as StartStopAnswer;
  expect(res.status, JSON.stringify(body)).toBe(200);
  expect(body.isOk).toBe(true);
  for (const role of ['customer', 'agent'] as Role[]) expect(body.autotranscribeResponse[role].summary).toBeDefined();
  return body;
}

/** Per-role summary of a segment (api-contract.md §1.2). */
export interface RoleSummary {
  totalAudioBytes: number;
  audioDurationMs: number;
  streamingSeconds: number;
  transcripts: number;
}

/** One segment of the status route's view. */
export interface SegmentView {
  segment: number;
  state: 'pending' | 'active' | 'closing' | 'closed';
  sessionId?: string;
  customer: { streamId: string; summary: RoleSummary };
  agent: { streamId: string; summary: RoleSummary };
}

/**
 * Waits until the conversation has `count` segments, all closed, and returns them (status route, oldest
 * first). A closed segment has had its finals stored and its summary written: the stop answers within
 * STOP_WAIT_MS with the counters so far when the recognizer lags (a loaded machine), so flows read the
 * final summaries here instead.
 */
export async function closedSegments(
  stack: LocalStack,
  conversationId: string,
  count: number,
  timeoutMs = 30_000,
): Promise<SegmentView[]> {
  let segments: SegmentView[] = [];
  await eventually(
    async () => {
      const res = await stack.api(`/mg-autotranscribe/v1/conversations/${conversationId}/status`);
      if (res.status !== 200) return false;
      segments = ((await res.json()) as { segments: SegmentView[] }).segments;
      return segments.length >= count && segments.every((s) => s.state === 'closed');
    },
    timeoutMs,
    `${count} closed segment(s) of ${conversationId}`,
  );
  expect(segments).toHaveLength(count);
  return segments;
}

/** {@link closedSegments} of a conversation that has exactly one. */
export async function closedSegment(stack: LocalStack, conversationId: string): Promise<SegmentView> {
  return (await closedSegments(stack, conversationId, 1))[0] as SegmentView;
}

/** GET the conversation's messages; expects 200. */
export async function messagesOf(stack: LocalStack, conversationId: string): Promise<ApiMessage[]> {
  const res = await stack.api(`/conversation/v1/conversation/messages?externalId=${conversationId}`);
  const body = (await res.json()) as { items: ApiMessage[] };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.items;
}

/** A pushed (or POSTed) `transcript` message as a {@link Heard}. */
export function heardOf(m: PushedMessage | Record<string, unknown>, utteranceId?: string): Heard {
  const r = m as {
    utteranceId?: string;
    streamId: string;
    sender: { role: Role; externalId: string | null };
    autotranscribeResponse: { start: number; end: number; utterance: Array<{ text: string }> };
  };
  return {
    utteranceId: utteranceId ?? r.utteranceId ?? '',
    streamId: r.streamId,
    role: r.sender.role,
    externalId: r.sender.externalId,
    startMs: r.autotranscribeResponse.start,
    endMs: r.autotranscribeResponse.end,
    text: r.autotranscribeResponse.utterance[0]?.text ?? '',
  };
}

/** The subscriber's transcripts of one conversation, ordered by start (arrival order is not promised across roles). */
export function pushedFor(messages: readonly PushedMessage[], conversationId: string): Heard[] {
  return messages
    .filter((m) => m.type === 'transcript' && m.externalConversationId === conversationId)
    .map((m) => heardOf(m))
    .sort((a, b) => a.startMs - b.startMs);
}

/** Waits until the subscriber holds `count` transcripts of the conversation. */
export async function awaitPushes(
  messages: readonly PushedMessage[],
  conversationId: string,
  count: number,
  timeoutMs = 15_000,
): Promise<Heard[]> {
  await eventually(
    () => pushedFor(messages, conversationId).length >= count,
    timeoutMs,
    `${count} pushed transcripts of ${conversationId}`,
  );
  return pushedFor(messages, conversationId);
}

/** What a line produced: its role's utterances around its speech, the boundary errors and the WER. */
export function lineReport(heard: readonly Heard[], line: CallLine) {
  const span = speechSpan(line);
  const mine = heard.filter(
    (u) => u.role === line.role && u.endMs > span.startMs - 1000 && u.startMs < span.endMs + 1000,
  );
  const text = mine.map((u) => u.text).join(' ');
  return {
    utterances: mine.length,
    startErrMs: mine.length > 0 ? Math.min(...mine.map((u) => u.startMs)) - span.startMs : Number.NaN,
    endErrMs: mine.length > 0 ? Math.max(...mine.map((u) => u.endMs)) - span.endMs : Number.NaN,
    wer: wordErrorRate(line.fixture.text, text).wer,
    text,
  };
}

/** The line was heard on its role, at its place on the conversation timeline, with its words. */
export function expectLineTranscribed(heard: readonly Heard[], line: CallLine): void {
  const r = lineReport(heard, line);
  const what = `${line.role} "${line.fixture.text}" → "${r.text}" (start ${r.startErrMs} ms, end ${r.endErrMs} ms, WER ${r.wer.toFixed(2)})`;
  expect(r.utterances, what).toBeGreaterThan(0);
  expect(Math.abs(r.startErrMs), what).toBeLessThanOrEqual(BOUNDARY_TOLERANCE_MS);
  expect(Math.abs(r.endErrMs), what).toBeLessThanOrEqual(BOUNDARY_TOLERANCE_MS);
  expect(r.wer, what).toBeLessThanOrEqual(MAX_WER);
}

/** No utterance id twice, and per role no overlap (a duplicate would overlap its original). */
export function expectNoDuplicates(heard: readonly Heard[]): void {
  expect(new Set(heard.map((u) => u.utteranceId)).size).toBe(heard.length);
  for (const role of ['customer', 'agent'] as Role[]) {
    const mine = heard.filter((u) => u.role === role).sort((a, b) => a.startMs - b.startMs);
    for (let i = 1; i < mine.length; i++) {
      expect((mine[i] as Heard).startMs).toBeGreaterThanOrEqual((mine[i - 1] as Heard).endMs);
    }
  }
}

/**
 * The messages API says what the subscriber heard: same utterances (role, text, sender) in the same
 * chronological order, and `clientTimestamp`s apart exactly as the utterances' offsets (one session's
 * timeline origin plus the start offset).
 */
export function expectMessagesMatch(messages: readonly ApiMessage[], heard: readonly Heard[]): void {
  expect(messages.map((m) => [m.sender.role, m.text])).toEqual(heard.map((u) => [u.role, u.text]));
  expect(messages.map((m) => m.sender.externalId)).toEqual(heard.map((u) => u.externalId));
  expect(new Set(messages.map((m) => m.messageId)).size).toBe(messages.length);
  const first = messages[0];
  const firstHeard = heard[0];
  if (!first || !firstHeard) return;
  const origin = Date.parse(first.clientTimestamp) - firstHeard.startMs;
  messages.forEach((m, i) => {
    expect(Date.parse(m.clientTimestamp) - origin, m.text).toBe((heard[i] as Heard).startMs);
  });
}

/** Each utterance names its conversation's participant id for its role and the segment's stream id. */
export function expectSenders(heard: readonly Heard[], conversationId: string, answer: StartStopAnswer): void {
  const ids = participants(conversationId);
  for (const u of heard) {
    expect(u.externalId).toBe(u.role === 'customer' ? ids.customerId : ids.agentId);
    expect(u.streamId).toBe(answer.autotranscribeResponse[u.role].streamId);
  }
}

/** The parameters of the client's (`out`) or server's (`in`) messages of one type, in order. */
export function exchanged(
  result: SimulatedSessionResult,
  dir: 'in' | 'out',
  type: string,
): Array<Record<string, unknown>> {
  return result.exchange
    .filter((e) => e.dir === dir && (e.message as { type?: string } | undefined)?.type === type)
    .map((e) => (e.message as { parameters: Record<string, unknown> }).parameters);
}

/** `PT1.25S` → 1250. */
export function durationMs(value: unknown): number {
  const m = /^PT(\d+(?:\.\d+)?)S$/.exec(String(value));
  if (!m) throw new Error(`not an AudioHook duration: ${String(value)}`);
  return Math.round(Number(m[1]) * 1000);
}

/** Resolves after `ms` of wall time. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Where a simulated call (speed 1) is on its timeline: wall time since `simulate` was called, less the
 * time to open. Control changes are placed ≥ 1.5 s away from any speech so this estimate is plenty.
 */
export function callClock(): { at(ms: number): Promise<void> } {
  const began = performance.now();
  // Upgrade + open on loopback take well under this; waiting a little late is the safe direction.
  const openAllowanceMs = 250;
  return {
    at: (ms) => sleep(Math.max(0, began + openAllowanceMs + ms - performance.now())),
  };
}

/**
 * Transcription Connector end to end on loopback: the AudioHook simulator plays a stereo call (customer on
 * `external`, agent on `internal`) into the real gateway; the ConversationController streams through the
 * real Transcribe SDK client to the local Transcribe-compatible endpoint (scripted recognizer: it hears
 * speech energy and reports fixed words, so the test is fast and deterministic) and stores in DynamoDB
 * Local. With the connector on, every stored utterance comes back to the client as an `event` with one
 * `transcript` entity, all of them before `closed` (docs/audiohook-protocol.md §5.3).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDurationSeconds } from '../../../core/audiohook/duration';
import type { TranscriptEntityData } from '../../../core/audiohook/messages';
import type { StartParams } from '../../../core/conversation/conversation';
import { runSimulatedSession } from '../../../local/simulator/client';
import type { SimulatedSessionResult } from '../../../local/simulator/options';
import { createScriptedRecognizer } from '../../../local/transcribe/recognizer';
import type { StoredUtterance } from '../../../store/utterances';
import { setupDynamoDb, type TestDynamoDb } from '../../helpers/dynamodb';
import {
  buildCall,
  type CallLine,
  HARNESS_KEY,
  loadFixture,
  type PipelineHarness,
  startPipelineHarness,
} from '../control/pipeline-harness';

/** Recognizer channel 0 carries `external` (the customer), channel 1 `internal` (the agent). */
const CUSTOMER_WORDS = ['my', 'pin', 'is', 'four', 'seven', 'one', 'one'];
const AGENT_WORDS = ['thank', 'you', 'for', 'calling'];

const greeting = loadFixture('greeting');
const orderStatus = loadFixture('order-status');
const LINES: CallLine[] = [
  { role: 'agent', fixture: greeting, atMs: 400 },
  { role: 'customer', fixture: orderStatus, atMs: 4_000 },
];

let db: TestDynamoDb;
let h: PipelineHarness;

beforeAll(async () => {
  db = await setupDynamoDb();
  h = await startPipelineHarness({
    db,
    recognizer: createScriptedRecognizer({ words: (_i, channel) => (channel === 0 ? CUSTOMER_WORDS : AGENT_WORDS) }),
  });
});

afterAll(async () => {
  await h?.close();
  await db?.stop();
});

async function playCall(
  params: Partial<StartParams>,
  customConfig?: Record<string, unknown>,
): Promise<{ result: SimulatedSessionResult; stored: StoredUtterance[] }> {
  const conversationId = randomUUID();
  await h.startTranscription(conversationId, params);
  const result = await runSimulatedSession({
    uri: h.url,
    apiKey: HARNESS_KEY.apiKey,
    clientSecret: HARNESS_KEY.clientSecret,
    conversationId,
    audio: buildCall(LINES, 7_500),
    speed: 4,
    record: 'text',
    ...(customConfig !== undefined && { customConfig }),
  });
  return { result, stored: await h.listUtterances(conversationId) };
}

/** Types of the server's messages as the client received them, `closed` included, in order. */
function receivedTypes(result: SimulatedSessionResult): string[] {
  return result.exchange
    .filter((e) => e.dir === 'in' && e.message !== undefined)
    .map((e) => (e.message as { type: string }).type);
}

function textOf(t: TranscriptEntityData): string | undefined {
  return t.alternatives[0]?.interpretations[0]?.transcript;
}

describe('Transcription Connector through the gateway', () => {
  it('sends every stored utterance back as a transcript event, in order, before closed', async () => {
    const { result, stored } = await playCall(
      { redactionOutput: 'unredacted', detailedToken: true },
      { transcriptionConnector: true },
    );
    expect(result.outcome, result.failure).toBe('closed');
    expect(result.protocolErrors).toEqual([]);
    expect(stored.map((u) => u.role)).toContain('agent');
    expect(stored.map((u) => u.role)).toContain('customer');

    const transcripts = result.transcripts ?? [];
    // One entity per event, each event one stored utterance: same ids, nothing lost or repeated.
    expect(transcripts.map((t) => t.id).sort()).toEqual(stored.map((u) => u.utteranceId).sort());
    for (const t of transcripts) {
      const u = stored.find((s) => s.utteranceId === t.id) as StoredUtterance;
      expect(t.isFinal).toBe(true);
      expect(t.channelId).toBe(u.role === 'customer' ? 0 : 1);
      expect(parseDurationSeconds(t.offset as string)).toBeCloseTo(u.startMs / 1000, 3);
      expect(parseDurationSeconds(t.duration as string)).toBeCloseTo((u.endMs - u.startMs) / 1000, 3);
      expect(textOf(t)).toBe(u.text);
      const tokens = t.alternatives[0]?.interpretations[0]?.tokens ?? [];
      // Word tokens, punctuation attached to the word before it: together they spell the text.
      expect(tokens.map((k) => k.value.replace(/[.,?!]$/, ''))).toEqual(
        u.role === 'customer' ? CUSTOMER_WORDS : AGENT_WORDS,
      );
      expect(tokens.map((k) => k.value).join(' ')).toBe(u.text);
    }
    // Per channel in timeline order (the recognizer's delivery order).
    for (const channelId of [0, 1]) {
      const offsets = transcripts
        .filter((t) => t.channelId === channelId)
        .map((t) => parseDurationSeconds(t.offset as string) as number);
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    }
    // Every event was received before `closed`, and nothing came after it.
    const types = receivedTypes(result);
    expect(types.at(-1)).toBe('closed');
    expect(types.filter((t) => t === 'event')).toHaveLength(stored.length);
    expect(types.lastIndexOf('event')).toBeLessThan(types.indexOf('closed'));
  }, 60_000);

  it('sends the redacted text, never the unredacted variant, when both are stored', async () => {
    const { result, stored } = await playCall(
      { redactionOutput: 'redacted_and_unredacted' },
      { transcriptionConnector: true },
    );
    expect(result.outcome, result.failure).toBe('closed');
    const customer = stored.filter((u) => u.role === 'customer');
    expect(customer.length).toBeGreaterThan(0);
    for (const u of customer) {
      expect(u.text).toContain('#');
      expect(u.unredactedText).toContain('four seven one one');
    }
    const transcripts = result.transcripts ?? [];
    expect(transcripts).toHaveLength(stored.length);
    for (const t of transcripts) {
      const u = stored.find((s) => s.utteranceId === t.id) as StoredUtterance;
      expect(textOf(t)).toBe(u.text);
    }
    expect(JSON.stringify(result.exchange)).not.toContain('four seven one one');
  }, 60_000);

  it('sends nothing back when neither the API key nor customConfig enables it', async () => {
    const { result, stored } = await playCall({ redactionOutput: 'unredacted' });
    expect(result.outcome, result.failure).toBe('closed');
    expect(stored.length).toBeGreaterThan(0);
    expect(result.transcripts).toEqual([]);
    expect(receivedTypes(result)).not.toContain('event');
  }, 60_000);
});

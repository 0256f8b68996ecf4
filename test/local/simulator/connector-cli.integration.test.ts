/**
 * `npm run simulate -- --transcription-connector` against a real gateway (connector-gateway.ts: real
 * gateway, controller, Transcribe SDK client, local endpoint with the scripted recognizer, DynamoDB Local):
 * the CLI plays a stereo call from a WAV file, prints each `transcript` event the gateway sends back as it
 * arrives, then the session line and the connector summary, and exits 0 when every event passed the checks.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_RATE } from '../../../core/audio/format';
import { encodeWav } from '../../../core/audio/wav';
import { main } from '../../../local/simulator/cli';
import { CLIENT_SECRET_ENV } from '../../../local/simulator/options';
import { createScriptedRecognizer } from '../../../local/transcribe/recognizer';
import { buildCall, loadFixture, START_PARAMS } from '../../fargate/control/pipeline-harness';
import { setupDynamoDb, type TestDynamoDb } from '../../helpers/dynamodb';
import { CONNECTOR_KEY, type ConnectorGateway, PLAIN_KEY, startConnectorGateway } from './connector-gateway';

const CUSTOMER_WORDS = ['my', 'pin', 'is', 'four', 'seven', 'one', 'one'];
const AGENT_WORDS = ['thank', 'you', 'for', 'calling'];
const CALL_MS = 7_500;

let db: TestDynamoDb;
let gw: ConnectorGateway;
let dir: string;
let wav: string;

beforeAll(async () => {
  db = await setupDynamoDb();
  gw = await startConnectorGateway({
    db,
    recognizer: createScriptedRecognizer({ words: (_i, channel) => (channel === 0 ? CUSTOMER_WORDS : AGENT_WORDS) }),
  });
  const call = buildCall(
    [
      { role: 'agent', fixture: loadFixture('greeting'), atMs: 400 },
      { role: 'customer', fixture: loadFixture('order-status'), atMs: 4_000 },
    ],
    CALL_MS,
  );
  dir = mkdtempSync(join(tmpdir(), 'sim-connector-'));
  wav = join(dir, 'call.wav');
  const data = call.read(0, call.durationSamples);
  writeFileSync(wav, encodeWav({ format: 'PCMU', channels: 2, sampleRate: SAMPLE_RATE, data }));
});

afterAll(async () => {
  await gw?.close();
  await db?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI in-process; every write is kept in order. */
async function simulate(key: { apiKey: string; clientSecret: string }, extra: string[], start = true) {
  const conversationId = randomUUID();
  if (start) await gw.startTranscription(conversationId, { ...START_PARAMS, detailedToken: true });
  const writes: string[] = [];
  const errors: string[] = [];
  const io = { stdout: { write: (t: string) => writes.push(t) }, stderr: { write: (t: string) => errors.push(t) } };
  const argv = ['--uri', gw.url, '--api-key', key.apiKey, '--wav', wav, '--speed', '4', '--conversation'];
  const code = await main([...argv, conversationId, ...extra], io, undefined, {
    [CLIENT_SECRET_ENV]: key.clientSecret,
  });
  return { code, out: writes.join(''), err: errors.join(''), stored: await gw.listUtterances(conversationId) };
}

describe('simulate --transcription-connector against the gateway', () => {
  it('prints each transcript as it arrives, then the session and a clean summary, and exits 0', async () => {
    const { code, out, err, stored } = await simulate(CONNECTOR_KEY, ['--transcription-connector']);
    expect(err).toBe('');
    expect(code, out).toBe(0);
    const lines = out.trim().split('\n');
    const transcriptLines = lines.filter((l) => /^#1 \+/.test(l));
    expect(stored.length).toBeGreaterThan(0);
    expect(transcriptLines).toHaveLength(stored.length);
    // The agent speaks first (channel 1 = internal), the customer later (channel 0 = external).
    expect(transcriptLines[0]).toMatch(/^#1 \+\d+\.\d\ds ch1 internal\/agent +final +\d+\.\d\ds–\d+\.\d\ds conf /);
    expect(transcriptLines[0]).toContain('"thank you for calling');
    expect(transcriptLines.at(-1)).toMatch(/ch0 external\/customer +final .*"my pin is/);
    expect(transcriptLines.every((l) => /\[\d+ tokens\]/.test(l))).toBe(true);
    // Live: every transcript line precedes the session's result line, which precedes the summaries.
    const sessionLine = lines.findIndex((l) => /^#1 closed /.test(l));
    expect(sessionLine).toBe(transcriptLines.length);
    const summary = lines.find((l) => l.startsWith('transcription connector:')) as string;
    expect(summary).toContain(`${stored.length} transcripts (${stored.length} final, 0 partial)`);
    const customers = stored.filter((u) => u.role === 'customer').length;
    expect(summary).toContain(`ch0 external/customer ${customers}, ch1 internal/agent ${stored.length - customers}`);
    expect(summary).toMatch(/first \d+ ms after opened; lag behind audio p50=\d+ms max=\d+ms; 0 violations$/);
    expect(lines.filter((l) => l.includes('✗'))).toEqual([]);
  }, 60_000);

  it('turns the connector on through customConfig even for a key without the feature, and reports JSON', async () => {
    const { code, out, stored } = await simulate(PLAIN_KEY, ['--transcription-connector', '--json']);
    expect(code, out).toBe(0);
    const json = JSON.parse(out);
    expect(json.connector.summary).toMatchObject({ transcripts: stored.length, violations: 0 });
    expect(json.connector.transcripts.map((t: { data: { id: string } }) => t.data.id).sort()).toEqual(
      stored.map((u) => u.utteranceId).sort(),
    );
    expect(json.results[0].transcripts).toHaveLength(stored.length);
  }, 60_000);

  it('exits 1 and says why when a call streamed but got no transcript back', async () => {
    // No start-streaming for this conversation, and the key is not genesys-controlled: nothing is transcribed.
    const { code, out, stored } = await simulate(PLAIN_KEY, ['--transcription-connector'], false);
    expect(stored).toEqual([]);
    expect(code).toBe(1);
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^#1 closed /);
    expect(lines[1]).toMatch(/^#1 +✗ no transcript before closed: the server kept the stream paused/);
    expect(out).toMatch(/transcription connector: 0 transcripts .*1 violation\n/);
  }, 60_000);
});

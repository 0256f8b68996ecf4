/**
 * `/health` is what the load balancer and the container check poll: it must stay 200 (and fast) while the
 * services behind the gateway are down, or a DynamoDB or Transcribe outage would take every task out of the
 * target group at once. The real gateway process runs in transcription mode against endpoints where nothing
 * listens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, type GatewayChild, startGatewayChild } from '../helpers/gateway-child';

let gw: GatewayChild;

beforeAll(async () => {
  gw = await startGatewayChild({
    env: {
      AUDIOHOOK_API_KEYS: JSON.stringify({ 'health-itest-key-0001': '' }),
      LOG_LEVEL: 'info',
      TASK_ID: 'health-task',
      AWS_REGION: 'us-east-1',
      CONVERSATIONS_TABLE: 'health-conversations',
      UTTERANCES_TABLE: 'health-utterances',
      // Nothing listens on port 9: every DynamoDB and Transcribe call fails.
      DYNAMODB_ENDPOINT: 'http://127.0.0.1:9',
      TRANSCRIBE_ENDPOINT: 'http://127.0.0.1:9',
      CONTROL_POLL_MS: '50',
    },
  });
}, 60_000);

afterAll(async () => {
  await gw?.stop();
});

describe('/health with DynamoDB and Transcribe unreachable', () => {
  it('answers 200 with a constant body, quickly, while the control inbox polls keep failing', async () => {
    await eventually(
      () => gw.lines.some((l) => /ECONNREFUSED/.test(JSON.stringify(l))),
      20_000,
      'a failed DynamoDB call in the logs',
    );
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      const res = await fetch(`${gw.httpUrl}/health`);
      const body = await res.text();
      expect(res.status).toBe(200);
      expect(body).toBe('{"status":"ok"}');
      expect(performance.now() - started).toBeLessThan(1000);
    }
  });
});

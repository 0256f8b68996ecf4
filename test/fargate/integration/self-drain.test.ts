/**
 * Self-drain with the real wiring: the gateway process (fargate/src/main.ts), its real ECS and ELBv2 SDK
 * clients and its real task protection, against a fake ECS control plane on loopback (task metadata, the
 * agent's protection endpoint, the ECS JSON API and the ELBv2 Query API).
 *
 * A call is live when a new deployment becomes PRIMARY: the task deregisters its own target, the call keeps
 * streaming and closes cleanly, an upgrade arriving during the propagation is still served, protection is
 * released once the task is idle, and nothing protects or registers it again.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toneSource } from '../../../local/simulator/audio-source';
import { runSimulatedSession } from '../../../local/simulator/client';
import { FAKE_TARGET_GROUP_ARN, FakeEcsControlPlane } from '../helpers/fake-ecs-control-plane';
import { eventually, type GatewayChild, startGatewayChild } from '../helpers/gateway-child';

const API_KEY = 'self-drain-itest-key-01';
const CLIENT_SECRET = Buffer.from('self-drain-integration-secret!!!').toString('base64');
const NEW_DEPLOYMENT = 'ecs-svc/2222222222222222222';

let fake: FakeEcsControlPlane;
let gw: GatewayChild;

beforeAll(async () => {
  fake = new FakeEcsControlPlane();
  await fake.start();
  gw = await startGatewayChild({
    env: {
      AUDIOHOOK_API_KEYS: JSON.stringify({ [API_KEY]: CLIENT_SECRET }),
      LOG_LEVEL: 'info',
      AWS_REGION: 'us-east-1',
      ECS_CONTAINER_METADATA_URI_V4: fake.metadataUri,
      ECS_AGENT_URI: fake.agentUri,
      TASK_PROTECTION_ENABLED: 'true',
      TASK_PROTECTION_RELEASE_DELAY_SEC: '1',
      SELF_DRAIN_ENABLED: 'true',
      SELF_DRAIN_CHECK_SEC: '1',
      TARGET_GROUP_ARN: FAKE_TARGET_GROUP_ARN,
      ECS_ENDPOINT: fake.url,
      ELB_ENDPOINT: fake.url,
      METRICS_NAMESPACE: 'SelfDrainTest',
      METRICS_SERVICE: 'itest-gateway',
      METRICS_INTERVAL_SEC: '3600',
    },
  });
});

afterAll(async () => {
  await gw?.stop();
  await fake?.stop();
});

const logsMatching = (re: RegExp) => gw.lines.filter((l) => typeof l.msg === 'string' && re.test(l.msg));

describe('self-drain (gateway process ⇄ fake ECS control plane)', () => {
  it('leaves the rotation when superseded, keeps the live call to its clean end, then lets protection go', async () => {
    // Following the service: identity read, DescribeServices every second, still in rotation.
    await eventually(() => fake.ecsCalls.filter((c) => c === 'DescribeServices').length >= 2, 15_000, 'checks');
    expect(fake.ecsCalls[0]).toBe('DescribeTasks');
    expect((await gw.metrics()).selfDrain).toMatchObject({
      status: 'in-rotation',
      service: fake.serviceName,
      deploymentId: fake.self.deploymentId,
      target: { id: fake.ip, port: gw.port },
    });

    const audio = toneSource({ format: 'PCMU', channels: 2, durationMs: 7000, hz: [1000, 400] });
    let callDone = false;
    const call = runSimulatedSession({ uri: gw.url, apiKey: API_KEY, clientSecret: CLIENT_SECRET, audio, speed: 1 });
    void call.then(() => {
      callDone = true;
    });
    await eventually(() => fake.protectionPuts.length >= 1, 10_000, 'scale-in protection on the first call');
    expect(fake.protectionPuts[0]).toEqual({ ProtectionEnabled: true, ExpiresInMinutes: 60 });

    // A new deployment becomes PRIMARY and has a running task.
    fake.primary = { id: NEW_DEPLOYMENT, runningCount: 1 };
    await eventually(() => fake.elbCalls.length >= 1, 10_000, 'DeregisterTargets');
    expect(fake.elbCalls).toEqual([
      { action: 'DeregisterTargets', targetGroupArn: FAKE_TARGET_GROUP_ARN, id: fake.ip, port: gw.port },
    ]);
    // The call is still live and streaming.
    expect(callDone).toBe(false);
    const during = await gw.metrics();
    expect(during.sessions).toBe(1);
    expect(during.selfDrain).toMatchObject({ status: 'out-of-rotation', reason: 'superseded' });
    const left = logsMatching(/left the load balancer rotation/);
    expect(left).toHaveLength(1);
    expect(left[0]).toMatchObject({ level: 'info', reason: 'superseded' });

    // An upgrade that still arrives while the deregistration propagates is served normally.
    const late = await runSimulatedSession({
      uri: gw.url,
      apiKey: API_KEY,
      clientSecret: CLIENT_SECRET,
      sessionId: randomUUID(),
      audio: toneSource({ format: 'PCMU', channels: 2, durationMs: 500 }),
      speed: 4,
    });
    expect(late.outcome).toBe('closed');

    const result = await call;
    expect(result.outcome).toBe('closed');
    expect(result.failure).toBeUndefined();

    // Idle: protection released after the release delay (checked every 5 s), and not taken again.
    await eventually(
      () => fake.protectionPuts.some((p) => p.ProtectionEnabled === false),
      15_000,
      'protection to be released',
    );
    const putsAtRelease = fake.protectionPuts.length;
    expect(fake.protectionPuts.at(-1)).toEqual({ ProtectionEnabled: false });
    await new Promise((r) => setTimeout(r, 6000));
    expect(fake.protectionPuts.length).toBe(putsAtRelease);
    expect(fake.elbCalls.map((c) => c.action)).toEqual(['DeregisterTargets']);
    expect((await gw.metrics()).taskProtection).toMatchObject({ protected: false });
    expect(fake.unexpected).toEqual([]);

    // The last EMF interval (flushed at shutdown) carries the OutOfRotation gauge with the service dimension.
    const exit = await gw.stop();
    expect(exit.code).toBe(0);
    const emf = gw.lines.filter((l) => '_aws' in l);
    expect(emf.at(-1)).toMatchObject({ service: 'itest-gateway', OutOfRotation: 1, RefusedUpgrades: 0 });
  }, 90_000);
});

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  TASK_PROTECTION_FAILED,
  TASK_PROTECTION_PATH,
  TaskProtection,
  type TaskProtectionOptions,
} from '../../../fargate/src/observability/task-protection';
import { FakeTime } from '../helpers/fake-time';

interface Received {
  method: string;
  path: string;
  contentType: string | undefined;
  body: unknown;
}

/** A stand-in for the ECS agent's task protection endpoint, on loopback. */
class FakeAgent {
  readonly requests: Received[] = [];
  /** What the next requests get: status and body. */
  answer: { status: number; body: unknown } = { status: 200, body: { protection: { ProtectionEnabled: true } } };
  private server: Server | undefined;
  uri = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => {
        text += chunk;
      });
      req.on('end', () => {
        this.requests.push({
          method: req.method ?? '',
          path: req.url ?? '',
          contentType: req.headers['content-type'],
          body: text === '' ? undefined : JSON.parse(text),
        });
        res.writeHead(this.answer.status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(this.answer.body));
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.uri = `http://127.0.0.1:${port}/api/task-token`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server?.close(() => resolve());
      this.server?.closeAllConnections();
    });
  }

  bodies(): unknown[] {
    return this.requests.map((r) => r.body);
  }
}

describe('TaskProtection (ECS agent endpoint)', () => {
  let agent: FakeAgent;
  let time: FakeTime;
  let sessions: number;
  let infos: Array<Record<string, unknown>>;
  let warnings: Array<Record<string, unknown>>;
  let protection: TaskProtection;

  const make = (overrides: Partial<TaskProtectionOptions> = {}) =>
    new TaskProtection({
      agentUri: agent.uri,
      activeSessions: () => sessions,
      expiresInMinutes: 60,
      releaseDelayMs: 30_000,
      checkIntervalMs: 5000,
      clock: time,
      timers: time,
      logger: { info: (obj) => infos.push(obj), warn: (obj) => warnings.push(obj) },
      ...overrides,
    });

  /** Moves fake time (firing the periodic check) and waits for the request that check made. */
  const tick = async (ms: number) => {
    time.advance(ms);
    await protection.refresh();
  };

  beforeEach(async () => {
    agent = new FakeAgent();
    await agent.start();
    time = new FakeTime(Date.UTC(2025, 5, 1, 9, 0, 0));
    sessions = 0;
    infos = [];
    warnings = [];
    protection = make();
  });

  afterEach(async () => {
    protection.stop();
    await agent.stop();
  });

  it('sends nothing while the task has never held a session', async () => {
    protection.start();
    await tick(60_000);
    expect(agent.requests).toEqual([]);
    expect(protection.state().protected).toBe(false);
  });

  it('protects the task on its first session with a PUT of ProtectionEnabled and ExpiresInMinutes', async () => {
    protection.start();
    sessions = 1;
    await protection.refresh();
    expect(agent.requests).toEqual([
      {
        method: 'PUT',
        path: `/api/task-token${TASK_PROTECTION_PATH}`,
        contentType: 'application/json',
        body: { ProtectionEnabled: true, ExpiresInMinutes: 60 },
      },
    ]);
    expect(protection.state()).toEqual({
      protected: true,
      expiresAt: Date.UTC(2025, 5, 1, 10, 0, 0),
      failures: 0,
    });
    expect(infos).toContainEqual(expect.objectContaining({ protected: true, sessions: 1 }));
  });

  it('does not repeat the request while the protection is fresh, and renews it before it expires', async () => {
    protection.start();
    sessions = 2;
    await protection.refresh();
    await tick(30 * 60_000); // half of the hour: still fresh
    expect(agent.requests).toHaveLength(1);
    await tick(15 * 60_000); // 15 minutes left = the renewal margin (a quarter of the lifetime)
    expect(agent.bodies()).toEqual([
      { ProtectionEnabled: true, ExpiresInMinutes: 60 },
      { ProtectionEnabled: true, ExpiresInMinutes: 60 },
    ]);
    expect(protection.state().expiresAt).toBe(time.now() + 60 * 60_000);
  });

  it('releases the protection once the task has been idle for the release delay, not before', async () => {
    protection.start();
    sessions = 1;
    await protection.refresh();
    sessions = 0;
    await tick(5000);
    await tick(20_000);
    expect(agent.requests).toHaveLength(1);
    await tick(10_000);
    expect(agent.bodies()).toEqual([{ ProtectionEnabled: true, ExpiresInMinutes: 60 }, { ProtectionEnabled: false }]);
    expect(protection.state()).toEqual({ protected: false, failures: 0 });
    expect(infos).toContainEqual(expect.objectContaining({ protected: false }));
  });

  it('does not flap when a call ends and the next one starts within the release delay', async () => {
    protection.start();
    sessions = 1;
    await protection.refresh();
    sessions = 0;
    await tick(20_000);
    sessions = 1;
    await tick(5000);
    sessions = 0;
    await tick(25_000);
    expect(agent.bodies()).toEqual([{ ProtectionEnabled: true, ExpiresInMinutes: 60 }]);
  });

  it('logs a failure with a stable code, never throws, and retries at the next check', async () => {
    agent.answer = { status: 400, body: { error: { Code: 'ServerException', Message: 'no credentials' } } };
    protection.start();
    sessions = 1;
    await expect(protection.refresh()).resolves.toBeUndefined();
    expect(protection.state()).toMatchObject({ protected: false, failures: 1 });
    expect(warnings).toEqual([
      expect.objectContaining({ code: TASK_PROTECTION_FAILED, enable: true, err: expect.stringContaining('400') }),
    ]);
    agent.answer = { status: 200, body: { protection: { ProtectionEnabled: true } } };
    await tick(5000);
    expect(protection.state().protected).toBe(true);
    expect(agent.requests).toHaveLength(2);
  });

  it('treats a 200 answer carrying a failure as a failure', async () => {
    agent.answer = { status: 200, body: { failure: { Arn: 'arn:task', Reason: 'TASK_NOT_VALID' } } };
    sessions = 1;
    await protection.refresh();
    expect(protection.state().protected).toBe(false);
    expect(warnings[0]).toMatchObject({ code: TASK_PROTECTION_FAILED, err: expect.stringContaining('TASK_NOT_VALID') });
  });

  it('logs an unreachable agent with the same code', async () => {
    await agent.stop();
    sessions = 1;
    await protection.refresh();
    expect(warnings[0]).toMatchObject({ code: TASK_PROTECTION_FAILED, enable: true });
  });

  it('sends one request at a time when sessions arrive together', async () => {
    sessions = 1;
    const a = protection.refresh();
    const b = protection.refresh();
    const c = protection.refresh();
    await Promise.all([a, b, c]);
    await protection.refresh();
    expect(agent.requests).toHaveLength(1);
  });

  it('keeps ExpiresInMinutes within what ECS accepts (1..2880)', async () => {
    protection = make({ expiresInMinutes: 10_000 });
    sessions = 1;
    await protection.refresh();
    expect(agent.bodies()).toEqual([{ ProtectionEnabled: true, ExpiresInMinutes: 2880 }]);
  });

  it('stops checking after stop()', async () => {
    protection.start();
    protection.stop();
    sessions = 1;
    time.advance(60_000);
    expect(time.pendingCount).toBe(0);
    expect(agent.requests).toEqual([]);
  });
});

/**
 * Self-drain with fake time and in-memory ECS / load balancer ports: when a task leaves the rotation
 * (superseded, chosen for scale-in), when it comes back, that it never touches live sessions, that
 * protection lapses once it is idle and is not taken again, and that AWS failures are retried, never thrown.
 */
import { describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../../fargate/src/config';
import {
  type EcsServiceInfo,
  type EcsTaskInfo,
  readTaskMetadata,
  SELF_DRAIN_ECS_FAILED,
  SELF_DRAIN_ELB_FAILED,
  SELF_DRAIN_METADATA_FAILED,
  SELF_DRAIN_NOT_A_SERVICE,
  SelfDrain,
  type SelfDrainEcs,
  type SelfDrainElb,
  type SelfDrainOptions,
} from '../../../fargate/src/observability/self-drain';
import { TaskProtection } from '../../../fargate/src/observability/task-protection';
import { FakeTime } from '../helpers/fake-time';

const CLUSTER = 'arn:aws:ecs:us-east-1:123456789012:cluster/gw';
const TG = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/gw/0123456789abcdef';
const OLD = 'ecs-svc/1111111111111111111';
const NEW = 'ecs-svc/2222222222222222222';
const T0 = Date.UTC(2025, 5, 1, 8, 0, 0);
const taskArn = (n: number) => `arn:aws:ecs:us-east-1:123456789012:task/gw/${String(n).padStart(32, '0')}`;
const SELF = taskArn(5);

/** The ECS control plane as this module sees it, with failure injection. */
class FakeEcs implements SelfDrainEcs {
  readonly tasks = new Map<string, EcsTaskInfo>();
  service: EcsServiceInfo = { desiredCount: 1, primary: { id: OLD, runningCount: 1 } };
  readonly calls: string[] = [];
  /** Operations that fail (as many times as given). */
  readonly failing = new Map<string, number>();

  constructor() {
    this.addTask(5, OLD, 0);
  }

  addTask(n: number, deployment: string, startedMinutesAfterT0: number): void {
    this.tasks.set(taskArn(n), {
      taskArn: taskArn(n),
      group: 'service:gw',
      startedBy: deployment,
      startedAt: T0 + startedMinutesAfterT0 * 60_000,
      lastStatus: 'RUNNING',
    });
  }

  #call(op: string): void {
    this.calls.push(op);
    const left = this.failing.get(op) ?? 0;
    if (left > 0) {
      this.failing.set(op, left - 1);
      throw Object.assign(new Error(`${op} is throttled`), { name: 'ThrottlingException' });
    }
  }

  async describeTasks(_cluster: string, arns: readonly string[]): Promise<EcsTaskInfo[]> {
    this.#call('DescribeTasks');
    return arns.flatMap((a) => {
      const t = this.tasks.get(a);
      return t ? [{ ...t }] : [];
    });
  }

  async describeService(): Promise<EcsServiceInfo | undefined> {
    this.#call('DescribeServices');
    return structuredClone(this.service);
  }

  async listServiceTasks(): Promise<string[]> {
    this.#call('ListTasks');
    return [...this.tasks.keys()];
  }
}

class FakeElb implements SelfDrainElb {
  readonly calls: Array<{ op: 'deregister' | 'register'; tg: string; id: string; port: number }> = [];
  failing = 0;

  async deregister(tg: string, t: { id: string; port: number }): Promise<void> {
    this.#call('deregister', tg, t);
  }

  async register(tg: string, t: { id: string; port: number }): Promise<void> {
    this.#call('register', tg, t);
  }

  #call(op: 'deregister' | 'register', tg: string, t: { id: string; port: number }): void {
    if (this.failing > 0) {
      this.failing--;
      throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    }
    this.calls.push({ op, tg, id: t.id, port: t.port });
  }

  ops(): string[] {
    return this.calls.map((c) => c.op);
  }
}

function setup(overrides: Partial<SelfDrainOptions> = {}) {
  const time = new FakeTime(T0 + 3_600_000);
  const ecs = new FakeEcs();
  const elb = new FakeElb();
  const infos: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  const warnings: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  let metadataFailures = 0;
  const drain = new SelfDrain({
    targetGroupArn: TG,
    port: 8080,
    metadata: async () => {
      if (metadataFailures > 0) {
        metadataFailures--;
        throw new Error('connect ECONNREFUSED 169.254.170.2:80');
      }
      return { cluster: CLUSTER, taskArn: SELF, ip: '10.0.1.23' };
    },
    ecs,
    elb,
    checkIntervalMs: 30_000,
    clock: time,
    timers: time,
    logger: {
      info: (obj: Record<string, unknown>, msg?: string) => infos.push({ obj, msg: msg ?? '' }),
      warn: (obj: Record<string, unknown>, msg?: string) => warnings.push({ obj, msg: msg ?? '' }),
    } as SelfDrainOptions['logger'],
    random: () => 0.5,
    ...overrides,
  });
  /** One period of fake time, then the check it started. */
  const tick = async () => {
    time.advance(30_000);
    await drain.checkNow();
  };
  return {
    time,
    ecs,
    elb,
    drain,
    infos,
    warnings,
    tick,
    failMetadata: (n: number) => {
      metadataFailures = n;
    },
  };
}

describe('SelfDrain: superseded by a newer deployment', () => {
  it('stays in rotation while its deployment is PRIMARY', async () => {
    const t = setup();
    t.drain.start();
    await t.drain.checkNow();
    await t.tick();
    expect(t.elb.calls).toEqual([]);
    expect(t.drain.state()).toMatchObject({ status: 'in-rotation', service: 'gw', deploymentId: OLD });
    expect(t.drain.outOfRotation()).toBe(0);
    t.drain.stop();
  });

  it('deregisters its own IP:PORT from the target group once a new PRIMARY deployment has a running task', async () => {
    const t = setup();
    t.drain.start();
    await t.drain.checkNow();
    // A deployment starts: the new PRIMARY has no running task yet, so leaving would empty the group.
    t.ecs.service = { desiredCount: 1, primary: { id: NEW, runningCount: 0 } };
    await t.tick();
    expect(t.elb.calls).toEqual([]);
    expect(t.infos.some((i) => /once the new deployment has a running task/.test(i.msg))).toBe(true);

    t.ecs.service = { desiredCount: 1, primary: { id: NEW, runningCount: 1 } };
    await t.tick();
    expect(t.elb.calls).toEqual([{ op: 'deregister', tg: TG, id: '10.0.1.23', port: 8080 }]);
    expect(t.drain.state()).toMatchObject({ status: 'out-of-rotation', reason: 'superseded', since: t.time.now() });
    expect(t.drain.outOfRotation()).toBe(1);
    expect(t.infos.find((i) => i.obj.reason === 'superseded')?.msg).toMatch(/left the load balancer rotation/);
    t.drain.stop();
  });

  it('never re-enters, and stops asking ECS once it has left', async () => {
    const t = setup();
    t.drain.start();
    await t.drain.checkNow();
    t.ecs.service = { desiredCount: 1, primary: { id: NEW, runningCount: 1 } };
    await t.tick();
    const callsAfterLeaving = t.ecs.calls.length;
    // Even if ECS rolled back to a deployment with this task's id, a superseded task stays out.
    t.ecs.service = { desiredCount: 1, primary: { id: OLD, runningCount: 1 } };
    for (let i = 0; i < 5; i++) await t.tick();
    expect(t.elb.ops()).toEqual(['deregister']);
    expect(t.ecs.calls.length).toBe(callsAfterLeaving);
    expect(t.drain.state().status).toBe('out-of-rotation');
    t.drain.stop();
  });

  it('reads its identity once: the own DescribeTasks is not repeated at every check', async () => {
    const t = setup();
    t.drain.start();
    await t.drain.checkNow();
    for (let i = 0; i < 3; i++) await t.tick();
    expect(t.ecs.calls.filter((c) => c === 'DescribeTasks')).toHaveLength(1);
    expect(t.ecs.calls.filter((c) => c === 'DescribeServices')).toHaveLength(4);
    t.drain.stop();
  });
});

describe('SelfDrain: chosen for scale-in', () => {
  /** Three tasks of the PRIMARY deployment: 4 (oldest), SELF=5, 6 (newest); one old-deployment task. */
  function scaleInSetup() {
    const t = setup();
    t.ecs.tasks.clear();
    t.ecs.addTask(4, OLD, 0);
    t.ecs.addTask(5, OLD, 10);
    t.ecs.addTask(6, OLD, 20);
    t.ecs.addTask(9, 'ecs-svc/0000000000000000000', 30);
    t.ecs.service = { desiredCount: 3, primary: { id: OLD, runningCount: 3 } };
    return t;
  }

  it('leaves when it is among the newest `excess` running tasks of the PRIMARY deployment', async () => {
    const t = scaleInSetup();
    t.drain.start();
    await t.drain.checkNow();
    expect(t.ecs.calls).not.toContain('ListTasks');
    // desiredCount 3 → 1: excess 2; newest first: 6, 5 (task 9 is not of the PRIMARY deployment).
    t.ecs.service = { desiredCount: 1, primary: { id: OLD, runningCount: 3 } };
    await t.tick();
    expect(t.elb.calls).toEqual([{ op: 'deregister', tg: TG, id: '10.0.1.23', port: 8080 }]);
    expect(t.drain.state()).toMatchObject({ status: 'out-of-rotation', reason: 'scale-in' });
    t.drain.stop();
  });

  it('stays when the excess is filled by newer tasks', async () => {
    const t = scaleInSetup();
    t.drain.start();
    t.ecs.service = { desiredCount: 2, primary: { id: OLD, runningCount: 3 } };
    await t.drain.checkNow();
    await t.tick();
    expect(t.ecs.calls).toContain('ListTasks');
    expect(t.elb.calls).toEqual([]);
    t.drain.stop();
  });

  it('orders tasks started at the same time by task ARN, and ignores tasks that are not RUNNING', async () => {
    const t = scaleInSetup();
    t.ecs.addTask(4, OLD, 10); // same startedAt as SELF; its ARN sorts first
    t.ecs.addTask(6, OLD, 10);
    const six = t.ecs.tasks.get(taskArn(6));
    if (six) six.lastStatus = 'PENDING';
    t.ecs.service = { desiredCount: 1, primary: { id: OLD, runningCount: 2 } };
    t.drain.start();
    await t.drain.checkNow();
    // Candidates: 4 and 5 (6 is PENDING); excess 1 → task 4 leaves, not this one.
    expect(t.elb.calls).toEqual([]);
    t.ecs.service = { desiredCount: 0, primary: { id: OLD, runningCount: 2 } };
    await t.tick();
    expect(t.elb.ops()).toEqual(['deregister']);
    t.drain.stop();
  });

  it('re-enters (RegisterTargets) when the excess goes away, and can leave again', async () => {
    const t = scaleInSetup();
    t.drain.start();
    t.ecs.service = { desiredCount: 1, primary: { id: OLD, runningCount: 3 } };
    await t.drain.checkNow();
    expect(t.elb.ops()).toEqual(['deregister']);
    // ECS stopped two idle tasks meanwhile: runningCount is back at desiredCount.
    t.ecs.tasks.delete(taskArn(4));
    t.ecs.tasks.delete(taskArn(6));
    t.ecs.service = { desiredCount: 1, primary: { id: OLD, runningCount: 1 } };
    await t.tick();
    expect(t.elb.calls.at(-1)).toEqual({ op: 'register', tg: TG, id: '10.0.1.23', port: 8080 });
    expect(t.drain.state().status).toBe('in-rotation');
    expect(t.drain.outOfRotation()).toBe(0);
    expect(t.infos.some((i) => /back in the load balancer rotation/.test(i.msg))).toBe(true);

    t.ecs.service = { desiredCount: 0, primary: { id: OLD, runningCount: 1 } };
    await t.tick();
    expect(t.elb.ops()).toEqual(['deregister', 'register', 'deregister']);
    t.drain.stop();
  });

  it('a task out for scale-in that is then superseded never re-enters', async () => {
    const t = scaleInSetup();
    t.drain.start();
    t.ecs.service = { desiredCount: 1, primary: { id: OLD, runningCount: 3 } };
    await t.drain.checkNow();
    t.ecs.service = { desiredCount: 3, primary: { id: NEW, runningCount: 3 } };
    await t.tick();
    t.ecs.service = { desiredCount: 3, primary: { id: NEW, runningCount: 3 } };
    await t.tick();
    expect(t.elb.ops()).toEqual(['deregister']);
    expect(t.drain.state()).toMatchObject({ status: 'out-of-rotation', reason: 'superseded' });
    t.drain.stop();
  });
});

describe('SelfDrain: live sessions and scale-in protection', () => {
  it('never touches live sessions, releases protection once idle, and does not protect the idle task again', async () => {
    const t = setup();
    let sessions = 2;
    const puts: unknown[] = [];
    const protection = new TaskProtection({
      agentUri: 'http://agent.invalid/api',
      activeSessions: () => sessions,
      releaseDelayMs: 30_000,
      checkIntervalMs: 5000,
      clock: t.time,
      timers: t.time,
      logger: { info() {}, warn() {} },
      fetch: (async (_url: string, init: RequestInit) => {
        puts.push(JSON.parse(String(init.body)));
        return new Response(JSON.stringify({ protection: {} }), { status: 200 });
      }) as typeof fetch,
    });
    // The self-drain reaches the gateway only through the load balancer: it has no handle on sessions at all.
    expect(Object.keys(t.drain)).toEqual([]);
    protection.start();
    t.drain.start();
    await protection.refresh();
    await t.drain.checkNow();
    expect(puts).toEqual([{ ProtectionEnabled: true, ExpiresInMinutes: 60 }]);

    t.ecs.service = { desiredCount: 1, primary: { id: NEW, runningCount: 1 } };
    await t.tick();
    expect(t.drain.state().status).toBe('out-of-rotation');
    // Calls go on while out of rotation: still protected, nothing released.
    for (let i = 0; i < 6; i++) {
      t.time.advance(5000);
      await protection.refresh();
    }
    expect(puts).toHaveLength(1);
    expect(protection.state().protected).toBe(true);

    // A late call arrives while the deregistration propagates: it is protected while it lives.
    sessions = 3;
    await protection.refresh();
    sessions = 0;
    for (let i = 0; i < 7; i++) {
      t.time.advance(5000);
      await protection.refresh();
    }
    expect(puts).toEqual([{ ProtectionEnabled: true, ExpiresInMinutes: 60 }, { ProtectionEnabled: false }]);
    expect(protection.state().protected).toBe(false);

    // Idle and out of rotation for hours: never protected again (ECS may stop it).
    for (let i = 0; i < 12 * 60 * 3; i++) {
      t.time.advance(5000);
      await protection.refresh();
      if (i % 6 === 0) await t.drain.checkNow();
    }
    expect(puts).toHaveLength(2);
    expect(t.elb.ops()).toEqual(['deregister']);
    protection.stop();
    t.drain.stop();
  });
});

describe('SelfDrain: failures', () => {
  it('retries a failed metadata read, ECS call and deregistration at the next checks, without throwing', async () => {
    const t = setup();
    t.failMetadata(1);
    t.ecs.failing.set('DescribeTasks', 1);
    t.ecs.failing.set('DescribeServices', 1);
    t.elb.failing = 1;
    t.ecs.service = { desiredCount: 1, primary: { id: NEW, runningCount: 1 } };
    t.drain.start();
    await expect(t.drain.checkNow()).resolves.toBeUndefined(); // metadata fails
    expect(t.drain.state().status).toBe('starting');
    await t.tick(); // DescribeTasks fails
    await t.tick(); // DescribeServices fails
    await t.tick(); // DeregisterTargets fails
    expect(t.drain.state()).toMatchObject({ status: 'in-rotation', leaving: 'superseded', failures: 4 });
    await t.tick(); // succeeds
    expect(t.drain.state()).toMatchObject({ status: 'out-of-rotation', reason: 'superseded', failures: 4 });
    expect(t.warnings.map((w) => [w.obj.code, w.obj.operation])).toEqual([
      [SELF_DRAIN_METADATA_FAILED, 'task metadata'],
      [SELF_DRAIN_ECS_FAILED, 'DescribeTasks'],
      [SELF_DRAIN_ECS_FAILED, 'DescribeServices'],
      [SELF_DRAIN_ELB_FAILED, 'DeregisterTargets'],
    ]);
    expect(t.warnings[1]?.obj.err).toBe('ThrottlingException: DescribeTasks is throttled');
    expect(t.drain.state().lastError).toMatchObject({ code: SELF_DRAIN_ELB_FAILED, operation: 'DeregisterTargets' });
    t.drain.stop();
  });

  it('retries a failed re-registration and a failed ListTasks', async () => {
    const t = setup();
    t.ecs.addTask(6, OLD, 20);
    t.ecs.service = { desiredCount: 0, primary: { id: OLD, runningCount: 2 } };
    t.ecs.failing.set('ListTasks', 1);
    t.drain.start();
    await t.drain.checkNow();
    expect(t.elb.calls).toEqual([]);
    await t.tick();
    expect(t.elb.ops()).toEqual(['deregister']);
    t.ecs.service = { desiredCount: 2, primary: { id: OLD, runningCount: 2 } };
    t.elb.failing = 1;
    await t.tick();
    expect(t.drain.state().status).toBe('out-of-rotation');
    await t.tick();
    expect(t.elb.ops()).toEqual(['deregister', 'register']);
    expect(t.drain.state().status).toBe('in-rotation');
    expect(t.warnings.map((w) => w.obj.operation)).toEqual(['ListTasks', 'RegisterTargets']);
    t.drain.stop();
  });

  it('never overlaps checks: a slow AWS call is joined by the next timer, not repeated', async () => {
    let release: () => void = () => {};
    let describeCalls = 0;
    const ecs = new FakeEcs();
    const slow: SelfDrainEcs = {
      describeTasks: (c, a) => ecs.describeTasks(c, a),
      listServiceTasks: () => ecs.listServiceTasks(),
      describeService: () => {
        describeCalls++;
        return new Promise((resolve) => {
          release = () => resolve(ecs.service);
        });
      },
    };
    const t = setup({ ecs: slow });
    t.drain.start();
    for (let i = 0; i < 4; i++) {
      t.time.advance(30_000);
      await Promise.resolve();
    }
    // The first check is parked on the slow call. Every check counts itself when it begins, synchronously,
    // and the fake timers fired inside advance(): a repeated call would have started a second check.
    await vi.waitFor(() => expect(describeCalls).toBeGreaterThan(0));
    expect(t.drain.state().checks).toBe(1);
    expect(describeCalls).toBe(1);
    release();
    await t.drain.checkNow();
    t.drain.stop();
  });

  it('turns itself off (logged once) for a task that no service started', async () => {
    const t = setup();
    const own = t.ecs.tasks.get(SELF);
    if (own) {
      own.group = 'family:gateway';
      own.startedBy = undefined;
    }
    t.drain.start();
    await t.drain.checkNow();
    await t.tick();
    await t.tick();
    expect(t.warnings.map((w) => w.obj.code)).toEqual([SELF_DRAIN_NOT_A_SERVICE]);
    expect(t.drain.state().status).toBe('inactive');
    expect(t.ecs.calls).toEqual(['DescribeTasks']);
    expect(t.time.pendingCount).toBe(0);
  });

  it('stop() cancels the periodic check', async () => {
    const t = setup();
    t.drain.start();
    await t.drain.checkNow();
    t.drain.stop();
    const calls = t.ecs.calls.length;
    const checks = t.drain.state().checks;
    // Fake timers fire inside advance(), and a check counts itself as it begins: nothing to wait for.
    t.time.advance(300_000);
    expect(t.drain.state().checks).toBe(checks);
    expect(t.ecs.calls.length).toBe(calls);
    expect(t.time.pendingCount).toBe(0);
  });
});

describe('readTaskMetadata', () => {
  const answer = (body: unknown, status = 200) =>
    (async () => new Response(JSON.stringify(body), { status })) as unknown as typeof fetch;

  it('reads the cluster, task ARN and the awsvpc IPv4 address from the task endpoint (ECS_CONTAINER_METADATA_URI_V4 + /task)', async () => {
    let url = '';
    const fetchStub = (async (u: string) => {
      url = u;
      return new Response(
        JSON.stringify({
          Cluster: CLUSTER,
          TaskARN: SELF,
          Containers: [
            { Name: 'sidecar', Networks: [] },
            { Name: 'gateway', Networks: [{ NetworkMode: 'awsvpc', IPv4Addresses: ['10.0.1.23'] }] },
          ],
        }),
      );
    }) as unknown as typeof fetch;
    await expect(readTaskMetadata('http://169.254.170.2/v4/abc/', { fetch: fetchStub })).resolves.toEqual({
      cluster: CLUSTER,
      taskArn: SELF,
      ip: '10.0.1.23',
    });
    expect(url).toBe('http://169.254.170.2/v4/abc/task');
  });

  it('rejects an answer without an IPv4 address or identity, and a non-2xx answer', async () => {
    await expect(
      readTaskMetadata('http://m', { fetch: answer({ Cluster: 'c', TaskARN: 't', Containers: [] }) }),
    ).rejects.toThrow(/IPv4/);
    await expect(readTaskMetadata('http://m', { fetch: answer({ Containers: [] }) })).rejects.toThrow(/TaskARN/);
    await expect(readTaskMetadata('http://m', { fetch: answer({}, 500) })).rejects.toThrow(/500/);
  });
});

describe('self-drain configuration', () => {
  const base = { AUDIOHOOK_API_KEYS: '{"selfdrain-test-key":""}' };
  const metadata = { ECS_CONTAINER_METADATA_URI_V4: 'http://169.254.170.2/v4/abc' };

  it('is off by default, and off without TARGET_GROUP_ARN or the ECS metadata even when enabled', () => {
    expect(loadConfig({ ...base, ...metadata, TARGET_GROUP_ARN: TG }).selfDrain).toBeUndefined();
    const noTg = loadConfig({ ...base, ...metadata, SELF_DRAIN_ENABLED: 'true' });
    expect(noTg.selfDrain).toBeUndefined();
    expect(noTg.selfDrainMissing).toEqual(['TARGET_GROUP_ARN']);
    const noMetadata = loadConfig({ ...base, SELF_DRAIN_ENABLED: 'true', TARGET_GROUP_ARN: TG });
    expect(noMetadata.selfDrain).toBeUndefined();
    expect(noMetadata.selfDrainMissing).toEqual(['ECS_CONTAINER_METADATA_URI_V4']);
  });

  it('is on with all three, every 30 s by default, in the target group region unless AWS_REGION says', () => {
    const cfg = loadConfig({ ...base, ...metadata, SELF_DRAIN_ENABLED: 'true', TARGET_GROUP_ARN: TG });
    expect(cfg.selfDrain).toEqual({
      targetGroupArn: TG,
      metadataUri: metadata.ECS_CONTAINER_METADATA_URI_V4,
      checkIntervalMs: 30_000,
      region: 'us-east-1',
    });
    const custom = loadConfig({
      ...base,
      ...metadata,
      SELF_DRAIN_ENABLED: 'true',
      TARGET_GROUP_ARN: TG,
      SELF_DRAIN_CHECK_SEC: '5',
      AWS_REGION: 'eu-west-1',
      ECS_ENDPOINT: 'http://127.0.0.1:9000',
      ELB_ENDPOINT: 'http://127.0.0.1:9001',
    });
    expect(custom.selfDrain).toMatchObject({
      checkIntervalMs: 5000,
      region: 'eu-west-1',
      ecsEndpoint: 'http://127.0.0.1:9000',
      elbEndpoint: 'http://127.0.0.1:9001',
    });
  });

  it('names bad values', () => {
    expect(() => loadConfig({ ...base, SELF_DRAIN_ENABLED: 'yes' })).toThrow(
      /SELF_DRAIN_ENABLED must be true or false/,
    );
    expect(() => loadConfig({ ...base, TARGET_GROUP_ARN: 'gw-tg' })).toThrow(
      /TARGET_GROUP_ARN must be a target group ARN/,
    );
    expect(() => loadConfig({ ...base, SELF_DRAIN_CHECK_SEC: '0' })).toThrow(/SELF_DRAIN_CHECK_SEC must be at least 1/);
    expect(() => loadConfig({ ...base, ELB_ENDPOINT: 'elb.local' })).toThrow(/ELB_ENDPOINT must be an http/);
  });
});

/**
 * Self-drain: a task that ECS wants gone takes itself out of the load balancer's rotation, so it stops
 * receiving new calls while it finishes the ones it holds (issue #12).
 *
 * Calls last hours and cannot move, so a task holding calls protects itself from scale-in
 * ({@link TaskProtection}). A protected task that stays registered in the target group keeps receiving new
 * calls, never goes idle, and a deployment or a scale-in never completes. Every check (30 s by default)
 * this module asks ECS whether this task should go:
 *
 * - **superseded**: the task was started by a deployment that is no longer the service's `PRIMARY` one
 *   (a new task definition or configuration is rolling out). It leaves once the new deployment has a task
 *   running (not earlier: the old tasks would otherwise leave the target group empty while the first new
 *   task is still starting), and never comes back.
 * - **chosen for scale-in**: the `PRIMARY` deployment runs more tasks than the service's `desiredCount`
 *   (ECS cannot stop protected tasks, so the excess persists). Every task orders the deployment's running
 *   tasks the same way (newest `startedAt` first, then task ARN) and the first `excess` of them leave. If the
 *   excess goes away (ECS stopped another, idle task), a task that left for this reason comes back.
 *
 * Leaving is `elasticloadbalancing:DeregisterTargets` of `{Id: <task IP>, Port}`; coming back is
 * `RegisterTargets`. The gateway itself changes nothing: live calls go on, and upgrades that still arrive
 * while the deregistration propagates are served normally (a network load balancer keeps established
 * connections of a deregistered target when connection termination is off). Once the task holds no call,
 * {@link TaskProtection} releases the protection after its idle delay and ECS stops the task; it protects
 * again only while a session lives, never an idle task.
 *
 * Nothing here throws into the gateway: a failed call to the metadata endpoint, ECS or the load balancer is
 * logged with a stable code ({@link SELF_DRAIN_METADATA_FAILED}, {@link SELF_DRAIN_ECS_FAILED},
 * {@link SELF_DRAIN_ELB_FAILED}), counted, and retried at the next check. Checks never overlap.
 */
import type { Clock, Logger, TimerHandle, Timers } from '../../../core/ports';

/** Log code: the ECS task metadata endpoint could not be read (or lacks the task's IPv4 address). */
export const SELF_DRAIN_METADATA_FAILED = 'SELF_DRAIN_METADATA_FAILED';
/** Log code: an ECS API call (DescribeTasks, DescribeServices, ListTasks) failed. */
export const SELF_DRAIN_ECS_FAILED = 'SELF_DRAIN_ECS_FAILED';
/** Log code: DeregisterTargets or RegisterTargets failed. */
export const SELF_DRAIN_ELB_FAILED = 'SELF_DRAIN_ELB_FAILED';
/** Log code: the task was not started by an ECS service, so there is no deployment to follow: self-drain is off. */
export const SELF_DRAIN_NOT_A_SERVICE = 'SELF_DRAIN_NOT_A_SERVICE';

/** Default period of the check. */
export const DEFAULT_SELF_DRAIN_CHECK_MS = 30_000;

/** Why a task left the rotation. */
export type LeaveReason = 'superseded' | 'scale-in';

/** This task, as the metadata endpoint describes it. */
export interface TaskIdentity {
  /** Cluster name or ARN. */
  cluster: string;
  taskArn: string;
  /** The task's private IPv4 address (awsvpc): the target id in an IP target group. */
  ip: string;
}

/** The fields of an ECS task this module reads. */
export interface EcsTaskInfo {
  taskArn: string;
  /** `service:<name>` for a service's task. */
  group?: string;
  /** The deployment id (`ecs-svc/…`) for a service's task. */
  startedBy?: string;
  /** Epoch ms. */
  startedAt?: number;
  lastStatus?: string;
}

/** The fields of an ECS service this module reads. */
export interface EcsServiceInfo {
  desiredCount: number;
  /** The deployment with status `PRIMARY`. */
  primary?: { id: string; runningCount: number };
}

/** The ECS API, narrowed (see self-drain-aws.ts for the SDK adapter). */
export interface SelfDrainEcs {
  /** `ecs:DescribeTasks` (any number of ARNs; the adapter splits them in calls of 100). */
  describeTasks(cluster: string, taskArns: readonly string[]): Promise<EcsTaskInfo[]>;
  /** `ecs:DescribeServices`; `undefined` when the service does not exist. */
  describeService(cluster: string, service: string): Promise<EcsServiceInfo | undefined>;
  /** `ecs:ListTasks` of the service with desired status RUNNING (every page). */
  listServiceTasks(cluster: string, service: string): Promise<string[]>;
}

/** One target of an IP target group. */
export interface RotationTarget {
  id: string;
  port: number;
}

/** The load balancer API, narrowed. */
export interface SelfDrainElb {
  /** `elasticloadbalancing:DeregisterTargets` */
  deregister(targetGroupArn: string, target: RotationTarget): Promise<void>;
  /** `elasticloadbalancing:RegisterTargets` */
  register(targetGroupArn: string, target: RotationTarget): Promise<void>;
}

/** Options of {@link SelfDrain}. */
export interface SelfDrainOptions {
  /** `TARGET_GROUP_ARN`: the target group this task is registered in. */
  targetGroupArn: string;
  /** The target's port (the gateway's `PORT`). */
  port: number;
  /** Reads this task's identity (normally {@link readTaskMetadata}); retried until it succeeds. */
  metadata: () => Promise<TaskIdentity>;
  ecs: SelfDrainEcs;
  elb: SelfDrainElb;
  /** @default {@link DEFAULT_SELF_DRAIN_CHECK_MS} */
  checkIntervalMs?: number;
  clock: Pick<Clock, 'now'>;
  timers: Timers;
  logger: Pick<Logger, 'info' | 'warn'>;
  /** Spreads the checks of many tasks (±10 % of the interval). @default Math.random */
  random?: () => number;
}

/** The last failure, for operators (`/metrics`). */
export interface SelfDrainError {
  code: string;
  operation: string;
  message: string;
  at: number;
}

/** What the task knows about its place in the rotation (admin `/metrics`). */
export interface SelfDrainState {
  /**
   * `starting`: identity not known yet; `in-rotation` / `out-of-rotation`; `inactive`: not a service's
   * task, nothing to follow.
   */
  status: 'starting' | 'in-rotation' | 'out-of-rotation' | 'inactive';
  /** Why it left (while out of rotation). */
  reason?: LeaveReason;
  /** Epoch ms it left (while out of rotation). */
  since?: number;
  target?: RotationTarget;
  service?: string;
  deploymentId?: string;
  /** The check wants the task out, but the deregistration has not succeeded yet. */
  leaving?: LeaveReason;
  checks: number;
  failures: number;
  lastCheckAt?: number;
  lastError?: SelfDrainError;
}

interface Known extends TaskIdentity {
  service: string;
  deploymentId: string;
}

/** Marks a failed step (already logged and counted). */
const FAILED = Symbol('failed');

/** Follows ECS's intentions for this task and leaves or re-enters the rotation accordingly. */
export class SelfDrain {
  readonly #o: SelfDrainOptions;
  readonly #intervalMs: number;
  readonly #random: () => number;
  #known: Known | undefined;
  #inactive = false;
  #out = false;
  #reason: LeaveReason | undefined;
  #since: number | undefined;
  #superseded = false;
  #leaving: LeaveReason | undefined;
  #waitingLogged = false;
  #checks = 0;
  #failures = 0;
  #lastCheckAt: number | undefined;
  #lastError: SelfDrainError | undefined;
  #inflight: Promise<void> | undefined;
  #timer: TimerHandle | undefined;
  #running = false;

  constructor(options: SelfDrainOptions) {
    this.#o = options;
    this.#intervalMs = Math.max(1000, options.checkIntervalMs ?? DEFAULT_SELF_DRAIN_CHECK_MS);
    this.#random = options.random ?? Math.random;
  }

  /** Starts the periodic check (and checks now). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#arm();
    void this.checkNow();
  }

  /** Stops checking (shutdown). The registration is left as it is. */
  stop(): void {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** Runs a check now, or joins the one running (checks never overlap). Never rejects. */
  checkNow(): Promise<void> {
    if (this.#inflight) return this.#inflight;
    const run = this.#check()
      .catch((err: unknown) => {
        // Not expected (every step handles its own errors); never let it reach the gateway.
        this.#fail('SELF_DRAIN_CHECK_FAILED', 'check', err);
      })
      .finally(() => {
        this.#inflight = undefined;
      });
    this.#inflight = run;
    return run;
  }

  /** 1 while out of the rotation (the `OutOfRotation` gauge), else 0. */
  outOfRotation(): number {
    return this.#out ? 1 : 0;
  }

  state(): SelfDrainState {
    const k = this.#known;
    return {
      status: this.#inactive
        ? 'inactive'
        : k === undefined
          ? 'starting'
          : this.#out
            ? 'out-of-rotation'
            : 'in-rotation',
      ...(this.#out && { reason: this.#reason, since: this.#since }),
      ...(k !== undefined && {
        target: { id: k.ip, port: this.#o.port },
        service: k.service,
        deploymentId: k.deploymentId,
      }),
      ...(this.#leaving !== undefined && !this.#out && { leaving: this.#leaving }),
      checks: this.#checks,
      failures: this.#failures,
      ...(this.#lastCheckAt !== undefined && { lastCheckAt: this.#lastCheckAt }),
      ...(this.#lastError !== undefined && { lastError: this.#lastError }),
    };
  }

  async #check(): Promise<void> {
    if (this.#inactive) return;
    this.#checks++;
    this.#lastCheckAt = this.#o.clock.now();
    const known = await this.#identify();
    if (known === undefined) return;
    // A superseded task that has left has nothing more to ask: it never comes back.
    if (this.#superseded && this.#out) return;

    const service = await this.#ecs('DescribeServices', () =>
      this.#o.ecs.describeService(known.cluster, known.service),
    );
    if (service === FAILED) return;
    if (service === undefined || service.primary === undefined) {
      this.#fail(
        SELF_DRAIN_ECS_FAILED,
        'DescribeServices',
        new Error(service === undefined ? 'service not found' : 'the service has no PRIMARY deployment'),
      );
      return;
    }
    const primary = service.primary;

    let want: LeaveReason | undefined;
    if (this.#superseded || known.deploymentId !== primary.id) {
      if (!this.#superseded && primary.runningCount === 0) {
        // Leaving now would empty the target group while the new deployment's first task still starts.
        if (!this.#waitingLogged) {
          this.#waitingLogged = true;
          this.#o.logger.info(
            { deploymentId: known.deploymentId, primaryDeploymentId: primary.id },
            'self-drain: this task is superseded; it leaves the rotation once the new deployment has a running task',
          );
        }
        return;
      }
      this.#superseded = true;
      want = 'superseded';
    } else {
      const excess = primary.runningCount - service.desiredCount;
      if (excess > 0) {
        const chosen = await this.#chooseForScaleIn(known, primary.id, excess);
        if (chosen === FAILED) return;
        if (chosen) want = 'scale-in';
      }
    }

    if (want !== undefined) {
      if (!this.#out) await this.#leave(known, want, primary.id, service.desiredCount);
      else if (want !== this.#reason) {
        // Left for scale-in, then a deployment superseded it: it now stays out for good.
        this.#reason = want;
        this.#o.logger.info({ reason: want }, 'self-drain: out of rotation, now because this task is superseded');
      }
      return;
    }
    this.#leaving = undefined;
    if (this.#out && this.#reason === 'scale-in') await this.#reenter(known);
  }

  /** Whether this task is among the first `excess` running tasks of the deployment (newest first). */
  async #chooseForScaleIn(known: Known, deploymentId: string, excess: number): Promise<boolean | typeof FAILED> {
    const arns = await this.#ecs('ListTasks', () => this.#o.ecs.listServiceTasks(known.cluster, known.service));
    if (arns === FAILED) return FAILED;
    if (arns.length === 0) return false;
    const tasks = await this.#ecs('DescribeTasks', () => this.#o.ecs.describeTasks(known.cluster, arns));
    if (tasks === FAILED) return FAILED;
    const order = tasks
      .filter((t) => t.startedBy === deploymentId && t.lastStatus === 'RUNNING')
      .sort(
        (a, b) =>
          (b.startedAt ?? 0) - (a.startedAt ?? 0) || (a.taskArn < b.taskArn ? -1 : a.taskArn > b.taskArn ? 1 : 0),
      );
    return order.slice(0, excess).some((t) => t.taskArn === known.taskArn);
  }

  async #leave(known: Known, reason: LeaveReason, primaryId: string, desiredCount: number): Promise<void> {
    this.#leaving = reason;
    const target = { id: known.ip, port: this.#o.port };
    try {
      await this.#o.elb.deregister(this.#o.targetGroupArn, target);
    } catch (err) {
      this.#fail(SELF_DRAIN_ELB_FAILED, 'DeregisterTargets', err, { reason });
      return;
    }
    this.#out = true;
    this.#reason = reason;
    this.#since = this.#o.clock.now();
    this.#leaving = undefined;
    this.#o.logger.info(
      {
        reason,
        target,
        targetGroupArn: this.#o.targetGroupArn,
        deploymentId: known.deploymentId,
        primaryDeploymentId: primaryId,
        desiredCount,
      },
      reason === 'superseded'
        ? 'self-drain: left the load balancer rotation (a newer deployment is primary); live calls continue'
        : 'self-drain: left the load balancer rotation (chosen for scale-in); live calls continue',
    );
  }

  async #reenter(known: Known): Promise<void> {
    const target = { id: known.ip, port: this.#o.port };
    try {
      await this.#o.elb.register(this.#o.targetGroupArn, target);
    } catch (err) {
      this.#fail(SELF_DRAIN_ELB_FAILED, 'RegisterTargets', err);
      return;
    }
    this.#out = false;
    this.#reason = undefined;
    this.#since = undefined;
    this.#o.logger.info(
      { target, targetGroupArn: this.#o.targetGroupArn },
      'self-drain: back in the load balancer rotation (the scale-in excess is gone)',
    );
  }

  /** The task's identity, service and deployment: read once, then kept (none of them change). */
  async #identify(): Promise<Known | undefined> {
    if (this.#known !== undefined) return this.#known;
    let id: TaskIdentity;
    try {
      id = await this.#o.metadata();
    } catch (err) {
      this.#fail(SELF_DRAIN_METADATA_FAILED, 'task metadata', err);
      return undefined;
    }
    const tasks = await this.#ecs('DescribeTasks', () => this.#o.ecs.describeTasks(id.cluster, [id.taskArn]));
    if (tasks === FAILED) return undefined;
    const own = tasks.find((t) => t.taskArn === id.taskArn);
    if (own === undefined) {
      this.#fail(SELF_DRAIN_ECS_FAILED, 'DescribeTasks', new Error('this task was not found'));
      return undefined;
    }
    const service = own.group?.startsWith('service:') ? own.group.slice('service:'.length) : undefined;
    if (service === undefined || service === '' || own.startedBy === undefined) {
      this.#inactive = true;
      this.stop();
      this.#o.logger.warn(
        { code: SELF_DRAIN_NOT_A_SERVICE, group: own.group, startedBy: own.startedBy, taskArn: id.taskArn },
        'self-drain is off: this task was not started by an ECS service deployment',
      );
      return undefined;
    }
    this.#known = { ...id, service, deploymentId: own.startedBy };
    this.#o.logger.info(
      { service, deploymentId: own.startedBy, target: { id: id.ip, port: this.#o.port } },
      'self-drain: following the service deployments',
    );
    return this.#known;
  }

  async #ecs<T>(operation: string, call: () => Promise<T>): Promise<T | typeof FAILED> {
    try {
      return await call();
    } catch (err) {
      this.#fail(SELF_DRAIN_ECS_FAILED, operation, err);
      return FAILED;
    }
  }

  #fail(code: string, operation: string, err: unknown, extra: Record<string, unknown> = {}): void {
    this.#failures++;
    const message = errorMessage(err);
    this.#lastError = { code, operation, message, at: this.#o.clock.now() };
    this.#o.logger.warn(
      { code, operation, err: message, ...extra },
      `self-drain: ${operation} failed; retrying at the next check`,
    );
  }

  #arm(): void {
    const jitter = 1 + (this.#random() - 0.5) * 0.2;
    this.#timer = this.#o.timers.setTimeout(
      () => {
        if (!this.#running) return;
        // A check still running (a slow AWS call) is joined, not overlapped.
        void this.checkNow();
        this.#arm();
      },
      Math.round(this.#intervalMs * jitter),
    );
  }
}

/**
 * Reads this task's cluster, ARN and private IPv4 address from the ECS task metadata endpoint v4
 * (`GET ${ECS_CONTAINER_METADATA_URI_V4}/task`).
 */
export async function readTaskMetadata(
  metadataUri: string,
  options: { fetch?: typeof fetch; timeoutMs?: number } = {},
): Promise<TaskIdentity> {
  const doFetch = options.fetch ?? globalThis.fetch;
  const res = await doFetch(`${metadataUri.replace(/\/+$/, '')}/task`, {
    signal: AbortSignal.timeout(options.timeoutMs ?? 2000),
  });
  if (!res.ok) throw new Error(`task metadata answered ${res.status}`);
  const body = (await res.json()) as {
    Cluster?: unknown;
    TaskARN?: unknown;
    Containers?: Array<{ Networks?: Array<{ IPv4Addresses?: unknown }> }>;
  };
  if (typeof body.Cluster !== 'string' || typeof body.TaskARN !== 'string') {
    throw new Error('task metadata has no Cluster or TaskARN');
  }
  let ip: string | undefined;
  for (const container of body.Containers ?? []) {
    for (const network of container.Networks ?? []) {
      const first = Array.isArray(network.IPv4Addresses) ? network.IPv4Addresses[0] : undefined;
      if (typeof first === 'string' && first !== '') {
        ip = first;
        break;
      }
    }
    if (ip !== undefined) break;
  }
  if (ip === undefined) throw new Error('task metadata has no private IPv4 address (awsvpc network mode expected)');
  return { cluster: body.Cluster, taskArn: body.TaskARN, ip };
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const name = err.name && err.name !== 'Error' ? `${err.name}: ` : '';
    return `${name}${err.message}`.slice(0, 300);
  }
  return String(err).slice(0, 300);
}

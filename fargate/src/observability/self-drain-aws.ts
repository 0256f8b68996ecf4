/**
 * The AWS side of self-drain (self-drain.ts): the ECS and Elastic Load Balancing v2 SDK clients behind the
 * narrow ports {@link SelfDrainEcs} and {@link SelfDrainElb}.
 *
 * Calls and the task role permissions they need: `ecs:DescribeTasks`, `ecs:DescribeServices`,
 * `ecs:ListTasks` (this cluster's service and its tasks), `elasticloadbalancing:DeregisterTargets` and
 * `elasticloadbalancing:RegisterTargets` (the gateway's target group). Each call has its own timeout and at
 * most one SDK retry: the next check retries anyway.
 */
import { DescribeServicesCommand, DescribeTasksCommand, ECSClient, ListTasksCommand } from '@aws-sdk/client-ecs';
import {
  DeregisterTargetsCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { isLoopbackEndpoint } from '../control/pipeline';
import type { EcsServiceInfo, EcsTaskInfo, RotationTarget, SelfDrainEcs, SelfDrainElb } from './self-drain';

/** DescribeTasks takes at most 100 task ARNs per call. */
const DESCRIBE_TASKS_BATCH = 100;
/** Credentials for a fake control plane on loopback (tests): any will do. */
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** Options of {@link createSelfDrainAws}. */
export interface SelfDrainAwsOptions {
  region: string;
  /** `ECS_ENDPOINT` (a local fake). @default - the regional endpoint */
  ecsEndpoint?: string;
  /** `ELB_ENDPOINT` (a local fake). @default - the regional endpoint */
  elbEndpoint?: string;
  /** Per-call timeout. @default 5000 */
  requestTimeoutMs?: number;
}

/** The SDK-backed ports; `destroy()` releases the clients. */
export interface SelfDrainAws {
  ecs: SelfDrainEcs;
  elb: SelfDrainElb;
  destroy(): void;
}

/** Builds the ECS and ELBv2 clients and adapts them to the self-drain ports. */
export function createSelfDrainAws(options: SelfDrainAwsOptions): SelfDrainAws {
  const timeoutMs = options.requestTimeoutMs ?? 5000;
  const ecsClient = new ECSClient({
    region: options.region,
    maxAttempts: 2,
    ...(options.ecsEndpoint !== undefined && { endpoint: options.ecsEndpoint }),
    ...(isLoopbackEndpoint(options.ecsEndpoint) && { credentials: LOCAL_CREDENTIALS }),
  });
  const elbClient = new ElasticLoadBalancingV2Client({
    region: options.region,
    maxAttempts: 2,
    ...(options.elbEndpoint !== undefined && { endpoint: options.elbEndpoint }),
    ...(isLoopbackEndpoint(options.elbEndpoint) && { credentials: LOCAL_CREDENTIALS }),
  });
  const signal = () => ({ abortSignal: AbortSignal.timeout(timeoutMs) });

  const ecs: SelfDrainEcs = {
    async describeTasks(cluster, taskArns) {
      const out: EcsTaskInfo[] = [];
      for (let i = 0; i < taskArns.length; i += DESCRIBE_TASKS_BATCH) {
        const res = await ecsClient.send(
          new DescribeTasksCommand({ cluster, tasks: taskArns.slice(i, i + DESCRIBE_TASKS_BATCH) }),
          signal(),
        );
        for (const t of res.tasks ?? []) {
          if (t.taskArn === undefined) continue;
          out.push({
            taskArn: t.taskArn,
            ...(t.group !== undefined && { group: t.group }),
            ...(t.startedBy !== undefined && { startedBy: t.startedBy }),
            ...(t.startedAt !== undefined && { startedAt: t.startedAt.getTime() }),
            ...(t.lastStatus !== undefined && { lastStatus: t.lastStatus }),
          });
        }
      }
      return out;
    },
    async describeService(cluster, service) {
      const res = await ecsClient.send(new DescribeServicesCommand({ cluster, services: [service] }), signal());
      const svc = res.services?.find((s) => s.serviceName === service) ?? res.services?.[0];
      if (svc === undefined) return undefined;
      const primary = svc.deployments?.find((d) => d.status === 'PRIMARY');
      const info: EcsServiceInfo = { desiredCount: svc.desiredCount ?? 0 };
      if (primary?.id !== undefined) info.primary = { id: primary.id, runningCount: primary.runningCount ?? 0 };
      return info;
    },
    async listServiceTasks(cluster, service) {
      const arns: string[] = [];
      let nextToken: string | undefined;
      do {
        const res = await ecsClient.send(
          new ListTasksCommand({ cluster, serviceName: service, desiredStatus: 'RUNNING', nextToken }),
          signal(),
        );
        arns.push(...(res.taskArns ?? []));
        nextToken = res.nextToken;
      } while (nextToken !== undefined && nextToken !== '');
      return arns;
    },
  };

  const targets = (t: RotationTarget) => [{ Id: t.id, Port: t.port }];
  const elb: SelfDrainElb = {
    async deregister(targetGroupArn, target) {
      await elbClient.send(
        new DeregisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: targets(target) }),
        signal(),
      );
    },
    async register(targetGroupArn, target) {
      await elbClient.send(
        new RegisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: targets(target) }),
        signal(),
      );
    },
  };

  return {
    ecs,
    elb,
    destroy() {
      ecsClient.destroy();
      elbClient.destroy();
    },
  };
}

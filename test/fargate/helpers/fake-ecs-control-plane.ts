/**
 * A fake ECS control plane on 127.0.0.1, one HTTP server for everything a gateway task talks to:
 *
 * - the task metadata endpoint v4 (`GET /v4/task-meta/task`, for `ECS_CONTAINER_METADATA_URI_V4`);
 * - the ECS agent's scale-in protection endpoint (`PUT /agent/task-protection/v1/state`, for `ECS_AGENT_URI`);
 * - the ECS API (awsJson1.1: `POST /` with `X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Operation>`):
 *   DescribeTasks, DescribeServices, ListTasks (for `ECS_ENDPOINT`);
 * - the Elastic Load Balancing v2 Query API (`POST /`, form-encoded `Action=DeregisterTargets|RegisterTargets`,
 *   XML answers) (for `ELB_ENDPOINT`).
 *
 * The real SDK clients talk to it, so request and answer shapes are the wire protocols'. Tests change the
 * service (`primary`, `desiredCount`) and read what was asked.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const ECS_TARGET_PREFIX = 'AmazonEC2ContainerServiceV20141113.';
const ELB_NS = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';

export const FAKE_CLUSTER_ARN = 'arn:aws:ecs:us-east-1:123456789012:cluster/fake-cluster';
export const FAKE_TARGET_GROUP_ARN =
  'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/fake-gw/0123456789abcdef';

/** One task of the fake service. */
export interface FakeTask {
  taskArn: string;
  deploymentId: string;
  /** Epoch ms. */
  startedAt: number;
  lastStatus: string;
}

/** An ELB call the fake received. */
export interface ElbCall {
  action: string;
  targetGroupArn: string | null;
  id: string | null;
  port: number | null;
}

export class FakeEcsControlPlane {
  readonly serviceName = 'fake-gateway';
  /** The task the gateway under test is. */
  readonly self: FakeTask = {
    taskArn: 'arn:aws:ecs:us-east-1:123456789012:task/fake-cluster/0123456789abcdef0123456789abcdef',
    deploymentId: 'ecs-svc/1111111111111111111',
    startedAt: Date.UTC(2025, 5, 1, 8, 0, 0),
    lastStatus: 'RUNNING',
  };
  readonly ip = '10.0.7.42';
  /** Other tasks of the service. */
  readonly others: FakeTask[] = [];
  desiredCount = 1;
  primary = { id: this.self.deploymentId, runningCount: 1 };
  /** Every ECS operation received, in order. */
  readonly ecsCalls: string[] = [];
  readonly elbCalls: ElbCall[] = [];
  /** Bodies of the protection PUTs. */
  readonly protectionPuts: Array<Record<string, unknown>> = [];
  /** Requests this fake did not understand (a test asserts there were none). */
  readonly unexpected: string[] = [];
  #server: Server | undefined;
  url = '';

  get metadataUri(): string {
    return `${this.url}/v4/task-meta`;
  }

  get agentUri(): string {
    return `${this.url}/agent`;
  }

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          this.#handle(req, Buffer.concat(chunks).toString('utf8'), res);
        } catch (err) {
          this.unexpected.push(`${req.method} ${req.url}: ${String(err)}`);
          res.writeHead(500).end();
        }
      });
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    const { port } = this.#server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server?.close(() => resolve());
      this.#server?.closeAllConnections();
    });
  }

  #handle(req: IncomingMessage, body: string, res: ServerResponse): void {
    const path = req.url ?? '/';
    if (req.method === 'GET' && path === '/v4/task-meta/task') {
      json(res, 200, {
        Cluster: FAKE_CLUSTER_ARN,
        TaskARN: this.self.taskArn,
        Family: 'gateway',
        Containers: [
          {
            Name: 'gateway',
            Networks: [{ NetworkMode: 'awsvpc', IPv4Addresses: [this.ip] }],
          },
        ],
      });
      return;
    }
    if (req.method === 'PUT' && path === '/agent/task-protection/v1/state') {
      const put = JSON.parse(body) as Record<string, unknown>;
      this.protectionPuts.push(put);
      json(res, 200, { protection: { ProtectionEnabled: put.ProtectionEnabled, TaskArn: this.self.taskArn } });
      return;
    }
    const target = req.headers['x-amz-target'];
    if (req.method === 'POST' && typeof target === 'string' && target.startsWith(ECS_TARGET_PREFIX)) {
      this.#ecs(target.slice(ECS_TARGET_PREFIX.length), JSON.parse(body) as Record<string, unknown>, res);
      return;
    }
    if (req.method === 'POST' && String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
      this.#elb(new URLSearchParams(body), res);
      return;
    }
    this.unexpected.push(`${req.method} ${path}`);
    res.writeHead(404).end();
  }

  #tasks(): FakeTask[] {
    return [this.self, ...this.others];
  }

  #ecs(operation: string, input: Record<string, unknown>, res: ServerResponse): void {
    this.ecsCalls.push(operation);
    const ecsJson = (status: number, doc: unknown) => {
      const text = JSON.stringify(doc);
      res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.1', 'x-amzn-RequestId': 'fake-request' });
      res.end(text);
    };
    if (operation === 'DescribeTasks') {
      const wanted = new Set((input.tasks as string[] | undefined) ?? []);
      ecsJson(200, {
        tasks: this.#tasks()
          .filter((t) => wanted.has(t.taskArn))
          .map((t) => ({
            taskArn: t.taskArn,
            clusterArn: FAKE_CLUSTER_ARN,
            group: `service:${this.serviceName}`,
            startedBy: t.deploymentId,
            startedAt: t.startedAt / 1000,
            lastStatus: t.lastStatus,
            desiredStatus: 'RUNNING',
          })),
        failures: [],
      });
      return;
    }
    if (operation === 'DescribeServices') {
      ecsJson(200, {
        services: [
          {
            serviceName: this.serviceName,
            serviceArn: `arn:aws:ecs:us-east-1:123456789012:service/fake-cluster/${this.serviceName}`,
            clusterArn: FAKE_CLUSTER_ARN,
            desiredCount: this.desiredCount,
            runningCount: this.#tasks().length,
            deployments: [
              {
                id: this.primary.id,
                status: 'PRIMARY',
                desiredCount: this.desiredCount,
                runningCount: this.primary.runningCount,
              },
              ...(this.primary.id !== this.self.deploymentId
                ? [{ id: this.self.deploymentId, status: 'ACTIVE', desiredCount: 0, runningCount: 1 }]
                : []),
            ],
          },
        ],
        failures: [],
      });
      return;
    }
    if (operation === 'ListTasks') {
      ecsJson(200, { taskArns: this.#tasks().map((t) => t.taskArn) });
      return;
    }
    this.unexpected.push(`ECS ${operation}`);
    ecsJson(400, { __type: 'InvalidParameterException', message: `the fake does not know ${operation}` });
  }

  #elb(form: URLSearchParams, res: ServerResponse): void {
    const action = form.get('Action') ?? '';
    const port = form.get('Targets.member.1.Port');
    this.elbCalls.push({
      action,
      targetGroupArn: form.get('TargetGroupArn'),
      id: form.get('Targets.member.1.Id'),
      port: port === null ? null : Number(port),
    });
    if (action !== 'DeregisterTargets' && action !== 'RegisterTargets') {
      this.unexpected.push(`ELB ${action}`);
      res.writeHead(400, { 'Content-Type': 'text/xml' });
      res.end(
        `<ErrorResponse xmlns="${ELB_NS}"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>unknown</Message></Error><RequestId>fake</RequestId></ErrorResponse>`,
      );
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/xml' });
    res.end(
      `<${action}Response xmlns="${ELB_NS}"><${action}Result/><ResponseMetadata><RequestId>fake-request</RequestId></ResponseMetadata></${action}Response>`,
    );
  }
}

function json(res: ServerResponse, status: number, doc: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(doc));
}

/**
 * Test wiring for the API handlers: real repositories on DynamoDB Local (test/helpers/dynamodb.ts),
 * recording logger and metrics, API Gateway REST proxy events, and a simulated gateway task that acts on
 * the control inbox through the store API, the way the real gateway does.
 */
import { randomUUID } from 'node:crypto';
import type { StartPolicy } from '../../../core/api/start-stop-rules';
import type { Role } from '../../../core/audio/roles';
import type { RoleSummary } from '../../../core/conversation/segment';
import type { ApiDeps } from '../../../lambdas/shared/deps';
import { repositoriesOf } from '../../../lambdas/shared/deps';
import type { ApiEvent, ApiResult } from '../../../lambdas/shared/http';
import type { ApiLogger, MetricsSink } from '../../../lambdas/shared/observability';
import { ControlInbox } from '../../../store/control-inbox';
import type { TestDynamoDb } from '../../helpers/dynamodb';

/** One captured log line. */
export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  attributes: Record<string, unknown>;
}

/** A logger that keeps every line. */
export function captureLogger(): ApiLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: LogLine['level']) =>
    (message: string, attributes: Record<string, unknown> = {}) => {
      lines.push({ level, message, attributes });
    };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A metrics sink that keeps every metric and counts flushes. */
export function recordMetrics(): MetricsSink & { added: { name: string; value: number }[]; flushes: number } {
  const sink = {
    added: [] as { name: string; value: number }[],
    flushes: 0,
    addMetric(name: string, _unit: string, value: number) {
      sink.added.push({ name, value });
    },
    publish() {
      sink.flushes++;
    },
  };
  return sink;
}

/** Sum of a metric's values. */
export function metricTotal(metrics: { added: { name: string; value: number }[] }, name: string): number {
  return metrics.added.filter((m) => m.name === name).reduce((a, m) => a + m.value, 0);
}

/** The default start policy of the tests. */
export const TEST_POLICY: StartPolicy = {
  supportedLanguages: ['en-US', 'es-US'],
  defaultLanguage: 'en-US',
  redactionEnabled: true,
};

/** Handler collaborators on the test tables. */
export function testDeps(
  db: TestDynamoDb,
  overrides: Partial<ApiDeps> = {},
): ApiDeps & { logger: ReturnType<typeof captureLogger>; metrics: ReturnType<typeof recordMetrics> } {
  return {
    ...repositoriesOf(db.client, {
      conversationsTable: db.tables.conversations,
      utterancesTable: db.tables.utterances,
      retentionDays: 7,
      pageTokenSecret: 'test-page-token-secret',
    }),
    policy: TEST_POLICY,
    stopWaitMs: 1500,
    stopPollMs: 20,
    ...overrides,
    logger: captureLogger(),
    metrics: recordMetrics(),
  };
}

/** Options of {@link apiEvent}. */
export interface EventOptions {
  method?: string;
  path?: string;
  resource?: string;
  body?: unknown;
  rawBody?: string | null;
  headers?: Record<string, string>;
  query?: Record<string, string>;
  pathParameters?: Record<string, string>;
  requestId?: string;
}

/** A REST API proxy event (payload v1) as API Gateway builds it. */
export function apiEvent(options: EventOptions = {}): ApiEvent {
  const requestId = options.requestId ?? randomUUID();
  const body =
    options.rawBody !== undefined ? options.rawBody : options.body === undefined ? null : JSON.stringify(options.body);
  const headers = options.headers ?? (body === null ? {} : { 'Content-Type': 'application/json' });
  const path = options.path ?? '/';
  return {
    resource: options.resource ?? path,
    path,
    httpMethod: options.method ?? 'POST',
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: options.query ?? null,
    multiValueQueryStringParameters: options.query
      ? Object.fromEntries(Object.entries(options.query).map(([k, v]) => [k, [v]]))
      : null,
    pathParameters: options.pathParameters ?? null,
    stageVariables: null,
    isBase64Encoded: false,
    body,
    requestContext: {
      accountId: '000000000000',
      apiId: 'test',
      protocol: 'HTTP/1.1',
      httpMethod: options.method ?? 'POST',
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: '127.0.0.1',
        user: null,
        userAgent: 'vitest',
        userArn: null,
      },
      path,
      stage: 'test',
      requestId,
      requestTimeEpoch: Date.now(),
      resourceId: 'r',
      resourcePath: options.resource ?? path,
      authorizer: { apiId: 'app-test', label: 'test', principalId: 'app-test' },
    },
  };
}

/** The parsed JSON body of a result. */
export function bodyOf<T = Record<string, unknown>>(result: ApiResult): T {
  return JSON.parse(result.body) as T;
}

/** A fresh conversation id (Genesys conversation ids are UUIDs). */
export function newGuid(): string {
  return randomUUID();
}

/** A valid start body. */
export function startBody(guid: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { namespace: 'genesysaudiohook', guid, customerId: 'cust-0001', agentId: 'agent-0042', ...extra };
}

/** Options of {@link SimulatedGateway}. */
export interface SimulatedGatewayOptions {
  taskId?: string;
  /** Counters the gateway has accumulated per role when it closes the segment. */
  finalSummary?: Partial<Record<Role, RoleSummary>>;
  pollMs?: number;
}

/**
 * A gateway task reduced to its control behaviour: it registers a session, opens the pending segment,
 * counts audio through `addSegmentCounters`, polls its control inbox and, when it sees desired `off`,
 * closes the segment (optionally with final totals) and acks — all through the store API.
 */
export class SimulatedGateway {
  readonly taskId: string;
  readonly sessionId = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly inbox: ControlInbox;
  /** Segments this gateway closed. */
  readonly closed: number[] = [];

  constructor(
    private readonly deps: ApiDeps,
    db: TestDynamoDb,
    readonly conversationId: string,
    private readonly options: SimulatedGatewayOptions = {},
  ) {
    this.taskId = options.taskId ?? `task-${randomUUID().slice(0, 8)}`;
    this.inbox = new ControlInbox(db.doc, { tableName: db.tables.conversations });
  }

  /** The AudioHook `open`: registers the session and opens the segment if transcription is on. */
  async open(): Promise<void> {
    const { meta } = await this.deps.conversations.registerSession(
      {
        conversationId: this.conversationId,
        sessionId: this.sessionId,
        taskId: this.taskId,
        channels: ['external', 'internal'],
      },
      Date.now(),
    );
    if (meta.desired === 'on' && meta.currentSegment !== undefined) await this.openSegment(meta.currentSegment);
  }

  async openSegment(segment: number): Promise<void> {
    await this.deps.conversations.openSegment(
      this.conversationId,
      segment,
      { taskId: this.taskId, sessionId: this.sessionId },
      Date.now(),
    );
  }

  /** Counts streamed audio the way the gateway does (atomic ADD per role). */
  async count(segment: number, role: Role, delta: Partial<RoleSummary>): Promise<void> {
    await this.deps.conversations.addSegmentCounters(this.conversationId, segment, role, delta);
  }

  /** Starts polling the task's inbox. */
  startPolling(): void {
    const tick = async () => {
      const items = await this.inbox.poll(this.taskId);
      for (const item of items) {
        const meta = await this.deps.conversations.getMeta(item.conversationId);
        if (meta?.currentSegment !== undefined) {
          if (meta.desired === 'off') {
            const outcome = await this.deps.conversations.closeSegment(
              item.conversationId,
              meta.currentSegment,
              Date.now(),
              this.options.finalSummary,
            );
            if (outcome === 'closed') this.closed.push(meta.currentSegment);
          } else {
            await this.openSegment(meta.currentSegment);
          }
        }
        await this.inbox.ack(this.taskId, item.conversationId, item.version);
      }
    };
    const loop = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        tick().then(loop, loop);
      }, this.options.pollMs ?? 25);
    };
    loop();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

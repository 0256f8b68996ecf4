/**
 * The gateway's private admin server (ADMIN_HOST:ADMIN_PORT, loopback by default): process and session
 * metrics for benchmarks and operators, and later the start/stop control routes. It never shares a port
 * with the AudioHook listener, so nothing here is reachable through the load balancer.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { describeError } from '../../core/errors';
import type { Logger } from '../../core/ports';
import type { GatewayStats } from './gateway';
import type { SelfDrainState } from './observability/self-drain';
import type { TaskProtectionState } from './observability/task-protection';
import type { RecordingsStats } from './recordings/recordings';

const LOOP_RESOLUTION_MS = 10;

/** A route handler. Throwing (or rejecting) answers 500 with a generic body. */
export type AdminHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** Options of {@link createAdminServer}. */
export interface AdminDeps {
  /** The gateway's counters. */
  gateway: { stats(): GatewayStats; resetStats(): void };
  logger: Logger;
  /** Task lifecycle components, shown in `/metrics` when present. */
  components?: {
    selfDrain?: { state(): SelfDrainState };
    taskProtection?: { state(): TaskProtectionState };
    recordings?: { stats(): RecordingsStats };
  };
}

/** The metrics document served at `GET /metrics`. */
export interface AdminMetrics {
  sessions: number;
  sessionsTotal: number;
  /** Sessions the open deadline ended (no valid `open` within `OPEN_TIMEOUT_MS`). */
  sessionsEndedByOpenTimeout: number;
  upgradesRejected: { total: number; byCode: Record<string, number> };
  /** CPU time since start or the last reset. */
  cpuUserMs: number;
  cpuSystemMs: number;
  rssBytes: number;
  heapUsedBytes: number;
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  openLatencyMs: { p50: number | null; p99: number | null; count: number };
  /** Self-drain: in or out of the load balancer's rotation, and why (when enabled). */
  selfDrain?: SelfDrainState;
  /** Scale-in protection (when enabled). */
  taskProtection?: TaskProtectionState;
  /** Segment recordings (when configured), including whether the spool directory is usable. */
  recordings?: RecordingsStats;
}

/** The built admin server. Call `server.listen()`; `close()` also stops the event-loop monitor. */
export interface AdminServer {
  readonly server: Server;
  /** Adds a route (exact method and pathname). Later control routes plug in here. */
  route(method: string, path: string, handler: AdminHandler): void;
  metrics(): AdminMetrics;
  resetMetrics(): void;
  close(): Promise<void>;
}

/** Builds the admin server with `GET /metrics` and `POST /metrics/reset`; does not listen. */
export function createAdminServer(deps: AdminDeps): AdminServer {
  const routes = new Map<string, AdminHandler>();
  // 10 ms resolution: fine enough to see a stalled loop, cheap enough to leave on in production.
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loopDelay.enable();
  let cpuBase = process.cpuUsage();

  // The histogram records whole timer intervals (resolution + delay): report only the delay part.
  const delayMs = (ns: number) => Math.max(0, Math.round((ns / 1e6 - LOOP_RESOLUTION_MS) * 100) / 100);

  const admin: AdminServer = {
    server: createServer((req, res) => {
      void dispatch(req, res);
    }),
    route(method, path, handler) {
      routes.set(`${method.toUpperCase()} ${path}`, handler);
    },
    metrics() {
      const g = deps.gateway.stats();
      const cpu = process.cpuUsage(cpuBase);
      const mem = process.memoryUsage();
      const hasSamples = loopDelay.count > 0;
      const c = deps.components;
      return {
        sessions: g.sessions,
        sessionsTotal: g.sessionsTotal,
        sessionsEndedByOpenTimeout: g.sessionsEndedByOpenTimeout,
        upgradesRejected: g.upgradesRejected,
        cpuUserMs: Math.round(cpu.user / 1000),
        cpuSystemMs: Math.round(cpu.system / 1000),
        rssBytes: mem.rss,
        heapUsedBytes: mem.heapUsed,
        eventLoopDelayMs: {
          p50: hasSamples ? delayMs(loopDelay.percentile(50)) : 0,
          p99: hasSamples ? delayMs(loopDelay.percentile(99)) : 0,
          max: hasSamples ? delayMs(loopDelay.max) : 0,
        },
        openLatencyMs: g.openLatencyMs,
        ...(c?.selfDrain && { selfDrain: c.selfDrain.state() }),
        ...(c?.taskProtection && { taskProtection: c.taskProtection.state() }),
        ...(c?.recordings && { recordings: c.recordings.stats() }),
      };
    },
    resetMetrics() {
      loopDelay.reset();
      cpuBase = process.cpuUsage();
      deps.gateway.resetStats();
    },
    close() {
      loopDelay.disable();
      return new Promise((resolve) => {
        admin.server.close(() => resolve());
        admin.server.closeAllConnections();
      });
    },
  };

  admin.route('GET', '/metrics', (_req, res) => sendJson(res, 200, admin.metrics()));
  admin.route('POST', '/metrics/reset', (_req, res) => {
    admin.resetMetrics();
    sendJson(res, 200, { reset: true });
  });

  async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let pathname = '/';
    try {
      pathname = new URL(req.url ?? '/', 'http://admin.invalid').pathname;
    } catch {
      // An unparsable target matches no route.
    }
    const handler = routes.get(`${req.method ?? 'GET'} ${pathname}`);
    if (!handler) {
      const pathKnown = [...routes.keys()].some((k) => k.endsWith(` ${pathname}`));
      sendJson(res, pathKnown ? 405 : 404, { error: pathKnown ? 'method_not_allowed' : 'not_found' });
      return;
    }
    try {
      await handler(req, res);
    } catch (err) {
      deps.logger.error({ err: describeError(err), path: pathname }, 'admin route failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal_error' });
      else res.destroy();
    }
  }

  return admin;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

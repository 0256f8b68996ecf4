/**
 * The AudioHook gateway: one HTTP server that answers health checks and authenticates WebSocket upgrades
 * before accepting them (`ws` in `noServer` mode), then binds each socket to a core session.
 * `createGateway()` builds; it never listens (style.md habit 6): `main.ts` and tests do.
 *
 * Upgrade order is cheapest refusal first (path, drain, per-source limits, capacity, then the HMAC work), so
 * a reconnect storm after an outage is answered with fast 503s instead of slow `opened`s (protocol §6.2
 * item 11), and a flood or brute force from one address with fast 429s (upgrade-guard.ts).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import type {
  AudioHookSession,
  AudioSink,
  ConnectionInfo,
  SessionHooks,
  SessionOptions,
} from '../../core/audiohook/ports';
import { createSession } from '../../core/audiohook/session';
import { type AuthOutcome, type AuthRequest, MIN_AUTH_FAILURE_DELAY_MS } from '../../core/auth/authenticator';
import { describeError } from '../../core/errors';
import type { Clock, Logger, TimerHandle, Timers } from '../../core/ports';
import { type Connection, createConnection } from './audiohook/connection';
import { answerHttpRequest, headerForLog, pathnameOf, writeRefusal } from './gateway-http';
import { LatencySamples } from './gateway-latency';
import { type SourceLimitsConfig, UpgradeGuard } from './upgrade-guard';

/** Collaborators and settings of {@link createGateway}. */
export interface GatewayDeps {
  /** Request paths that accept AudioHook upgrades (matched on the pathname; the query is ignored). */
  paths: readonly string[];
  /** Live sessions (plus upgrades being authenticated) beyond which upgrades get 503. */
  maxSessions: number;
  authenticator: { authenticate(req: AuthRequest): AuthOutcome };
  /** One sink per session. */
  sinkFactory: (ctx: { sessionId: string }) => AudioSink;
  /** Optional transcription-layer hooks per session. */
  hooksFactory?: (ctx: { sessionId: string; connection: ConnectionInfo }) => SessionHooks | undefined;
  /** Options for every session (supported languages, timeouts). */
  sessionOptions: SessionOptions;
  /**
   * Called when an upgrade presents an unknown API key; resolving `true` means the keys were reloaded and
   * the request is authenticated once more (a key rotated in Secrets Manager works at once).
   */
  onUnknownApiKey?: () => Promise<boolean>;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  /** `Retry-After` (seconds) on 503 answers. @default 5 */
  retryAfterSec?: number;
  /** WebSocket ping interval. @default 30_000 */
  heartbeatIntervalMs?: number;
  /**
   * How long a session whose socket closed may take to report its end (sink flush) before the registry
   * forgets it anyway. @default 10_000
   */
  endGraceMs?: number;
  /** Called for every upgrade the gateway itself refuses, with its code (metrics count `at-capacity`). */
  onUpgradeRefused?: (code: GatewayRejectCode) => void;
  /** Per-source limits checked before authentication (429 `rate-limited`). @default - none */
  sourceLimits?: SourceLimitsConfig;
  /** Rejection logs: first per code and source in full, then one summary per interval. @default 10_000 */
  rejectionLogIntervalMs?: number;
}

/** Counters for metrics and benchmarks. */
export interface GatewayStats {
  /** Sessions in the registry now. */
  sessions: number;
  /** Upgrades being authenticated right now. */
  pendingUpgrades: number;
  /** Sessions accepted since start (or the last reset). */
  sessionsTotal: number;
  /** Sessions ended because no valid `open` arrived within `openTimeoutMs` (since start or the last reset). */
  sessionsEndedByOpenTimeout: number;
  upgradesRejected: { total: number; byCode: Record<string, number> };
  /** `open` → `opened` latency of sessions seen so far (last 10 000). */
  openLatencyMs: { p50: number | null; p99: number | null; count: number };
  draining: boolean;
}

/** The built gateway. */
export interface Gateway {
  readonly server: Server;
  /** Live sessions by AudioHook session id. */
  sessions(): ReadonlyMap<string, AudioHookSession>;
  activeSessions(): number;
  /** Health turns 503 and new upgrades are refused; live sessions go on. Idempotent. */
  startDrain(): void;
  /**
   * Starts draining and resolves `'idle'` once no session is left, or `'deadline'` when `deadlineMs`
   * (milliseconds from now) pass first.
   */
  drain(deadlineMs: number): Promise<'idle' | 'deadline'>;
  /**
   * Ends every live session: `disconnect{reason:"error", info: reason}` (the client then closes), and after a
   * grace period the sockets that are still open are dropped. Resolves when the registry is empty or the
   * grace periods are over.
   */
  closeAll(reason: string): Promise<void>;
  stats(): GatewayStats;
  /** Zeroes the counters (benchmarks). */
  resetStats(): void;
}

/** Stable codes for upgrades the gateway itself refuses (authentication codes come from the Authenticator). */
export type GatewayRejectCode =
  | 'unknown-path'
  | 'draining'
  | 'rate-limited'
  | 'at-capacity'
  | 'duplicate-session'
  | 'handshake-failed'
  | 'internal-error';

interface Entry {
  session: AudioHookSession;
  connection: Connection;
  socketClosed: boolean;
  ended: boolean;
  openLatencyRecorded: boolean;
  graceTimer?: TimerHandle;
}

const CLOSE_ALL_GRACE_MS = 5_000;

/** Builds the gateway (HTTP server + WebSocket upgrade handling); call `server.listen()` to serve. */
export function createGateway(deps: GatewayDeps): Gateway {
  const { clock, timers, logger } = deps;
  const paths = new Set(deps.paths);
  const retryAfterSec = deps.retryAfterSec ?? 5;
  const endGraceMs = deps.endGraceMs ?? 10_000;

  const entries = new Map<string, Entry>();
  const sessionView = new Map<string, AudioHookSession>();
  let pending = 0;
  let draining = false;
  let sessionsTotal = 0;
  let endedByOpenTimeout = 0;
  let rejected = new Map<string, number>();
  const latencies = new LatencySamples();
  const idleWaiters = new Set<() => void>();
  const { sourceLimits: limits, rejectionLogIntervalMs } = deps;
  const guard = new UpgradeGuard({ limits, rejectionLogIntervalMs, clock, timers, logger });

  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    // Hard cap only: the adapter answers frames above the protocol's 64 KiB with a proper disconnect (§6.1);
    // anything beyond this is not worth buffering at all.
    maxPayload: 256 * 1024,
    clientTracking: false,
  });

  const server = createServer((req, res) => answerHttpRequest(req, res, draining));
  // Bounded header phase: a client that trickles headers cannot hold a socket for long.
  server.headersTimeout = 15_000;
  server.requestTimeout = 30_000;
  server.on('clientError', (err, socket) => {
    logger.debug({ err: describeError(err) }, 'http client error');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    handleUpgrade(req, socket, head).catch((err: unknown) => {
      logger.error({ err: describeError(err) }, 'upgrade handling failed');
      reject(socket, 500, 'internal-error');
    });
  });

  function count(code: string): void {
    rejected.set(code, (rejected.get(code) ?? 0) + 1);
    if (deps.onUpgradeRefused && isGatewayRejectCode(code)) {
      try {
        deps.onUpgradeRefused(code);
      } catch (err) {
        logger.warn({ err: describeError(err) }, 'upgrade refusal observer failed');
      }
    }
  }

  function reject(socket: Duplex, status: number, code: string, extraHeaders: Record<string, string> = {}): void {
    count(code);
    writeRefusal(socket, status, extraHeaders);
  }

  async function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // Until ws takes the socket over, a reset from the client must not become an uncaught 'error'.
    socket.on('error', (err) => logger.debug({ err: describeError(err) }, 'upgrade socket error'));

    const remoteAddress = req.socket.remoteAddress;
    if (!paths.has(pathnameOf(req.url) ?? '')) {
      reject(socket, 404, 'unknown-path');
      return;
    }
    if (draining) {
      reject(socket, 503, 'draining', { 'Retry-After': String(retryAfterSec) });
      return;
    }
    // Before capacity: a flood is told to back off (429) and never counts as a call turned away.
    const admitted = guard.admit(req);
    if (!admitted.ok) {
      reject(socket, 429, 'rate-limited', { 'Retry-After': String(admitted.retryAfterSec) });
      return;
    }
    if (entries.size + pending >= deps.maxSessions) {
      const load = { sessions: entries.size, pending, maxSessions: deps.maxSessions };
      guard.rejected('at-capacity', admitted.source, { ...load, remoteAddress });
      reject(socket, 503, 'at-capacity', { 'Retry-After': String(retryAfterSec) });
      return;
    }

    // Counted against capacity only while verifying, not during the failure delay below: a flood of bad
    // credentials must not crowd out real calls.
    pending += 1;
    let outcome: AuthOutcome;
    const started = clock.monotonic();
    try {
      const authRequest: AuthRequest = { target: req.url ?? '/', authority: req.headers.host, headers: req.headers };
      outcome = deps.authenticator.authenticate(authRequest);
      if (!outcome.ok && outcome.code === 'unknown-api-key' && deps.onUnknownApiKey) {
        if (await deps.onUnknownApiKey()) outcome = deps.authenticator.authenticate(authRequest);
      }
    } finally {
      pending -= 1;
    }

    if (!outcome.ok) {
      // Counted before the delay below, so a concurrent burst is cut off at once.
      guard.authFailed(admitted);
      // §1.3 check 8: every negative answer waits ≥ 500 ms from the start, whatever failed and how fast.
      const wait = started + MIN_AUTH_FAILURE_DELAY_MS - clock.monotonic();
      if (wait > 0) await new Promise<void>((resolve) => timers.setTimeout(resolve, wait));
      guard.rejected(outcome.code, admitted.source, {
        status: outcome.status,
        detail: outcome.message,
        correlationId: headerForLog(req.headers['audiohook-correlation-id']),
        sessionId: headerForLog(req.headers['audiohook-session-id']),
        organizationId: headerForLog(req.headers['audiohook-organization-id']),
        remoteAddress,
        forwardedFor: headerForLog(req.headers['x-forwarded-for']),
      });
      reject(socket, outcome.status, outcome.code);
      return;
    }

    guard.authSucceeded(admitted);
    // The refresh above may have awaited: re-check what can have changed meanwhile.
    if (draining) {
      reject(socket, 503, 'draining', { 'Retry-After': String(retryAfterSec) });
      return;
    }
    if (entries.has(outcome.sessionId)) {
      // Genesys gives every socket a new session id; a second live one is a replay or a client bug.
      const fields = { sessionId: outcome.sessionId, correlationId: outcome.correlationId, remoteAddress };
      guard.rejected('duplicate-session', admitted.source, { ...fields, detail: 'session id already live' });
      reject(socket, 409, 'duplicate-session');
      return;
    }
    if (socket.destroyed) return;

    const ok = outcome;
    let upgraded = false;
    wss.handleUpgrade(req, socket, head, (ws) => {
      upgraded = true;
      onConnection(ws, ok, remoteAddress);
    });
    // ws answers malformed handshakes (bad Sec-WebSocket-Key/Version) itself, without calling back.
    if (!upgraded) count('handshake-failed');
  }

  function onConnection(ws: WebSocket, auth: Extract<AuthOutcome, { ok: true }>, remoteAddress?: string): void {
    const sessionId = auth.sessionId;
    const sessionLogger = logger.child({ sessionId, correlationId: auth.correlationId });
    const connectionInfo: ConnectionInfo = {
      sessionId,
      organizationId: auth.organizationId,
      correlationId: auth.correlationId,
      apiKeyLabel: auth.apiKeyLabel,
      ...(auth.allowedOrganizationIds !== undefined && { allowedOrganizationIds: auth.allowedOrganizationIds }),
      features: { transcriptionConnector: auth.features.transcriptionConnector },
      control: auth.control,
      ...(auth.defaults !== undefined && { defaults: auth.defaults }),
      ...(remoteAddress !== undefined && { remoteAddress }),
    };

    let entry: Entry | undefined;
    const connection = createConnection(ws, {
      logger: sessionLogger,
      timers,
      ...(deps.heartbeatIntervalMs !== undefined && { heartbeatIntervalMs: deps.heartbeatIntervalMs }),
      onClosed: () => {
        if (!entry) return;
        entry.socketClosed = true;
        // Probes never report an end (no hooks for probes, §6.2 item 1): nothing is left to wait for.
        if (entry.ended || entry.session.isProbe) forget(sessionId, entry);
        // The session reports its end after its sink flushed; do not wait forever if that never comes.
        else entry.graceTimer = timers.setTimeout(() => forget(sessionId, entry as Entry), endGraceMs);
      },
    });

    try {
      const userHooks = deps.hooksFactory?.({ sessionId, connection: connectionInfo });
      const hooks: SessionHooks = {
        onEnd: (summary) => {
          try {
            userHooks?.onEnd?.(summary);
          } finally {
            if (entry) {
              recordOpenLatency(entry);
              entry.ended = true;
              if (entry.socketClosed) forget(sessionId, entry);
            }
          }
        },
      };
      // Bound, not spread: hooks may be class instances whose methods live on the prototype.
      if (userHooks?.onOpen) hooks.onOpen = userHooks.onOpen.bind(userHooks);
      if (userHooks?.onClientPauseChanged) hooks.onClientPauseChanged = userHooks.onClientPauseChanged.bind(userHooks);
      const session = createSession({
        connection: connectionInfo,
        transport: connection.transport,
        sink: deps.sinkFactory({ sessionId }),
        hooks,
        clock,
        timers,
        // The session binds sessionId and correlationId itself.
        logger,
        options: {
          ...deps.sessionOptions,
          onOpenTimeout: () => {
            endedByOpenTimeout += 1;
            deps.sessionOptions.onOpenTimeout?.();
          },
        },
      });
      entry = { session, connection, socketClosed: false, ended: false, openLatencyRecorded: false };
      entries.set(sessionId, entry);
      sessionView.set(sessionId, session);
      sessionsTotal += 1;
      connection.attach(session);
      sessionLogger.info(
        { apiKeyLabel: auth.apiKeyLabel, organizationId: auth.organizationId, signed: auth.signed, remoteAddress },
        'audiohook session accepted',
      );
    } catch (err) {
      // A factory or constructor bug costs this call only: close as an internal error (§4.6).
      sessionLogger.error({ err: describeError(err) }, 'session setup failed');
      count('internal-error');
      connection.transport.close(1011, 'internal error');
    }
  }

  function forget(sessionId: string, entry: Entry): void {
    entry.graceTimer?.cancel();
    if (entries.get(sessionId) !== entry) return;
    recordOpenLatency(entry);
    entries.delete(sessionId);
    sessionView.delete(sessionId);
    if (entries.size === 0) {
      for (const wake of [...idleWaiters]) wake();
    }
  }

  function recordOpenLatency(entry: Entry): void {
    if (entry.openLatencyRecorded) return;
    let ms: number | undefined;
    try {
      ms = entry.session.stats().openLatencyMs;
    } catch {
      return;
    }
    if (ms === undefined) return;
    entry.openLatencyRecorded = true;
    latencies.add(ms);
  }

  function waitIdle(ms: number): Promise<boolean> {
    if (entries.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (idle: boolean) => {
        idleWaiters.delete(wake);
        timer.cancel();
        resolve(idle);
      };
      const wake = () => done(true);
      idleWaiters.add(wake);
      const timer = timers.setTimeout(() => done(false), ms);
    });
  }

  const gateway: Gateway = {
    server,
    sessions: () => sessionView,
    activeSessions: () => entries.size,
    startDrain() {
      if (draining) return;
      draining = true;
      guard.flush();
      logger.info({ sessions: entries.size }, 'gateway draining: refusing new sessions');
    },
    async drain(deadlineMs) {
      gateway.startDrain();
      return (await waitIdle(deadlineMs)) ? 'idle' : 'deadline';
    },
    async closeAll(reason) {
      for (const [sessionId, entry] of entries) {
        try {
          entry.session.disconnect('error', reason);
        } catch (err) {
          logger.warn({ sessionId, err: describeError(err) }, 'disconnect failed; dropping the socket');
          entry.connection.terminate();
        }
      }
      if (await waitIdle(CLOSE_ALL_GRACE_MS)) return;
      for (const entry of entries.values()) entry.connection.terminate();
      await waitIdle(CLOSE_ALL_GRACE_MS);
    },
    stats() {
      for (const entry of entries.values()) recordOpenLatency(entry);
      const openLatencyMs = latencies.summary();
      let total = 0;
      for (const n of rejected.values()) total += n;
      return {
        sessions: entries.size,
        pendingUpgrades: pending,
        sessionsTotal,
        sessionsEndedByOpenTimeout: endedByOpenTimeout,
        upgradesRejected: { total, byCode: Object.fromEntries(rejected) },
        openLatencyMs,
        draining,
      };
    },
    resetStats() {
      sessionsTotal = 0;
      endedByOpenTimeout = 0;
      rejected = new Map();
      latencies.reset();
    },
  };
  return gateway;
}

const GATEWAY_REJECT_CODES: ReadonlySet<string> = new Set<GatewayRejectCode>([
  'unknown-path',
  'draining',
  'rate-limited',
  'at-capacity',
  'duplicate-session',
  'handshake-failed',
  'internal-error',
]);

function isGatewayRejectCode(code: string): code is GatewayRejectCode {
  return GATEWAY_REJECT_CODES.has(code);
}

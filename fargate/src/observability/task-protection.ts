/**
 * ECS task scale-in protection (architecture §5): a call cannot move to another task, so a task holding
 * calls asks ECS not to stop it for a scale-in or a deployment, and gives that up once it is idle.
 *
 * Through the ECS agent endpoint ECS injects as `ECS_AGENT_URI`: `PUT ${ECS_AGENT_URI}/task-protection/v1/state`
 * with `{"ProtectionEnabled":true,"ExpiresInMinutes":N}` while at least one session is live (renewed before
 * it expires, so an agent or API hiccup never leaves a busy task unprotected for long), and
 * `{"ProtectionEnabled":false}` once the task has been idle for the release delay (a call ending and the
 * next one arriving a moment later must not flap the protection). Failures are logged with the stable code
 * {@link TASK_PROTECTION_FAILED} and retried at the next check; nothing here ever throws into the gateway.
 */
import type { Clock, Logger, TimerHandle, Timers } from '../../../core/ports';

/** Log code of a failed protection request (see docs/errors.md). */
export const TASK_PROTECTION_FAILED = 'TASK_PROTECTION_FAILED';
/** Path of the agent's protection endpoint. */
export const TASK_PROTECTION_PATH = '/task-protection/v1/state';
/** ECS accepts 1..2880 minutes. */
export const MAX_PROTECTION_MINUTES = 2880;

/** Options of {@link TaskProtection}. */
export interface TaskProtectionOptions {
  /** `ECS_AGENT_URI`. */
  agentUri: string;
  /** Sessions this task holds now. */
  activeSessions: () => number;
  /** Protection lifetime per request. @default 60 */
  expiresInMinutes?: number;
  /** Renew when less than this is left. @default a quarter of the lifetime */
  renewBeforeMs?: number;
  /** Idle time before protection is released. @default 30000 */
  releaseDelayMs?: number;
  /** How often the session count is checked (calls that end are noticed here). @default 5000 */
  checkIntervalMs?: number;
  /** Per-request timeout. @default 5000 */
  requestTimeoutMs?: number;
  clock: Pick<Clock, 'now'>;
  timers: Timers;
  logger: Pick<Logger, 'info' | 'warn'>;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** What the task believes about its protection. */
export interface TaskProtectionState {
  protected: boolean;
  /** Epoch ms the current protection lapses at (when protected). */
  expiresAt?: number;
  /** Failed requests since start. */
  failures: number;
}

/** Keeps the task protected while it holds sessions. Call {@link start}; {@link refresh} on a new session. */
export class TaskProtection {
  readonly #o: Required<Omit<TaskProtectionOptions, 'fetch'>> & { fetch: typeof fetch };
  readonly #url: string;
  #protected = false;
  #expiresAt = 0;
  #idleSince: number | undefined;
  #failures = 0;
  #inflight: Promise<void> | undefined;
  #queued: Promise<void> | undefined;
  #timer: TimerHandle | undefined;
  #running = false;

  constructor(options: TaskProtectionOptions) {
    const minutes = Math.min(MAX_PROTECTION_MINUTES, Math.max(1, Math.round(options.expiresInMinutes ?? 60)));
    this.#o = {
      expiresInMinutes: minutes,
      renewBeforeMs: options.renewBeforeMs ?? (minutes * 60_000) / 4,
      releaseDelayMs: options.releaseDelayMs ?? 30_000,
      checkIntervalMs: options.checkIntervalMs ?? 5000,
      requestTimeoutMs: options.requestTimeoutMs ?? 5000,
      fetch: options.fetch ?? globalThis.fetch,
      ...pick(options),
    };
    this.#url = `${options.agentUri.replace(/\/+$/, '')}${TASK_PROTECTION_PATH}`;
  }

  /** Starts the periodic check (and checks now). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#arm();
    void this.refresh();
  }

  /** Stops checking. Protection is left as is: a stopping task is being replaced anyway. */
  stop(): void {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /**
   * Re-evaluates now (e.g. a session just started). One request at a time: calls made while one runs share
   * a single follow-up evaluation. Resolves once the evaluation that covers this call has finished.
   */
  refresh(): Promise<void> {
    if (this.#queued) return this.#queued;
    if (this.#inflight) {
      const queued = this.#inflight.then(() => {
        this.#queued = undefined;
        return this.refresh();
      });
      this.#queued = queued;
      return queued;
    }
    const run = this.#evaluate().finally(() => {
      this.#inflight = undefined;
    });
    this.#inflight = run;
    return run;
  }

  state(): TaskProtectionState {
    return {
      protected: this.#protected,
      ...(this.#protected && { expiresAt: this.#expiresAt }),
      failures: this.#failures,
    };
  }

  async #evaluate(): Promise<void> {
    const now = this.#o.clock.now();
    let sessions: number;
    try {
      sessions = this.#o.activeSessions();
    } catch {
      return;
    }
    if (sessions > 0) {
      this.#idleSince = undefined;
      if (this.#protected && this.#expiresAt - now > this.#o.renewBeforeMs) return;
      await this.#put(true, sessions);
      return;
    }
    this.#idleSince ??= now;
    if (this.#protected && now - this.#idleSince >= this.#o.releaseDelayMs) await this.#put(false, 0);
  }

  async #put(enable: boolean, sessions: number): Promise<void> {
    const body = enable
      ? { ProtectionEnabled: true, ExpiresInMinutes: this.#o.expiresInMinutes }
      : { ProtectionEnabled: false };
    const sentAt = this.#o.clock.now();
    try {
      const res = await this.#o.fetch(this.#url, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.#o.requestTimeoutMs),
      });
      const text = await res.text();
      // The agent answers {"protection":{…}} on success, {"failure":{…}} or {"error":{…}} otherwise.
      const answer = parseObject(text);
      if (!res.ok || answer === undefined || 'failure' in answer || 'error' in answer) {
        throw new Error(`agent answered ${res.status}: ${reasonOf(answer) ?? 'unexpected body'}`);
      }
      const wasProtected = this.#protected;
      this.#protected = enable;
      this.#expiresAt = enable ? sentAt + this.#o.expiresInMinutes * 60_000 : 0;
      if (enable !== wasProtected) {
        this.#o.logger.info(
          { protected: enable, sessions, ...(enable && { expiresInMinutes: this.#o.expiresInMinutes }) },
          enable ? 'task scale-in protection on' : 'task scale-in protection released',
        );
      }
    } catch (err) {
      this.#failures++;
      this.#o.logger.warn(
        {
          code: TASK_PROTECTION_FAILED,
          enable,
          sessions,
          err: err instanceof Error ? err.message : String(err),
        },
        'task scale-in protection request failed; retrying at the next check',
      );
    }
  }

  #arm(): void {
    this.#timer = this.#o.timers.setTimeout(() => {
      if (!this.#running) return;
      void this.refresh();
      this.#arm();
    }, this.#o.checkIntervalMs);
  }
}

function pick(o: TaskProtectionOptions) {
  return { agentUri: o.agentUri, activeSessions: o.activeSessions, clock: o.clock, timers: o.timers, logger: o.logger };
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function reasonOf(answer: Record<string, unknown> | undefined): string | undefined {
  const detail = (answer?.failure ?? answer?.error) as Record<string, unknown> | undefined;
  const reason = detail?.Reason ?? detail?.Message ?? detail?.Code;
  return typeof reason === 'string' ? reason.slice(0, 200) : undefined;
}

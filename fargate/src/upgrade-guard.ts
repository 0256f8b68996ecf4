/**
 * The gateway's guard in front of upgrade authentication (issue #15 item 6), kept out of gateway.ts:
 *
 * - **Per-source limits before any verification.** The socket's remote address (see below) is checked
 *   against a {@link SourceLimiter}: too many attempts, or too many failed authentications, and the
 *   upgrade is answered 429 with `Retry-After` without computing an HMAC or asking Secrets Manager for
 *   keys. An API key that verified recently is vouched for and never limited (its keyed hash is kept,
 *   never the key), so a flood sharing an address with Genesys does not turn Genesys away.
 * - **Sampled rejection logs.** Every refusal goes through a {@link RejectionSampler}: the first per
 *   (code, source) is a full WARN, the rest are counted into one summary line per interval.
 *
 * The source is `req.socket.remoteAddress`. Behind the NLB that is the client's address only when the
 * target group preserves client IPs (`preserve_client_ip.enabled`, off by default for IP targets over
 * TCP/TLS) or speaks proxy protocol; otherwise every upgrade appears to come from one of the NLB's own
 * private addresses (docs/deploy.md §6.2), and the limits act per load-balancer node, with the vouch
 * keeping known keys working. `X-Forwarded-For` is never trusted: an NLB does not set it, so it is
 * whatever the client wrote.
 */
import type { IncomingMessage } from 'node:http';
import { RejectionSampler, type RejectionSummary } from '../../core/auth/rejection-sampler';
import { canonicalizeHeaderValue } from '../../core/auth/signature';
import {
  type RateLimit,
  type SourceAdmission,
  SourceLimiter,
  type SourceRefusal,
  sourceKeyOf,
} from '../../core/auth/source-limiter';
import type { Clock, Logger, TimerHandle, Timers } from '../../core/ports';

/** Per-source limits of the gateway (`SOURCE_LIMIT_*`, fargate/src/config.ts). */
export interface SourceLimitsConfig {
  /** Upgrades per source address without a vouched API key. */
  upgrades: RateLimit;
  /** Failed authentications per source address. */
  failures: RateLimit;
  /** Source addresses tracked. @default 10_000 */
  maxSources?: number;
}

/** Defaults: generous for Genesys (many calls from few egress addresses), tight on failures. */
export const DEFAULT_SOURCE_LIMITS: SourceLimitsConfig = {
  upgrades: { ratePerSec: 50, burst: 100 },
  failures: { ratePerSec: 10, burst: 20 },
};

/** Summary interval of the rejection logs. */
export const DEFAULT_REJECTION_LOG_INTERVAL_MS = 10_000;

/** Options of {@link UpgradeGuard}. */
export interface UpgradeGuardOptions {
  /** @default - no per-source limits (the composition root passes them; tests and benchmarks need not) */
  limits?: SourceLimitsConfig | undefined;
  /** @default {@link DEFAULT_REJECTION_LOG_INTERVAL_MS} */
  rejectionLogIntervalMs?: number | undefined;
  clock: Pick<Clock, 'monotonic'>;
  timers: Timers;
  logger: Logger;
}

/** What {@link UpgradeGuard.admit} decided. */
export type GuardAdmission =
  | { ok: true; source: string; apiKey: string | undefined }
  | { ok: false; source: string; reason: SourceRefusal; retryAfterSec: number };

/** Per-source limits and sampled rejection logs for the gateway's upgrade path. */
export class UpgradeGuard {
  private readonly limiter: SourceLimiter | undefined;
  private readonly sampler: RejectionSampler;
  private readonly intervalMs: number;
  private readonly timers: Timers;
  private readonly logger: Logger;
  private summaryTimer: TimerHandle | undefined;

  /** @throws {AuthConfigError} for non-positive limits */
  constructor(opts: UpgradeGuardOptions) {
    const now = () => opts.clock.monotonic();
    this.limiter = opts.limits
      ? new SourceLimiter({
          requests: opts.limits.upgrades,
          failures: opts.limits.failures,
          ...(opts.limits.maxSources !== undefined && { maxSources: opts.limits.maxSources }),
          now,
        })
      : undefined;
    this.intervalMs = opts.rejectionLogIntervalMs ?? DEFAULT_REJECTION_LOG_INTERVAL_MS;
    this.sampler = new RejectionSampler({ intervalMs: this.intervalMs, now });
    this.timers = opts.timers;
    this.logger = opts.logger;
  }

  /**
   * Admits an upgrade to authentication or refuses it (the refusal is logged, sampled). Reads only the
   * socket's address and the `X-API-KEY` header: no verification work.
   */
  admit(req: IncomingMessage): GuardAdmission {
    const source = sourceKeyOf(req.socket.remoteAddress);
    const apiKey = canonicalizeHeaderValue(req.headers['x-api-key']) || undefined;
    const admission: SourceAdmission = this.limiter?.admit(source, apiKey) ?? { allowed: true, vouched: false };
    if (admission.allowed) return { ok: true, source, apiKey };
    this.rejected('rate-limited', source, { limit: admission.reason, retryAfterSec: admission.retryAfterSec });
    return { ok: false, source, reason: admission.reason, retryAfterSec: admission.retryAfterSec };
  }

  /** The upgrade's authentication failed: the source's failure budget shrinks and the key's vouch ends. */
  authFailed(admitted: Extract<GuardAdmission, { ok: true }>): void {
    this.limiter?.recordFailure(admitted.source, admitted.apiKey);
  }

  /** The upgrade authenticated: its API key is vouched for. */
  authSucceeded(admitted: Extract<GuardAdmission, { ok: true }>): void {
    if (admitted.apiKey !== undefined) this.limiter?.recordSuccess(admitted.apiKey);
  }

  /**
   * Logs a refused upgrade: in full (WARN, `upgrade rejected`) when it is the first of its code and source
   * after a quiet interval, else counted into the next `upgrades rejected (summary)` line.
   */
  rejected(code: string, source: string, fields: Record<string, unknown> = {}): void {
    if (this.sampler.record(code, source)) {
      this.logger.warn({ code, source, ...fields }, 'upgrade rejected');
      return;
    }
    this.summaryTimer ??= this.timers.setTimeout(() => {
      this.summaryTimer = undefined;
      this.flush();
    }, this.intervalMs);
  }

  /** Logs the pending summary now (at shutdown, and from the interval timer). */
  flush(): void {
    this.summaryTimer?.cancel();
    this.summaryTimer = undefined;
    const summary: RejectionSummary | undefined = this.sampler.takeSummary();
    if (summary) this.logger.warn({ ...summary }, 'upgrades rejected (summary)');
  }

  /** Sizes of the limiter's state (`undefined` without limits). */
  stats(): { requestSources: number; failureSources: number; vouched: number } | undefined {
    return this.limiter?.stats();
  }
}

/**
 * Sampling of rejection logs (issue #15 item 6: one flood wrote 810 WARN lines). The first rejection
 * of each (reason, source) pair is logged in full, the rest are only counted, and whoever owns the
 * logger asks for a summary once per interval: one line with the counts per reason and the busiest
 * sources. A pair is logged in full again once it has been quiet for a whole interval, so a new flood
 * from the same place is visible at once, while a continuous one costs one line per interval.
 *
 * Bounded whatever the attacker does: at most `maxDetailedPerInterval` full lines per interval (a flood
 * rotating its source address would otherwise make every rejection a "first"), and at most `maxKeys`
 * remembered pairs and counted sources, least recently seen forgotten first. Pure: no I/O, no timers;
 * the clock is injected and the caller schedules {@link RejectionSampler.takeSummary}.
 */
import { AuthConfigError } from './errors';

/** Options of {@link RejectionSampler}. */
export interface RejectionSamplerOptions {
  /** Length of one summary interval, and how long a pair must be quiet to be logged in full again. */
  intervalMs: number;
  /** Milliseconds from any fixed origin (a monotonic clock). */
  now: () => number;
  /** Full lines allowed per interval, all pairs together. @default 5 */
  maxDetailedPerInterval?: number;
  /** Pairs remembered, and sources counted per interval. @default 1_000 */
  maxKeys?: number;
  /** Sources named in a summary, busiest first. @default 5 */
  topSources?: number;
}

/** What was rejected in one interval, for one log line. */
export interface RejectionSummary {
  /** Length of the interval summarized (ms). */
  intervalMs: number;
  /** Rejections recorded in the interval, logged in full or not. */
  rejected: number;
  /** Of those, the ones that were not logged in full. */
  suppressed: number;
  /** Rejections per reason. */
  byReason: Record<string, number>;
  /** Distinct sources counted (at most `maxKeys`: beyond it, `sourcesTruncated`). */
  sources: number;
  sourcesTruncated: boolean;
  /** The busiest sources of the interval with their counts. */
  topSources: Array<{ source: string; count: number }>;
}

/** Counts rejections and picks the few worth a full log line; see the module comment. */
export class RejectionSampler {
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly maxDetailed: number;
  private readonly maxKeys: number;
  private readonly topCount: number;
  /** `reason \0 source` → last seen (clock ms), least recently seen first. */
  private readonly lastSeen = new Map<string, number>();
  private intervalStart: number;
  private detailed = 0;
  private rejected = 0;
  private suppressed = 0;
  private byReason = new Map<string, number>();
  private bySource = new Map<string, number>();
  private sourcesTruncated = false;

  /** @throws {AuthConfigError} for a non-positive interval or bound */
  constructor(opts: RejectionSamplerOptions) {
    if (!Number.isFinite(opts.intervalMs) || opts.intervalMs <= 0) {
      throw new AuthConfigError(`intervalMs must be a positive number of milliseconds, got ${opts.intervalMs}`);
    }
    this.intervalMs = opts.intervalMs;
    this.now = opts.now;
    this.maxDetailed = opts.maxDetailedPerInterval ?? 5;
    this.maxKeys = opts.maxKeys ?? 1_000;
    this.topCount = opts.topSources ?? 5;
    for (const [name, v] of [
      ['maxDetailedPerInterval', this.maxDetailed],
      ['maxKeys', this.maxKeys],
      ['topSources', this.topCount],
    ] as const) {
      if (!Number.isInteger(v) || v < 0 || (name === 'maxKeys' && v < 1)) {
        throw new AuthConfigError(`${name} must be a non-negative integer (maxKeys ≥ 1), got ${v}`);
      }
    }
    this.intervalStart = this.now();
  }

  /** Rejections counted but not logged in full since the last summary (a summary is due when > 0). */
  get pending(): number {
    return this.suppressed;
  }

  /**
   * Records one rejection. Returns `true` when the caller should log it in full: the first of its
   * (reason, source) pair after a quiet interval, within the per-interval budget.
   */
  record(reason: string, source: string): boolean {
    const t = this.now();
    // Nothing waits to be summarized: a new interval starts with this rejection.
    if (this.suppressed === 0 && t - this.intervalStart >= this.intervalMs) this.reset(t);
    this.rejected += 1;
    this.byReason.set(reason, (this.byReason.get(reason) ?? 0) + 1);
    this.countSource(source);

    const pair = `${reason}\u0000${source}`;
    const last = this.lastSeen.get(pair);
    this.lastSeen.delete(pair);
    if (this.lastSeen.size >= this.maxKeys) {
      const oldest = this.lastSeen.keys().next();
      if (!oldest.done) this.lastSeen.delete(oldest.value);
    }
    this.lastSeen.set(pair, t);
    const fresh = last === undefined || t - last >= this.intervalMs;
    if (fresh && this.detailed < this.maxDetailed) {
      this.detailed += 1;
      return true;
    }
    this.suppressed += 1;
    return false;
  }

  /**
   * Closes the current interval and returns its summary, or `undefined` when every rejection of it was
   * logged in full (nothing to add). The next interval starts now.
   */
  takeSummary(): RejectionSummary | undefined {
    const t = this.now();
    const summary: RejectionSummary | undefined =
      this.suppressed === 0
        ? undefined
        : {
            intervalMs: Math.max(0, t - this.intervalStart),
            rejected: this.rejected,
            suppressed: this.suppressed,
            byReason: Object.fromEntries(this.byReason),
            sources: this.bySource.size,
            sourcesTruncated: this.sourcesTruncated,
            topSources: [...this.bySource]
              .sort((a, b) => b[1] - a[1])
              .slice(0, this.topCount)
              .map(([source, count]) => ({ source, count })),
          };
    this.reset(t);
    return summary;
  }

  private reset(t: number): void {
    this.intervalStart = t;
    this.detailed = 0;
    this.rejected = 0;
    this.suppressed = 0;
    this.byReason = new Map();
    this.bySource = new Map();
    this.sourcesTruncated = false;
  }

  private countSource(source: string): void {
    const count = this.bySource.get(source);
    if (count !== undefined) this.bySource.set(source, count + 1);
    else if (this.bySource.size < this.maxKeys) this.bySource.set(source, 1);
    else this.sourcesTruncated = true;
  }
}

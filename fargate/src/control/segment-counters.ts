/**
 * The periodic flush of streaming segments' per-role counters to the store (`ADD`, so it is safe next to
 * other writers), with a segment heartbeat. Each flush runs in its conversation's chain, so no counter
 * `ADD` lands after the segment's final summary.
 */
import type { Role } from '../../../core/audio/roles';
import { type RoleSummary, ZERO_SUMMARY } from '../../../core/conversation/segment';
import { describeError } from '../../../core/errors';
import type { TimerHandle } from '../../../core/ports';
import type { ControlContext } from './controller-ports';
import type { LocalSession } from './local-session';

/** Flushes segment counters every `counterFlushMs` (jittered ±10 %) while started. */
export class SegmentCounters {
  readonly #ctx: ControlContext;
  #timer: TimerHandle | undefined;
  #running = false;

  constructor(ctx: ControlContext) {
    this.#ctx = ctx;
  }

  start(): void {
    this.#running = true;
    this.#schedule();
  }

  stop(): void {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** Queues a flush of every streaming session (one at a time per session). */
  flushAll(): void {
    for (const [conversationId, entry] of this.#ctx.queue.entries()) {
      for (const ls of entry.sessions) {
        if (ls.segment === undefined || ls.flushQueued) continue;
        ls.flushQueued = true;
        void this.#ctx.queue
          .enqueue(conversationId, () => this.#flush(ls))
          .catch((err: unknown) => {
            this.#ctx.stats.count('counterFlushErrors');
            ls.log.warn({ conversationId, err: describeError(err) }, 'segment counter flush failed');
          })
          .finally(() => {
            ls.flushQueued = false;
          });
      }
    }
  }

  #schedule(): void {
    if (!this.#running) return;
    const period = this.#ctx.options.counterFlushMs ?? 5000;
    const ms = Math.max(1, Math.round(period * (0.9 + 0.2 * this.#ctx.random())));
    this.#timer = this.#ctx.options.timers.setTimeout(() => {
      this.flushAll();
      this.#schedule();
    }, ms);
  }

  /**
   * Adds what each role counted since the last flush (`ADD`, so it is safe next to other writers) and
   * heartbeats the segment so a stop can tell this live task from a dead one (SEGMENT_HOLDER_SILENT_MS):
   * one request per session per period.
   */
  async #flush(ls: LocalSession): Promise<void> {
    const o = this.#ctx.options;
    const held = ls.segment;
    const stats = ls.sink.segmentStats();
    if (held === undefined || stats === undefined) return;
    const conversationId = ls.conversationId as string;
    const deltas: Partial<Record<Role, Partial<RoleSummary>>> = {};
    let counted = false;
    for (const [role, now] of Object.entries(stats.roles) as [Role, RoleSummary][]) {
      const before = held.flushed[role] ?? ZERO_SUMMARY;
      const delta: Partial<RoleSummary> = {};
      for (const field of ['totalAudioBytes', 'audioDurationMs', 'streamingSeconds', 'transcripts'] as const) {
        const d = now[field] - before[field];
        if (d > 0) {
          delta[field] = d;
          counted = true;
        }
      }
      deltas[role] = delta;
    }
    const beat = await o.conversations.flushSegment(conversationId, held.number, deltas, o.clock.now());
    // Written either way (the store adds counters to a segment closed elsewhere too).
    for (const [role, now] of Object.entries(stats.roles) as [Role, RoleSummary][]) held.flushed[role] = { ...now };
    if (counted) this.#ctx.stats.count('counterFlushes');
    if (beat === 'not-open') {
      // A stop closed it as holder-lost while this task was unreachable; the inbox stops the stream.
      ls.log.warn(
        { conversationId, segment: held.number, code: 'PIPELINE_SEGMENT_CLOSED_ELSEWHERE' },
        'segment was closed by another party while streaming',
      );
    }
  }
}

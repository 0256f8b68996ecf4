/**
 * One soak call: an AudioHook session (the real simulator) whose audio is tone-coded utterances placed
 * while the call runs, and the start/stop requests a Genesys flow would send. The driver only speaks when
 * it knows the call's fate, so every utterance gets an expectation: spoken while this session streams a
 * running segment (confirmed on the status route) → must be stored once; spoken during a confirmed hold →
 * must not be stored. State changes (hold, start/stop storm, the end) wait until the last utterance has
 * been played and finalized. A session cut by the gateway (drain, kill) is reopened as a new session of
 * the same conversation, as Genesys would on its next attempt, and what was still playing at the cut is
 * marked uncertain rather than counted as lost.
 */
import { randomUUID } from 'node:crypto';
import type { SimulatedAction, SimulatedSessionResult } from '../../local/simulator/options';
import type { SimulateOptions } from '../../test/e2e/harness';
import { type SoakControl, sleep, stoppedNow, streamsNow } from './control';
import { LiveCallSource, msToSamples, type PlacedUtterance } from './live-source';
import { between, type Rng } from './random';
import type { Spoken } from './truth';

/** Utterances whose last sample was sent less than this before a cut are uncertain (finals still due). */
const CUT_WINDOW_MS = 1000;
/** After a SIGKILL, utterances sent less than this before it count as killed unless they were stored. */
export const KILL_WINDOW_MS = 10_000;
/** Time after an utterance's last sample for its final to be produced (VAD hangover + margin). */
const FINALIZE_MS = 700;
const CONFIRM_TIMEOUT_MS = 30_000;
const POLL_MS = 300;

/** What the driver plays in one call. Times are ms from the call's first session opening. */
export interface CallPlan {
  conversationId: string;
  durationMs: number;
  /** AudioHook pause (client side) of the first session. */
  pause?: { atMs: number; ms: number };
  /** AudioHook discard of the first session. */
  discard?: { atMs: number; ms: number };
  /** Stop, speak on hold, start again, at about this time. */
  holdAtMs?: number;
  /** End with stop-streaming (else the call ends while transcription is on). */
  stopAtEnd: boolean;
}

export interface CallDriverDeps {
  control: SoakControl;
  simulate(opts: SimulateOptions): Promise<SimulatedSessionResult>;
  gatewayHealthUrl: string;
  nextId(): number;
  rng: Rng;
  log(msg: string): void;
  /** Step-by-step trace of the driver (SOAK_TRACE=1). */
  trace?(msg: string): void;
}

interface Session {
  index: number;
  sessionId: string;
  source: LiveCallSource;
  abort: AbortController;
  done: Promise<SimulatedSessionResult | undefined>;
  ended: boolean;
  /** How the simulator saw it end (`closed` = a normal close{end}/closed exchange). */
  outcome?: string;
  endedAtMs?: number;
  /** `[start, end)` samples where nothing may be placed (pause, discard). */
  blocked: Array<[number, number]>;
}

/** Counters of one call, summed into the report. */
export interface CallStats {
  sessions: number;
  rejectedOpens: number;
  holdsPlanned: number;
  holds: number;
  storms: number;
  stormRequests: number;
  pauses: number;
  discards: number;
  confirmTimeouts: number;
}

/** All counters at zero. */
export function emptyCallStats(): CallStats {
  return {
    sessions: 0,
    rejectedOpens: 0,
    holdsPlanned: 0,
    holds: 0,
    storms: 0,
    stormRequests: 0,
    pauses: 0,
    discards: 0,
    confirmTimeouts: 0,
  };
}

export class CallDriver {
  readonly stats: CallStats = emptyCallStats();
  private readonly played: Array<{ spoken: Spoken; placed: PlacedUtterance }> = [];
  private stormWanted = false;
  private current: Session | undefined;
  private readonly startedAt = Date.now();

  constructor(
    private readonly plan: CallPlan,
    private readonly deps: CallDriverDeps,
  ) {}

  get conversationId(): string {
    return this.plan.conversationId;
  }

  /** Asks for a start/stop storm at the next quiet moment. */
  requestStorm(): void {
    this.stormWanted = true;
  }

  /** The gateway was SIGKILLed at `atMs` (wall clock): recent and unsent utterances become uncertain. */
  markKilled(atMs: number): void {
    for (const { spoken, placed } of this.played) {
      if (spoken.uncertain || spoken.expect !== 'stored') continue;
      if (placed.sentAtMs === undefined || placed.sentAtMs >= atMs - KILL_WINDOW_MS) spoken.uncertain = 'killed';
    }
  }

  /** Placed utterances the simulator never sent (placed in time it skipped): no test, not in the ledger. */
  get neverSent(): number {
    return this.played.filter(({ placed }) => placed.sentSamples === 0).length;
  }

  /**
   * Everything played, with send times filled in; an utterance only partly sent (paused or cut in the
   * middle) is uncertain.
   */
  ledger(): Spoken[] {
    return this.played
      .filter(({ placed }) => placed.sentSamples > 0)
      .map(({ spoken, placed }) => ({
        ...spoken,
        ...(placed.sentAtMs !== undefined && { sentAtMs: placed.sentAtMs }),
        ...(placed.sentSamples < placed.endSample - placed.startSample &&
          !spoken.uncertain && { uncertain: 'partial' as const }),
      }));
  }

  async run(): Promise<void> {
    const { plan, deps } = this;
    const endAt = this.startedAt + plan.durationMs;
    let started = false;
    let holdDone = plan.holdAtMs === undefined;
    if (!holdDone) this.stats.holdsPlanned++;
    while (Date.now() < endAt - 3000) {
      if (!started) {
        // A start that precedes the session is honoured at open (a Genesys flow may start before audio).
        await deps.control.start(plan.conversationId);
        started = true;
      }
      const s = this.open(endAt - Date.now());
      this.trace(`session ${s.index} opening`);
      await until(() => s.source.started || s.ended, 20_000);
      if (!s.source.started) {
        this.stats.rejectedOpens++;
        s.abort.abort();
        await s.done;
        await this.waitHealthy();
        continue;
      }
      while (!s.ended && Date.now() < endAt - 2500) {
        if (this.stormWanted) {
          await this.storm(s);
          continue;
        }
        if (!holdDone && Date.now() - this.startedAt >= (plan.holdAtMs as number)) {
          holdDone = true;
          await this.hold(s);
          continue;
        }
        if (!(await this.confirmOn(s))) continue;
        const p = await this.speakOne(s);
        this.trace(p ? `said ${p.id} on ${p.channel} at ${p.startSample}` : 'nothing placed');
      }
      if (!s.ended) break;
      this.onCut(s);
      await this.waitHealthy();
    }
    const s = this.current;
    if (!s) return;
    this.trace(`ending (session ${s.index} ended: ${s.ended})`);
    if (!s.ended) {
      await this.quiet(s);
      if (plan.stopAtEnd) await deps.control.stop(plan.conversationId);
      s.abort.abort();
    }
    await s.done;
    this.trace('ended');
    if (s.ended && s.endedAtMs !== undefined && !s.abort.signal.aborted) this.onCut(s);
  }

  private trace(msg: string): void {
    this.deps.trace?.(`call ${this.plan.conversationId.slice(0, 8)}: ${msg}`);
  }

  private open(remainingMs: number): Session {
    const { plan, deps } = this;
    const index = this.stats.sessions++;
    const source = new LiveCallSource(Math.max(remainingMs, 5000), `soak ${plan.conversationId.slice(0, 8)}#${index}`);
    const abort = new AbortController();
    const actions: SimulatedAction[] = [];
    const blocked: Array<[number, number]> = [];
    const margin = msToSamples(600);
    if (index === 0 && plan.pause) {
      actions.push({ atMs: plan.pause.atMs, action: 'pause' });
      actions.push({ atMs: plan.pause.atMs + plan.pause.ms, action: 'resume' });
      blocked.push([msToSamples(plan.pause.atMs) - margin, msToSamples(plan.pause.atMs + plan.pause.ms) + margin]);
      this.stats.pauses++;
    }
    if (index === 0 && plan.discard) {
      actions.push({ atMs: plan.discard.atMs, action: 'discard', ms: plan.discard.ms });
      blocked.push([
        msToSamples(plan.discard.atMs) - margin,
        msToSamples(plan.discard.atMs + plan.discard.ms) + margin,
      ]);
      this.stats.discards++;
    }
    const s: Session = {
      index,
      sessionId: randomUUID(),
      source,
      abort,
      blocked,
      ended: false,
      done: Promise.resolve(undefined),
    };
    s.done = deps
      .simulate({
        conversationId: plan.conversationId,
        sessionId: s.sessionId,
        audio: source,
        speed: 1,
        record: 'none',
        actions,
        signal: abort.signal,
        openTimeoutMs: 10_000,
      })
      .then(
        (r) => {
          s.outcome = r.outcome;
          if (!abort.signal.aborted) {
            const why = r.disconnect ? ` ${r.disconnect.reason}` : r.httpStatus ? ` HTTP ${r.httpStatus}` : '';
            deps.log(`call ${plan.conversationId.slice(0, 8)} session ${index}: ${r.outcome}${why}`);
          }
          return r;
        },
        (err: unknown) => {
          deps.log(`call ${plan.conversationId.slice(0, 8)}: simulator failed: ${String(err)}`);
          return undefined;
        },
      )
      .finally(() => {
        s.ended = true;
        s.endedAtMs = Date.now();
      });
    this.current = s;
    return s;
  }

  /** Places one utterance on a random channel and waits until it starts playing. */
  private async speakOne(s: Session, expect: Spoken['expect'] = 'stored'): Promise<PlacedUtterance | undefined> {
    const { deps, plan } = this;
    // Placing needs the session's position: wait for audio to flow (it resumes after a start).
    if (!(await until(() => s.ended || s.source.started, 10_000)) || s.ended) return undefined;
    const channel = deps.rng() < 0.5 ? 0 : 1;
    const id = deps.nextId();
    const placed = s.source.say(id, channel, {
      leadMs: 250,
      gapMs: between(deps.rng, 400, 1500),
      blocked: s.blocked,
    });
    if (!placed) {
      await sleep(500);
      return undefined;
    }
    this.played.push({
      placed,
      spoken: {
        id,
        conversationId: plan.conversationId,
        session: s.index,
        role: channel === 0 ? 'customer' : 'agent',
        startSample: placed.startSample,
        endSample: placed.endSample,
        expect,
      },
    });
    await until(() => s.ended || s.source.position >= placed.startSample, 30_000);
    return placed;
  }

  /** Waits until everything placed on `s` has played and had time to be finalized. */
  private async quiet(s: Session): Promise<void> {
    const last = Math.max(0, ...s.source.utterances().map((u) => u.endSample));
    await until(() => s.ended || s.source.position >= last + msToSamples(FINALIZE_MS), 30_000);
  }

  /** Waits until this session streams a running segment; re-sends the start now and then. */
  private async confirmOn(s: Session): Promise<boolean> {
    const { control } = this.deps;
    const deadline = Date.now() + CONFIRM_TIMEOUT_MS;
    let lastStart = Date.now();
    while (!s.ended) {
      if (streamsNow(await control.status(this.plan.conversationId), s.sessionId)) return true;
      if (Date.now() > deadline) {
        this.stats.confirmTimeouts++;
        this.deps.log(`call ${this.plan.conversationId.slice(0, 8)}: transcription not confirmed on within 30 s`);
        return false;
      }
      if (Date.now() - lastStart > 10_000) {
        lastStart = Date.now();
        await control.start(this.plan.conversationId);
      }
      await sleep(POLL_MS);
    }
    return false;
  }

  /** Stop, confirm, speak on hold (must not be stored), start again. */
  private async hold(s: Session): Promise<void> {
    const { control } = this.deps;
    const guid = this.plan.conversationId;
    await this.quiet(s);
    this.stats.holds++;
    this.trace('hold: stop');
    await control.stop(guid);
    const deadline = Date.now() + CONFIRM_TIMEOUT_MS;
    let off = false;
    while (!s.ended && Date.now() < deadline) {
      if (stoppedNow(await control.status(guid))) {
        off = true;
        break;
      }
      await sleep(POLL_MS);
    }
    if (off) {
      for (let i = 0; i < 2 && !s.ended; i++) await this.speakOne(s, 'not-stored');
      await this.quiet(s);
    }
    this.trace(`hold: ${off ? 'confirmed off' : 'not confirmed off'}; start`);
    await control.start(guid);
  }

  /** Duplicate and contradicting start/stop requests at once, then a definitive start. */
  private async storm(s: Session): Promise<void> {
    const { control, rng } = this.deps;
    const guid = this.plan.conversationId;
    this.stormWanted = false;
    await this.quiet(s);
    this.stats.storms++;
    const kinds = ['start', 'start', 'start', 'stop', 'stop', 'start', 'stop'] as const;
    await Promise.all(
      kinds.map(async (k) => {
        await sleep(rng() * 200);
        this.stats.stormRequests++;
        // One attempt each, as a burst of duplicate clicks would send: the answers are counted.
        await control.burst(k, guid);
      }),
    );
    await control.start(guid);
  }

  /**
   * The session was cut: what was still playing or just played is uncertain. A session that closed
   * normally (its audio ran out at the end of the call: close{end}, then closed) was not cut, and what
   * it played must all be stored.
   */
  private onCut(s: Session): void {
    if (s.outcome === 'closed') return;
    const cutAt = s.endedAtMs ?? Date.now();
    for (const { spoken, placed } of this.played) {
      if (spoken.session !== s.index || spoken.uncertain) continue;
      if (placed.sentAtMs === undefined || placed.sentAtMs >= cutAt - CUT_WINDOW_MS) spoken.uncertain = 'cut';
    }
  }

  private async waitHealthy(): Promise<void> {
    await until(async () => {
      try {
        return (await fetch(this.deps.gatewayHealthUrl, { signal: AbortSignal.timeout(2000) })).ok;
      } catch {
        return false;
      }
    }, 90_000);
  }
}

/** Polls `cond` every 100 ms until it holds or `timeoutMs` passes; says which. */
async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return true;
    await sleep(100);
  }
  return false;
}

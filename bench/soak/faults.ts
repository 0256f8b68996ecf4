/**
 * The soak's faults: what each kind does to the running stack, and the seeded schedule that injects them.
 * The first faults go once through every kind but the gateway signals (shuffled by the seed), so even a
 * short run covers each (a kind that cannot be injected at its turn, busy or with nothing to act on, comes
 * back later, up to 5 times); later ones are drawn by weight. A kind never overlaps itself, and the
 * webhook receiver is in one fault mode at a time. The gateway is
 * sent SIGTERM every `sigtermEveryMs` (none when it is infinite) and SIGKILL once per run, at 60 % of it. Every fault that changes a
 * mode is undone by {@link FaultSchedule.clearAll}, which the harness runs whatever happens.
 */
import type { FaultControlRequest } from '../../local/transcribe/fault-control';
import type { CallDriver } from './call-driver';
import { childrenOf, type SoakSubscriber } from './observe';
import { between, pick, type Rng } from './random';

export const FAULT_KINDS = [
  'transcribe-reset',
  'transcribe-throttle',
  'transcribe-internal-error',
  'transcribe-no-audio-timeout',
  'transcribe-slow-results',
  'dynamodb-pause',
  'dynamodb-throttle',
  'webhook-down',
  'webhook-5xx',
  'webhook-slow',
  'webhook-4xx',
  'websocket-drop',
  'fanout-kill',
  'start-stop-storm',
  'gateway-sigterm',
  'gateway-sigkill',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Relative frequency of the kinds drawn at random (the gateway signals are scheduled apart). */
const WEIGHTS: Partial<Record<FaultKind, number>> = {
  'transcribe-reset': 3,
  'transcribe-throttle': 2,
  'transcribe-internal-error': 2,
  'transcribe-no-audio-timeout': 1,
  'transcribe-slow-results': 2,
  'dynamodb-pause': 1,
  'dynamodb-throttle': 2,
  'webhook-down': 1,
  'webhook-5xx': 1,
  'webhook-slow': 1,
  'webhook-4xx': 1,
  'websocket-drop': 2,
  'fanout-kill': 1,
  'start-stop-storm': 1,
};

/** The service's own words when a stream saw no audio for 15 s. */
const NO_AUDIO_MESSAGE = 'Your request timed out because no new audio was received for 15 seconds.';

/** One injected fault; times are wall-clock ms. */
export interface InjectedFault {
  kind: FaultKind;
  startMs: number;
  endMs: number;
  detail: string;
}

/** Handles on the stack the faults act on (closures, so the schedule does not depend on how they are built). */
export interface FaultTargets {
  transcribe(req: FaultControlRequest): Promise<void>;
  clearTranscribe(): Promise<void>;
  dynamoProxy(mode: { kind: 'pass' } | { kind: 'throttle'; probability: number }): void;
  webhook(
    mode: { kind: 'up' } | { kind: 'down' } | { kind: 'status'; status: number } | { kind: 'slow'; delayMs: number },
  ): Promise<void>;
  subscribers(): readonly SoakSubscriber[];
  /** Calls still running. */
  drivers(): readonly CallDriver[];
  pids(): Record<string, number>;
}

export interface FaultScheduleOptions {
  rng: Rng;
  /** Mean faults injected per minute. */
  perMinute: number;
  runMs: number;
  /** Whether the gateway is SIGKILLed once (at 60 % of the run). @default true */
  sigkill?: boolean;
  /** Spacing of gateway SIGTERMs (the first one after this long too). @default 120 000 */
  sigtermEveryMs?: number;
  /** Minimum spacing of fan-out kills. @default 0 */
  fanoutKillEveryMs?: number;
  log(msg: string): void;
}

export class FaultSchedule {
  readonly injected: InjectedFault[] = [];
  /** Kinds (webhook kinds as one group) being injected now. */
  private readonly busy = new Set<string>();
  private readonly pending = new Set<Promise<void>>();
  private stopped = false;
  private pausedDynamoPgid: number | undefined;
  private lastSigterm = 0;
  private lastFanoutKill = 0;

  constructor(
    private readonly targets: FaultTargets,
    private readonly opts: FaultScheduleOptions,
  ) {}

  /** Runs the schedule until {@link stop}; resolves when the last fault has been undone. */
  async run(): Promise<void> {
    const { rng, perMinute, runMs } = this.opts;
    const began = Date.now();
    // The gateway signals have their own clock; every other kind comes once first.
    const first = shuffle(
      rng,
      FAULT_KINDS.filter((k) => !k.startsWith('gateway-')),
    );
    const sigtermEvery = this.opts.sigtermEveryMs ?? 120_000;
    /** Times a kind not yet injected was put back for a later turn (at most 5). */
    const requeued = new Map<FaultKind, number>();
    let killed = this.opts.sigkill === false;
    while (!this.stopped) {
      const next = Date.now() + between(rng, 0.5, 1.5) * (60_000 / perMinute);
      while (!this.stopped && Date.now() < next) await sleep(Math.min(250, next - Date.now()));
      if (this.stopped) break;
      const elapsed = Date.now() - began;
      if (elapsed > runMs - 20_000) continue; // leave the end quiet: the run settles
      let kind: FaultKind;
      if (!killed && elapsed >= runMs * 0.6) {
        kind = 'gateway-sigkill';
        killed = true;
      } else if (elapsed >= 20_000 && Date.now() - Math.max(this.lastSigterm, began) >= sigtermEvery) {
        kind = 'gateway-sigterm';
      } else {
        kind = first.shift() ?? this.draw();
      }
      // A kind never overlaps itself, and the webhook receiver has one mode at a time. A kind of the first
      // pass that cannot be injected now (busy, nothing to act on) waits for a later turn.
      const group = kind.startsWith('webhook-') ? 'webhook' : kind;
      const later = () => {
        const n = requeued.get(kind) ?? 0;
        if (kind.startsWith('gateway-') || n >= 5 || this.injectedKinds().has(kind)) return;
        requeued.set(kind, n + 1);
        first.push(kind);
      };
      if (this.busy.has(group)) {
        later();
        continue;
      }
      this.busy.add(group);
      const p = this.inject(kind)
        .then((done) => {
          if (!done) later();
        })
        .catch((err: unknown) => this.opts.log(`fault ${kind} failed: ${String(err)}`))
        .finally(() => {
          this.busy.delete(group);
          this.pending.delete(p);
        });
      this.pending.add(p);
    }
    await Promise.all(this.pending);
  }

  stop(): void {
    this.stopped = true;
  }

  /** Undoes every mode fault (DynamoDB resumed, proxy passing, webhook up, Transcribe faults cleared). */
  async clearAll(): Promise<void> {
    if (this.pausedDynamoPgid !== undefined) signalGroup(this.pausedDynamoPgid, 'SIGCONT');
    this.targets.dynamoProxy({ kind: 'pass' });
    await this.targets.webhook({ kind: 'up' }).catch(() => undefined);
    await this.targets.clearTranscribe().catch(() => undefined);
  }

  private injectedKinds(): Set<FaultKind> {
    return new Set(this.injected.map((f) => f.kind));
  }

  private draw(): FaultKind {
    const entries = Object.entries(WEIGHTS) as Array<[FaultKind, number]>;
    const total = entries.reduce((a, [, w]) => a + w, 0);
    let r = this.opts.rng() * total;
    for (const [k, w] of entries) {
      r -= w;
      if (r < 0) return k;
    }
    return 'transcribe-reset';
  }

  /** Notes an injected fault; true, for `inject` to return. */
  private record(kind: FaultKind, startMs: number, detail: string): true {
    this.injected.push({ kind, startMs, endMs: Date.now(), detail });
    this.opts.log(`fault ${kind}: ${detail}`);
    return true;
  }

  private async inject(kind: FaultKind): Promise<boolean> {
    const { rng } = this.opts;
    const t = this.targets;
    const at = Date.now();
    switch (kind) {
      case 'transcribe-reset': {
        const scope = rng() < 0.8 ? 'stream' : 'session';
        await t.transcribe({ openStream: { fault: 'drop', scope } });
        return this.record(kind, at, `a random open stream's ${scope} reset`);
      }
      case 'transcribe-throttle': {
        // The next stream start is refused as over the limit; a reset makes one happen now.
        await t.transcribe({ failNextStart: { type: 'LimitExceededException' } });
        await t.transcribe({ openStream: { fault: 'drop', scope: 'stream' } });
        return this.record(kind, at, 'a random open stream reset, its next start throttled');
      }
      case 'transcribe-internal-error': {
        await t.transcribe({ openStream: { fault: 'error', type: 'InternalFailureException' } });
        return this.record(kind, at, 'InternalFailureException on a random open stream');
      }
      case 'transcribe-no-audio-timeout': {
        await t.transcribe({
          openStream: { fault: 'error', type: 'BadRequestException', message: NO_AUDIO_MESSAGE },
        });
        return this.record(kind, at, 'the 15 s no-audio timeout on a random open stream');
      }
      case 'transcribe-slow-results': {
        const ms = Math.round(between(rng, 1500, 4000));
        await t.transcribe({ openStream: { fault: 'delayResults', ms, forMs: 5000 } });
        await sleep(5000 + ms);
        return this.record(kind, at, `results of a random open stream ${ms} ms late for 5 s`);
      }
      case 'dynamodb-pause': {
        const pgid = t.pids().dynamodb;
        if (pgid === undefined) return this.record(kind, at, 'no DynamoDB pid: skipped');
        const ms = Math.round(between(rng, 2000, 8000));
        this.pausedDynamoPgid = pgid;
        signalGroup(pgid, 'SIGSTOP');
        try {
          await sleep(ms);
        } finally {
          signalGroup(pgid, 'SIGCONT');
          this.pausedDynamoPgid = undefined;
        }
        return this.record(kind, at, `SIGSTOP for ${ms} ms`);
      }
      case 'dynamodb-throttle': {
        const probability = Math.round(between(rng, 0.3, 0.7) * 100) / 100;
        const ms = Math.round(between(rng, 4000, 10_000));
        t.dynamoProxy({ kind: 'throttle', probability });
        await sleep(ms);
        t.dynamoProxy({ kind: 'pass' });
        return this.record(kind, at, `${Math.round(probability * 100)} % throttled for ${ms} ms`);
      }
      case 'webhook-down':
      case 'webhook-5xx':
      case 'webhook-slow':
      case 'webhook-4xx': {
        // A refusal (4xx) is final for the fan-out: every delivery in it goes to the dead-letter store at
        // once, to be redriven when the run ends. Kept short: it stands for a receiver bug, not an outage.
        const ms = Math.round(kind === 'webhook-4xx' ? between(rng, 1000, 3000) : between(rng, 3000, 12_000));
        const mode =
          kind === 'webhook-down'
            ? ({ kind: 'down' } as const)
            : kind === 'webhook-5xx'
              ? ({ kind: 'status', status: pick(rng, [500, 502, 503]) } as const)
              : kind === 'webhook-4xx'
                ? ({ kind: 'status', status: pick(rng, [400, 422]) } as const)
                : ({ kind: 'slow', delayMs: Math.round(between(rng, 500, 3000)) } as const);
        await t.webhook(mode);
        await sleep(ms);
        await t.webhook({ kind: 'up' });
        return this.record(kind, at, `${JSON.stringify(mode)} for ${ms} ms`);
      }
      case 'websocket-drop': {
        const subs = t.subscribers();
        if (subs.length === 0) return false;
        const sub = pick(rng, subs);
        await sub.drop();
        await sleep(between(rng, 1000, 3000));
        await sub.connect().catch((err: unknown) => this.opts.log(`resubscribe failed: ${String(err)}`));
        return this.record(kind, at, `subscriber of ${sub.conversationId.slice(0, 8)} dropped and back`);
      }
      case 'fanout-kill': {
        const pid = t.pids().fanout;
        // Spaced, so the fan-out also lives long enough for its memory slope to mean something.
        if (pid === undefined || Date.now() - this.lastFanoutKill < (this.opts.fanoutKillEveryMs ?? 0)) return false;
        this.lastFanoutKill = Date.now();
        killTree(pid, 'SIGKILL');
        return this.record(kind, at, `SIGKILL pid ${pid}`);
      }
      case 'start-stop-storm': {
        const drivers = t.drivers();
        if (drivers.length === 0) return false;
        pick(rng, drivers).requestStorm();
        return this.record(kind, at, 'duplicate starts and stops on one call');
      }
      case 'gateway-sigterm': {
        const pid = t.pids().gateway;
        if (pid === undefined) return false;
        this.lastSigterm = Date.now();
        process.kill(pid, 'SIGTERM');
        return this.record(kind, at, `SIGTERM pid ${pid} (drain, then restart)`);
      }
      case 'gateway-sigkill': {
        const pid = t.pids().gateway;
        if (pid === undefined) return false;
        killTree(pid, 'SIGKILL');
        for (const d of t.drivers()) d.markKilled(at);
        return this.record(kind, at, `SIGKILL pid ${pid} (restart)`);
      }
    }
  }
}

/** Signals a process and its children (a `tsx` launcher and the node process it runs). */
function killTree(pid: number, signal: NodeJS.Signals): void {
  for (const p of [...childrenOf(pid), pid]) {
    try {
      process.kill(p, signal);
    } catch {
      // already gone
    }
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is gone (DynamoDB Local restarted): nothing to undo
  }
}

function shuffle<T>(rng: Rng, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

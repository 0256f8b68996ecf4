/**
 * The open transaction of one session (docs/audiohook-protocol.md §4.3.1, §4.4): from `open` to
 * `opened` — what was offered and what we selected (media, channel roles), the conversation language,
 * and the transcription layer's decision on how to open, which gets a budget so that `opened` never
 * waits on downstream setup.
 */
import { type Role, rolesOf } from '../audio/roles';
import { describeError } from '../errors';
import type { Logger, TimerHandle } from '../ports';
import { samplesToDuration } from './duration';
import type { AudioHookProtocolErrorCode } from './errors';
import { selectMedia } from './media';
import {
  type Duration,
  isConnectionProbe,
  type MediaParameter,
  type OpenMessage,
  type OpenParameters,
} from './messages';
import type { ConnectionInfo, OpenDecision, OpenInfo, SessionHooks } from './ports';
import { isPromiseLike } from './session-sink';

/** Where the decision on how to open stands. */
type OpenPhase =
  /** No real-call open is in progress. */
  | 'idle'
  /** `hooks.onOpen` is pending and `opened` has not been sent. */
  | 'deciding'
  /** The budget ran out: `opened` went out paused, the decision is still pending. */
  | 'late'
  /** The decision was applied. */
  | 'done'
  /** Close, disconnect or socket loss overtook a pending decision; it is ignored when it lands. */
  | 'abandoned';

function isDecision(value: unknown): value is OpenDecision {
  if (typeof value !== 'object' || value === null) return false;
  const d = value as { startPaused?: unknown; discardToSamples?: unknown };
  return (
    typeof d.startPaused === 'boolean' &&
    (d.discardToSamples === undefined ||
      (typeof d.discardToSamples === 'number' && Number.isSafeInteger(d.discardToSamples)))
  );
}

/**
 * Why an `open` for `organizationId` is refused on this connection, if it is: it must be the organization
 * the upgrade authenticated (`Audiohook-Organization-Id`, §1.4) and one the API key may stream for.
 */
export function organizationRefusal(
  connection: Pick<ConnectionInfo, 'organizationId' | 'allowedOrganizationIds'>,
  organizationId: string,
): AudioHookProtocolErrorCode | undefined {
  const org = organizationId.toLowerCase();
  const allowed = connection.allowedOrganizationIds;
  if (org !== connection.organizationId.toLowerCase()) return 'AUDIOHOOK_ORG_MISMATCH';
  if (allowed && allowed.length > 0 && !allowed.some((a) => a.toLowerCase() === org)) {
    return 'AUDIOHOOK_ORG_NOT_ALLOWED';
  }
  return undefined;
}

/** What the transaction needs from its session. */
export interface OpenTransactionHost {
  readonly sessionId: string;
  /** The session's current logger. */
  log(): Logger;
  /** A session timer (cancelled when the socket goes). */
  schedule(fn: () => void, ms: number): TimerHandle;
  /** Runs `fn` so that nothing it throws escapes into a promise callback. */
  guard(where: string, fn: () => void): void;
  /** Current timeline position, in samples. */
  position(): number;
  /** Sends `opened` with these flow parameters. */
  sendOpened(startPaused: boolean, discardTo: Duration | undefined): void;
  /** True once the session is on its way out (close received or disconnect sent). */
  ending(): boolean;
  /** A decision that landed after the budget wants audio: ask the client to resume. */
  resumeClient(): void;
}

/** The negotiated facts of a session and the decision that leads to `opened`. */
export class OpenTransaction {
  readonly #host: OpenTransactionHost;
  readonly #hooks: SessionHooks | undefined;
  readonly #budgetMs: number;
  #open: OpenMessage | undefined;
  #probe = false;
  #media: MediaParameter | undefined;
  #roles: Role[] = [];
  #language: string | undefined;
  #receivedAt = 0;
  #phase: OpenPhase = 'idle';
  #budgetTimer: TimerHandle | undefined;
  /**
   * What the layer above asked through pause()/resume() (`true` = pause), if it did: explicit control
   * beats an open decision, also one that lands late.
   */
  #controlWish: boolean | undefined;

  constructor(host: OpenTransactionHost, hooks: SessionHooks | undefined, budgetMs: number) {
    this.#host = host;
    this.#hooks = hooks;
    this.#budgetMs = budgetMs;
  }

  /** The `open` parameters; `undefined` before `open`. */
  get parameters(): OpenParameters | undefined {
    return this.#open?.parameters;
  }

  /** True once an `open` identified a connection probe (§6.2 item 1). */
  get isProbe(): boolean {
    return this.#probe;
  }

  /** The selected media; `undefined` before `open` or when nothing offered was acceptable. */
  get media(): MediaParameter | undefined {
    return this.#media;
  }

  /** Role of each negotiated channel, in channel order. */
  get roles(): readonly Role[] {
    return this.#roles;
  }

  /** The conversation language: from `open`, then from each `update`. */
  get language(): string | undefined {
    return this.#language;
  }

  set language(language: string | undefined) {
    this.#language = language;
  }

  /** Monotonic ms at which `open` arrived. */
  get receivedAt(): number {
    return this.#receivedAt;
  }

  /** True while the decision is pending and `opened` has not gone out. */
  get deciding(): boolean {
    return this.#phase === 'deciding';
  }

  /** Takes the `open` message: probe or call, language. */
  receive(msg: OpenMessage, now: number): void {
    this.#open = msg;
    this.#receivedAt = now;
    const p = msg.parameters;
    this.#probe = isConnectionProbe(p);
    this.#language = p.language ? p.language : undefined;
  }

  /** Selects the media to answer with (§4.3.1); `undefined` when nothing offered is usable. */
  negotiate(offers: readonly MediaParameter[]): MediaParameter | undefined {
    const media = selectMedia(offers);
    this.#media = media;
    this.#roles = media ? rolesOf(media.channels) : [];
    return media;
  }

  /** Records a pause()/resume() from the layer above (see {@link OpenTransaction.#controlWish}). */
  noteControl(paused: boolean): void {
    this.#controlWish = paused;
  }

  /** Asks the transcription layer how to open a real call, then sends `opened` (within the budget). */
  decide(media: MediaParameter): void {
    const onOpen = this.#hooks?.onOpen;
    if (onOpen === undefined) {
      this.#complete({ startPaused: this.#controlWish ?? false });
      return;
    }
    const p = this.#open?.parameters;
    if (p === undefined) return;
    const info: OpenInfo = {
      sessionId: this.#host.sessionId,
      organizationId: p.organizationId,
      conversationId: p.conversationId,
      participantId: p.participant.id,
      media,
      roles: [...this.#roles],
      position: this.#host.position(),
      ...(this.#language !== undefined ? { language: this.#language } : {}),
      ...(p.customConfig !== undefined ? { customConfig: p.customConfig } : {}),
    };
    let result: OpenDecision | Promise<OpenDecision>;
    try {
      result = onOpen.call(this.#hooks, info);
    } catch (err) {
      this.#host
        .log()
        .error({ code: 'AUDIOHOOK_HOOK_FAILED', err: describeError(err) }, 'audiohook onOpen failed; opening paused');
      this.#complete(undefined);
      return;
    }
    if (!isPromiseLike(result)) {
      this.#complete(this.#valid(result));
      return;
    }
    this.#phase = 'deciding';
    this.#budgetTimer = this.#host.schedule(() => this.#budgetExpired(), this.#budgetMs);
    Promise.resolve(result).then(
      (decision) => this.#host.guard('openDecision', () => this.#decided(this.#valid(decision))),
      (err: unknown) => this.#host.guard('openDecision', () => this.#failed(err)),
    );
  }

  /** Close, disconnect or socket loss: a pending decision is ignored when it lands. */
  abandon(): void {
    if (this.#phase === 'deciding' || this.#phase === 'late') {
      this.#budgetTimer?.cancel();
      this.#phase = 'abandoned';
    }
  }

  #valid(value: unknown): OpenDecision | undefined {
    if (isDecision(value)) return value;
    this.#host
      .log()
      .error({ code: 'AUDIOHOOK_HOOK_FAILED' }, 'audiohook onOpen returned an invalid decision; opening paused');
    return undefined;
  }

  #decided(decision: OpenDecision | undefined): void {
    if (this.#phase === 'deciding') {
      this.#budgetTimer?.cancel();
      this.#complete(decision);
    } else if (this.#phase === 'late') {
      this.#phase = 'done';
      this.#applyLate(decision);
    } else {
      this.#host.log().debug({ phase: this.#phase }, 'audiohook open decision after the open was abandoned ignored');
    }
  }

  #failed(err: unknown): void {
    this.#host
      .log()
      .error({ code: 'AUDIOHOOK_HOOK_FAILED', err: describeError(err) }, 'audiohook onOpen rejected; opening paused');
    if (this.#phase === 'deciding') {
      this.#budgetTimer?.cancel();
      this.#complete(undefined);
    } else if (this.#phase === 'late') {
      this.#phase = 'done';
    }
  }

  #budgetExpired(): void {
    if (this.#phase !== 'deciding') return;
    this.#phase = 'late';
    this.#host.log().warn({ budgetMs: this.#budgetMs }, 'audiohook open decision exceeded budget; opening paused');
    // Never hold `opened` hostage to downstream setup (§4.4): open paused, resume when the decision lands.
    this.#host.sendOpened(this.#controlWish ?? true, undefined);
  }

  /** `decision === undefined`: the hook failed, so open paused (safe: nothing streams unasked). */
  #complete(decision: OpenDecision | undefined): void {
    this.#phase = 'done';
    const startPaused = this.#controlWish ?? decision?.startPaused ?? true;
    const discardTo = decision?.discardToSamples;
    this.#host.sendOpened(
      startPaused,
      discardTo !== undefined && discardTo > this.#host.position() ? samplesToDuration(discardTo) : undefined,
    );
  }

  #applyLate(decision: OpenDecision | undefined): void {
    if (this.#host.ending() || decision === undefined) return;
    const log = this.#host.log();
    if (this.#controlWish !== undefined) {
      log.debug({}, 'audiohook late open decision superseded by pause()/resume()');
      return;
    }
    if (decision.discardToSamples !== undefined) {
      log.debug({}, 'audiohook late open decision: discardTo can only be sent in opened; ignored');
    }
    if (!decision.startPaused) this.#host.resumeClient();
  }
}

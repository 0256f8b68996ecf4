/**
 * The scripted client events of a simulated session (pause, resume, discard, update, error, close), each
 * run once the stream position reaches its `atMs`, in order.
 */

import { msToDuration, msToSamples } from '../../core/audiohook/duration';
import type { CloseReason } from '../../core/audiohook/messages';
import type { SimulatedAction } from './options';
import type { StreamTimeline } from './timeline';

/** What the actions act on. */
export interface ActionTarget {
  /** Whether the session is open (actions run only then). */
  isOpen(): boolean;
  readonly timeline: StreamTimeline;
  send(type: string, parameters: Record<string, unknown>): void;
  /** The pause state changed: re-pace the frame ticks. */
  paceChanged(): void;
  close(reason: CloseReason): void;
}

/** The session's actions, sorted by `atMs`, and how far it got. */
export class ScriptedActions {
  readonly #actions: readonly SimulatedAction[];
  readonly #target: ActionTarget;
  #next = 0;

  constructor(actions: readonly SimulatedAction[], target: ActionTarget) {
    this.#actions = actions;
    this.#target = target;
  }

  /** Runs every action due at the current position while the session stays open. */
  runDue(): void {
    while (this.#target.isOpen()) {
      const a = this.#actions[this.#next];
      if (!a || msToSamples(a.atMs) > this.#target.timeline.pos) return;
      this.#next += 1;
      this.#act(a);
    }
  }

  #act(a: SimulatedAction): void {
    const t = this.#target;
    switch (a.action) {
      case 'pause':
        if (!t.timeline.clientPause()) return;
        t.send('paused', {});
        t.paceChanged();
        return;
      case 'resume': {
        const resumed = t.timeline.clientResume();
        if (!resumed) return;
        t.send('resumed', resumed);
        t.paceChanged();
        return;
      }
      case 'discard': {
        const discarded = t.timeline.discard(msToSamples(a.ms));
        if (discarded) t.send('discarded', discarded);
        return;
      }
      case 'update':
        t.send('update', { language: a.language });
        return;
      case 'error':
        t.send('error', {
          code: a.code,
          message: a.message ?? `Simulated client error ${a.code}`,
          ...(a.retryAfterMs !== undefined ? { retryAfter: msToDuration(a.retryAfterMs) } : {}),
        });
        return;
      case 'close':
        t.close(a.reason ?? 'end');
        return;
    }
  }
}

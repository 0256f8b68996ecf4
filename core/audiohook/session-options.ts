/**
 * A session's options with their defaults filled in: one home for the numbers the protocol's timing
 * (docs/audiohook-protocol.md §4.4) and the gateway's budgets default to, so the session reads plain values.
 */
import type { SessionOptions } from './ports';
import { DEFAULT_OPEN_TIMEOUT_MS } from './session-open-deadline';

const DEFAULTS = {
  openDecisionBudgetMs: 800,
  flushBudgetMs: 3000,
  closeSocketAfterClosedMs: 10_000,
  disconnectCloseTimeoutMs: 10_000,
  openTimeoutMs: DEFAULT_OPEN_TIMEOUT_MS,
} as const;

/** Every option set: what was given, else its documented default. */
export function resolveSessionOptions(options: SessionOptions): Required<SessionOptions> {
  return {
    supportedLanguages: options.supportedLanguages,
    sendUpdated: options.sendUpdated ?? false,
    openDecisionBudgetMs: options.openDecisionBudgetMs ?? DEFAULTS.openDecisionBudgetMs,
    flushBudgetMs: options.flushBudgetMs ?? DEFAULTS.flushBudgetMs,
    closeSocketAfterClosedMs: options.closeSocketAfterClosedMs ?? DEFAULTS.closeSocketAfterClosedMs,
    disconnectCloseTimeoutMs: options.disconnectCloseTimeoutMs ?? DEFAULTS.disconnectCloseTimeoutMs,
    openTimeoutMs: options.openTimeoutMs ?? DEFAULTS.openTimeoutMs,
    onOpenTimeout: options.onOpenTimeout ?? (() => {}),
  };
}

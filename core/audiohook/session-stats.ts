/**
 * A session's counters: updated in place by the session, its audio intake and its outbox, read as a
 * {@link SessionStats} snapshot by the next layer and, trimmed, by the logs.
 */
import type { SessionStats } from './ports';

/** Everything in {@link SessionStats} but the position, which the timeline owns. */
export type SessionCounters = Omit<SessionStats, 'position'>;

/** Fresh counters for a new session. */
export function newSessionCounters(): SessionCounters {
  return {
    audioBytesReceived: 0,
    samplesAccepted: 0,
    samplesDropped: 0,
    framesReceived: 0,
    pausedSamples: 0,
    discardedSamples: 0,
    messagesReceived: 0,
    messagesSent: 0,
  };
}

/** Records one client-reported round-trip time (`ping.rtt`), in ms. */
export function recordRtt(counters: SessionCounters, ms: number): void {
  const prev = counters.rttMs;
  counters.rttMs = prev
    ? { last: ms, min: Math.min(prev.min, ms), max: Math.max(prev.max, ms), count: prev.count + 1 }
    : { last: ms, min: ms, max: ms, count: 1 };
}

/** A snapshot the caller may keep: nothing in it changes afterwards. */
export function statsSnapshot(counters: SessionCounters, position: number): SessionStats {
  const rtt = counters.rttMs;
  return { ...counters, ...(rtt ? { rttMs: { ...rtt } } : {}), position };
}

/** The counters worth a line in the session's end-of-life logs. */
export function statsForLog(counters: SessionCounters): Record<string, unknown> {
  return {
    framesReceived: counters.framesReceived,
    samplesAccepted: counters.samplesAccepted,
    samplesDropped: counters.samplesDropped,
    messagesReceived: counters.messagesReceived,
    messagesSent: counters.messagesSent,
    rttMs: counters.rttMs?.last,
  };
}

/** How a simulated session ended, from what it saw (first cause wins, then the server's word, then the socket). */
import type { SessionOutcome } from './options';

/** What a session saw that decides its outcome. */
export interface OutcomeFacts {
  /** The first failure the client itself detected (rejection, timeout, fatal violation…). */
  cause: { outcome: SessionOutcome; failure: string } | undefined;
  disconnect: { reason: string; info?: string } | undefined;
  closedReceived: boolean;
  protocolErrors: readonly string[];
  socketError: string | undefined;
  closeCode: number | undefined;
}

/** The session's outcome and, unless it closed cleanly, why. */
export function sessionOutcome(f: OutcomeFacts): { outcome: SessionOutcome; failure?: string } {
  if (f.cause) return f.cause;
  if (f.disconnect) {
    const d = f.disconnect;
    return { outcome: 'disconnected', failure: `server disconnected: ${d.reason}${d.info ? ` (${d.info})` : ''}` };
  }
  if (f.closedReceived) {
    if (f.protocolErrors.length > 0) {
      return { outcome: 'protocol-error', failure: f.protocolErrors[0] as string };
    }
    return { outcome: 'closed' };
  }
  const why = f.socketError ?? `socket closed${f.closeCode ? ` with code ${f.closeCode}` : ''}`;
  return { outcome: 'socket-error', failure: `${why} before the session was closed` };
}

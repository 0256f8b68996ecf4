/**
 * The 200 bodies of start-streaming and stop-streaming (api-contract.md §1.1, §1.2), built from what the
 * store recorded. Shapes are the contract's, field for field: existing Genesys data actions map these
 * paths with JSONPath, so nothing here may be renamed or nested differently.
 */
import type { Role } from '../audio/roles';
import type { RoleSummary } from '../conversation/segment';

/** A participant stream's status (`code` is an integer on the HTTP API, api-contract.md §7 A10). */
export interface StreamStatus {
  code: number;
  description: string;
}

/** The only per-stream status a request-level success reports (the contract's `1000 OK`). */
export const STATUS_OK: StreamStatus = { code: 1000, description: 'OK' };

/** One participant of a start response. */
export interface StartParticipant {
  streamId: string;
  status: StreamStatus;
}

/** One participant of a stop response. */
export interface StopParticipant extends StartParticipant {
  summary: RoleSummary;
}

/** start-streaming's 200 body. */
export interface StartResponseBody {
  isOk: true;
  autotranscribeResponse: Record<Role, StartParticipant>;
}

/** stop-streaming's 200 body. */
export interface StopResponseBody {
  isOk: true;
  autotranscribeResponse: Record<Role, StopParticipant>;
}

/** Builds start-streaming's body from the segment's per-role stream ids. */
export function startResponseBody(streamIds: Readonly<Record<Role, string>>): StartResponseBody {
  return {
    isOk: true,
    autotranscribeResponse: {
      customer: { streamId: streamIds.customer, status: { ...STATUS_OK } },
      agent: { streamId: streamIds.agent, status: { ...STATUS_OK } },
    },
  };
}

/**
 * Normalizes a stored counter set into the contract's integers. Counters are sums written by the gateway;
 * anything missing, negative or non-finite (a torn write, an old item) reads as 0 rather than leaking a
 * `null` or a fraction into a field typed integer.
 */
export function toSummary(counters: Partial<Record<keyof RoleSummary, unknown>> | undefined): RoleSummary {
  const int = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.round(v) : 0);
  return {
    totalAudioBytes: int(counters?.totalAudioBytes),
    audioDurationMs: int(counters?.audioDurationMs),
    streamingSeconds: int(counters?.streamingSeconds),
    transcripts: int(counters?.transcripts),
  };
}

/** Builds stop-streaming's body from the closed segment's stream ids and per-role counters. */
export function stopResponseBody(
  streamIds: Readonly<Record<Role, string>>,
  summaries: Partial<Record<Role, Partial<Record<keyof RoleSummary, unknown>>>>,
): StopResponseBody {
  return {
    isOk: true,
    autotranscribeResponse: {
      customer: { streamId: streamIds.customer, status: { ...STATUS_OK }, summary: toSummary(summaries.customer) },
      agent: { streamId: streamIds.agent, status: { ...STATUS_OK }, summary: toSummary(summaries.agent) },
    },
  };
}

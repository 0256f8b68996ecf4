/**
 * Where a segment's recording lives in the recordings bucket, and the object metadata that tells a reader
 * how to interpret it. Pure: the S3 adapter (fargate/src/recordings/) only sends what these return.
 *
 * Layout: `recordings/{conversationId}/segment-{segment, zero-padded to 4}.wav`: one conversation's
 * recordings list together under one prefix, in segment order (lexical order holds up to segment 9999;
 * beyond it the number keeps all its digits).
 */

import type { Role } from '../audio/roles';
import { AppError, type AppErrorOptions } from '../errors';

/** Prefix of every recording object. */
export const RECORDINGS_PREFIX = 'recordings/';

/** Stable code of {@link RecordingKeyError}. */
export type RecordingKeyErrorCode = 'RECORDING_KEY_INVALID';

/** A conversation id or segment number that cannot name a recording object. */
export class RecordingKeyError extends AppError {
  override readonly name = 'RecordingKeyError';
  declare readonly code: RecordingKeyErrorCode;
  constructor(message: string, options?: AppErrorOptions) {
    super('RECORDING_KEY_INVALID', message, options);
  }
}

/**
 * Conversation ids are Genesys UUIDs in practice; anything else is accepted as long as it stays one plain
 * path segment (no `/`, no `..`), so an id can never move an object outside its conversation's prefix.
 */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * The object key of segment `segment` of conversation `conversationId`.
 * @throws {@link RecordingKeyError} when the id is not one safe path segment or the segment is not a
 *   positive integer.
 */
export function recordingKey(conversationId: string, segment: number): string {
  if (!SAFE_ID.test(conversationId) || conversationId.includes('..')) {
    throw new RecordingKeyError(
      `conversation id ${JSON.stringify(conversationId.slice(0, 64))} cannot name a recording: use 1-128 letters, digits, . _ -`,
    );
  }
  if (!Number.isSafeInteger(segment) || segment < 1) {
    throw new RecordingKeyError(`segment must be a positive integer, got ${segment}`);
  }
  return `${RECORDINGS_PREFIX}${conversationId}/segment-${String(segment).padStart(4, '0')}.wav`;
}

/** What {@link recordingMetadata} describes. */
export interface RecordingDescription {
  conversationId: string;
  segment: number;
  /** Role of each WAV channel, in channel order (the negotiated AudioHook order). */
  roles: readonly Role[];
  /** AudioHook channel names in the same order (`external`, `internal`). */
  channels: readonly string[];
  sampleRate: number;
  /** Conversation-timeline position (samples since the AudioHook stream began) of the first sample. */
  startPosition: number;
  /** Samples per channel in the file. */
  samples: number;
}

/**
 * User metadata of a recording object (S3 sends each as `x-amz-meta-<name>`). `channel-roles` is the
 * channel → role mapping a reader needs: `customer,agent` means channel 0 (left) is the customer.
 */
export function recordingMetadata(d: RecordingDescription): Record<string, string> {
  return {
    'conversation-id': d.conversationId,
    segment: String(d.segment),
    'channel-roles': d.roles.join(','),
    'channel-names': d.channels.join(','),
    'sample-rate': String(d.sampleRate),
    'start-position': String(d.startPosition),
    samples: String(d.samples),
  };
}

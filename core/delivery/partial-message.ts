/**
 * A live partial result → the `partial` frame WebSocket subscribers receive (docs/realtime.md §5), as a
 * pure function. The frame mirrors the `transcript` frame's layout (core/delivery/transcript-message.ts)
 * so a client reads both with the same code, and carries the `utteranceId` the final of the same result
 * will have: a client shows the partial in place and replaces it when the `transcript` with that id
 * arrives. Partials exist only for unredacted segments and never reach the webhook.
 */
import type { Role } from '../audio/roles';
import { type PartialUtterance, utteranceIdOf } from '../transcript/utterance';

/**
 * What a WebSocket subscriber receives for an interim hypothesis. Unlike the `transcript` frame it has no
 * `sender.externalId` (the gateway does not know it per partial; the final carries it), no tokens, no
 * `messageId` (nothing is stored), and `sentTimestamp` instead of `createdTimestamp`.
 */
export interface SubscriberPartialMessage {
  type: 'partial';
  externalConversationId: string;
  streamId: string;
  sender: { role: Role };
  /** The id the final `transcript` of the same recognizer result carries (see {@link utteranceIdOf}). */
  utteranceId: string;
  autotranscribeResponse: {
    message: 'partial';
    /** Offsets in ms on the conversation's stream timeline, as in the `transcript` frame. */
    start: number;
    end: number;
    /** The current hypothesis: it may still change, and is replaced by the final. */
    utterance: [{ text: string }];
  };
  /** Language the recognizer reported (or the one requested). */
  language: string;
  /** ISO-8601 time the gateway posted the frame. */
  sentTimestamp: string;
}

/** The `partial` frame of one partial result, posted at `sentAtIso`. */
export function toPartialMessage(p: PartialUtterance, sentAtIso: string): SubscriberPartialMessage {
  return {
    type: 'partial',
    externalConversationId: p.conversationId,
    streamId: p.streamId,
    sender: { role: p.role },
    utteranceId: utteranceIdOf(p.conversationId, p.streamId, p.resultId),
    autotranscribeResponse: {
      message: 'partial',
      start: p.startMs,
      end: p.endMs,
      utterance: [{ text: p.text }],
    },
    language: p.language,
    sentTimestamp: sentAtIso,
  };
}

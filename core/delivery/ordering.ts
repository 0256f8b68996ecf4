/**
 * Per-conversation order (api-contract.md §3.1: "sent in transcription order").
 *
 * The Utterances stream is keyed by conversationId, and DynamoDB Streams keeps the writes of one key in
 * order within a shard. With the event source mapping's parallelization factor 1 one shard is processed
 * by one invocation at a time, in order. Within a batch the fan-out delivers each conversation's
 * records one after another (conversations in parallel). What remains is a failure: a record that could
 * not be delivered must not be overtaken by a later record of the same conversation. So once a record of
 * a conversation is deferred, every later record of that conversation in the batch is left undelivered
 * and reported as a failure too; Lambda then resumes the shard from the lowest failed sequence number.
 */

/** What ordering needs to know about a stream record. */
export interface OrderedRecord {
  /** The record's sequence number (the partial batch response's `itemIdentifier`). */
  readonly sequenceNumber: string;
  readonly conversationId: string;
}

/**
 * Splits records into per-conversation lanes, keeping stream order inside each lane and ordering lanes
 * by their first record.
 */
export function conversationLanes<T extends OrderedRecord>(records: readonly T[]): T[][] {
  const lanes = new Map<string, T[]>();
  for (const r of records) {
    const lane = lanes.get(r.conversationId);
    if (lane) lane.push(r);
    else lanes.set(r.conversationId, [r]);
  }
  return [...lanes.values()];
}

/**
 * The partial batch response's failures: every failed record and every later record (in stream order)
 * of the same conversation, in stream order. Records of other conversations are not listed.
 */
export function batchItemFailures(records: readonly OrderedRecord[], failed: ReadonlySet<string>): string[] {
  const blocked = new Set<string>();
  const out: string[] = [];
  for (const r of records) {
    if (failed.has(r.sequenceNumber)) blocked.add(r.conversationId);
    if (blocked.has(r.conversationId)) out.push(r.sequenceNumber);
  }
  return out;
}

/** Compares two DynamoDB Streams sequence numbers (decimal strings of up to 40 digits). */
export function compareSequenceNumbers(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

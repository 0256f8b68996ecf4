/**
 * Delivery order within one invocation. Records are split into per-conversation lanes
 * (core/delivery/ordering.ts); a lane is delivered one record after another, lanes in parallel up to
 * `concurrency`. A record that cannot be delivered yet blocks the rest of its lane, so nothing overtakes
 * it. Records may be handed in in any order and all at once (Powertools' BatchProcessor processes a batch
 * in parallel): each waits for its lane's previous record.
 */
import { conversationLanes } from '../../core/delivery/ordering';
import type { ParsedRecord } from './stream-records';

/** Delivers one record; `blocked` says an earlier record of its lane was not delivered. True = delivered. */
export type DeliverRecord = (record: ParsedRecord, blocked: boolean) => Promise<boolean>;

interface Lane {
  readonly records: readonly ParsedRecord[];
  /** Settles when the record at the same index has finished. */
  readonly finished: Promise<void>[];
  readonly finish: (() => void)[];
  blocked: boolean;
}

/** The lanes of one batch, with the concurrency limit on lanes running at once. */
export class DeliveryLanes {
  readonly #deliver: DeliverRecord;
  readonly #placeOf = new Map<ParsedRecord, { lane: Lane; index: number }>();
  readonly #waiting: (() => void)[] = [];
  #free: number;

  constructor(records: readonly ParsedRecord[], concurrency: number, deliver: DeliverRecord) {
    this.#deliver = deliver;
    this.#free = Math.max(1, concurrency);
    for (const laneRecords of conversationLanes(records)) {
      const finish: (() => void)[] = [];
      const finished = laneRecords.map(() => new Promise<void>((resolve) => finish.push(resolve)));
      const lane: Lane = { records: laneRecords, finished, finish, blocked: false };
      laneRecords.forEach((record, index) => {
        this.#placeOf.set(record, { lane, index });
      });
    }
  }

  /** Delivers `record` after its lane's earlier records; resolves whether it was delivered. */
  async run(record: ParsedRecord): Promise<boolean> {
    const place = this.#placeOf.get(record);
    if (place === undefined) throw new Error('record is not part of this batch');
    const { lane, index } = place;
    await (index === 0 ? this.#acquire() : lane.finished[index - 1]);
    try {
      const delivered = await this.#deliver(record, lane.blocked);
      if (!delivered) lane.blocked = true;
      return delivered;
    } finally {
      lane.finish[index]?.();
      if (index === lane.records.length - 1) this.#release();
    }
  }

  #acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}

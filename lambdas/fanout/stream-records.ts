/**
 * The edge of the fan-out: a DynamoDB Streams record of the Utterances table → the utterance to deliver.
 * The record's envelope is checked with Powertools' DynamoDB Streams schema (which also unmarshalls the
 * image); the image itself with the domain's utterance rules. A record that is not an INSERT (TTL
 * expiries) or not an utterance is skipped: retrying cannot fix it.
 */
import { DynamoDBStreamRecord } from '@aws-lambda-powertools/parser/schemas/dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import type { OrderedRecord } from '../../core/delivery/ordering';
import { type DeliverableUtterance, parseUtteranceImage } from '../../core/delivery/transcript-message';
import { describeError } from '../../core/errors';
import type { ApiLogger, MetricsSink } from '../shared/observability';

/** A stream record the fan-out delivers. */
export interface ParsedRecord extends OrderedRecord {
  sequenceNumber: string;
  conversationId: string;
  utterance: DeliverableUtterance;
  /** Epoch ms the utterance was stored. */
  storedAtMs: number;
}

/** The record's utterance, or undefined (logged and counted when the record is malformed). */
export function parseStreamRecord(
  record: DynamoDBRecord,
  log: { logger: ApiLogger; metrics: MetricsSink },
): ParsedRecord | undefined {
  const sequenceNumber = record.dynamodb?.SequenceNumber ?? '';
  if (record.eventName !== 'INSERT') return undefined; // TTL expiries (REMOVE) and the like
  try {
    const envelope = DynamoDBStreamRecord.parse(record);
    const utterance = parseUtteranceImage(envelope.dynamodb.NewImage);
    return {
      sequenceNumber,
      conversationId: utterance.conversationId,
      utterance,
      storedAtMs: Date.parse(utterance.createdAt),
    };
  } catch (err) {
    log.logger.warn('stream record skipped', { sequenceNumber, eventId: record.eventID, err: describeError(err) });
    log.metrics.addMetric('FanoutInvalidRecord', 'Count', 1);
    return undefined;
  }
}

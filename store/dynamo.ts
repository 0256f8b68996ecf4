/**
 * Shared DynamoDB plumbing for the repositories: the document-client factory and the few helpers that
 * classify SDK errors. Clients are created by composition roots (gateway main, each Lambda, local stack,
 * tests) and injected; nothing below creates one on its own.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { errorName } from './errors';

/** Wraps a low-level client in the document client with the marshalling options every repository expects. */
export function createDocumentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertEmptyValues: false },
    unmarshallOptions: { wrapNumbers: false },
  });
}

/** A single-item conditional write lost its condition. */
export function isConditionalCheckFailed(err: unknown): boolean {
  return errorName(err) === 'ConditionalCheckFailedException';
}

/**
 * A transaction was cancelled because one of its conditions failed or it collided with another
 * transaction on the same item: both mean "someone changed what we read; re-read and decide again".
 */
export function isTransactionContention(err: unknown): boolean {
  if (errorName(err) === 'TransactionConflictException') return true;
  if (errorName(err) !== 'TransactionCanceledException') return false;
  const reasons = (err as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
  return reasons.some((r) => r.Code === 'ConditionalCheckFailed' || r.Code === 'TransactionConflict');
}

/** Epoch seconds for a DynamoDB TTL attribute, `retentionSeconds` after `nowMs`. */
export function ttlAfter(nowMs: number, retentionSeconds: number): number {
  return Math.floor(nowMs / 1000) + retentionSeconds;
}

/** Default retention of conversations and utterances: seven days, like the hosted service. */
export const DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600;

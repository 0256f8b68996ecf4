/**
 * The three DynamoDB Streams calls the stream poller (local/stream-poller.ts) needs, DescribeStream,
 * GetShardIterator and GetRecords, over `fetch` with the JSON protocol: there is no DynamoDB Streams
 * client among our dependencies, and DynamoDB Local wants an `Authorization` header but checks no signature.
 */

import { AppError } from '../core/errors';

/** A shard as DescribeStream lists it. */
export interface Shard {
  ShardId: string;
  ParentShardId?: string;
  SequenceNumberRange?: { StartingSequenceNumber?: string; EndingSequenceNumber?: string };
}

/** A DynamoDB Streams API error (its `__type` name). */
export class StreamsApiError extends AppError {
  override readonly name = 'StreamsApiError';
  declare readonly code: 'LOCAL_STREAMS_API_FAILED';
  constructor(
    readonly type: string,
    message: string,
  ) {
    super('LOCAL_STREAMS_API_FAILED', message);
  }
}

/** The three DynamoDB Streams calls we need, over the JSON protocol. */
export class StreamsApi {
  constructor(private readonly endpoint: string) {}

  async call<T>(operation: 'DescribeStream' | 'GetShardIterator' | 'GetRecords', body: unknown): Promise<T> {
    const res = await fetch(this.endpoint, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-amz-json-1.0',
        'X-Amz-Target': `DynamoDBStreams_20120810.${operation}`,
        // DynamoDB Local requires the header's presence (it parses the access key) but checks no signature.
        Authorization:
          'AWS4-HMAC-SHA256 Credential=local/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
      },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (!res.ok) {
      const type =
        String(json.__type ?? 'UnknownError')
          .split('#')
          .pop() ?? 'UnknownError';
      throw new StreamsApiError(type, `${operation}: ${type}: ${String(json.message ?? json.Message ?? '')}`);
    }
    return json as T;
  }
}

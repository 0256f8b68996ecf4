import { describe, expect, it } from 'vitest';
import {
  classifyFailure,
  fullJitterDelay,
  THROTTLE_BACKOFF,
  TRANSIENT_BACKOFF,
} from '../../../fargate/src/transcribe/backoff';

function named(name: string, message = '', status?: number): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
}

describe('fullJitterDelay', () => {
  it('grows the ceiling exponentially up to the cap', () => {
    const top = () => 0.999_999;
    const ceilings = [0, 1, 2, 3, 4, 5, 6, 10].map((a) => fullJitterDelay(TRANSIENT_BACKOFF, a, top));
    expect(ceilings).toEqual([99, 199, 399, 799, 1599, 3199, 4999, 4999]);
  });

  it('draws uniformly below the ceiling (full jitter)', () => {
    expect(fullJitterDelay(THROTTLE_BACKOFF, 2, () => 0)).toBe(0);
    expect(fullJitterDelay(THROTTLE_BACKOFF, 2, () => 0.5)).toBe(2000);
  });

  it('waits at least 1 s and at most 30 s in ceiling for throttling', () => {
    expect(fullJitterDelay(THROTTLE_BACKOFF, 0, () => 0.999_999)).toBe(999);
    expect(fullJitterDelay(THROTTLE_BACKOFF, 50, () => 0.999_999)).toBe(29_999);
  });
});

describe('classifyFailure', () => {
  it('recognizes the 15-second no-audio timeout', () => {
    const err = named(
      'BadRequestException',
      'Your request timed out because no new audio was received for 15 seconds.',
      400,
    );
    expect(classifyFailure(err)).toBe('no-audio-timeout');
  });

  it('gives up on any other bad request', () => {
    expect(classifyFailure(named('BadRequestException', 'Unsupported language code', 400))).toBe('fatal');
  });

  it('treats the concurrent-stream quota as throttling', () => {
    expect(classifyFailure(named('LimitExceededException', 'You have reached your limit', 429))).toBe('throttled');
  });

  it('retries service-side failures', () => {
    expect(classifyFailure(named('InternalFailureException'))).toBe('transient');
    expect(classifyFailure(named('ServiceUnavailableException', '', 503))).toBe('transient');
    expect(classifyFailure(named('ConflictException'))).toBe('transient');
  });

  it('retries network errors', () => {
    expect(classifyFailure(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toBe('transient');
    expect(classifyFailure(Object.assign(new Error('stream reset'), { code: 'ERR_HTTP2_STREAM_ERROR' }))).toBe(
      'transient',
    );
  });

  it('gives up on credential and permission errors', () => {
    expect(classifyFailure(named('UnrecognizedClientException', 'bad token', 403))).toBe('fatal');
    expect(classifyFailure(named('SomethingElse', 'denied', 403))).toBe('fatal');
  });
});

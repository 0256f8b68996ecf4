import { describe, expect, it } from 'vitest';
import {
  backoffDelayMs,
  classifyStatus,
  DEFAULT_RETRY_POLICY,
  nextStep,
  parseRetryAfter,
  type RetryPolicy,
} from '../../../core/delivery/retry-policy';

const POLICY: RetryPolicy = {
  maxAttemptsPerRun: 4,
  baseDelayMs: 100,
  maxDelayMs: 1000,
  maxRetryAgeMs: 60_000,
  requestTimeoutMs: 500,
};

describe('retry policy', () => {
  it('reads 2xx and 409 as delivered, 408/425/429/5xx as retryable, other statuses as permanent', () => {
    expect([200, 201, 204, 299, 409].map(classifyStatus)).toEqual(Array(5).fill('delivered'));
    expect([408, 425, 429, 500, 502, 503, 504].map(classifyStatus)).toEqual(Array(7).fill('retryable'));
    expect([300, 301, 400, 401, 403, 404, 410, 413, 422].map(classifyStatus)).toEqual(Array(9).fill('permanent'));
  });

  it('draws full-jitter backoff under an exponential ceiling capped at maxDelayMs', () => {
    expect([1, 2, 3, 4, 5, 10].map((a) => backoffDelayMs(a, POLICY, () => 0.999999))).toEqual([
      99, 199, 399, 799, 999, 999,
    ]);
    expect(backoffDelayMs(3, POLICY, () => 0)).toBe(0);
    expect(backoffDelayMs(2, POLICY, () => 0.5)).toBe(100);
  });

  it("honours a receiver's Retry-After as a floor, never beyond maxDelayMs", () => {
    expect(backoffDelayMs(1, POLICY, () => 0, 700)).toBe(700);
    expect(backoffDelayMs(1, POLICY, () => 0, 60_000)).toBe(1000);
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2025-01-15T14:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter('Wed, 15 Jan 2025 14:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Wed, 15 Jan 2025 13:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });

  describe('next step after a failed attempt', () => {
    const base = { attempt: 1, ageMs: 1000, remainingMs: 30_000, policy: POLICY, random: () => 0.5 };
    const retryable = { kind: 'retryable', code: 'WEBHOOK_HTTP_STATUS', status: 503 } as const;

    it('retries after a jittered delay while attempts and time remain', () => {
      expect(nextStep({ ...base, outcome: retryable })).toEqual({ action: 'retry', delayMs: 50 });
    });

    it('dead-letters a permanent refusal at once', () => {
      const outcome = { kind: 'permanent', code: 'WEBHOOK_HTTP_STATUS', status: 400 } as const;
      expect(nextStep({ ...base, outcome })).toEqual({ action: 'dead-letter', reason: 'permanent' });
    });

    it('dead-letters once the record has been failing past maxRetryAgeMs', () => {
      expect(nextStep({ ...base, ageMs: 60_000, outcome: retryable })).toEqual({
        action: 'dead-letter',
        reason: 'expired',
      });
    });

    it('defers to the next invocation after maxAttemptsPerRun', () => {
      expect(nextStep({ ...base, attempt: 4, outcome: retryable })).toEqual({ action: 'defer' });
    });

    it('defers rather than sleep past what the invocation has left', () => {
      expect(nextStep({ ...base, remainingMs: 520, outcome: retryable })).toEqual({ action: 'defer' });
      expect(nextStep({ ...base, remainingMs: 600, outcome: retryable })).toEqual({ action: 'retry', delayMs: 50 });
    });
  });

  it('defaults to the contract recommendation: 5 s requests', () => {
    expect(DEFAULT_RETRY_POLICY.requestTimeoutMs).toBe(5000);
    expect(DEFAULT_RETRY_POLICY.maxRetryAgeMs).toBeGreaterThan(DEFAULT_RETRY_POLICY.maxDelayMs);
  });
});

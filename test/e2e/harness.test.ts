import { describe, expect, it } from 'vitest';
import { LocalStackError, startLocalStack } from './harness';

describe('the end-to-end harness', () => {
  it('fails fast with the stack’s own words when the stack cannot start', async () => {
    const started = performance.now();
    const err = await startLocalStack({ name: 'broken', env: { LOCAL_GATEWAY_PORT: 'eighty' } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LocalStackError);
    const e = err as LocalStackError;
    expect(e.code).toBe('E2E_STACK_NOT_READY');
    expect(e.message).toMatch(/exited \(1\)/);
    // The tail of the stack's log names the problem.
    expect(e.message).toContain('LOCAL_GATEWAY_PORT');
    // Not the 90 s readiness timeout: the harness noticed the exit.
    expect(performance.now() - started).toBeLessThan(30_000);
  });
});

import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { describeError } from '../../core/errors';
import { createLogger } from '../../fargate/src/logger';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), parsed: () => lines.map((l) => JSON.parse(l)) };
}

describe('gateway logger', () => {
  describe('the err field', () => {
    it('writes a describeError description as is, cause chain included', () => {
      const c = capture();
      const sdk = Object.assign(new Error('Rate exceeded'), {
        name: 'ThrottlingException',
        $metadata: { httpStatusCode: 400 },
      });
      c.logger.warn({ code: 'X_FAILED', err: describeError(new Error('outer', { cause: sdk })) }, 'failed');
      expect(c.parsed()[0]).toMatchObject({
        code: 'X_FAILED',
        err: {
          name: 'Error',
          message: 'outer',
          cause: { name: 'ThrottlingException', message: 'Rate exceeded', status: 400 },
        },
      });
      expect(c.parsed()[0].err).not.toHaveProperty('type');
      expect(c.parsed()[0].err).not.toHaveProperty('stack');
    });

    it('still serializes a raw Error with its type and stack', () => {
      const c = capture();
      c.logger.error({ err: new TypeError('raw') }, 'raw error');
      expect(c.parsed()[0].err).toMatchObject({ type: 'TypeError', message: 'raw' });
      expect(c.parsed()[0].err.stack).toContain('TypeError: raw');
    });
  });
});

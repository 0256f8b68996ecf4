import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppError, describeError, errorFields, MAX_MESSAGE_CHARS, toError } from '../../core/errors';

class WidgetError extends AppError {}

class PinnedError extends AppError {
  override readonly name = 'PinnedError';
  constructor(
    message: string,
    readonly widgetId: string,
  ) {
    super('WIDGET_PINNED', message);
  }
}

describe('AppError', () => {
  it('carries its code, its message and the name of the concrete subclass', () => {
    const err = new WidgetError('WIDGET_BROKEN', 'the widget broke');
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toBeInstanceOf(WidgetError);
    expect(err.name).toBe('WidgetError');
    expect(err.code).toBe('WIDGET_BROKEN');
    expect(err.message).toBe('the widget broke');
  });

  it('keeps the standard cause, and sets none when none is given', () => {
    const root = new Error('socket hang up');
    expect(new WidgetError('WIDGET_BROKEN', 'wrapped', { cause: root }).cause).toBe(root);
    expect('cause' in new WidgetError('WIDGET_BROKEN', 'alone')).toBe(false);
  });

  it('lets a subclass pin its name and add fields', () => {
    const err = new PinnedError('pinned', 'w-1');
    expect(err.name).toBe('PinnedError');
    expect(err.code).toBe('WIDGET_PINNED');
    expect(err.widgetId).toBe('w-1');
  });
});

describe('toError', () => {
  it('returns an Error as is', () => {
    const err = new Error('x');
    expect(toError(err)).toBe(err);
  });

  it('wraps a thrown string as its message and anything else as the cause', () => {
    expect(toError('boom').message).toBe('boom');
    const odd = { reason: 42 };
    const wrapped = toError(odd);
    expect(wrapped.message).toBe('non-error value thrown');
    expect(wrapped.cause).toBe(odd);
  });
});

describe('errorFields', () => {
  it('reads the fields of an error-shaped value and gives {} for a primitive', () => {
    const sdk = Object.assign(new Error('m'), { $retryable: { throttling: true }, $metadata: { httpStatusCode: 500 } });
    expect(errorFields(sdk).$metadata?.httpStatusCode).toBe(500);
    expect(errorFields(sdk).$retryable).toEqual({ throttling: true });
    expect(errorFields('boom')).toEqual({});
    expect(errorFields(null)).toEqual({});
  });
});

describe('describeError', () => {
  it('describes an Error by name and message, without a stack by default', () => {
    expect(describeError(new TypeError('bad type'))).toEqual({ name: 'TypeError', message: 'bad type' });
  });

  it('adds the stack only when asked', () => {
    const d = describeError(new Error('x'), { stack: true });
    expect(d.stack).toContain('Error: x');
  });

  it('keeps a string code, ours or Node’s, and ignores a non-string one', () => {
    expect(describeError(new WidgetError('WIDGET_BROKEN', 'm')).code).toBe('WIDGET_BROKEN');
    const sys = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(describeError(sys)).toEqual({ name: 'Error', message: 'read ECONNRESET', code: 'ECONNRESET' });
    expect(describeError(Object.assign(new Error('m'), { code: 7 }))).not.toHaveProperty('code');
  });

  it('reports the HTTP status of an AWS SDK error', () => {
    const sdk = Object.assign(new Error('Rate exceeded'), {
      name: 'ThrottlingException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400, requestId: 'r-1' },
    });
    expect(describeError(sdk)).toEqual({ name: 'ThrottlingException', message: 'Rate exceeded', status: 400 });
  });

  it('reports a plain status field when there is no SDK metadata', () => {
    expect(describeError(Object.assign(new Error('nope'), { status: 503 })).status).toBe(503);
  });

  it('describes the cause chain the same way', () => {
    const sdk = Object.assign(new Error('Throughput exceeded'), {
      name: 'ProvisionedThroughputExceededException',
      $metadata: { httpStatusCode: 400 },
    });
    const err = new WidgetError('STORE_UNAVAILABLE', 'utterances.putFinal failed', { cause: sdk });
    expect(describeError(err)).toEqual({
      name: 'WidgetError',
      message: 'utterances.putFinal failed',
      code: 'STORE_UNAVAILABLE',
      cause: { name: 'ProvisionedThroughputExceededException', message: 'Throughput exceeded', status: 400 },
    });
  });

  it('never includes the stack of a cause, even when asked for the outer one', () => {
    const d = describeError(new Error('outer', { cause: new Error('inner') }), { stack: true });
    expect(d.stack).toBeDefined();
    expect(d.cause).toEqual({ name: 'Error', message: 'inner' });
  });

  it('stops after maxDepth causes (3 by default)', () => {
    let err: Error = new Error('e0');
    for (let i = 1; i <= 6; i++) err = new Error(`e${i}`, { cause: err });
    const depth = (d: { cause?: unknown } | undefined): number =>
      d === undefined ? 0 : 1 + depth((d as { cause?: { cause?: unknown } }).cause);
    expect(depth(describeError(err))).toBe(4); // the error and three causes
    expect(depth(describeError(err, { maxDepth: 1 }))).toBe(2);
    expect(describeError(err, { maxDepth: 0 })).not.toHaveProperty('cause');
  });

  it('cuts a cycle in the cause chain', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(describeError(a)).toEqual({ name: 'Error', message: 'a', cause: { name: 'Error', message: 'b' } });
  });

  it('describes non-Error throwables by their type and string form', () => {
    expect(describeError('boom')).toEqual({ name: 'string', message: 'boom' });
    expect(describeError(42)).toEqual({ name: 'number', message: '42' });
    expect(describeError(undefined)).toEqual({ name: 'undefined', message: 'undefined' });
    expect(describeError(null)).toEqual({ name: 'object', message: 'null' });
    expect(describeError({ message: 'shaped like an error', code: 'X' })).toEqual({
      name: 'object',
      message: 'shaped like an error',
      code: 'X',
    });
  });

  it('describes a non-Error cause', () => {
    expect(describeError(new Error('outer', { cause: 'inner text' })).cause).toEqual({
      name: 'string',
      message: 'inner text',
    });
  });

  it('cuts long messages and never copies other fields of the error', () => {
    const err = Object.assign(new Error('x'.repeat(MAX_MESSAGE_CHARS + 50)), { transcript: 'secret words' });
    const d = describeError(err);
    expect(d.message).toHaveLength(MAX_MESSAGE_CHARS);
    expect(JSON.stringify(d)).not.toContain('secret words');
  });

  it('returns plain data that survives JSON', () => {
    const err = new WidgetError('WIDGET_BROKEN', 'm', { cause: new Error('c') });
    expect(JSON.parse(JSON.stringify(describeError(err)))).toEqual(describeError(err));
  });
});

describe('the house rule', () => {
  const ROOTS = ['core', 'store', 'fargate', 'lambdas', 'local', 'lib', 'bin', 'bench', 'test'];
  function sources(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      const path = join(dir, e.name);
      if (e.isDirectory()) return e.name === 'node_modules' ? [] : sources(path);
      return e.name.endsWith('.ts') ? [path] : [];
    });
  }

  it('has AppError as the only class that extends Error directly', () => {
    const offenders = ROOTS.flatMap(sources)
      .filter((file) =>
        /^\s*(export\s+)?(abstract\s+)?class\s+\w+\s+extends\s+Error\b/m.test(readFileSync(file, 'utf8')),
      )
      .filter((file) => file !== join('core', 'errors.ts'));
    expect(offenders).toEqual([]);
  });
});

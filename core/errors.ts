/**
 * The one error base of the project and the one way to put a caught value into a log.
 *
 * Every module subclasses {@link AppError} with its own class (`name` = the class name) and its own
 * stable `code`s, listed in docs/errors.md. Catch sites take `unknown` and normalize once: with
 * {@link toError} when they need an `Error`, with {@link describeError} when they log.
 */

/** What a subclass passes to {@link AppError}: the standard `cause` (the error this one wraps). */
export interface AppErrorOptions {
  readonly cause?: unknown;
}

/**
 * Base class of every error we throw. `code` is a stable machine code (callers, metrics and log queries
 * match on it, never on the message); `cause` is the standard ES2022 one, so the original SDK or socket
 * error stays reachable without being copied into the message.
 */
export class AppError extends Error {
  /** Stable machine code, e.g. `STORE_UNAVAILABLE`; listed in docs/errors.md. */
  readonly code: string;

  constructor(code: string, message: string, options?: AppErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    // `new.target` is the concrete subclass, so an error names itself even if its class forgets to. Our
    // classes still pin `name` with a literal: the Lambda bundles are minified (lib/house-function.ts),
    // which would turn the class name into `e` in every log line.
    this.name = new.target.name;
    this.code = code;
  }
}

/** Normalizes anything caught into an `Error` (once, at the catch site). */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === 'string' ? value : 'non-error value thrown', { cause: value });
}

/**
 * A log-safe description of a caught value: plain data, so any logger (pino, the Lambda JSON logger)
 * writes it as is. It never carries a payload the error happened to hold (audio, transcript text, a
 * request body): only the fields below, with the message cut to {@link MAX_MESSAGE_CHARS}.
 */
export interface ErrorDescription {
  /** The error's `name` (the class, or the AWS SDK exception name); `typeof` for a non-error throw. */
  readonly name: string;
  readonly message: string;
  /** A string `code`: ours (`STORE_UNAVAILABLE`) or Node's (`ECONNRESET`, `ERR_HTTP2_…`). */
  readonly code?: string;
  /** The HTTP status of an AWS SDK error (`$metadata.httpStatusCode`) or of an error that carries one. */
  readonly status?: number;
  /** The `cause` chain, described the same way, up to {@link DescribeErrorOptions.maxDepth}. */
  readonly cause?: ErrorDescription;
  /** Only when asked for ({@link DescribeErrorOptions.stack}): stacks belong at error level. */
  readonly stack?: string;
}

/** Options of {@link describeError}. */
export interface DescribeErrorOptions {
  /**
   * Include the stack of the outermost error.
   * @default false - a stack is noise at info/warn level and may be long
   */
  readonly stack?: boolean;
  /**
   * How many `cause` links to follow.
   * @default 3
   */
  readonly maxDepth?: number;
}

/** Messages longer than this are cut: some SDK and socket messages embed request detail. */
export const MAX_MESSAGE_CHARS = 300;

const DEFAULT_MAX_DEPTH = 3;

/** The fields a caught value may carry, every one unchecked: Node, AWS SDK and our errors all fit. */
export interface ErrorFields {
  readonly name?: unknown;
  readonly message?: unknown;
  readonly code?: unknown;
  readonly status?: unknown;
  readonly statusCode?: unknown;
  readonly cause?: unknown;
  readonly stack?: unknown;
  /** AWS SDK v3 errors: the HTTP response's status. */
  readonly $metadata?: { readonly httpStatusCode?: unknown };
  /** AWS SDK v3 errors: present (truthy) when the SDK deems the call worth retrying. */
  readonly $retryable?: unknown;
}

/** A view of a caught value's fields for classifying it (`{}` for a primitive); check each before use. */
export function errorFields(value: unknown): ErrorFields {
  return typeof value === 'object' && value !== null ? (value as ErrorFields) : {};
}

function statusOf(e: ErrorFields): number | undefined {
  const candidates = [e.$metadata?.httpStatusCode, e.status, e.statusCode];
  return candidates.find((c): c is number => typeof c === 'number' && Number.isInteger(c));
}

function describeOne(value: unknown, depthLeft: number, seen: Set<unknown>, withStack: boolean): ErrorDescription {
  const e = errorFields(value);
  const name = typeof e.name === 'string' && e.name !== '' ? e.name : typeof value;
  const message = (typeof e.message === 'string' ? e.message : String(value)).slice(0, MAX_MESSAGE_CHARS);
  const out: { -readonly [K in keyof ErrorDescription]: ErrorDescription[K] } = { name, message };
  if (typeof e.code === 'string') out.code = e.code;
  const status = statusOf(e);
  if (status !== undefined) out.status = status;
  if (withStack && typeof e.stack === 'string') out.stack = e.stack;
  if (e.cause !== undefined && depthLeft > 0 && !seen.has(e.cause)) {
    seen.add(e.cause);
    out.cause = describeOne(e.cause, depthLeft - 1, seen, false);
  }
  return out;
}

/**
 * Describes anything caught for a log line: `{ name, message, code?, status?, cause?, stack? }`.
 * Log it under the `err` key (`log.warn({ err: describeError(e) }, '…')`) so it never collides with
 * the line's own `code` field. Cycles in the cause chain are cut; so is a chain deeper than `maxDepth`.
 */
export function describeError(value: unknown, options: DescribeErrorOptions = {}): ErrorDescription {
  return describeOne(value, options.maxDepth ?? DEFAULT_MAX_DEPTH, new Set([value]), options.stack ?? false);
}

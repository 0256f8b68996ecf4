/**
 * The gateway's structured logger: pino writing JSON lines to stdout (CloudWatch via the awslogs driver),
 * synchronously and without worker-thread transports so the bundled container needs nothing else.
 * pino's `(obj, msg)` call shape is core's `Logger` port, so the instance is passed to core as is.
 */
import pino from 'pino';
import type { Logger } from '../../core/ports';

/** Header names whose values are credentials (`Signature-Input` carries the API key as `keyid`). */
const SECRET_HEADERS = ['x-api-key', 'signature', 'signature-input', 'authorization', 'cookie'];
/** Property names that hold secrets wherever they appear at the top level or one level down. */
const SECRET_FIELDS = ['secrets', 'secret', 'apiKey', 'clientSecret', 'password', 'token'];

/**
 * Paths pino redacts before serialising (censored as `[Redacted]`). Exported so tests and other entry
 * points can check them.
 */
export const REDACT_PATHS: readonly string[] = [
  ...SECRET_HEADERS.flatMap((h) => [`headers["${h}"]`, `req.headers["${h}"]`, `*.headers["${h}"]`]),
  ...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`]),
];

export interface CreateLoggerOptions {
  level: string;
  /** @default 'audiohook-gateway' */
  service?: string;
  /** Extra base fields (e.g. `taskId` once known). */
  base?: Record<string, unknown>;
  /** @default - stdout */
  destination?: pino.DestinationStream;
}

/** A pino logger that is also core's {@link Logger} port (the intersection proves the shapes match). */
export type GatewayLogger = pino.Logger & Logger;

/** Creates the gateway's root logger. */
export function createLogger(opts: CreateLoggerOptions): GatewayLogger {
  return pino(
    {
      level: opts.level,
      base: { service: opts.service ?? 'audiohook-gateway', ...opts.base },
      redact: { paths: [...REDACT_PATHS], censor: '[Redacted]' },
      // Callers log `err: describeError(e)` (core/errors.ts), already plain and log-safe. pino's default
      // `err` serializer would treat that object as an Error: add `type: "Object"` and an empty stack,
      // fold the cause chain into the message and drop `cause`. Only a raw Error goes through it.
      serializers: { err: (value: unknown) => (value instanceof Error ? pino.stdSerializers.err(value) : value) },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        // A string level ("info") reads better in CloudWatch Logs Insights than pino's numeric one.
        level: (label) => ({ level: label }),
      },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

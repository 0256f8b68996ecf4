/**
 * Powertools setup shared by the API Lambdas: one Logger, Metrics and Tracer per function, built once at
 * module scope from the function's config. Handlers depend on the small {@link ApiLogger} and
 * {@link MetricsSink} shapes below, so tests and the local adapter can pass a capturing or silent one.
 *
 * Logging rules (architecture §5): never log a secret, a credential or transcript text at info; log ids
 * (requestId, conversationId, apiId, streamIds) and outcomes.
 */

import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ObservabilityConfig } from './config';

/** Structured logger (Powertools call shape: message first, then attributes). */
export interface ApiLogger {
  debug(message: string, attributes?: Record<string, unknown>): void;
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
  error(message: string, attributes?: Record<string, unknown>): void;
}

/** Units we emit (a subset of CloudWatch's). */
export type MetricUnitName = 'Count' | 'Milliseconds';

/** Where handlers put metrics. Powertools Metrics (EMF) in Lambda; a no-op or a recorder elsewhere. */
export interface MetricsSink {
  addMetric(name: string, unit: MetricUnitName, value: number): void;
  /** Flushes what was added during this invocation. */
  publish(): void;
}

/** A sink that drops everything. */
export const noMetrics: MetricsSink = { addMetric() {}, publish() {} };

/** A logger that drops everything. */
export const silentApiLogger: ApiLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Adds fixed attributes (requestId, route…) to every line, without mutating a shared logger. */
export function withKeys(logger: ApiLogger, keys: Record<string, unknown>): ApiLogger {
  return {
    debug: (m, a) => logger.debug(m, { ...keys, ...a }),
    info: (m, a) => logger.info(m, { ...keys, ...a }),
    warn: (m, a) => logger.warn(m, { ...keys, ...a }),
    error: (m, a) => logger.error(m, { ...keys, ...a }),
  };
}

/** Adapts a Powertools Logger to {@link ApiLogger}. */
export function powertoolsLogger(logger: Logger): ApiLogger {
  return {
    debug: (m, a) => (a ? logger.debug(m, a) : logger.debug(m)),
    info: (m, a) => (a ? logger.info(m, a) : logger.info(m)),
    warn: (m, a) => (a ? logger.warn(m, a) : logger.warn(m)),
    error: (m, a) => (a ? logger.error(m, a) : logger.error(m)),
  };
}

/** Adapts Powertools Metrics (EMF) to {@link MetricsSink}. */
export function powertoolsMetrics(metrics: Metrics): MetricsSink {
  return {
    addMetric: (name, unit, value) =>
      metrics.addMetric(name, unit === 'Count' ? MetricUnit.Count : MetricUnit.Milliseconds, value),
    publish: () => metrics.publishStoredMetrics(),
  };
}

/** The Powertools trio of one function. */
export interface Observability {
  logger: ApiLogger;
  metrics: MetricsSink;
  tracer: Tracer;
}

/**
 * Builds the Powertools Logger, Metrics and Tracer for one function. `functionName` becomes a metric
 * dimension (`route`) so dashboards can split by route without parsing logs.
 */
export function createObservability(config: ObservabilityConfig, functionName: string): Observability {
  const logger = new Logger({ serviceName: config.serviceName, logLevel: config.logLevel });
  logger.appendKeys({ function: functionName });
  const metrics = config.metricsEnabled
    ? powertoolsMetrics(
        new Metrics({
          namespace: config.metricsNamespace,
          serviceName: config.serviceName,
          defaultDimensions: { route: functionName },
        }),
      )
    : noMetrics;
  const tracer = new Tracer({ serviceName: config.serviceName, enabled: config.tracingEnabled });
  return { logger: powertoolsLogger(logger), metrics, tracer };
}

/** Traces a DynamoDB client's calls as X-Ray subsegments when tracing is on; returns the same client. */
export function traceClient<T extends DynamoDBClient>(tracer: Tracer, client: T): T {
  return tracer.isTracingEnabled() ? tracer.captureAWSv3Client(client) : client;
}

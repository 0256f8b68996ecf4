/**
 * The `service` dimension of our custom metrics, scoped to the stack (issue #12, defect 9).
 *
 * Custom metrics live in an account-wide namespace (`metricsNamespace`), so two stacks in one account and
 * region (prod and staging, say) would publish under the same dimensions: each stack's scaling policy would
 * average the other's sessions and its alarms would fire on the other's errors. Every publisher therefore
 * names itself after its stack — the gateway through `METRICS_SERVICE`, each Lambda through
 * `POWERTOOLS_SERVICE_NAME` — and every scaling policy, alarm and dashboard widget reads the same value from
 * these helpers. A leaf module: the constructs that publish and the one that observes both import it.
 */
import { Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** The Lambda publishers, each with its own service name. */
export type LambdaMetricsRole = 'api' | 'export' | 'fanout' | 'websocket';

/** The gateway's `METRICS_SERVICE` in the stack of `scope`: `<stackName>-gateway`. */
export function gatewayMetricsService(scope: IConstruct): string {
  return `${Stack.of(scope).stackName}-gateway`;
}

/** A Lambda's `POWERTOOLS_SERVICE_NAME` in the stack of `scope`: `<stackName>-<role>`. */
export function lambdaMetricsService(scope: IConstruct, role: LambdaMetricsRole): string {
  return `${Stack.of(scope).stackName}-${role}`;
}

/**
 * The house Lambda function (style.md habit 2): one place for the settings every function shares, so no
 * function can drift from them. Node.js 24 on arm64 (Graviton: ~20 % cheaper per GB-second), X-Ray
 * tracing, a log group of its own with a retention (not the deprecated `logRetention` custom resource),
 * source maps, and bundling with the project's own esbuild: synth never needs a Docker daemon.
 */
import * as path from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/**
 * Runtime of every function we define. Node.js 24 (Lambda blocks creating nodejs22.x functions from
 * 2027-06-01). Every handler is an async `(event, context)` function: Node.js 24 on Lambda no longer runs
 * callback-style handlers.
 */
export const HOUSE_RUNTIME = lambda.Runtime.NODEJS_24_X;
/** esbuild target of the bundles, matching {@link HOUSE_RUNTIME}. */
export const HOUSE_ESBUILD_TARGET = 'node24';

/** Root of the repository: entries are given relative to it, and esbuild resolves from its lock file. */
export const PROJECT_ROOT = path.resolve(import.meta.dirname, '..');

/** Props of {@link HouseFunction}. */
export interface HouseFunctionProps {
  /** Entry file relative to the repository root, e.g. `lambdas/start-streaming/handler.ts`. */
  readonly entry: string;
  /** What the function does, shown in the console. */
  readonly description: string;
  /** Environment variables (plain configuration only; secrets travel as Secrets Manager ids). */
  readonly environment?: Record<string, string>;
  /** @default 256 */
  readonly memorySizeMiB?: number;
  /** @default 10 */
  readonly timeoutSec?: number;
  /** Retention of the function's log group. */
  readonly logRetentionDays: logs.RetentionDays;
  /** @default - no reserved concurrency */
  readonly reservedConcurrentExecutions?: number;
}

/** A `NodejsFunction` with the house settings. */
export class HouseFunction extends nodejs.NodejsFunction {
  /** The function's own log group (retention set, destroyed with the function). */
  public readonly functionLogGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: HouseFunctionProps) {
    // The log group must exist before super() so the function can name it; it lives beside the function.
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: props.logRetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Its own role, allowed to write to its own log group only (instead of the AWS-managed
    // AWSLambdaBasicExecutionRole, which allows every log group of the account).
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${id}`,
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'OwnLogGroup',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    super(scope, id, {
      entry: path.join(PROJECT_ROOT, props.entry),
      handler: 'handler',
      description: props.description,
      runtime: HOUSE_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySizeMiB ?? 256,
      timeout: Duration.seconds(props.timeoutSec ?? 10),
      tracing: lambda.Tracing.ACTIVE,
      role,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      // Stack traces point at the TypeScript sources (the bundle ships its .map beside it).
      environment: { ...props.environment, NODE_OPTIONS: '--enable-source-maps' },
      bundling: {
        forceDockerBundling: false,
        format: nodejs.OutputFormat.ESM,
        // Syntax lowering only: the bundle runs on the Lambda runtime above. Local runs and tests import the
        // TypeScript sources through tsx (Node 20+), never this bundle.
        target: HOUSE_ESBUILD_TARGET,
        mainFields: ['module', 'main'],
        sourceMap: true,
        sourceMapMode: nodejs.SourceMapMode.DEFAULT,
        minify: true,
        // Bundle the SDK too: the versions tested here are the versions that run (the runtime's copy lags).
        externalModules: [],
        // Bundled CommonJS dependencies still call require() for Node built-ins inside an ESM bundle.
        banner:
          "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
      },
    });
    this.functionLogGroup = logGroup;

    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Active X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions',
    });
  }
}

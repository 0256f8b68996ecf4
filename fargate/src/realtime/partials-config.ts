/**
 * The live partials part of the gateway configuration (fargate/src/config.ts reads the environment;
 * this holds the rule and the shape, kept apart so config.ts stays one screenful of variables): both
 * `SUBSCRIPTIONS_TABLE` and `WEBSOCKET_MANAGEMENT_ENDPOINT`, or neither, and only with the pipeline.
 */

/** Where live partials go: who listens, and the WebSocket API's management API (`@connections`). */
export interface PartialsConfig {
  /** `SUBSCRIPTIONS_TABLE` */
  subscriptionsTable: string;
  /**
   * `WEBSOCKET_MANAGEMENT_ENDPOINT`: `https://<api-id>.execute-api.<region>.amazonaws.com/<stage>`
   * (locally, the WebSocket front's management URL).
   */
  managementEndpoint: string;
}

/** The raw (trimmed, non-blank) variables the rule looks at. */
export interface PartialsEnv {
  SUBSCRIPTIONS_TABLE?: string | undefined;
  WEBSOCKET_MANAGEMENT_ENDPOINT?: string | undefined;
}

/** What is wrong with the live partials variables, if anything (`pipeline`: both tables are set). */
export function partialsConfigProblem(env: PartialsEnv, pipeline: boolean): string | undefined {
  const set = [env.SUBSCRIPTIONS_TABLE, env.WEBSOCKET_MANAGEMENT_ENDPOINT].filter((v) => v !== undefined).length;
  if (set === 1) return 'set both SUBSCRIPTIONS_TABLE and WEBSOCKET_MANAGEMENT_ENDPOINT for live partials, or neither';
  if (set === 2 && !pipeline) {
    return (
      'SUBSCRIPTIONS_TABLE and WEBSOCKET_MANAGEMENT_ENDPOINT (live partials) need the transcription pipeline: ' +
      'set CONVERSATIONS_TABLE and UTTERANCES_TABLE too, or unset both'
    );
  }
  return undefined;
}

/** The live partials config of validated variables, when both are set. */
export function partialsConfigOf(env: PartialsEnv): { partials: PartialsConfig } | undefined {
  const { SUBSCRIPTIONS_TABLE: subscriptionsTable, WEBSOCKET_MANAGEMENT_ENDPOINT: managementEndpoint } = env;
  if (subscriptionsTable === undefined || managementEndpoint === undefined) return undefined;
  return { partials: { subscriptionsTable, managementEndpoint } };
}

/**
 * A real gateway for the simulator's `--transcription-connector` tests: the pipeline harness
 * (test/fargate/control/pipeline-harness.ts: the real gateway, controller, Transcribe SDK client, local
 * endpoint and DynamoDB Local) with two keys: one with the Transcription Connector feature (as a Genesys
 * Transcription Connector integration is set up) and a plain one, so a test can show which of key and
 * `customConfig` turned the events on.
 */

import type { RecognizerFactory } from '../../../local/transcribe/recognizer';
import {
  type PipelineHarness,
  type PipelineHarnessOptions,
  startPipelineHarness,
} from '../../fargate/control/pipeline-harness';

/** A key whose integration is a Transcription Connector (`features.transcriptionConnector`). */
export const CONNECTOR_KEY = {
  apiKey: 'sim-connector-itest-key',
  clientSecret: Buffer.from('simulator-connector-test-secret').toString('base64'),
};

/** A key without the feature: only `customConfig.transcriptionConnector` can turn events on. */
export const PLAIN_KEY = {
  apiKey: 'sim-plain-itest-key',
  clientSecret: Buffer.from('simulator-plain-test-secret').toString('base64'),
};

/** The pipeline harness's gateway (test/fargate/control/pipeline-harness.ts) with both keys. */
export type ConnectorGateway = PipelineHarness;

/** Starts the gateway on 127.0.0.1, port 0. */
export function startConnectorGateway(opts: {
  db: PipelineHarnessOptions['db'];
  recognizer: RecognizerFactory;
}): Promise<ConnectorGateway> {
  return startPipelineHarness({
    ...opts,
    taskId: 'sim-connector-task',
    keys: {
      [CONNECTOR_KEY.apiKey]: { secret: CONNECTOR_KEY.clientSecret, label: 'connector', transcriptionConnector: true },
      [PLAIN_KEY.apiKey]: { secret: PLAIN_KEY.clientSecret, label: 'plain' },
    },
  });
}

/**
 * CDK app entry (`cdk synth`, `cdk deploy`): reads the configuration once (the file named by
 * `-c audiohookConfigFile=…`, then `-c audiohook.<path>=…` overrides; see bin/config.ts), validates it, and
 * instantiates the one stack with cdk-nag's AWS Solutions checks applied. An invalid configuration stops
 * here with one fix-it line per problem, before anything is synthesized.
 */
import { readFileSync } from 'node:fs';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { AudiohookTranscribeStack } from '../lib/audiohook-transcribe-stack';
import { AppConfigError, loadAppConfig } from './config';

const app = new App();
try {
  // Relative file names are resolved against the project root (bin/config.ts PROJECT_ROOT), not the cwd.
  const config = loadAppConfig(app.node, { readFile: (path) => readFileSync(path, 'utf8') });
  new AudiohookTranscribeStack(app, config.stackName, {
    config,
    description: 'audiohook-transcribe: Genesys AudioHook → Amazon Transcribe, ASAPP-compatible API',
    // Without an account the stack stays account-agnostic (no lookups): the CLI's credentials decide.
    env: { account: config.account, region: config.region },
    terminationProtection: config.retainData,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
} catch (err) {
  if (err instanceof AppConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  throw err;
}

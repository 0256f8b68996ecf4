import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { synthesize } from './fixtures';

/** Every violation cdk-nag still reports (acknowledged ones are not reported). */
function unacknowledged(config: Parameters<typeof synthesize>[0]) {
  const { stack } = synthesize(config);
  const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(stack);
  return {
    stack,
    report,
    findings: report.violations.flatMap((v) =>
      v.violatingResources.map(
        (r) => `${v.ruleName} at ${(r as { constructPath?: string }).constructPath ?? r.resourceLogicalId}`,
      ),
    ),
  };
}

// Each case synthesizes the whole stack and walks it with every rule: allow for a slow, shared machine.
const SYNTH_TIMEOUT = { timeout: 180_000 };

describe('cdk-nag AwsSolutionsChecks', () => {
  it('reports nothing unacknowledged for the default deployment', SYNTH_TIMEOUT, () => {
    const { report, findings, stack } = unacknowledged({});
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
    // Nothing else CDK would print as a warning or an error either.
    expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
    expect(Annotations.fromStack(stack).findError('*', Match.anyValue())).toEqual([]);
  });

  it(
    'reports nothing unacknowledged with WAF, usage plans, a webhook secret and narrowed ingress',
    SYNTH_TIMEOUT,
    () => {
      const { findings } = unacknowledged({
        gateway: { ingressCidrs: ['52.0.0.0/16'] },
        api: { waf: true, clients: [{ name: 'crm', usageKey: 'uk-abcdefabcdefabcdefabcdefab' }] },
        webhook: { url: 'https://hooks.example.com/t', auth: 'oauth2' },
        realtime: { browserTokens: true, supervisorApiIds: ['supervisor-1'] },
        alarmEmail: 'oncall@example.com',
      });
      expect(findings).toEqual([]);
    },
  );

  it(
    'reports nothing unacknowledged with a named account, the Transcribe endpoint and an existing CloudWatch role',
    SYNTH_TIMEOUT,
    () => {
      // A named account is rendered literally in ARNs, so every acknowledgement that names an ARN must follow.
      const { findings } = unacknowledged({
        account: '123456789012',
        vpc: { transcribeEndpoint: true },
        api: { manageCloudWatchRole: false },
      });
      expect(findings).toEqual([]);
    },
  );

  it('reports nothing unacknowledged with the web ACL switched off (api.waf=false)', SYNTH_TIMEOUT, () => {
    const { findings, report } = unacknowledged({ api: { waf: false } });
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });

  it(
    'reports nothing unacknowledged with the web ACL on (api.waf=true) and nothing else changed',
    SYNTH_TIMEOUT,
    () => {
      const { findings, stack } = unacknowledged({ api: { waf: true } });
      expect(findings).toEqual([]);
      expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
    },
  );

  it('reports nothing unacknowledged with real-time delivery and the feed export turned off', SYNTH_TIMEOUT, () => {
    const { findings } = unacknowledged({ features: { feedExport: false, realtimeDelivery: false } });
    expect(findings).toEqual([]);
  });

  it('would report a finding that nobody acknowledged (the check is live)', SYNTH_TIMEOUT, () => {
    const { stack } = synthesize({});
    // A bucket added without TLS enforcement or access logs must surface.
    new s3.Bucket(stack, 'Unchecked');
    const report = new AwsSolutionsChecks(undefined).validateScope(stack);
    expect(report.violations.map((v) => v.ruleName)).toEqual(
      expect.arrayContaining(['AwsSolutions-S1', 'AwsSolutions-S10']),
    );
  });

  it('carries a written reason with every acknowledgement', SYNTH_TIMEOUT, () => {
    const { stack } = synthesize({ api: { waf: false } });
    const acknowledged: Array<[string, unknown]> = [];
    for (const c of stack.node.findAll()) {
      for (const entry of c.node.metadata) {
        if (typeof entry.data !== 'object' || entry.data === null) continue;
        for (const [id, reason] of Object.entries(entry.data))
          if (id.includes('AwsSolutions-')) acknowledged.push([id, reason]);
      }
    }
    expect(acknowledged.length).toBeGreaterThan(5);
    for (const [id, reason] of acknowledged) {
      expect(typeof reason, id).toBe('string');
      expect((reason as string).length, id).toBeGreaterThanOrEqual(40);
    }
  });
});

import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { NAT_PACKET_DROP_ALARM_PERCENT } from '../../lib/network';
import { type Synthesized, synthesize } from './fixtures';

// Each synthesis builds the whole stack: allow for a slow, shared machine.
const SYNTH_TIMEOUT = { timeout: 180_000 };

type Alarm = { Properties: Record<string, unknown> };

describe('network', () => {
  let s: Synthesized;
  let single: Synthesized;
  let endpoint: Synthesized;
  beforeAll(() => {
    s = synthesize();
    single = synthesize({ vpc: { natGateways: 1 } });
    // With an account the VPC can span more than 2 AZs (the AZs come from a context lookup; dummies here).
    endpoint = synthesize({ account: '123456789012', vpc: { maxAzs: 3, transcribeEndpoint: true } });
  }, 360_000);

  const natAlarms = (synth: Synthesized, metricName: string) =>
    Object.entries(synth.template.findResources('AWS::CloudWatch::Alarm') as Record<string, Alarm>).filter(([, a]) =>
      JSON.stringify(a.Properties).includes(`"MetricName":"${metricName}"`),
    );

  describe('NAT gateways', () => {
    it('puts one NAT gateway in each AZ by default (vpc.natGateways = vpc.maxAzs)', () => {
      s.template.resourceCountIs('AWS::EC2::NatGateway', 2);
      endpoint.template.resourceCountIs('AWS::EC2::NatGateway', 3);
      // Each private subnet routes through the NAT gateway of its own AZ.
      const routes = s.template.findResources('AWS::EC2::Route', {
        Properties: { NatGatewayId: Match.anyValue() },
      }) as Record<string, { Properties: { NatGatewayId: { Ref: string } } }>;
      const targets = Object.entries(routes).map(([id, r]) => [
        id.replace(/DefaultRoute.*/, ''),
        r.Properties.NatGatewayId.Ref,
      ]);
      expect(targets).toEqual([
        ['VpcprivateSubnet1', expect.stringMatching(/^VpcpublicSubnet1NATGateway/)],
        ['VpcprivateSubnet2', expect.stringMatching(/^VpcpublicSubnet2NATGateway/)],
      ]);
      expect(Annotations.fromStack(s.stack).findWarning('*', Match.stringLikeRegexp('natGateways'))).toEqual([]);
    });

    it('allows fewer NAT gateways than AZs, with a synth warning that an AZ loss then cuts the others', () => {
      single.template.resourceCountIs('AWS::EC2::NatGateway', 1);
      const warnings = Annotations.fromStack(single.stack).findWarning(
        '/AudiohookTest/Network',
        Match.stringLikeRegexp('natGateways \\(1\\) is below .* losing that AZ cuts the egress'),
      );
      expect(warnings).toHaveLength(1);
    });

    it('keeps the VPC at the construct path and logical ids a deployed stack already has', () => {
      const vpcIds = Object.keys(s.template.findResources('AWS::EC2::VPC'));
      expect(vpcIds).toEqual([expect.stringMatching(/^Vpc[0-9A-F]{8}$/)]);
      expect(s.stack.vpc.node.path).toBe('AudiohookTest/Vpc');
      expect(Object.keys(s.template.findResources('AWS::EC2::Subnet')).sort()).toEqual([
        expect.stringMatching(/^VpcprivateSubnet1Subnet/),
        expect.stringMatching(/^VpcprivateSubnet2Subnet/),
        expect.stringMatching(/^VpcpublicSubnet1Subnet/),
        expect.stringMatching(/^VpcpublicSubnet2Subnet/),
      ]);
      expect(
        Object.keys(s.template.findResources('AWS::Logs::LogGroup')).filter((id) => id.startsWith('VpcFlowLogs')),
      ).toHaveLength(1);
    });

    it('alarms on port-allocation errors of every NAT gateway (Sum > 0 over 5 minutes) to the alarm topic', () => {
      const alarms = natAlarms(s, 'ErrorPortAllocation');
      expect(alarms).toHaveLength(2);
      const topicId = s.stack.getLogicalId(s.stack.observability.alarmTopic.node.defaultChild as never);
      const gateways = Object.keys(s.template.findResources('AWS::EC2::NatGateway')).sort();
      const watched = alarms.map(([, a]) => {
        expect(a.Properties).toMatchObject({
          Namespace: 'AWS/NATGateway',
          Statistic: 'Sum',
          Period: 300,
          Threshold: 0,
          ComparisonOperator: 'GreaterThanThreshold',
          EvaluationPeriods: 1,
          TreatMissingData: 'notBreaching',
          AlarmActions: [{ Ref: topicId }],
        });
        return (
          (a.Properties.Dimensions as { Name: string; Value: { Ref: string } }[])[0] as { Value: { Ref: string } }
        ).Value.Ref;
      });
      expect(watched.sort()).toEqual(gateways);
    });

    it('alarms when a NAT gateway drops more than 0.01 % of its packets for 15 minutes', () => {
      const alarms = natAlarms(s, 'PacketsDropCount');
      expect(alarms).toHaveLength(2);
      for (const [, a] of alarms) {
        expect(a.Properties).toMatchObject({
          Threshold: NAT_PACKET_DROP_ALARM_PERCENT,
          ComparisonOperator: 'GreaterThanThreshold',
          EvaluationPeriods: 3,
          TreatMissingData: 'notBreaching',
        });
        const metrics = a.Properties.Metrics as {
          Expression?: string;
          MetricStat?: { Metric: { MetricName: string } };
        }[];
        expect(metrics.find((m) => m.Expression)?.Expression).toContain('100 * dropped');
        expect(metrics.flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric.MetricName] : [])).sort()).toEqual([
          'PacketsDropCount',
          'PacketsInFromDestination',
          'PacketsInFromSource',
        ]);
      }
    });

    it('rejects more NAT gateways than AZs', () => {
      expect(() => synthesize({ vpc: { maxAzs: 2, natGateways: 3 } })).toThrow(
        /natGateways \(3\) must not exceed maxAzs/,
      );
    });
  });

  describe('Transcribe streaming endpoint (vpc.transcribeEndpoint)', () => {
    it('is off by default', () => {
      s.template.resourceCountIs('AWS::EC2::VPCEndpoint', 2); // the DynamoDB and S3 gateway endpoints
      expect(s.stack.network.transcribeEndpoint).toBeUndefined();
    });

    it('creates an interface endpoint with private DNS in the private subnets of every AZ', () => {
      endpoint.template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
        VpcEndpointType: 'Interface',
        PrivateDnsEnabled: true,
        SubnetIds: [
          { Ref: Match.stringLikeRegexp('^VpcprivateSubnet1Subnet') },
          { Ref: Match.stringLikeRegexp('^VpcprivateSubnet2Subnet') },
          { Ref: Match.stringLikeRegexp('^VpcprivateSubnet3Subnet') },
        ],
      });
      const [, props] = Object.entries(
        endpoint.template.findResources('AWS::EC2::VPCEndpoint', { Properties: { VpcEndpointType: 'Interface' } }),
      )[0] as [string, { Properties: { ServiceName: unknown } }];
      expect(JSON.stringify(props.Properties.ServiceName)).toContain('transcribestreaming');
    });

    it('accepts HTTPS from the VPC only', () => {
      const vpcId = Object.keys(endpoint.template.findResources('AWS::EC2::VPC'))[0] as string;
      endpoint.template.hasResourceProperties('AWS::EC2::SecurityGroup', {
        GroupDescription: Match.stringLikeRegexp('Transcribe streaming'),
        SecurityGroupIngress: [
          { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, CidrIp: { 'Fn::GetAtt': [vpcId, 'CidrBlock'] } },
        ],
      });
    });

    it('passes cdk-nag with the endpoint and a single NAT gateway', SYNTH_TIMEOUT, async () => {
      const { AwsSolutionsChecks } = await import('cdk-nag');
      for (const synth of [synthesize({ vpc: { transcribeEndpoint: true } }), single]) {
        const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(synth.stack);
        expect(report.violations.map((v) => v.ruleName)).toEqual([]);
      }
    });
  });
});

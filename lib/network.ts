/**
 * Network: the VPC the gateway runs in, how its private subnets reach AWS services, and alarms on that path.
 *
 * - A new VPC has public and private subnets in `maxAzs` zones and, by default, one NAT gateway per zone:
 *   with a single NAT gateway, losing its zone cuts the egress of every zone (Transcribe streams, Secrets
 *   Manager, ECR, CloudWatch), a total outage. Fewer NAT gateways than zones is allowed, with a synth warning.
 * - DynamoDB and S3 use free gateway endpoints (no NAT per-GB charge).
 * - Optional interface endpoint for Transcribe streaming (private DNS): the call audio, the bulk of the
 *   egress, then reaches Transcribe without passing a NAT gateway.
 * - Alarms per NAT gateway: source-port exhaustion (`ErrorPortAllocation`) and dropped packets.
 *
 * Construct ids: the VPC and its flow-log group are created beside this construct (in its scope), under the
 * ids the stack has always used (`Vpc`, `VpcFlowLogs`), so a deployed VPC keeps its logical ids and nothing
 * in it is replaced. What this construct adds lives under it.
 */
import { Annotations, Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

/** CloudWatch namespace of NAT gateway metrics. */
const NAT_NAMESPACE = 'AWS/NATGateway';
/**
 * Dropped packets, in percent of the packets the NAT gateway received, above which it alarms. AWS's NAT
 * gateway troubleshooting guidance treats drops above 0.01 % of the traffic as worth investigating.
 */
export const NAT_PACKET_DROP_ALARM_PERCENT = 0.01;

/** Props of {@link Network}. */
export interface NetworkProps {
  /** Use this existing VPC (looked up; needs the stack's account) instead of creating one. @default - a new VPC */
  readonly vpcId?: string;
  /** Zones of a new VPC. */
  readonly maxAzs: number;
  /** NAT gateways of a new VPC (one per zone for zone-failure tolerance). */
  readonly natGateways: number;
  /** Interface endpoint for Transcribe streaming in the private subnets. */
  readonly transcribeEndpoint: boolean;
  /** Retention of the VPC flow logs (rejected traffic). */
  readonly logRetentionDays: logs.RetentionDays;
}

/** The VPC, its endpoints and its egress alarms. */
export class Network extends Construct {
  public readonly vpc: ec2.IVpc;
  /** The Transcribe streaming endpoint, when enabled. */
  public readonly transcribeEndpoint?: ec2.InterfaceVpcEndpoint;
  /** NAT gateway alarms (none for an existing VPC: its NAT gateways are not ours). */
  public readonly alarms: readonly cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    const alarms: cloudwatch.Alarm[] = [];

    if (props.vpcId !== undefined) {
      this.vpc = ec2.Vpc.fromLookup(scope, 'Vpc', { vpcId: props.vpcId });
    } else {
      const nat = ec2.NatProvider.gateway();
      const vpc = new ec2.Vpc(scope, 'Vpc', {
        maxAzs: props.maxAzs,
        natGateways: props.natGateways,
        natGatewayProvider: nat,
        subnetConfiguration: [
          { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
          { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
        ],
        // Gateway endpoints are free and keep DynamoDB and S3 traffic off the NAT gateways (no per-GB charge).
        gatewayEndpoints: {
          DynamoDb: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
          S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
        },
      });
      vpc.addFlowLog('FlowLogs', {
        destination: ec2.FlowLogDestination.toCloudWatchLogs(
          new logs.LogGroup(scope, 'VpcFlowLogs', { retention: props.logRetentionDays }),
        ),
        trafficType: ec2.FlowLogTrafficType.REJECT,
      });
      this.vpc = vpc;

      if (props.natGateways < vpc.availabilityZones.length) {
        Annotations.of(this).addWarningV2(
          'audiohook:natGatewaysBelowAzs',
          `vpc.natGateways (${props.natGateways}) is below the VPC's ${vpc.availabilityZones.length} AZs: the private ` +
            'subnets of an AZ without a NAT gateway route through another AZ, so losing that AZ cuts the egress ' +
            '(Transcribe, Secrets Manager, ECR, CloudWatch) of the others too. Set natGateways to maxAzs for ' +
            'zone-failure tolerance.',
        );
      }
      nat.configuredGateways.forEach((gateway, i) => {
        alarms.push(...this.natGatewayAlarms(gateway.gatewayId, i + 1));
      });
    }

    if (props.transcribeEndpoint) {
      const securityGroup = new ec2.SecurityGroup(this, 'TranscribeEndpointSecurityGroup', {
        vpc: this.vpc,
        description: 'Transcribe streaming interface endpoint: HTTPS from inside the VPC only',
        allowAllOutbound: false,
      });
      // The gateway tasks run in this VPC's private subnets; 443 is where the SDK streams (HTTP/2).
      securityGroup.addIngressRule(
        ec2.Peer.ipv4(this.vpc.vpcCidrBlock),
        ec2.Port.tcp(443),
        'HTTPS from the VPC (gateway tasks to Transcribe streaming)',
      );
      Validations.of(securityGroup).acknowledge({
        id: 'AwsSolutions-EC23',
        reason:
          "The only ingress rule is TCP 443 from the VPC's own CIDR block (a reference to the VPC's CidrBlock " +
          'attribute, which cdk-nag cannot resolve at synth time); it is never 0.0.0.0/0 or ::/0',
      });
      this.transcribeEndpoint = new ec2.InterfaceVpcEndpoint(this, 'TranscribeStreamingEndpoint', {
        vpc: this.vpc,
        service: ec2.InterfaceVpcEndpointAwsService.TRANSCRIBE_STREAMING,
        // transcribestreaming.<region>.amazonaws.com resolves to the endpoint: the gateway needs no setting.
        privateDnsEnabled: true,
        subnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
        securityGroups: [securityGroup],
        open: false,
      });
    }

    this.alarms = alarms;
  }

  /** Sends every alarm of this construct to `topic` (the stack's alarm topic, created after the VPC). */
  public addAlarmAction(topic: sns.ITopic): void {
    for (const alarm of this.alarms) alarm.addAlarmAction(new cwActions.SnsAction(topic));
  }

  private natGatewayAlarms(natGatewayId: string, n: number): cloudwatch.Alarm[] {
    const metric = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: NAT_NAMESPACE,
        metricName,
        dimensionsMap: { NatGatewayId: natGatewayId },
        statistic: 'Sum',
        period: Duration.minutes(5),
      });
    const portAllocation = new cloudwatch.Alarm(this, `NatGateway${n}PortAllocationErrors`, {
      alarmDescription:
        `NAT gateway ${n}: ErrorPortAllocation > 0 in 5 minutes. It ran out of source ports toward one ` +
        'destination; new connections from its AZ (Transcribe streams, AWS APIs) fail until ports free up.',
      metric: metric('ErrorPortAllocation'),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const packetDrops = new cloudwatch.Alarm(this, `NatGateway${n}PacketDrops`, {
      alarmDescription:
        `NAT gateway ${n}: more than ${NAT_PACKET_DROP_ALARM_PERCENT} % of its packets dropped for 15 minutes ` +
        '(PacketsDropCount against the packets it received). Check the AWS Health Dashboard for the AZ.',
      metric: new cloudwatch.MathExpression({
        expression: 'IF(fromSource + fromDestination > 0, 100 * dropped / (fromSource + fromDestination), 0)',
        usingMetrics: {
          dropped: metric('PacketsDropCount'),
          fromSource: metric('PacketsInFromSource'),
          fromDestination: metric('PacketsInFromDestination'),
        },
        label: 'Dropped packets (%)',
        period: Duration.minutes(5),
      }),
      threshold: NAT_PACKET_DROP_ALARM_PERCENT,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    return [portAllocation, packetDrops];
  }
}

/**
 * The one stack (architecture §2): composes the constructs, one concern each, from the validated
 * {@link AppConfig}. It holds no business logic and reads no context: `bin/app.ts` does that once.
 */
import { CfnOutput, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { AppConfig } from '../contract/app-config';
import { ControlApi } from './control-api';
import { FeedExport } from './feed-export';
import { GatewayService } from './gateway-service';
import { Network } from './network';
import { Observability } from './observability';
import { RealtimeDelivery } from './realtime-delivery';
import { Store } from './store';

/** Props of {@link AudiohookTranscribeStack}. */
export interface AudiohookTranscribeStackProps extends StackProps {
  readonly config: AppConfig;
}

/** CloudWatch Logs only accepts certain retention values; pick the nearest one at or above the request. */
export function retentionFor(days: number): logs.RetentionDays {
  const allowed = Object.values(logs.RetentionDays).filter((v): v is number => typeof v === 'number' && v > 0);
  allowed.sort((a, b) => a - b);
  return (allowed.find((v) => v >= days) ?? logs.RetentionDays.TEN_YEARS) as logs.RetentionDays;
}

/** Everything audiohook-transcribe needs in one AWS account and region. */
export class AudiohookTranscribeStack extends Stack {
  public readonly network: Network;
  public readonly vpc: ec2.IVpc;
  public readonly store: Store;
  public readonly gateway: GatewayService;
  public readonly controlApi: ControlApi;
  public readonly realtime?: RealtimeDelivery;
  public readonly feedExport?: FeedExport;
  public readonly observability: Observability;

  constructor(scope: Construct, id: string, props: AudiohookTranscribeStackProps) {
    super(scope, id, props);
    const c = props.config;
    const logRetention = retentionFor(c.retention.logDays);
    // Log groups API Gateway would otherwise create itself (execution logs) follow retainData.
    const dataRemovalPolicy = c.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.network = new Network(this, 'Network', {
      vpcId: c.vpc.vpcId,
      maxAzs: c.vpc.maxAzs,
      natGateways: c.vpc.natGateways,
      transcribeEndpoint: c.vpc.transcribeEndpoint,
      logRetentionDays: logRetention,
    });
    this.vpc = this.network.vpc;

    const zone = c.domain.hostedZone
      ? route53.HostedZone.fromHostedZoneAttributes(this, 'Zone', {
          hostedZoneId: c.domain.hostedZone.id,
          zoneName: c.domain.hostedZone.name,
        })
      : undefined;
    const certificate = c.domain.certificateArn
      ? acm.Certificate.fromCertificateArn(this, 'Certificate', c.domain.certificateArn)
      : new acm.Certificate(this, 'Certificate', {
          domainName: c.domain.gatewayDomainName,
          subjectAlternativeNames: [c.domain.apiDomainName],
          validation: acm.CertificateValidation.fromDns(zone),
        });

    this.store = new Store(this, 'Store', {
      retainData: c.retainData,
      feedRetentionDays: c.retention.feedDays,
      accessLogRetentionDays: Math.max(c.retention.logDays, 1),
      recordingsRetentionDays: c.retention.recordingsDays,
      initialAudiohookApiKey: c.gateway.initialApiKey,
      webhook: c.webhook,
    });

    this.gateway = new GatewayService(this, 'Gateway', {
      vpc: this.vpc,
      domainName: c.domain.gatewayDomainName,
      certificate,
      hostedZone: zone,
      audiohookPaths: c.gateway.audiohookPaths,
      ingressCidrs: c.gateway.ingressCidrs,
      cpu: c.gateway.cpu,
      memoryMiB: c.gateway.memoryMiB,
      architecture: c.gateway.architecture,
      minTasks: c.gateway.minTasks,
      maxTasks: c.gateway.maxTasks,
      targetSessionsPerTask: c.gateway.targetSessionsPerTask,
      targetCpuPercent: c.gateway.targetCpuPercent,
      maxSessionsPerTask: c.gateway.maxSessionsPerTask,
      ephemeralStorageGiB: c.gateway.ephemeralStorageGiB,
      stopTimeoutSec: c.gateway.stopTimeoutSec,
      drainTimeoutSec: c.gatewayDrainTimeoutSec,
      deregistrationDelaySec: c.gateway.deregistrationDelaySec,
      conversationsTable: this.store.conversationsTable,
      utterancesTable: this.store.utterancesTable,
      apiKeysSecret: this.store.audiohookApiKeysSecret,
      recordingsBucket: this.store.recordingsBucket,
      accessLogsBucket: this.store.accessLogsBucket,
      logRetentionDays: logRetention,
      metricsNamespace: c.metricsNamespace,
      supportedLanguages: c.transcription.languages,
      defaultLanguage: c.transcription.defaultLanguage,
      redaction: c.transcription.redaction,
      logLevel: c.gateway.logLevel,
    });

    // Before the control API: the token route echoes the WebSocket URL.
    let tokenSecret: secretsmanager.Secret | undefined;
    if (c.features.realtimeDelivery) {
      if (c.realtime.browserTokens) {
        tokenSecret = new secretsmanager.Secret(this, 'RealtimeTokenKey', {
          description: 'HMAC key of the real-time connect tokens (POST /realtime/v1/token, WebSocket $connect)',
          generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
        });
        Validations.of(tokenSecret).acknowledge({
          id: 'AwsSolutions-SMG4',
          reason:
            'A random HMAC key with no downstream system to update: rotating it is a put-secret-value, which the ' +
            'token route and $connect pick up within their cache TTL without a redeploy (docs/deploy.md), and ' +
            'tokens live at most realtime.tokenTtlSec',
        });
      }
      this.realtime = new RealtimeDelivery(this, 'Realtime', {
        utterancesTable: this.store.utterancesTable,
        // Read by subscribe for the page's status frames (call start, ended state).
        conversationsTable: this.store.conversationsTable,
        subscriptionsTable: this.store.subscriptionsTable,
        apiCredentialsSecret: this.store.apiCredentialsSecret,
        webhookTargetsSecret: this.store.webhookTargetsSecret,
        webhookTimeoutMs: c.webhook?.timeoutMs,
        tokenSecret,
        supervisorApiIds: c.realtime.supervisorApiIds,
        throttleRatePerSec: c.realtime.throttleRatePerSec,
        throttleBurst: c.realtime.throttleBurst,
        metricsNamespace: c.metricsNamespace,
        logRetentionDays: logRetention,
        executionLogsRemovalPolicy: dataRemovalPolicy,
      });
      // Partials are never stored: the gateway posts them to the subscribers itself (issue #16).
      this.gateway.enableLivePartials({
        subscriptionsTable: this.store.subscriptionsTable,
        managementEndpoint: this.realtime.callbackUrl,
        postToConnections: this.realtime.connectionsResource('POST'),
      });
    }

    this.controlApi = new ControlApi(this, 'ControlApi', {
      domainName: c.domain.apiDomainName,
      certificate,
      hostedZone: zone,
      conversationsTable: this.store.conversationsTable,
      utterancesTable: this.store.utterancesTable,
      apiCredentialsSecret: this.store.apiCredentialsSecret,
      pageTokenSecret: this.store.pageTokenSecret,
      throttleRatePerSec: c.api.throttleRatePerSec,
      throttleBurst: c.api.throttleBurst,
      clients: c.api.clients,
      quotaPerDay: c.api.quotaPerDay,
      waf: c.api.waf,
      supportedLanguages: c.transcription.languages,
      defaultLanguage: c.transcription.defaultLanguage,
      redaction: c.transcription.redaction,
      retentionDays: c.retention.transcriptDays,
      stopWaitMs: c.api.stopWaitMs,
      manageCloudWatchRole: c.api.manageCloudWatchRole,
      metricsNamespace: c.metricsNamespace,
      logRetentionDays: logRetention,
      executionLogsRemovalPolicy: dataRemovalPolicy,
      ...(this.realtime && {
        realtime: {
          webSocketUrl: this.realtime.webSocketUrl,
          supervisorApiIds: c.realtime.supervisorApiIds,
          tokenTtlSec: c.realtime.tokenTtlSec,
          tokenSecret,
        },
      }),
      ...(c.features.feedExport && { feedBucket: this.store.feedBucket }),
    });
    if (this.realtime) {
      // The WebSocket stage writes its logs through the account-level role the REST API sets up (when
      // api.manageCloudWatchRole; otherwise the account's existing role).
      const account = this.controlApi.api.node.tryFindChild('Account');
      if (account) this.realtime.stage.node.addDependency(account);
    }

    if (c.features.feedExport) {
      this.feedExport = new FeedExport(this, 'FeedExport', {
        feedBucket: this.store.feedBucket,
        utterancesTable: this.store.utterancesTable,
        databaseName: `${c.stackName.toLowerCase().replace(/[^a-z0-9]+/g, '_')}_feeds`,
        projectionStartDay: '2025-01-01',
        metricsNamespace: c.metricsNamespace,
        logRetentionDays: logRetention,
        reservedConcurrency: c.features.exportReservedConcurrency === true,
      });
    }

    const functions: Record<string, lambda.IFunction> = {
      Authorizer: this.controlApi.authorizerFunction,
    };
    for (const [routeId, fn] of this.controlApi.routeFunctions) functions[routeId] = fn;
    if (this.realtime) {
      functions.Fanout = this.realtime.fanoutFunction;
      // subscribe and unsubscribe share a handler: one alarm per function.
      const seen = new Set<lambda.IFunction>();
      for (const [routeId, fn] of this.realtime.routeFunctions) {
        if (!seen.has(fn)) functions[`WebSocket${routeId}`] = fn;
        seen.add(fn);
      }
    }
    const deadLetterQueues: Record<string, sqs.IQueue> = {};
    if (this.realtime) deadLetterQueues.Fanout = this.realtime.deadLetterQueue;
    if (this.feedExport) deadLetterQueues.Export = this.feedExport.deadLetterQueue;

    this.observability = new Observability(this, 'Observability', {
      metricsNamespace: c.metricsNamespace,
      service: this.gateway.service,
      loadBalancer: this.gateway.loadBalancer,
      targetGroup: this.gateway.targetGroup,
      minHealthyTasks: c.gateway.minTasks,
      api: this.controlApi.api,
      functions,
      tables: [...this.store.tables.values()],
      sessionsPerTaskAlarmThreshold: Math.floor(c.gateway.maxSessionsPerTask * 0.9),
      deadLetterQueues,
      ...(this.realtime && { fanoutFunction: this.realtime.fanoutFunction }),
      ...(this.feedExport && { exportFunction: this.feedExport.exportFunction }),
      alarmEmail: c.alarmEmail,
    });
    // The VPC exists before the alarm topic (the gateway needs it): its NAT alarms are wired here.
    this.network.addAlarmAction(this.observability.alarmTopic);

    new CfnOutput(this, 'ConnectionUri', {
      description: 'AudioHook Monitor integration: Connection URI (Genesys Cloud Admin → Integrations)',
      value: this.gateway.connectionUri,
    });
    new CfnOutput(this, 'ApiBaseUrl', {
      description: 'Base URL of the start/stop/messages API (Architect data actions)',
      value: this.controlApi.baseUrl,
    });
    new CfnOutput(this, 'AudiohookApiKeysSecretArn', {
      description: 'Secret holding the AudioHook API key and client secret to enter in Genesys',
      value: this.store.audiohookApiKeysSecret.secretArn,
    });
    new CfnOutput(this, 'ApiCredentialsSecretArn', {
      description: 'Secret holding the hashed asapp-api-id/secret pairs (lambdas/authorizer/hash-secret.ts)',
      value: this.store.apiCredentialsSecret.secretArn,
    });
    new CfnOutput(this, 'FeedBucketName', { value: this.store.feedBucket.bucketName });
    new CfnOutput(this, 'RecordingsBucketName', { value: this.store.recordingsBucket.bucketName });
    if (this.realtime) {
      new CfnOutput(this, 'WebSocketUrl', {
        description: 'Real-time transcripts: WebSocket URL (docs/realtime.md)',
        value: this.realtime.webSocketUrl,
      });
    }
    if (tokenSecret) {
      new CfnOutput(this, 'RealtimeTokenKeySecretArn', {
        description: 'HMAC key of the real-time connect tokens (rotate with put-secret-value; docs/deploy.md)',
        value: tokenSecret.secretArn,
      });
    }
    new CfnOutput(this, 'PageTokenKeySecretArn', {
      description: 'HMAC key of the messages route nextTokens (rotate with put-secret-value; docs/deploy.md)',
      value: this.store.pageTokenSecret.secretArn,
    });
    if (this.store.webhookTargetsSecret) {
      new CfnOutput(this, 'WebhookTargetsSecretArn', {
        description: 'Webhook targets and their credentials (JSON array; docs/deploy.md)',
        value: this.store.webhookTargetsSecret.secretArn,
      });
    }
    if (this.feedExport) {
      new CfnOutput(this, 'FeedGlueTable', {
        description: 'Athena: the utterances feed table (database.table)',
        value: `${this.feedExport.database.ref}.${this.feedExport.tableSpec.name}`,
      });
    }
    new CfnOutput(this, 'DashboardName', { value: this.observability.dashboard.dashboardName });
    if (!zone) {
      new CfnOutput(this, 'GatewayDnsTarget', {
        description: `Create a CNAME ${c.domain.gatewayDomainName} → this name`,
        value: this.gateway.loadBalancer.loadBalancerDnsName,
      });
      new CfnOutput(this, 'ApiDnsTarget', {
        description: `Create a CNAME ${c.domain.apiDomainName} → this name`,
        value: this.controlApi.domain.domainNameAliasDomainName,
      });
    }
  }
}

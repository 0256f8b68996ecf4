/**
 * The gateway task's IAM permissions: exactly what the gateway does (Transcribe streaming, its table
 * accesses, the API-key secret, write-only recordings, scale-in protection and self-drain, and, with
 * real-time delivery, posting live partials to WebSocket subscribers), with the cdk-nag acknowledgements of
 * the wildcards those need.
 */
import { Stack, Token, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { EnvironmentOf, GATEWAY_ENV } from '../contract/env-names';
import type { GatewayService, GatewayServiceProps } from './gateway-service';
import { RECORDINGS_PREFIX } from './gateway-service-settings';
import { logicalIdOf } from './store';

/** Grants the task role of `gateway` (its cluster and target group already exist) what the gateway does. */
export function grantGatewayTaskPermissions(gateway: GatewayService, props: GatewayServiceProps): void {
  const role = gateway.taskDefinition.taskRole;
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'TranscribeStreaming',
      actions: ['transcribe:StartStreamTranscription'],
      // Transcribe streaming has no resource-level permissions.
      resources: ['*'],
    }),
  );
  // Exactly what the gateway does (data-model.md access patterns 6–9), on the tables themselves: no
  // index, no Scan, no table administration.
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'ConversationsTable',
      actions: [
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
        'dynamodb:Query',
        'dynamodb:ConditionCheckItem',
      ],
      resources: [props.conversationsTable.tableArn],
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'UtterancesTable',
      actions: ['dynamodb:PutItem', 'dynamodb:GetItem'],
      resources: [props.utterancesTable.tableArn],
    }),
  );
  props.apiKeysSecret.grantRead(role);
  // Write-only: the gateway uploads recordings (multipart for long calls) and never reads, lists or deletes.
  const recordings = props.recordingsBucket.arnForObjects(`${RECORDINGS_PREFIX}*`);
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'WriteRecordings',
      actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
      resources: [recordings],
    }),
  );
  const stack = Stack.of(gateway);
  // Task and service ids are only known at run time; the cluster name is. The service cannot be named
  // exactly: the service depends on this task definition, so its ARN here would be a dependency cycle (the
  // gateway reads its service name from DescribeTasks `group`). The cluster holds this service alone.
  const taskArns = stack.formatArn({
    service: 'ecs',
    resource: 'task',
    resourceName: `${gateway.cluster.clusterName}/*`,
  });
  const serviceArns = stack.formatArn({
    service: 'ecs',
    resource: 'service',
    resourceName: `${gateway.cluster.clusterName}/*`,
  });
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'TaskScaleInProtection',
      actions: ['ecs:GetTaskProtection', 'ecs:UpdateTaskProtection'],
      resources: [taskArns],
    }),
  );
  // Self-drain (fargate/src/observability/self-drain.ts): read what ECS intends for this task, then leave
  // or rejoin the one target group. Nothing else in ECS or Elastic Load Balancing.
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'SelfDrainDescribeTasks',
      actions: ['ecs:DescribeTasks'],
      resources: [taskArns],
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'SelfDrainDescribeService',
      actions: ['ecs:DescribeServices'],
      resources: [serviceArns],
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'SelfDrainListTasks',
      actions: ['ecs:ListTasks'],
      // ListTasks takes no task or service resource; the ecs:cluster condition limits it to this cluster.
      resources: ['*'],
      conditions: { ArnEquals: { 'ecs:cluster': gateway.cluster.clusterArn } },
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'SelfDrainRotation',
      actions: ['elasticloadbalancing:DeregisterTargets', 'elasticloadbalancing:RegisterTargets'],
      resources: [gateway.targetGroup.targetGroupArn],
    }),
  );
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'transcribe:StartStreamTranscription supports no resource-level permissions; ecs:ListTasks takes no task or ' +
      'service resource and is limited to this cluster by an ArnEquals ecs:cluster condition',
  });
  Validations.of(role).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(props.recordingsBucket)}.Arn>/${RECORDINGS_PREFIX}*]`,
    reason:
      'Recording object keys are created per call at run time; writes are limited to the recordings/ prefix ' +
      'of the one recordings bucket, with no read, list or delete',
  });
  // cdk-nag names the finding after the rendered ARN: the partition is a token unless the region pins it, the
  // account unless the configuration names it (audiohook.account, needed with vpc.vpcId).
  const ecsArnPrefix =
    `arn:${Token.isUnresolved(stack.partition) ? '<AWS::Partition>' : stack.partition}:ecs:` +
    `${stack.region}:${Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account}`;
  const clusterRef = `<${stack.getLogicalId(gateway.cluster.node.defaultChild as ecs.CfnCluster)}>`;
  Validations.of(role).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${ecsArnPrefix}:task/${clusterRef}/*]`,
    reason:
      'Scale-in protection and self-drain: a task protects and describes itself (and its service siblings) by task ' +
      'id, known only at run time; the wildcard is limited to the tasks of this cluster',
  });
  Validations.of(role).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${ecsArnPrefix}:service/${clusterRef}/*]`,
    reason:
      'Self-drain reads its own service (deployments, desired count); naming it exactly would make the task ' +
      'definition depend on the service that depends on it, so the wildcard is limited to this cluster, which ' +
      'holds this one service',
  });
}

/** Props of {@link GatewayService.enableLivePartials}: where the gateway posts live partial transcripts. */
export interface GatewayLivePartialsProps {
  /** The Subscriptions table: the gateway queries a conversation's subscribed connections (no index). */
  readonly subscriptionsTable: dynamodb.ITable;
  /** `https://<apiId>.execute-api.<region>.amazonaws.com/<stage>`: the WebSocket stage's management endpoint. */
  readonly managementEndpoint: string;
  /**
   * `POST` on the stage's connections (`RealtimeDelivery.connectionsResource('POST')`) and the cdk-nag
   * finding its connection-id wildcard raises.
   */
  readonly postToConnections: { readonly arn: string; readonly nagFindingId: string };
}

/**
 * Lets the gateway post live partials straight to WebSocket subscribers (finals keep going through the
 * Utterances stream and the fan-out): tells the container the Subscriptions table and the management
 * endpoint, and grants its task role `dynamodb:Query` on that table and `execute-api:ManageConnections` on
 * `POST` to the stage's connections only. Closing gone connections (`DELETE`) stays the fan-out's job.
 */
export function grantGatewayLivePartials(gateway: GatewayService, props: GatewayLivePartialsProps): void {
  const environment = {
    SUBSCRIPTIONS_TABLE: props.subscriptionsTable.tableName,
    WEBSOCKET_MANAGEMENT_ENDPOINT: props.managementEndpoint,
  } satisfies Required<
    Pick<EnvironmentOf<typeof GATEWAY_ENV>, 'SUBSCRIPTIONS_TABLE' | 'WEBSOCKET_MANAGEMENT_ENDPOINT'>
  >;
  for (const [name, value] of Object.entries(environment)) gateway.container.addEnvironment(name, value);

  const role = gateway.taskDefinition.taskRole;
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'LivePartialsSubscribers',
      actions: ['dynamodb:Query'],
      resources: [props.subscriptionsTable.tableArn],
    }),
  );
  // The store encrypts tables with the AWS-managed key (no grant needed); a customer-managed key needs Decrypt.
  props.subscriptionsTable.encryptionKey?.grantDecrypt(role);
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'LivePartialsPost',
      actions: ['execute-api:ManageConnections'],
      resources: [props.postToConnections.arn],
    }),
  );
  Validations.of(role).acknowledge({
    id: props.postToConnections.nagFindingId,
    reason:
      'Live partials go to connection ids that exist only at run time; the permission is limited to posting ' +
      '(no GET or DELETE) to connections of the one WebSocket API stage',
  });
}

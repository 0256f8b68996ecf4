/**
 * vitest globalSetup: one DynamoDB Local for the whole run, shared by every test file through
 * `inject('dynamoDbLocalEndpoint')` (see test/helpers/dynamodb.ts). Without it each file that needs
 * DynamoDB starts its own, which is correct but slower. (The `ProvidedContext` key is declared in
 * test/helpers/dynamodb.ts.)
 */
import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal } from '../local/dynamodb';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dynamo = await startDynamoDbLocal();
  project.provide('dynamoDbLocalEndpoint', dynamo.endpoint);
  return () => dynamo.stop();
}

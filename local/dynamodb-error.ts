/**
 * The error of starting DynamoDB Local, in its own module so that both local/dynamodb.ts and the launcher
 * build (local/dynamodb-launcher/compile.ts) throw it without importing each other.
 */
import { AppError, type AppErrorOptions } from '../core/errors';

/** Error starting DynamoDB Local (no Java or javac, port taken, jar missing, never became ready). */
export class DynamoDbLocalError extends AppError {
  override readonly name = 'DynamoDbLocalError';
  declare readonly code: 'LOCAL_DYNAMODB_START_FAILED';
  constructor(message: string, options?: AppErrorOptions) {
    super('LOCAL_DYNAMODB_START_FAILED', message, options);
  }
}

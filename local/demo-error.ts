/** The demo's one error type (`npm run demo`, local/demo.ts and the call synthesis it uses). */

import { AppError, type AppErrorOptions } from '../core/errors';

/** Stable codes of {@link DemoError} (listed in docs/errors.md). */
export type DemoErrorCode =
  | 'DEMO_STACK_NOT_RUNNING'
  | 'DEMO_SYNTHESIS_FAILED'
  | 'DEMO_API_FAILED'
  | 'DEMO_WEBSOCKET_FAILED'
  | 'DEMO_CALL_FAILED'
  | 'DEMO_NO_TRANSCRIPT'
  | 'DEMO_USAGE';

/** Why the demo could not complete; the message says what to do. */
export class DemoError extends AppError {
  override readonly name = 'DemoError';
  declare readonly code: DemoErrorCode;
  constructor(code: DemoErrorCode, message: string, options?: AppErrorOptions) {
    super(code, message, options);
  }
}

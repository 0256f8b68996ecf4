/**
 * The one error of every configuration loader (the gateway's and each Lambda's `loadConfig()`): an entry
 * point refuses to start and says, in one line per problem, which variable is wrong and how to fix it.
 * It lives in core/ (not beside the parsers in contract/env.ts) because contract/ imports nothing of ours
 * and every error extends {@link AppError}.
 */
import { AppError } from './errors';

/** Raised by a `loadConfig()`; `problems` holds one human-readable line per invalid variable. */
export class ConfigError extends AppError {
  // Pinned: bundled Lambdas are minified, and callers log the name.
  override readonly name = 'ConfigError';

  /**
   * @param problems one line each, naming the variable; never a secret value
   * @param subject what was being configured, e.g. `gateway configuration`
   */
  constructor(
    readonly problems: readonly string[],
    subject: string,
  ) {
    super('CONFIG_INVALID', `Invalid ${subject}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

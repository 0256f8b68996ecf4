/**
 * What a configuration loader refused: the `problems` of the {@link ConfigError} it threw, one line per bad
 * variable. Fails the test when the loader accepts the input or throws anything else.
 */
import { expect } from 'vitest';
import { ConfigError } from '../../core/config-error';

/** Runs `load`, which must throw a {@link ConfigError}, and returns its problem lines. */
export function configProblems(load: () => unknown): readonly string[] {
  try {
    load();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected the configuration to be refused');
}

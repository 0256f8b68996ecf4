/**
 * Loading the CDK app's configuration (style.md habit 1): read once by `bin/app.ts`, validated against
 * the schema in contract/app-config.ts, and handed to the stack as a typed, frozen {@link AppConfig}.
 * Nothing under `lib/` reads context. This module owns the CLI side only: the file, the overrides, the error.
 *
 * Where it comes from: the customer's JSON file, named by the context key `audiohookConfigFile`
 * (`cdk deploy -c audiohookConfigFile=deploy/prod.json`; a relative path is resolved against the project
 * root), is the source of truth. Single settings are overridden on the command line with dotted context
 * keys, `-c audiohook.gateway.maxTasks=20`, each value read as JSON when it parses and as a string
 * otherwise. There is no built-in default configuration: `deploy/example.json` is the example to copy.
 * Every problem is reported at once, each line naming the setting and how to fix it.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type AppConfig, CONFIG_CONTEXT_KEY, checkAppConfig } from '../contract/app-config';
import { AppError } from '../core/errors';

/** Context key naming the configuration file (the documented name). */
export const CONFIG_FILE_CONTEXT_KEY = 'audiohookConfigFile';
/** Short alias of {@link CONFIG_FILE_CONTEXT_KEY}: `-c config=deploy/prod.json`. */
export const CONFIG_FILE_ALIAS_CONTEXT_KEY = 'config';
/** Context keys starting with this set one setting each, over the file. */
export const CONFIG_OVERRIDE_PREFIX = `${CONFIG_CONTEXT_KEY}.`;
/** The complete example configuration, relative to the project root. */
export const EXAMPLE_CONFIG_FILE = 'deploy/example.json';
/** The project root (where `cdk.json` is): relative configuration file paths are resolved against it. */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Raised when the configuration is invalid; `problems` holds one fix-it line per problem. */
export class AppConfigError extends AppError {
  override readonly name = 'AppConfigError';
  constructor(readonly problems: readonly string[]) {
    super(
      'APP_CONFIG_INVALID',
      'Invalid deployment configuration (see docs/deploy.md §2 "Configure"):\n' +
        problems.map((p) => `  - ${p}`).join('\n'),
    );
  }
}

/**
 * Validates a raw configuration object and applies defaults.
 * @throws AppConfigError listing every problem, each with a fix.
 */
export function parseAppConfig(raw: unknown): AppConfig {
  if (raw === undefined || raw === null) {
    throw new AppConfigError([NO_CONFIG_FILE_PROBLEM]);
  }
  const checked = checkAppConfig(raw);
  if (!checked.ok) throw new AppConfigError(checked.problems);
  return checked.config;
}

/** What {@link loadAppConfig} needs from the CDK app (a construct's `node`). */
export interface ContextSource {
  tryGetContext(key: string): unknown;
  getAllContext(): Record<string, unknown>;
}

/** How {@link loadAppConfig} reaches the file system (injected so tests need none). */
export interface ConfigFileAccess {
  /** Reads a UTF-8 file; called with an absolute path. */
  readFile(path: string): string;
  /** Directory a relative file path is resolved against. @default {@link PROJECT_ROOT} */
  projectRoot?: string;
}

const NO_CONFIG_FILE_PROBLEM =
  `no configuration file: copy ${EXAMPLE_CONFIG_FILE} to deploy/<env>.json, set your domain, region and ` +
  `certificate or hosted zone in it, and pass -c ${CONFIG_FILE_CONTEXT_KEY}=deploy/<env>.json`;

/**
 * Reads the configuration file named in context, applies the `audiohook.<path>` overrides over it, then
 * validates the result.
 * @throws AppConfigError when the file is missing or unreadable, an override is malformed, the old
 *   `audiohook` context object is present, or the configuration is invalid
 */
export function loadAppConfig(context: ContextSource, files: ConfigFileAccess): AppConfig {
  if (context.tryGetContext(CONFIG_CONTEXT_KEY) !== undefined) {
    throw new AppConfigError([
      `context "${CONFIG_CONTEXT_KEY}" (the whole configuration as one object) is no longer read, so it cannot ` +
        `silently replace your file: move its settings into your configuration file (start from ${EXAMPLE_CONFIG_FILE}), ` +
        `pass -c ${CONFIG_FILE_CONTEXT_KEY}=<file>, override single settings with -c ${CONFIG_OVERRIDE_PREFIX}<path>=<value> ` +
        `(e.g. -c ${CONFIG_OVERRIDE_PREFIX}gateway.maxTasks=20), and delete "${CONFIG_CONTEXT_KEY}" from the "context" of cdk.json if it is there`,
    ]);
  }
  const fromFile = readConfigFile(context, files);
  return parseAppConfig(applyOverrides(fromFile, context.getAllContext()));
}

function configFileName(context: ContextSource): string {
  const named = [CONFIG_FILE_CONTEXT_KEY, CONFIG_FILE_ALIAS_CONTEXT_KEY]
    .map((key) => [key, context.tryGetContext(key)] as const)
    .filter(([, value]) => value !== undefined && value !== '');
  for (const [key, value] of named) {
    if (typeof value !== 'string') {
      throw new AppConfigError([`${key}: must be a file path, e.g. -c ${CONFIG_FILE_CONTEXT_KEY}=deploy/prod.json`]);
    }
  }
  const [first, second] = named as (readonly [string, string])[];
  if (first === undefined) throw new AppConfigError([NO_CONFIG_FILE_PROBLEM]);
  if (second !== undefined && second[1] !== first[1]) {
    throw new AppConfigError([
      `${first[0]} (${first[1]}) and ${second[0]} (${second[1]}) name different files; pass only -c ${CONFIG_FILE_CONTEXT_KEY}=<file>`,
    ]);
  }
  return first[1];
}

function readConfigFile(context: ContextSource, files: ConfigFileAccess): Record<string, unknown> {
  const name = configFileName(context);
  const path = resolve(files.projectRoot ?? PROJECT_ROOT, name);
  let text: string;
  try {
    text = files.readFile(path);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
    throw new AppConfigError([
      `${CONFIG_FILE_CONTEXT_KEY}: cannot read ${name} (${path}: ${reason}); a relative path is resolved against ` +
        `the project root, the folder of cdk.json (start from ${EXAMPLE_CONFIG_FILE})`,
    ]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new AppConfigError([
      `${name}: not valid JSON (${err instanceof Error ? err.message : String(err)}); JSON has no comments or trailing commas`,
    ]);
  }
  if (!isPlainObject(value)) {
    throw new AppConfigError([`${name}: must hold one JSON object {…} with the settings (see ${EXAMPLE_CONFIG_FILE})`]);
  }
  return value;
}

/** Object keys that would reach the prototype instead of creating a setting. */
const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Sets each `audiohook.<path>` context value at its path in a copy of `config`. Parents apply before their
 * children (`audiohook.gateway` before `audiohook.gateway.maxTasks`), so the more specific key wins. A JSON
 * `null` removes the setting. All malformed keys are reported at once.
 */
function applyOverrides(config: Record<string, unknown>, context: Record<string, unknown>): Record<string, unknown> {
  const out = structuredClone(config);
  const overrides = Object.entries(context)
    .filter(([key]) => key.startsWith(CONFIG_OVERRIDE_PREFIX))
    .map(([key, value]) => ({ key, path: key.slice(CONFIG_OVERRIDE_PREFIX.length).split('.'), value }))
    .sort((a, b) => a.path.length - b.path.length || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const problems: string[] = [];
  for (const { key, path, value } of overrides) {
    const problem = setAtPath(out, path, overrideValue(value));
    if (problem !== undefined) problems.push(`-c ${key}: ${problem}`);
  }
  if (problems.length > 0) throw new AppConfigError(problems);
  return out;
}

/** A `-c` value is a string: JSON when it parses (numbers, booleans, arrays, objects, null), else the text. */
function overrideValue(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/** Sets (or, for `null`, removes) `value` at `path`; returns the problem, if any. */
function setAtPath(root: Record<string, unknown>, path: readonly string[], value: unknown): string | undefined {
  if (path.some((segment) => segment === '')) {
    return `the setting path has an empty name (two dots, or a dot at the end); join names with single dots, e.g. -c ${CONFIG_OVERRIDE_PREFIX}gateway.maxTasks=20`;
  }
  const bad = path.find((segment) => FORBIDDEN_SEGMENTS.has(segment));
  if (bad !== undefined) return `"${bad}" is not a setting name`;
  let node = root;
  for (const [i, segment] of path.slice(0, -1).entries()) {
    const next = Object.hasOwn(node, segment) ? node[segment] : undefined;
    if (next === undefined) {
      if (value === null) return undefined; // nothing to remove
      const created: Record<string, unknown> = {};
      node[segment] = created;
      node = created;
    } else if (isPlainObject(next)) {
      node = next;
    } else {
      const at = [CONFIG_CONTEXT_KEY, ...path.slice(0, i + 1)].join('.');
      return (
        `${at} is ${Array.isArray(next) ? 'a list' : `the ${typeof next} ${JSON.stringify(next)}`}, not a group of ` +
        `settings, so it has no "${path[i + 1]}"; set ${at} as a whole, e.g. -c ${at}='<JSON value>'`
      );
    }
  }
  const leaf = path[path.length - 1] as string;
  if (value === null) delete node[leaf];
  else node[leaf] = value;
  return undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The building blocks of every configuration loader (the gateway's fargate/src/config.ts, the Lambdas'
 * lambdas/shared/{config,realtime-config,export-config}.ts): zod schemas for one environment variable
 * each, and the helpers that turn a parse into the loaders' one-line-per-problem messages. Each schema
 * names its variable in its messages, so a problem line reads on its own. Loaders own their variables
 * (named in ./env-names.ts), defaults and cross-variable rules; this module owns only the parsing rules
 * they share. The loaders throw `ConfigError` (core/config-error.ts) with these lines.
 */
import { z } from 'zod';

/** An environment: variable names to values (what a composition root passes in). */
export type Env = Record<string, string | undefined>;

/** A whole-number variable within bounds. */
export const integer = (name: string, min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { message: `${name} must be a whole number between ${min} and ${max}` })
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(min, { message: `${name} must be at least ${min}` })
        .max(max, { message: `${name} must be at most ${max}` }),
    );

/** A DynamoDB table name. */
export const tableName = (name: string) =>
  z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/, {
    message: `${name} must be a DynamoDB table name (3-255 characters: letters, digits, _ . -)`,
  });

/** An http(s) endpoint override without a path (DynamoDB Local, a local S3, a fake ECS…). */
export const endpoint = (name: string) =>
  z.string().regex(/^https?:\/\/[^\s/?#]+\/?$/, {
    message: `${name} must be an http(s) URL without path, e.g. http://127.0.0.1:8000`,
  });

/** Any URL (WHATWG parse); `example` completes the message. */
export const url = (name: string, example?: string) =>
  z.url({ message: `${name} must be a URL${example === undefined ? '' : `, e.g. ${example}`}` });

/**
 * One language tag as both runtimes accept it: a 2-3 letter language and optional 2-8 character subtags.
 * Every language Amazon Transcribe streaming takes (`en-US`, `zh-CN`, `en-AB`, `fr-CA`…) fits, and so do
 * BCP-47 tags such as `es-419`; names (`english`) and separators other than `-` (`en_US`) do not.
 */
const LANGUAGE_TAG = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;

/** A comma-separated list of at least one language tag (`en-US,es-US`); entries trimmed, blanks dropped. */
export const languageList = (name: string) =>
  z
    .string()
    .transform(commaList)
    .pipe(
      z
        .array(
          z.string().regex(LANGUAGE_TAG, { message: `${name} must be comma-separated BCP-47 tags, e.g. en-US,es-US` }),
        )
        .min(1, { message: `${name} must list at least one language, e.g. en-US,es-US` }),
    );

/** A CloudWatch metrics namespace. */
export const cloudWatchNamespace = (name: string) =>
  z.string().regex(/^[A-Za-z0-9._/#:-]{1,255}$/, {
    message: `${name} must be a CloudWatch namespace (letters, digits, . _ / # : -), e.g. AudiohookTranscribe`,
  });

/** A `true`/`false`/`1`/`0` variable. */
export const boolean = (name: string) =>
  z
    .enum(['true', 'false', '1', '0'], { message: `${name} must be true or false` })
    .transform((v) => v === 'true' || v === '1');

/** A required, non-empty variable. */
export const nonEmpty = (name: string) =>
  z.string({ message: `${name} is required` }).min(1, { message: `${name} is required` });

/** Splits a comma-separated variable, trimming entries and dropping empty ones (`"a, b,"` → `['a', 'b']`). */
export function commaList(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
}

/** One line per invalid variable: the issue's message, prefixed with the variable unless it names it. */
export function problemsOf(error: z.ZodError): string[] {
  return error.issues.map((i) => {
    const name = String(i.path[0] ?? 'environment');
    return i.message.includes(name) ? i.message : `${name}: ${i.message}`;
  });
}

/** Blank variables count as unset (CDK and shells often pass `""`). */
export function present(env: Env): Env {
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
}

/**
 * Produces a credential entry for the API credential set (see core/api/credentials.ts for the format).
 *
 *   npx tsx lambdas/authorizer/hash-secret.ts --api-id app-123 --label genesys-prod --scopes control [--rate-limit 100]
 *
 * `--scopes` is required: a comma-separated subset of control, read, realtime, export, admin
 * (docs/security.md §3). Give each caller only what it uses: a Genesys data action needs `control`.
 *
 * Without `--secret-stdin` a strong random secret is generated and printed once on stderr (hand it to the
 * caller; it is not recoverable). With `--secret-stdin` the secret is read from standard input, so it never
 * appears in the shell history or the process list. Standard output is only the JSON entry, ready to merge
 * into the secret (`{"app-123": {...}}`).
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  defaultUsageKey,
  hashSecret,
  parseCredentials,
  parseScopes,
  SCOPES,
  type Scope,
} from '../../core/api/credentials';

/** Options of {@link credentialEntry}. */
export interface HashSecretOptions {
  apiId: string;
  secret: string;
  label?: string;
  rateLimitPerSec?: number;
  /** @default 16 random bytes, base64url */
  salt?: string;
  /** @default - {@link defaultUsageKey} */
  usageKey?: string;
  /** The credential's scopes. @default - none written: the entry holds every scope (the pre-scopes default) */
  scopes?: readonly Scope[];
}

/** Builds `{ [apiId]: entry }` for a secret, hashed with scrypt and a fresh salt; validates the result. */
export async function credentialEntry(options: HashSecretOptions): Promise<Record<string, Record<string, unknown>>> {
  const salt = options.salt ?? randomBytes(16).toString('base64url');
  const hash = await hashSecret('scrypt', options.secret, salt);
  const entry: Record<string, unknown> = {
    alg: 'scrypt',
    salt,
    secretHash: hash.toString('hex'),
    label: options.label ?? options.apiId,
    usageKey: options.usageKey ?? defaultUsageKey(options.apiId),
    ...(options.rateLimitPerSec !== undefined && { rateLimitPerSec: options.rateLimitPerSec }),
    ...(options.scopes !== undefined && { scopes: [...options.scopes] }),
  };
  const set = { [options.apiId]: entry };
  parseCredentials(set);
  return set;
}

/** Shortest secret accepted from stdin (bytes of entropy are the caller's business; length is ours). */
export const MIN_SECRET_LENGTH = 16;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'api-id': { type: 'string' },
      label: { type: 'string' },
      'rate-limit': { type: 'string' },
      'usage-key': { type: 'string' },
      scopes: { type: 'string' },
      'secret-stdin': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help || !values['api-id'] || !values.scopes) {
    process.stderr.write(
      'usage: npx tsx lambdas/authorizer/hash-secret.ts --api-id <id> --scopes <list> [--label <text>]\n' +
        '       [--rate-limit <per-sec>] [--usage-key <api-gateway-api-key-value>] [--secret-stdin]\n' +
        `  --scopes  comma-separated, of: ${SCOPES.join(', ')} (docs/security.md)\n`,
    );
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const scopes = [...parseScopes(values.scopes)];
  let secret: string;
  if (values['secret-stdin']) {
    secret = await readStdin();
    if (secret.length < MIN_SECRET_LENGTH)
      throw new Error(`the secret must be at least ${MIN_SECRET_LENGTH} characters`);
  } else {
    secret = randomBytes(32).toString('base64url');
    process.stderr.write(`generated asapp-api-secret (shown once): ${secret}\n`);
  }
  const rate = values['rate-limit'] === undefined ? undefined : Number(values['rate-limit']);
  if (rate !== undefined && !(Number.isFinite(rate) && rate > 0))
    throw new Error('--rate-limit must be a positive number');
  const entry = await credentialEntry({
    apiId: values['api-id'],
    secret,
    ...(values.label !== undefined && { label: values.label }),
    ...(rate !== undefined && { rateLimitPerSec: rate }),
    ...(values['usage-key'] !== undefined && { usageKey: values['usage-key'] }),
    scopes,
  });
  process.stdout.write(`${JSON.stringify(entry, null, 2)}\n`);
}

// Run only as a script, so tests can import credentialEntry.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`hash-secret: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}

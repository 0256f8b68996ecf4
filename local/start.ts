/**
 * `npm start`: the embedded local stack. Runs every component that exists as its own process on
 * loopback, with one log stream prefixed per component, a readiness banner, `.local/endpoints.json`
 * for scripts and tests, state under `.local/` across restarts (`--fresh` wipes it), and a clean
 * shutdown on Ctrl-C (children get SIGTERM, then SIGKILL after a grace period: no orphans).
 *
 * Components are started through their real entry points (the gateway's composition root is
 * fargate/src/main.ts) with local configuration: nothing here re-implements a business rule.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { type LocalConfig, loadLocalConfig } from './config';
import { formatLogLine } from './log-format';

const ROOT = join(import.meta.dirname, '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

interface Component {
  name: string;
  child: ChildProcess;
}

function pipeLogs(name: string, child: ChildProcess): void {
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => process.stdout.write(`${formatLogLine(name, line)}\n`));
  }
}

/** Local gateway credentials, generated once and kept in the data directory. */
function localCredentials(dataDir: string): { apiKey: string; clientSecret: string } {
  const file = join(dataDir, 'credentials.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as { apiKey: string; clientSecret: string };
  const creds = { apiKey: randomBytes(24).toString('base64url'), clientSecret: randomBytes(32).toString('base64') };
  writeFileSync(file, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
  return creds;
}

async function waitForHealth(url: string, comp: Component, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (comp.child.exitCode !== null) throw new Error(`${comp.name} exited with code ${comp.child.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${comp.name} did not become ready within ${timeoutMs / 1000}s (${url})`);
}

function startComponent(name: string, args: string[], env: Record<string, string>): Component {
  const child = spawn(TSX, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  pipeLogs(name, child);
  return { name, child };
}

async function stopAll(components: Component[]): Promise<void> {
  await Promise.all(
    components.map(
      ({ child }) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const kill = setTimeout(() => child.kill('SIGKILL'), 8000);
          child.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}

function banner(cfg: LocalConfig, creds: { apiKey: string; clientSecret: string }, endpointsFile: string): string {
  const gw = `ws://${cfg.host}:${cfg.gatewayPort}${cfg.audiohookPath}`;
  return [
    '',
    '  audiohook-transcribe local stack is ready',
    '',
    `  AudioHook gateway   ${gw}`,
    `  gateway health      http://${cfg.host}:${cfg.gatewayPort}/health`,
    `  gateway metrics     http://${cfg.host}:${cfg.adminPort}/metrics`,
    `  recordings (WAV)    ${cfg.recordingsDir}`,
    `  endpoints file      ${endpointsFile}`,
    '',
    '  Simulate a 10-second call (in another terminal):',
    `    npm run simulate -- --uri ${gw} --api-key ${creds.apiKey} --client-secret ${creds.clientSecret} --tone-sec 10`,
    '',
    '  Ctrl-C stops everything.',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { fresh: { type: 'boolean', default: false } } });
  const cfg = loadLocalConfig(process.env, ROOT);
  if (values.fresh && existsSync(cfg.dataDir)) rmSync(cfg.dataDir, { recursive: true, force: true });
  mkdirSync(cfg.dataDir, { recursive: true });
  const creds = localCredentials(cfg.dataDir);

  const components: Component[] = [];
  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\nstopping the local stack…\n');
    await stopAll(components);
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));

  const gateway = startComponent('gateway', ['fargate/src/main.ts'], {
    HOST: cfg.host,
    PORT: String(cfg.gatewayPort),
    ADMIN_HOST: cfg.host,
    ADMIN_PORT: String(cfg.adminPort),
    AUDIOHOOK_PATHS: cfg.audiohookPath,
    AUDIOHOOK_API_KEYS: JSON.stringify({ [creds.apiKey]: { secret: creds.clientSecret, label: 'local' } }),
    AUDIO_SINK: 'wav',
    WAV_DIR: cfg.recordingsDir,
    LOG_LEVEL: cfg.logLevel,
    DRAIN_TIMEOUT_SEC: '5',
  });
  components.push(gateway);
  gateway.child.once('exit', (code) => {
    if (!stopping) {
      process.stderr.write(`gateway exited unexpectedly (code ${code}); stopping\n`);
      void shutdown(1);
    }
  });

  try {
    await waitForHealth(`http://${cfg.host}:${cfg.gatewayPort}/health`, gateway, 30_000);
  } catch (err) {
    process.stderr.write(`local stack failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    await shutdown(1);
    return;
  }

  const endpointsFile = join(cfg.dataDir, 'endpoints.json');
  const endpoints = {
    gateway: {
      url: `ws://${cfg.host}:${cfg.gatewayPort}${cfg.audiohookPath}`,
      apiKey: creds.apiKey,
      clientSecret: creds.clientSecret,
      health: `http://${cfg.host}:${cfg.gatewayPort}/health`,
      metrics: `http://${cfg.host}:${cfg.adminPort}/metrics`,
    },
  };
  writeFileSync(endpointsFile, `${JSON.stringify(endpoints, null, 2)}\n`, { mode: 0o600 });
  process.stdout.write(`${banner(cfg, creds, endpointsFile)}\n`);
  if (cfg.exitWhenReady) await shutdown(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`npm start failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

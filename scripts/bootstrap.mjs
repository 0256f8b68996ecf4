#!/usr/bin/env node
// Bootstrap: make a fresh clone runnable. Installs npm dependencies when the lockfile changed since the
// last install, and the Debian packages the local stack needs when they are missing and we are root.
// Plain Node (no dependencies), because it runs before node_modules exists.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quiet = process.argv.includes('--quiet');
const log = (msg) => {
  if (!quiet) process.stderr.write(`[bootstrap] ${msg}\n`);
};

/** Debian packages the local stack uses, with the command that proves each is present. */
const DEBIAN = [
  {
    pkg: 'pocketsphinx',
    probe: ['pocketsphinx_continuous', '/usr/bin/pocketsphinx_continuous'],
    why: 'offline recognizer behind the local Transcribe endpoint',
  },
  {
    pkg: 'pocketsphinx-en-us',
    probe: ['file', '/usr/share/pocketsphinx/model/en-us'],
    why: 'English acoustic model for the recognizer',
  },
  { pkg: 'flite', probe: ['flite', '/usr/bin/flite'], why: 'speech synthesis for test fixtures and the demo' },
  { pkg: 'sox', probe: ['sox', '/usr/bin/sox'], why: 'audio resampling for the recognizer' },
  {
    pkg: 'openjdk-17-jdk-headless',
    probe: ['javac', '/usr/bin/javac'],
    why: 'compiles the launcher that binds DynamoDB Local to loopback (local/dynamodb-launcher/)',
  },
  {
    pkg: 'chromium',
    probe: ['file', '/usr/bin/chromium'],
    why: 'headless browser for the transcript page check of the e2e suite (driven by playwright-core)',
  },
];

function npmDeps() {
  const lock = join(root, 'package-lock.json');
  if (!existsSync(lock)) throw new Error('package-lock.json is missing: the lockfile must be committed');
  const want = createHash('sha256').update(readFileSync(lock)).digest('hex');
  const stamp = join(root, 'node_modules', '.bootstrap-lock-sha256');
  const have = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : '';
  if (have === want) return;
  // `npm ci`: exactly the committed lockfile, which lists every platform's optional binaries (esbuild, Biome,
  // …) so it installs unchanged with npm 10 and 11 and never rewrites package-lock.json (a fresh clone stays
  // clean). A lockfile out of step with package.json fails here, loudly, instead of being "repaired".
  log('installing npm dependencies from package-lock.json (npm ci)…');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error(`npm ci failed with exit code ${r.status}`);
  writeFileSync(stamp, `${want}\n`);
}

function present({ probe }) {
  const [kind, path] = probe;
  if (kind === 'file') return existsSync(path);
  return existsSync(path) || spawnSync('sh', ['-c', `command -v ${kind}`], { stdio: 'ignore' }).status === 0;
}

function debianDeps() {
  const missing = DEBIAN.filter((d) => !present(d));
  if (missing.length === 0) return;
  const names = missing.map((d) => d.pkg);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
  if (!isRoot || !hasApt) {
    const lines = missing.map((d) => `  - ${d.pkg}: ${d.why}`).join('\n');
    log(`missing Debian packages (install them with: sudo apt-get install -y ${names.join(' ')}):\n${lines}`);
    return;
  }
  log(`installing Debian packages: ${names.join(' ')}…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: quiet ? 'ignore' : 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...names], {
    stdio: quiet ? 'ignore' : 'inherit',
    env,
  });
}

function javaCheck() {
  const r = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (r.status !== 0)
    log('Java was not found: DynamoDB Local needs a Java 17+ JDK (apt-get install -y openjdk-17-jdk-headless).');
}

try {
  npmDeps();
  debianDeps();
  javaCheck();
} catch (err) {
  process.stderr.write(`[bootstrap] ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}

/**
 * The container's situation (issue #12, defect 2): the gateway runs as a non-root user and its recordings
 * spool directory lies in a root-owned 0755 volume it cannot write. It must start, answer `/health`, and
 * accept and complete calls, with recordings turned off and said so (RECORDINGS_SPOOL_UNAVAILABLE, the
 * RecordingsUnavailable gauge) instead of crash-looping.
 *
 * The gateway is bundled as the image bundles it (bench/gateway-process.ts `bundleGateway`) and run in
 * transcription mode (so the recordings component is built) against the run's DynamoDB Local, with
 * `setuid`/`setgid` to `node` (or `nobody`). CI runs the tests as root, which this test needs to switch users.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, chmodSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleGateway } from '../../../bench/gateway-process';
import { toneSource } from '../../../local/simulator/audio-source';
import { runSimulatedSession } from '../../../local/simulator/client';
import { setupDynamoDb, type TestDynamoDb } from '../../helpers/dynamodb';
import { eventually, type GatewayChild, ROOT, startGatewayChild } from '../helpers/gateway-child';

const API_KEY = 'non-root-itest-key-0001';
const CLIENT_SECRET = Buffer.from('non-root-integration-secret!!!!!').toString('base64');

/** The unprivileged account the test runs the gateway as: `node` (as in the image) if present, else `nobody`. */
function unprivilegedUser(): { name: string; uid: number; gid: number } {
  const passwd = readFileSync('/etc/passwd', 'utf8').split('\n');
  for (const name of ['node', 'nobody']) {
    const fields = passwd.find((l) => l.startsWith(`${name}:`))?.split(':');
    if (fields && Number(fields[2]) !== 0) return { name, uid: Number(fields[2]), gid: Number(fields[3]) };
  }
  throw new Error('neither a "node" nor a "nobody" user exists in /etc/passwd: cannot run the gateway unprivileged');
}

let db: TestDynamoDb;
let gw: GatewayChild | undefined;
let spoolParent: string;
let user: { name: string; uid: number; gid: number };

beforeAll(async () => {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'this test starts the gateway as another (non-root) user, which needs root: run the test suite as root (CI does)',
    );
  }
  user = unprivilegedUser();
  db = await setupDynamoDb();
  const bundle = await bundleGateway(ROOT);
  // The bundle and every directory above it must be readable by that user (node_modules next to it too).
  chmodSync(bundle, 0o644);
  for (let d = dirname(bundle); d !== dirname(d); d = dirname(d)) {
    if ((statSync(d).mode & 0o005) !== 0o005) {
      throw new Error(`${d} is not readable and searchable by others: ${user.name} cannot load the gateway bundle`);
    }
  }
  // A root-owned 0755 directory, as the Fargate bind-mount volume is: the spool directory cannot be created.
  spoolParent = mkdtempSync(join(tmpdir(), 'nonroot-volume-'));
  chmodSync(spoolParent, 0o755);
  gw = await startGatewayChild({
    bundle,
    uid: user.uid,
    gid: user.gid,
    env: {
      AUDIOHOOK_API_KEYS: JSON.stringify({ [API_KEY]: CLIENT_SECRET }),
      LOG_LEVEL: 'info',
      TASK_ID: 'non-root-task',
      AWS_REGION: 'us-east-1',
      CONVERSATIONS_TABLE: db.tables.conversations,
      UTTERANCES_TABLE: db.tables.utterances,
      DYNAMODB_ENDPOINT: db.endpoint,
      // Never reached (no start command): Transcribe being unreachable must not matter to health either.
      TRANSCRIBE_ENDPOINT: 'http://127.0.0.1:9',
      RECORDINGS_BUCKET: 'non-root-recordings',
      RECORDINGS_SPOOL_DIR: join(spoolParent, 'recordings'),
      S3_ENDPOINT: 'http://127.0.0.1:9',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      HOME: spoolParent,
      METRICS_NAMESPACE: 'NonRootTest',
      METRICS_INTERVAL_SEC: '3600',
    },
  });
}, 120_000);

afterAll(async () => {
  await gw?.stop();
  await db?.stop();
  if (spoolParent) rmSync(spoolParent, { recursive: true, force: true });
});

describe('gateway as a non-root user with an unwritable recordings spool', () => {
  it('runs as that user and cannot write the volume (the precondition of this test)', () => {
    const pid = gw?.child.pid;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    expect(status).toMatch(new RegExp(`^Uid:\\t${user.uid}\\t`, 'm'));
    expect(() =>
      execFileSync(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(spoolParent)}, 2)`], {
        uid: user.uid,
        gid: user.gid,
        stdio: 'ignore',
      }),
    ).toThrow();
    accessSync(spoolParent, constants.W_OK); // root can: the directory is root's
    expect(existsSync(join(spoolParent, 'recordings'))).toBe(false);
  });

  it('starts, answers /health 200, and says that recordings are off (RECORDINGS_SPOOL_UNAVAILABLE)', async () => {
    if (!gw) throw new Error('gateway not started');
    const health = await fetch(`${gw.httpUrl}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const unavailable = gw.lines.filter((l) => l.code === 'RECORDINGS_SPOOL_UNAVAILABLE');
    expect(unavailable).toHaveLength(1);
    expect(unavailable[0]).toMatchObject({ level: 'error', spoolDir: join(spoolParent, 'recordings') });
    expect(JSON.stringify(unavailable[0])).toMatch(/EACCES/);
    expect((await gw.metrics()).recordings).toMatchObject({ spoolAvailable: false });
  });

  it('accepts and completes an AudioHook call; the last metrics interval reports RecordingsUnavailable=1', async () => {
    if (!gw) throw new Error('gateway not started');
    const result = await runSimulatedSession({
      uri: gw.url,
      apiKey: API_KEY,
      clientSecret: CLIENT_SECRET,
      audio: toneSource({ format: 'PCMU', channels: 2, durationMs: 1500 }),
      speed: 2,
    });
    expect(result.failure).toBeUndefined();
    expect(result.outcome).toBe('closed');
    await eventually(async () => ((await gw?.metrics())?.sessions ?? 1) === 0, 10_000, 'the call to be forgotten');
    expect((await fetch(`${gw.httpUrl}/health`)).status).toBe(200);

    const exit = await gw.stop();
    expect(exit.code).toBe(0);
    const emf = gw.lines.filter((l) => '_aws' in l);
    expect(emf.at(-1)).toMatchObject({ RecordingsUnavailable: 1 });
    // The transcribing gateway wires the held-utterance gauge too (nothing held: DynamoDB Local is up).
    expect(emf.at(-1)).toMatchObject({ UtterancesHeld: 0 });
    expect(gw.lines.some((l) => l.level === 'fatal')).toBe(false);
  }, 60_000);
});

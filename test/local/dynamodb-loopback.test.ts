/**
 * DynamoDB Local, which holds every local transcript, listens on loopback only and keeps its database
 * private: started by local/dynamodb.ts through the loopback launcher, its port appears in the kernel's
 * socket tables bound to 127.0.0.1 and nothing else, and its files are 0600 in a 0700 directory even
 * when the parent's umask would make them readable. Without javac the start fails, naming the package.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { createLocalDynamoDbClient, DynamoDbLocalError, startDynamoDbLocal } from '../../local/dynamodb';
import { compiledLauncher, jarLocation, LAUNCHER_CLASS } from '../../local/dynamodb-launcher/compile';
import { listeningAddresses } from './listeners';

const root = mkdtempSync(join(tmpdir(), 'ddb-loopback-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const mode = (path: string) => statSync(path).mode & 0o777;

describe('DynamoDB Local on loopback', () => {
  it('binds 127.0.0.1 only, and writes its database 0600 in a 0700 directory', async () => {
    const dataDir = join(root, 'data');
    const previous = process.umask(0o022);
    let ddb: Awaited<ReturnType<typeof startDynamoDbLocal>>;
    try {
      ddb = await startDynamoDbLocal({ dataDir });
    } finally {
      process.umask(previous);
    }
    const client = createLocalDynamoDbClient(ddb.endpoint);
    try {
      expect(ddb.endpoint).toBe(`http://127.0.0.1:${ddb.port}`);
      expect(listeningAddresses(ddb.port)).toEqual(['127.0.0.1']);
      await client.send(
        new CreateTableCommand({
          TableName: 'private',
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [{ AttributeName: 'k', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'k', KeyType: 'HASH' }],
        }),
      );
      const files = readdirSync(dataDir);
      expect(files.length).toBeGreaterThan(0);
      expect(mode(dataDir)).toBe(0o700);
      for (const f of files) expect(mode(join(dataDir, f)), f).toBe(0o600);
    } finally {
      client.destroy();
      await ddb.stop();
    }
    expect(listeningAddresses(ddb.port)).toEqual([]);
  }, 90_000);

  it('refuses a host that is not loopback before starting anything', async () => {
    await expect(startDynamoDbLocal({ host: '0.0.0.0' })).rejects.toThrow(/DynamoDB Local host must be a loopback/);
  });

  it('fails with a clear error naming the JDK package when javac is missing (no fallback)', async () => {
    const err = await startDynamoDbLocal({
      javacCommand: join(root, 'no-such-javac'),
      launcherCacheDir: join(root, 'empty-cache'),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DynamoDbLocalError);
    expect((err as Error).message).toMatch(/javac not found .*apt-get install openjdk-17-jdk-headless/);
    expect(readdirSync(join(root, 'empty-cache'))).toEqual([]);
  });

  it('compiles the launcher once per source and release, then reuses it without javac', async () => {
    const { mainJar, libDir, release } = jarLocation();
    const classPath = [join(libDir, '*'), mainJar];
    const cacheDir = join(root, 'cache');
    const first = await compiledLauncher({ classPath, release, cacheDir });
    expect(readdirSync(first)).toContain(`${LAUNCHER_CLASS}.class`);
    expect(readdirSync(cacheDir)).toEqual([first.slice(cacheDir.length + 1)]); // no scratch directory left
    const again = await compiledLauncher({ classPath, release, cacheDir, javacCommand: join(root, 'no-such-javac') });
    expect(again).toBe(first);
    const other = compiledLauncher({ classPath, release: 'another-release', cacheDir, javacCommand: join(root, 'no') });
    await expect(other).rejects.toThrow(/javac not found/);
  }, 60_000);
});

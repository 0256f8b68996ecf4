/**
 * A local S3 for `npm start` and the tests: s3rver (an S3-compatible server storing objects as files) on
 * a loopback address (127.0.0.1 by default, never another interface). Clients reach it with path-style URLs and checksums only where required (see
 * store/feeds.ts `createFeedsS3Client`). Data lives in `dataDir` when given (kept across restarts), else in
 * a fresh temporary directory removed on {@link LocalS3.stop}; either is private to the user (0700).
 */

import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError, type AppErrorOptions } from '../core/errors';
import { requireLoopbackHost, urlHost } from './loopback';
import { makePrivateDir } from './private-files';

/**
 * The only credentials s3rver accepts (it verifies signatures against them). Local processes get them as
 * `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`; tests pass them to the client.
 */
export const LOCAL_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** Options of {@link startLocalS3}. */
export interface LocalS3Options {
  /** The loopback address to listen on (127.0.0.0/8, ::1, localhost). @default '127.0.0.1' */
  host?: string;
  /** Port on `host`. @default 0 - pick a free port */
  port?: number;
  /** Where objects are stored, made private (0700, files 0600). @default - a temporary directory, deleted on stop */
  dataDir?: string;
  /** A bucket to create at start (idempotent). @default - none */
  bucket?: string;
  /** More buckets to create at start (idempotent), e.g. the recordings bucket next to the feed bucket. */
  extraBuckets?: readonly string[];
  /** Log every request to stdout. @default false */
  verbose?: boolean;
}

/** An object-created notification (what an S3 event notification would carry). */
export interface LocalS3ObjectCreated {
  bucket: string;
  key: string;
}

/** A running local S3. */
export interface LocalS3 {
  /** `http://<host>:<port>` */
  readonly endpoint: string;
  readonly port: number;
  /** The bucket created at start, when one was asked for. */
  readonly bucket?: string;
  readonly dataDir: string;
  /** Calls `listener` after every Put/Post/Copy of an object; returns an unsubscribe function. */
  onObjectCreated(listener: (event: LocalS3ObjectCreated) => void): () => void;
  /** Stops the server (open connections included). Idempotent. */
  stop(): Promise<void>;
}

/** The local S3 could not start. */
export class LocalS3Error extends AppError {
  override readonly name = 'LocalS3Error';
  declare readonly code: 'LOCAL_S3_START_FAILED';
  constructor(message: string, options?: AppErrorOptions) {
    super('LOCAL_S3_START_FAILED', message, options);
  }
}

/** The part of s3rver's API we use (the package ships no types). */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: Server;
  on(
    event: 'event',
    listener: (e: {
      Records?: { s3?: { bucket?: { name?: string }; object?: { key?: string } }; eventName?: string }[];
    }) => void,
  ): void;
  off(event: 'event', listener: (...args: never[]) => void): void;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;

/** Starts s3rver on a loopback address. */
export async function startLocalS3(options: LocalS3Options = {}): Promise<LocalS3> {
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;
  const host = requireLoopbackHost('local S3 host', options.host ?? '127.0.0.1');
  const temporary = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'local-s3-'));
  makePrivateDir(dataDir);
  const server = new S3rver({
    address: host,
    port: options.port ?? 0,
    directory: dataDir,
    silent: options.verbose !== true,
    // Path-style only: vhost parsing would read "127" as a bucket name.
    vhostBuckets: false,
    configureBuckets: [...(options.bucket === undefined ? [] : [options.bucket]), ...(options.extraBuckets ?? [])].map(
      (name) => ({ name, configs: [] }),
    ),
  });
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (err) {
    if (temporary) rmSync(dataDir, { recursive: true, force: true });
    throw new LocalS3Error(`local S3 did not start: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  const endpoint = `http://${urlHost(host)}:${address.port}`;
  let stopped: Promise<void> | undefined;
  return {
    endpoint,
    port: address.port,
    ...(options.bucket !== undefined && { bucket: options.bucket }),
    dataDir,
    onObjectCreated(listener) {
      const onEvent = (e: Parameters<Parameters<S3rverInstance['on']>[1]>[0]) => {
        for (const r of e.Records ?? []) {
          const bucket = r.s3?.bucket?.name;
          const key = r.s3?.object?.key;
          if (r.eventName?.startsWith('ObjectCreated') && bucket !== undefined && key !== undefined) {
            listener({ bucket, key: decodeURIComponent(key.replace(/\+/g, ' ')) });
          }
        }
      };
      server.on('event', onEvent);
      return () => server.off('event', onEvent as (...args: never[]) => void);
    },
    stop() {
      stopped ??= (async () => {
        // SDK clients keep sockets alive; close them or close() waits for their idle timeout.
        server.httpServer?.closeAllConnections();
        await server.close().catch(() => undefined);
        if (temporary) rmSync(dataDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

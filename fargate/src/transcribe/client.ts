/**
 * The process-wide Transcribe Streaming client, built once by the composition root and injected into every
 * {@link SegmentStreamer}. The SDK's defaults already open one HTTP/2 connection per stream
 * (`disableConcurrentStreams`), which is what Transcribe expects (architecture.md §5).
 */
import { TranscribeStreamingClient } from '@aws-sdk/client-transcribe-streaming';
import type { Logger } from '../../../core/ports';

/** Settings of {@link createTranscribeClient} (from the gateway's `loadConfig()`). */
export interface TranscribeClientConfig {
  readonly region: string;
  /** A Transcribe-compatible endpoint (the local one). @default - the regional AWS endpoint */
  readonly endpoint?: string;
  /** Static credentials (local use). @default - the SDK's default provider chain (the task role) */
  readonly credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  readonly logger: Logger;
}

/** Creates the shared client; the SDK's own warnings go to our structured logger. */
export function createTranscribeClient(cfg: TranscribeClientConfig): TranscribeStreamingClient {
  const log = cfg.logger.child({ component: 'aws-sdk-transcribe' });
  const text = (args: unknown[]) => args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ');
  return new TranscribeStreamingClient({
    region: cfg.region,
    ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}),
    ...(cfg.credentials ? { credentials: cfg.credentials } : {}),
    logger: {
      debug: () => {},
      info: () => {},
      // Stream failures are logged (with context) by the streamer; keep the SDK's own lines at debug.
      warn: (...args: unknown[]) => log.debug({ sdk: text(args) }, 'aws sdk warning'),
      error: (...args: unknown[]) => log.debug({ sdk: text(args) }, 'aws sdk error'),
    },
  });
}

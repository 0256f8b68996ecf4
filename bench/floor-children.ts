/**
 * The two bare processes of the floor benchmark (bench/floor.ts), run as `npm run bench -- floor --child
 * sdk|echo`: N bare Transcribe SDK streams, and a bare `ws` AudioHook server. Each prints `ready` on stdout
 * once set up (the parent then samples the idle process) and runs until SIGTERM.
 */
import { randomUUID } from 'node:crypto';
import { StartStreamTranscriptionCommand, TranscribeStreamingClient } from '@aws-sdk/client-transcribe-streaming';
import { WebSocketServer } from 'ws';
import { MULAW_DECODE_TABLE } from '../core/audio/mulaw';
import { turnsCall } from './pipeline';

/** Chunk length of the bare streams: the gateway's default (`chunkMs`). */
const CHUNK_MS = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The call as interleaved stereo L16 (little-endian), as the gateway sends it to Transcribe. */
function callAsL16(durationMs: number): Uint8Array {
  const src = turnsCall(durationMs, 1500);
  const mulaw = src.read(0, src.durationSamples);
  const out = new Uint8Array(mulaw.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < mulaw.length; i++) view.setInt16(2 * i, MULAW_DECODE_TABLE[mulaw[i] as number] as number, true);
  return out;
}

/** `--child sdk`: N bare SDK streams of the call, started at `ramp` per second, until SIGTERM. */
export async function sdkChild(n: number, ramp: number, durationMs: number, endpoint: string): Promise<void> {
  const client = new TranscribeStreamingClient({
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const audio = callAsL16(durationMs);
  const chunkBytes = CHUNK_MS * 8 * 2 * 2;
  let stopping = false;
  process.stdout.write('ready\n');
  await sleep(1000); // the parent samples the idle process now
  process.once('SIGTERM', () => {
    stopping = true;
    setTimeout(() => process.exit(0), 2_000).unref();
  });
  async function* chunks(): AsyncGenerator<{ AudioEvent: { AudioChunk: Uint8Array } }> {
    const t0 = performance.now();
    for (let k = 0, off = 0; off < audio.length && !stopping; k++, off += chunkBytes) {
      const wait = t0 + k * CHUNK_MS - performance.now();
      if (wait > 0) await sleep(wait);
      yield { AudioEvent: { AudioChunk: audio.subarray(off, off + chunkBytes) } };
    }
  }
  const one = async () => {
    const res = await client.send(
      new StartStreamTranscriptionCommand({
        LanguageCode: 'en-US',
        MediaSampleRateHertz: 8000,
        MediaEncoding: 'pcm',
        SessionId: randomUUID(),
        EnableChannelIdentification: true,
        NumberOfChannels: 2,
        AudioStream: chunks(),
      }),
    );
    for await (const _ of res.TranscriptResultStream ?? []) {
      // results consumed and dropped: the floor does no work of its own
    }
  };
  const runs: Promise<void>[] = [];
  for (let i = 0; i < n && !stopping; i++) {
    runs.push(one());
    await sleep(1000 / ramp);
  }
  await Promise.allSettled(runs);
  client.destroy();
}

/**
 * `--child echo`: a bare `ws` server on the gateway's path, with no auth, state machine or audio
 * handling: `open` → `opened` (first offered medium), `ping` → `pong`, `close` → `closed`, binary counted.
 */
export async function echoChild(port: number): Promise<void> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port, path: '/api/v1/audiohook/ws', maxPayload: 65_536 });
  let bytes = 0;
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  process.stdout.write('ready\n');
  wss.on('connection', (ws) => {
    let seq = 0;
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        bytes += (data as Buffer).length;
        return;
      }
      const msg = JSON.parse(String(data)) as {
        id: string;
        type: string;
        seq: number;
        parameters?: { media?: unknown[] };
      };
      const reply = (type: string, parameters: Record<string, unknown>) =>
        ws.send(JSON.stringify({ version: '2', id: msg.id, type, seq: ++seq, clientseq: msg.seq, parameters }));
      if (msg.type === 'open') reply('opened', { media: msg.parameters?.media?.slice(0, 1) ?? [] });
      else if (msg.type === 'ping') reply('pong', {});
      else if (msg.type === 'close') reply('closed', {});
    });
  });
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  process.stderr.write(`echo server received ${bytes} audio bytes\n`);
  wss.close();
  process.exit(0);
}

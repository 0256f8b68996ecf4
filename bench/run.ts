/**
 * `npm run bench -- <name> [options]`: runs one benchmark and prints its report (ratios and
 * percentiles). Benchmarks run on loopback only and are bounded in time.
 */
const BENCHES: Record<string, { describe: string; load: () => Promise<{ main: (argv: string[]) => Promise<void> }> }> =
  {
    gateway: {
      describe: 'N concurrent real-time stereo AudioHook sessions against the gateway (null sink)',
      load: () => import('./gateway'),
    },
    export: {
      describe: 'export a day of N utterances (default 100k) from DynamoDB Local to a local S3: rows/s, peak RSS',
      load: () => import('./export'),
    },
    realtime: {
      describe: 'stored → webhook / WebSocket latency at 50 calls × 10 utterances/min, and the fan-out ceiling',
      load: () => import('./realtime'),
    },
    api: {
      describe: 'start / stop / GET messages (1,200 utterances) / status through the local API adapter: p50–p99, req/s',
      load: () => import('./api'),
    },
    pipeline: {
      describe: 'N concurrent sessions with transcription on (local Transcribe + DynamoDB Local)',
      load: () => import('./pipeline'),
    },
    floor: {
      describe:
        'the gateway vs the bare SDK (transcription, same endpoint and audio) and vs a bare ws server (protocol): CPU and memory per session, ratios',
      load: () => import('./floor'),
    },
    soak: {
      describe:
        'calls with start/stop, hold, pause, discard under seeded faults (Transcribe, DynamoDB, webhook, WebSocket, fan-out, gateway): lost / duplicated per output',
      load: () => import('./soak'),
    },
    partials: {
      describe:
        'audio → live partial on a WebSocket subscriber (p50–p99) for N real-time calls, and the gateway CPU with/without partials',
      load: () => import('./partials'),
    },
    sizing: {
      describe:
        'steps N transcribed sessions to the sizing rule (≤ 60 % of a core, event-loop p99 < 50 ms): sessions per task',
      load: () => import('./sizing'),
    },
  };

async function run(): Promise<void> {
  const [name, ...rest] = process.argv.slice(2);
  const bench = name ? BENCHES[name] : undefined;
  if (!bench) {
    const list = Object.entries(BENCHES)
      .map(([k, v]) => `  ${k.padEnd(10)} ${v.describe}`)
      .join('\n');
    process.stderr.write(`usage: npm run bench -- <name> [options]\n\nbenchmarks:\n${list}\n`);
    process.exit(name ? 2 : 0);
  }
  const mod = await bench.load();
  await mod.main(rest);
}

run().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

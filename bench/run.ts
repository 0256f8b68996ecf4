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

/**
 * The API benchmark's results: the table on stdout (with `--json`, the rows too) and
 * `.bench/api-<time>.json`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { ApiBenchRow } from './api-client';
import type { Options } from './api-options';
import { fmt, table } from './stats';

const ROOT = join(import.meta.dirname, '..');

/** What one run measured and the conditions it ran in. */
export interface ApiBenchResult {
  rows: ApiBenchRow[];
  options: Options;
  /** Utterances of the read fixture. */
  total: number;
  stopWaitMs: number;
  /** Load average (1 m) before and after the run. */
  loadBefore: number;
  loadAfter: number;
}

/** Prints the table (and with `--json` the rows) on stdout and writes the JSON file. */
export function writeReport({ rows, options: o, total, stopWaitMs, loadBefore, loadAfter }: ApiBenchResult): void {
  const errorText = (e: Record<string, number>) =>
    Object.entries(e)
      .map(([k, v]) => `${v}×${k}`)
      .join(' ') || '0';
  process.stdout.write(
    [
      '',
      `Control and retrieval API through the local adapter (${cpus().length} cores shared, load average ` +
        `${fmt(loadBefore, 1)} → ${fmt(loadAfter, 1)}; latency in ms, client-side)`,
      table(
        ['operation', 'in flight', 'n', 'errors', 'p50', 'p95', 'p99', 'max', 'req/s'],
        rows.map((r) => [
          r.operation,
          String(r.concurrency),
          String(r.count),
          errorText(r.errors),
          fmt(r.p50Ms, 1),
          fmt(r.p95Ms, 1),
          fmt(r.p99Ms, 1),
          fmt(r.maxMs, 1),
          r.perSec === null ? '—' : fmt(r.perSec, 0),
        ]),
      ),
      `Stop waits for the gateway's inbox poll (200 ms ± 20 %), the recognizer flush and the close, polled every ` +
        `100 ms (STOP_WAIT_MS ${stopWaitMs}); cycles hold ${o.holdMs} ms of streaming, so their rate is not a throughput (—).`,
      '',
    ].join('\n'),
  );
  const outDir = join(ROOT, '.bench');
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, `api-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        at: new Date().toISOString(),
        cores: cpus().length,
        loadAverage1m: { before: loadBefore, after: loadAfter },
        stopWaitMs,
        options: o,
        utterances: total,
        rows,
      },
      null,
      2,
    )}\n`,
  );
  if (o.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
  process.stderr.write(`results written to ${out}\n`);
}

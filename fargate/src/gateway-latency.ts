/**
 * The gateway's `open` → `opened` latency samples: the last {@link LATENCY_SAMPLES} values (a ring once
 * full), summarized as nearest-rank percentiles for metrics and benchmarks.
 */

const LATENCY_SAMPLES = 10_000;

/** A bounded window of latency samples, in milliseconds. */
export class LatencySamples {
  #samples: number[] = [];
  #next = 0;

  add(ms: number): void {
    if (this.#samples.length < LATENCY_SAMPLES) this.#samples.push(ms);
    else this.#samples[this.#next] = ms;
    this.#next = (this.#next + 1) % LATENCY_SAMPLES;
  }

  summary(): { p50: number | null; p99: number | null; count: number } {
    const sorted = [...this.#samples].sort((a, b) => a - b);
    return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), count: sorted.length };
  }

  reset(): void {
    this.#samples = [];
    this.#next = 0;
  }
}

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank] ?? null;
}

/** Entries kept in each per-container memory. */
const MEMORY_LIMIT = 50_000;

/**
 * A bounded insertion-ordered memory of what this container already did (Lambda retries usually land on
 * the same container), so a batch handed back after a partial failure does not re-send what went
 * through. At-least-once stays the contract; this only trims duplicates.
 */
export class DeliveryMemory<V> {
  private readonly map = new Map<string, V>();
  get(key: string): V | undefined {
    return this.map.get(key);
  }
  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > MEMORY_LIMIT) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
  }
}

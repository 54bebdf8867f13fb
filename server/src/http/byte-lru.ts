/**
 * Values bounded by their total size in bytes, least recently used dropped first (a Map keeps
 * insertion order: a hit moves its key to the back, eviction takes from the front). A value larger
 * than the whole bound is not kept.
 */
export class ByteLru<V> {
  readonly #entries = new Map<string, V>();
  readonly #sizeOf: (value: V) => number;
  #bytes = 0;
  readonly maxBytes: number;

  constructor(maxBytes: number, sizeOf: (value: V) => number) {
    this.maxBytes = maxBytes;
    this.#sizeOf = sizeOf;
  }

  /** The value, now the most recently used. */
  get(key: string): V | undefined {
    const value = this.#entries.get(key);
    if (value !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, value);
    }
    return value;
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /** Keeps `value` (unless it alone exceeds the bound) and drops the least recently used past it. */
  set(key: string, value: V): void {
    const size = this.#sizeOf(value);
    if (size > this.maxBytes) return;
    this.delete(key);
    this.#entries.set(key, value);
    this.#bytes += size;
    for (const oldest of this.#entries.keys()) {
      if (this.#bytes <= this.maxBytes) break;
      this.delete(oldest);
    }
  }

  delete(key: string): void {
    const value = this.#entries.get(key);
    if (value === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= this.#sizeOf(value);
  }

  /** Bytes held now, never above maxBytes. */
  get bytes(): number {
    return this.#bytes;
  }
}

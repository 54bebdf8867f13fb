/**
 * Group commit: items submitted while a batch is being written wait and go together in the next
 * one, so concurrent callers share one lock and one transaction instead of queueing one by one.
 * `write` answers one result per item, in order; its failure rejects every item of that batch.
 */
export class GroupCommit<T, R> {
  readonly #write: (batch: readonly T[]) => Promise<readonly R[]>;
  readonly #maxBatch: number;
  readonly #waiting: { item: T; resolve: (r: R) => void; reject: (e: Error) => void }[] = [];
  #writing = false;

  constructor(write: (batch: readonly T[]) => Promise<readonly R[]>, maxBatch = 1000) {
    this.#write = write;
    this.#maxBatch = maxBatch;
  }

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      if (!this.#writing) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#waiting.length > 0) {
        const batch = this.#waiting.splice(0, this.#maxBatch);
        try {
          const results = await this.#write(batch.map((w) => w.item));
          if (results.length !== batch.length)
            throw new Error(`group commit: ${results.length} results for ${batch.length} items`);
          batch.forEach((w, i) => w.resolve(results[i]!));
        } catch (err) {
          for (const w of batch) w.reject(err instanceof Error ? err : new Error(String(err)));
        }
      }
    } finally {
      this.#writing = false;
    }
  }
}

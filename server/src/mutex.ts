/** Serializes async critical sections in FIFO order. */
export class Mutex {
  #tail: Promise<unknown> = Promise.resolve();
  #waiting = 0;

  get pending(): number {
    return this.#waiting;
  }

  run<T>(fn: () => Promise<T>): Promise<T> {
    this.#waiting += 1;
    const result = this.#tail.then(fn, fn);
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result.finally(() => {
      this.#waiting -= 1;
    });
  }
}

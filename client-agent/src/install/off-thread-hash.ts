import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hash = createHash(workerData.algorithm);
const ring = new Uint8Array(workerData.ring);
parentPort.on('message', (msg) => {
  if (msg.type === 'block') {
    hash.update(ring.subarray(msg.slot * workerData.slotBytes, msg.slot * workerData.slotBytes + msg.length));
    parentPort.postMessage({ type: 'ack', slot: msg.slot });
  } else if (msg.type === 'digest') {
    parentPort.postMessage({ type: 'digest', hex: hash.digest('hex') });
  }
});
`;

type Reply = { type: 'ack'; slot: number } | { type: 'digest'; hex: string };

/** A streaming hash whose updates may complete later (on another thread). */
export interface AsyncHash {
  update(chunk: Uint8Array): Promise<void>;
  digest(): Promise<string>;
  close(): Promise<void>;
}

/** The same interface on the calling thread, for images too small to pay for a worker. */
export class InlineHash implements AsyncHash {
  readonly #hash: Hash;
  constructor(algorithm: string) {
    this.#hash = createHash(algorithm);
  }
  update(chunk: Uint8Array): Promise<void> {
    this.#hash.update(chunk);
    return Promise.resolve();
  }
  digest(): Promise<string> {
    return Promise.resolve(this.#hash.digest('hex'));
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * A hash computed on a worker thread, so that a second digest (sha512 beside sha256) runs on
 * another core instead of doubling the time of a single-pass install. Blocks go through a small
 * ring of shared memory, so memory stays flat however far the worker lags.
 */
export class OffThreadHash implements AsyncHash {
  readonly #worker: Worker;
  readonly #ring: Uint8Array;
  readonly #slotBytes: number;
  readonly #free: number[];
  #waiters: (() => void)[] = [];
  #digest: ((hex: string) => void) | undefined;
  #failed: Error | undefined;

  /** `slots` blocks of `slotBytes` in shared memory: no per-block allocation, bounded in flight. */
  constructor(algorithm: string, slots = 4, slotBytes = 1024 * 1024) {
    this.#slotBytes = slotBytes;
    const ring = new SharedArrayBuffer(slots * slotBytes);
    this.#ring = new Uint8Array(ring);
    this.#free = Array.from({ length: slots }, (_, i) => i);
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { algorithm, ring, slotBytes },
    });
    this.#worker.on('message', (msg: Reply) => {
      if (msg.type === 'ack') {
        this.#free.push(msg.slot);
        this.#wake();
      } else {
        this.#digest?.(msg.hex);
      }
    });
    this.#worker.on('error', (err: Error) => {
      this.#failed = err;
      this.#wake();
    });
  }

  #throwIfFailed(): void {
    if (this.#failed) throw this.#failed;
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  /** Copies the chunk into free ring slots for the worker; waits only while every slot is busy. */
  async update(chunk: Uint8Array): Promise<void> {
    for (let done = 0; done < chunk.length;) {
      this.#throwIfFailed();
      let slot = this.#free.shift();
      while (slot === undefined) {
        await new Promise<void>((resolve) => this.#waiters.push(resolve));
        this.#throwIfFailed();
        slot = this.#free.shift();
      }
      const length = Math.min(this.#slotBytes, chunk.length - done);
      this.#ring.set(chunk.subarray(done, done + length), slot * this.#slotBytes);
      this.#worker.postMessage({ type: 'block', slot, length });
      done += length;
    }
  }

  async digest(): Promise<string> {
    this.#throwIfFailed();
    return new Promise<string>((resolve, reject) => {
      this.#digest = resolve;
      this.#worker.once('error', reject);
      this.#worker.postMessage({ type: 'digest' });
    });
  }

  async close(): Promise<void> {
    await this.#worker.terminate();
  }
}

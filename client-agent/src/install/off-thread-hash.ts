import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hash = createHash(workerData.algorithm);
parentPort.on('message', (msg) => {
  if (msg.type === 'chunk') {
    hash.update(msg.chunk);
    parentPort.postMessage({ type: 'ack', bytes: msg.chunk.byteLength });
  } else if (msg.type === 'digest') {
    parentPort.postMessage({ type: 'digest', hex: hash.digest('hex') });
  }
});
`;

type Reply = { type: 'ack'; bytes: number } | { type: 'digest'; hex: string };

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
 * another core instead of doubling the time of a single-pass install. Chunks are copied to the
 * worker; at most `maxInFlightBytes` wait there, so memory stays flat when the worker lags.
 */
export class OffThreadHash implements AsyncHash {
  readonly #worker: Worker;
  readonly #maxInFlight: number;
  #inFlight = 0;
  #waiters: (() => void)[] = [];
  #digest: ((hex: string) => void) | undefined;
  #failed: Error | undefined;

  constructor(algorithm: string, maxInFlightBytes = 4 * 1024 * 1024) {
    this.#maxInFlight = maxInFlightBytes;
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { algorithm } });
    this.#worker.on('message', (msg: Reply) => {
      if (msg.type === 'ack') {
        this.#inFlight -= msg.bytes;
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

  /** Queues a chunk; waits only when too many bytes are still queued on the worker. */
  async update(chunk: Uint8Array): Promise<void> {
    this.#throwIfFailed();
    this.#inFlight += chunk.byteLength;
    this.#worker.postMessage({ type: 'chunk', chunk });
    while (this.#inFlight > this.#maxInFlight && !this.#failed) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    this.#throwIfFailed();
  }

  async digest(): Promise<string> {
    this.#throwIfFailed();
    const hex = await new Promise<string>((resolve, reject) => {
      this.#digest = resolve;
      this.#worker.once('error', reject);
      this.#worker.postMessage({ type: 'digest' });
    });
    return hex;
  }

  async close(): Promise<void> {
    await this.#worker.terminate();
  }
}

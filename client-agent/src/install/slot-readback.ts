import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { Config } from '../config.js';
import { AgentError } from '../error.js';
import type { SlotName, SlotStore, SlotWriter } from '../slots/slot-store.js';
import { DIRECT_IO_ALIGN } from '../slots/slot-file.js';
import type { ExpectedImage } from './image-io.js';

/** The read-back reads the slot this many bytes at a time. */
export const READBACK_BLOCK_BYTES = 256 * 1024;

/** Below this size a worker thread costs more than the sha512 read-back it would take over. */
const OFF_THREAD_MIN_BYTES = 4 * 1024 * 1024;

export function wantsReadbackWorker(
  length: number,
  config: Partial<Pick<Config, 'sha512Worker'>>,
): boolean {
  return config.sha512Worker === true && length >= OFF_THREAD_MIN_BYTES;
}

/**
 * Starts the read-back worker for an install of `length` bytes ahead of streamIntoSlot (its
 * `readbackWorker`), when the install will want one: it then boots while the last checks are
 * asked instead of at the start of the stream. The caller closes it if the install never starts.
 */
export function startReadbackWorker(
  length: number,
  config: Partial<Pick<Config, 'sha512Worker'>>,
): WorkerSlotReadback | undefined {
  return wantsReadbackWorker(length, config)
    ? new WorkerSlotReadback(READBACK_BLOCK_BYTES)
    : undefined;
}

/**
 * The read-back half of a single-pass install: follows the writer through the slot, reads every
 * byte back from it and hashes what the slot holds with sha512. The stream itself is hashed with
 * sha256 on its way in, so each of the two hashes TUF lists is checked, and the sha512 one is
 * checked against the slot's contents rather than against a buffer the agent still holds.
 */
export interface SlotReadback {
  /** Bytes the caller took from the slot itself (a resumed install): they are their own read-back. */
  kept(chunk: Uint8Array): void;
  /** [position, position + length) is now in the slot; the read-back may cover it. */
  written(position: number, length: number): Promise<void>;
  /** Waits until every written byte was read back; the sha512 of what the slot holds. */
  digest(): Promise<{ sha512: string; bytes: number }>;
  close(): Promise<void>;
}

/** On the calling thread, block by block, through SlotWriter.readBack. */
export class InlineSlotReadback implements SlotReadback {
  readonly #writer: SlotWriter;
  readonly #sha512: Hash = createHash('sha512');
  readonly #buffer: Buffer;
  #bytes = 0;

  constructor(writer: SlotWriter, blockBytes: number) {
    this.#writer = writer;
    this.#buffer = Buffer.allocUnsafe(blockBytes);
  }

  kept(chunk: Uint8Array): void {
    this.#sha512.update(chunk);
    this.#bytes += chunk.length;
  }

  async written(position: number, length: number): Promise<void> {
    for (let done = 0; done < length;) {
      const view = this.#buffer.subarray(0, Math.min(this.#buffer.length, length - done));
      const n = await this.#writer.readBack(position + done, view);
      this.#sha512.update(view.subarray(0, n));
      this.#bytes += n;
      if (n < view.length) return; // the slot holds fewer bytes than were written: short count
      done += n;
    }
  }

  digest(): Promise<{ sha512: string; bytes: number }> {
    return Promise.resolve({ sha512: this.#sha512.digest('hex'), bytes: this.#bytes });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/*
 * One shared 64-bit word carries the writer's progress: n >= 0 means bytes [0, n) are in the slot;
 * -n - 1 means the same and that no more will come. A single word keeps the wait free of lost
 * wake-ups: the worker only sleeps while the word still holds the value it acted on.
 *
 * Reads cover whole aligned blocks, into page-aligned memory, so that they work through a direct
 * (O_DIRECT) descriptor as well as a buffered one. A direct read waits on the device, so the next
 * block's read is in flight (libuv's pool) while this one is hashed.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { read } = require('node:fs');
const { blockBytes, align } = workerData;
let fd;
const progress = new BigInt64Array(workerData.progress);
const sha512 = createHash('sha512');
const windowBytes = blockBytes + 2 * align;
function allocate() {
  try {
    const pages = Math.ceil(windowBytes / 65536);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    return Buffer.from(memory.buffer, 0, windowBytes);
  } catch {
    return Buffer.allocUnsafe(windowBytes);
  }
}
const buffers = [allocate(), allocate()];
let spare = 0;
const availableOf = (word) => Number(word < 0n ? -word - 1n : word);

/** Reads the aligned window around [from, from + want) into the spare buffer. */
function readAt(from, want) {
  const buffer = buffers[spare];
  spare ^= 1;
  const start = from - (from % align);
  const end = Math.ceil((from + want) / align) * align;
  return new Promise((resolve, reject) =>
    read(fd, buffer, 0, end - start, start, (err, n) => {
      if (err) return reject(err);
      const skip = from - start;
      resolve({ buffer, skip, got: Math.max(0, Math.min(n - skip, want)) });
    }),
  );
}

async function run() {
  let position = 0;
  let next;
  for (;;) {
    let pending = next;
    next = undefined;
    if (!pending) {
      const word = Atomics.load(progress, 0);
      const available = availableOf(word);
      if (position >= available) {
        if (word < 0n) break;
        const wait = Atomics.waitAsync(progress, 0, word);
        if (wait.async) await wait.value;
        continue;
      }
      pending = readAt(position, Math.min(blockBytes, available - position));
    }
    const { buffer, skip, got } = await pending;
    if (got === 0) break; // the slot holds fewer bytes than were written
    const after = position + got;
    const available = availableOf(Atomics.load(progress, 0));
    if (after < available) next = readAt(after, Math.min(blockBytes, available - after));
    sha512.update(buffer.subarray(skip, skip + got));
    position = after;
  }
  if (next) await next.catch(() => undefined);
  return position;
}

// A pending Atomics.waitAsync does not keep Node's event loop alive; this timer does.
const keepAlive = setInterval(() => {}, 2 ** 30);
// Started before the slot is open: the slot's descriptor comes in a message.
parentPort.once('message', (message) => {
  fd = message.fd;
  run()
    .then(
      (bytes) => parentPort.postMessage({ sha512: sha512.digest('hex'), bytes }),
      (err) => parentPort.postMessage({ error: String((err && err.message) || err) }),
    )
    .finally(() => clearInterval(keepAlive));
});
`;

type WorkerReply = { sha512: string; bytes: number } | { error: string };

/**
 * On a worker thread that preads the slot through the writer's file descriptor, so that the
 * sha512 read-back runs on the second core while this thread receives, hashes (sha256) and writes.
 * Memory stays flat however far it lags: it reads from the slot, not from a queue of blocks.
 *
 * A worker takes ~90 ms of CPU to start (Node's bootstrap, on the agent's interpreter-only JS), so
 * it may be started before the slot is open, while the install's last checks are asked, and be
 * given the slot's descriptor with attach(). If the install does not happen, close() it.
 */
export class WorkerSlotReadback implements SlotReadback {
  readonly #progress: BigInt64Array;
  readonly #worker: Worker;
  readonly #reply: Promise<WorkerReply>;
  #written = 0;
  #attached = false;

  constructor(blockBytes: number) {
    const shared = new SharedArrayBuffer(8);
    this.#progress = new BigInt64Array(shared);
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { blockBytes, align: DIRECT_IO_ALIGN, progress: shared },
      // The worker holds two read windows and a hash: a small heap is plenty.
      resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 },
    });
    this.#reply = new Promise<WorkerReply>((resolve) => {
      this.#worker.once('message', (reply: WorkerReply) => resolve(reply));
      this.#worker.once('error', (err: Error) => resolve({ error: err.message }));
      this.#worker.once('exit', (code) =>
        resolve({ error: `slot read-back worker exited (${code}) before it answered` }),
      );
    });
  }

  /** Gives the worker the descriptor to read the slot through; once. */
  attach(fd: number): this {
    if (this.#attached) throw new Error('slot read-back worker is already attached');
    this.#attached = true;
    this.#worker.postMessage({ fd });
    return this;
  }

  /** The worker reads the kept prefix from the slot itself: only the progress moves. */
  kept(chunk: Uint8Array): void {
    void this.written(this.#written, chunk.length);
  }

  written(position: number, length: number): Promise<void> {
    // Blocks arrive in order and contiguous; anything else is a bug in the caller.
    if (position > this.#written) {
      throw new Error(`read-back gap: ${this.#written} then ${position}`);
    }
    this.#written = Math.max(this.#written, position + length);
    Atomics.store(this.#progress, 0, BigInt(this.#written));
    Atomics.notify(this.#progress, 0);
    return Promise.resolve();
  }

  async digest(): Promise<{ sha512: string; bytes: number }> {
    if (!this.#attached) throw new Error('slot read-back worker was never given the slot');
    Atomics.store(this.#progress, 0, -BigInt(this.#written) - 1n);
    Atomics.notify(this.#progress, 0);
    const reply = await this.#reply;
    if ('error' in reply) throw new Error(`slot read-back failed: ${reply.error}`);
    return reply;
  }

  /** Stops the worker (again is fine); the slot's descriptor must stay open until this resolves. */
  async close(): Promise<void> {
    await this.#worker.terminate();
  }
}

/** Reads the whole slot back through the writer's read-back path and hashes it. */
export async function readBackDigest(
  writer: SlotWriter,
  length: number,
  algorithm: 'sha256' | 'sha512',
): Promise<{ hex: string; bytes: number }> {
  const hash = createHash(algorithm);
  const buffer = Buffer.allocUnsafe(READBACK_BLOCK_BYTES);
  let at = 0;
  while (at < length) {
    const view = buffer.subarray(0, Math.min(buffer.length, length - at));
    const n = await writer.readBack(at, view);
    if (n === 0) break;
    hash.update(view.subarray(0, n));
    at += n;
  }
  return { hex: hash.digest('hex'), bytes: at };
}

/** Reads the slot back and checks it against the expected length and sha256. */
export async function verifySlotReadback(
  slots: SlotStore,
  slot: SlotName,
  expected: ExpectedImage,
): Promise<void> {
  const stored = await slots.storedBytes(slot);
  if (stored !== expected.length) {
    throw new AgentError(
      'READBACK_MISMATCH',
      `slot ${slot} holds ${stored} bytes, expected ${expected.length}`,
    );
  }
  if (!(await slotMatchesSha256(slots, slot, expected))) {
    throw new AgentError('READBACK_MISMATCH', `slot ${slot} does not read back as written`);
  }
}

/** sha256 suffices to show that the slot holds the bytes that were verified on the way in. */
async function slotMatchesSha256(
  slots: SlotStore,
  slot: SlotName,
  expected: ExpectedImage,
): Promise<boolean> {
  const sha256 = createHash('sha256');
  for await (const chunk of slots.readImage(slot, expected.length)) sha256.update(chunk);
  return sha256.digest('hex') === expected.sha256;
}

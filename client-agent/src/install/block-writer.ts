import type { SlotWriter } from '../slots/slot-store.js';
import type { SlotReadback } from './slot-readback.js';

/**
 * The image goes to the slot in blocks of WRITE_BLOCK_BYTES, filled in turn from a ring of BLOCKS
 * in the writer's own memory (aligned, for direct I/O), so that BLOCKS - 1 writes are in flight
 * while the next block fills: a direct write waits on the device, and one 256 KiB write at a time
 * left this thread waiting ~0.5 s per 256 MiB (bench). The read-back reads READBACK_BLOCK_BYTES at
 * a time (slot-readback.ts).
 */
export const WRITE_BLOCK_BYTES = 512 * 1024;
const BLOCKS = 3;

/**
 * Writes in flight may land out of order, so after a crash the slot may hold a later block without
 * an earlier one. A resume keeps only what lies this far before the end of what the slot holds.
 */
export const RESUME_DISTRUST_BYTES = (BLOCKS - 1) * WRITE_BLOCK_BYTES;

const GC_EVERY_BYTES = 1024 * 1024;

/**
 * Every this many bytes a background fsync of the slot starts (one at a time), so that the disk
 * takes the image while it downloads instead of all of it in the final fsync.
 */
const SYNC_EVERY_BYTES = 32 * 1024 * 1024;
const collectGarbage = (globalThis as { gc?: (opts: { type: 'minor' | 'major' }) => void }).gc;

/**
 * Every this many bytes the stream looks at what the heap holds right after a minor GC. Objects of
 * the blocks and network chunks in flight across two minor GCs are promoted (more of them when the
 * cores are contended), with the chunks' buffers, and V8 may not run a full GC until a long stream
 * ends: a 1 GiB install's peak RSS grew by up to ~5 MiB (bench). Once the heap and the buffers it
 * keeps alive hold HEAP_GROWTH_BYTES more than at the first look, a full GC (~20 ms) runs.
 */
const HEAP_CHECK_EVERY_BYTES = 16 * 1024 * 1024;
const HEAP_GROWTH_BYTES = 2 * 1024 * 1024;
const heldBytes = (): number => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

/**
 * Stages network chunks into blocks and writes each block to the slot, after which the read-back
 * (slot-readback.ts) may read it back from the slot. While a block is written, this thread hashes
 * it (sha256) and fills the next block of the ring, so that hashing, slot I/O and the network
 * overlap instead of taking turns: a block is refilled only once its own write and (inline)
 * read-back are done, BLOCKS - 1 blocks later. Each write starts as soon as its block is full (the
 * slot writer places blocks in call order); the read-back learns of them in order, once every
 * earlier write is done.
 */
export class SlotBlockWriter {
  readonly #writer: SlotWriter;
  readonly #readback: SlotReadback;
  readonly #blocks: Buffer[];
  readonly #inFlight: (Promise<void> | undefined)[];
  #io: Promise<void> = Promise.resolve();
  #ioError: Error | undefined;
  #current = 0;
  #staged = 0;
  #written: number;
  #sinceGc = 0;
  #sinceHeapCheck = 0;
  #heldBaseline: number | undefined;
  #sinceSync = 0;
  #syncing: Promise<void> | undefined;

  constructor(
    writer: SlotWriter,
    readback: SlotReadback,
    startOffset: number,
    length: number,
    blockBytes = WRITE_BLOCK_BYTES,
  ) {
    this.#writer = writer;
    this.#readback = readback;
    this.#written = startOffset;
    const size = Math.max(1, Math.min(blockBytes, WRITE_BLOCK_BYTES, length - startOffset));
    this.#blocks = Array.from(
      { length: BLOCKS },
      () => writer.allocateBlock?.(size) ?? Buffer.allocUnsafe(size),
    );
    this.#inFlight = this.#blocks.map(() => undefined);
  }

  /**
   * Stages a chunk. Returns undefined when it only filled the current block, else a promise that
   * settles once the full block(s) went out and the rest of the chunk is staged.
   */
  push(chunk: Uint8Array, hash: (block: Buffer) => void): Promise<void> | undefined {
    let rest = chunk;
    while (rest.length > 0) {
      const block = this.#blocks[this.#current] as Buffer;
      const n = Math.min(rest.length, block.length - this.#staged);
      block.set(rest.subarray(0, n), this.#staged);
      this.#staged += n;
      rest = rest.subarray(n);
      if (this.#staged === block.length) {
        const tail = rest;
        return this.flush(hash).then(() => this.push(tail, hash));
      }
    }
    return undefined;
  }

  /** Writes and hashes the staged bytes (if any); returns once the next block may be filled. */
  async flush(hash: (block: Buffer) => void): Promise<void> {
    if (this.#staged === 0) return;
    const i = this.#current;
    const block = (this.#blocks[i] as Buffer).subarray(0, this.#staged);
    const position = this.#written;
    // The write starts now, beside the ones still in flight; the read-back follows in order.
    const write = this.#unlessFailed(() => this.#writer.write(block));
    const io = this.#io
      .then(() => write)
      .then(() => this.#unlessFailed(() => this.#readback.written(position, block.length)));
    this.#io = io;
    this.#inFlight[i] = io;
    hash(block);
    this.#written += this.#staged;
    this.#sinceGc += this.#staged;
    this.#sinceSync += this.#staged;
    this.#staged = 0;
    this.#current = (i + 1) % this.#blocks.length;
    await this.#settle(this.#current);
    // Every network chunk is a fresh Buffer outside the JS heap; V8 only frees them after a GC,
    // which it starts on its own after ~64 MiB of them. With --expose-gc (bin/tufchain-agent)
    // a minor GC every MiB keeps that garbage, and so the peak RSS, small and flat.
    if (this.#sinceGc >= GC_EVERY_BYTES) {
      this.#sinceGc = 0;
      collectGarbage?.({ type: 'minor' });
      this.#sinceHeapCheck += GC_EVERY_BYTES;
      if (collectGarbage && this.#sinceHeapCheck >= HEAP_CHECK_EVERY_BYTES) {
        this.#sinceHeapCheck = 0;
        const held = heldBytes();
        this.#heldBaseline ??= held;
        if (held - this.#heldBaseline > HEAP_GROWTH_BYTES) {
          collectGarbage({ type: 'major' });
          this.#heldBaseline = Math.min(this.#heldBaseline, heldBytes());
        }
      }
    }
    if (this.#sinceSync >= SYNC_EVERY_BYTES && !this.#syncing) {
      this.#sinceSync = 0;
      this.#syncing = this.#writer
        .sync()
        .catch((err: unknown) => {
          this.#ioError ??= err instanceof Error ? err : new Error(String(err));
        })
        .finally(() => {
          this.#syncing = undefined;
        });
    }
  }

  /** Waits for every block's write (and inline read-back); throws the first write or read error. */
  async drain(): Promise<void> {
    for (let i = 0; i < this.#blocks.length; i++) await this.#settle(i);
    await this.#syncing;
    if (this.#ioError !== undefined) throw this.#ioError;
  }

  async #settle(i: number): Promise<void> {
    const io = this.#inFlight[i];
    this.#inFlight[i] = undefined;
    if (io) await io;
    if (this.#ioError !== undefined) throw this.#ioError;
  }

  /**
   * Runs one slot operation unless an earlier one failed. Never rejects: the first error is kept
   * and thrown by #settle, so none goes unhandled.
   */
  async #unlessFailed(op: () => Promise<void>): Promise<void> {
    if (this.#ioError !== undefined) return;
    try {
      await op();
    } catch (err) {
      this.#ioError ??= err instanceof Error ? err : new Error(String(err));
    }
  }
}

import { createHash, type Hash } from 'node:crypto';
import { InlineSlotReadback, WorkerSlotReadback, type SlotReadback } from './slot-readback.js';
import type { Dispatcher } from 'undici';
import { errors as undiciErrors } from '../util/undici.js';
import type { Config } from '../config.js';
import { AgentError } from '../error.js';
import type { SlotName, SlotStore, SlotWriter } from '../slots/slot-store.js';
import { backoffDelay, sleep } from '../util/retry.js';
import { RetrievalWatch } from '../util/retrieval.js';

/**
 * The image goes to the slot in blocks of WRITE_BLOCK_BYTES, filled in turn from a ring of BLOCKS
 * in the writer's own memory (aligned, for direct I/O), so that BLOCKS - 1 writes are in flight
 * while the next block fills: a direct write waits on the device, and one 256 KiB write at a time
 * left this thread waiting ~0.5 s per 256 MiB (bench). The read-back reads BLOCK_BYTES at a time.
 */
const BLOCK_BYTES = 256 * 1024;
const WRITE_BLOCK_BYTES = 512 * 1024;
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
class SlotBlockWriter {
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

  constructor(writer: SlotWriter, readback: SlotReadback, startOffset: number, length: number) {
    this.#writer = writer;
    this.#readback = readback;
    this.#written = startOffset;
    const size = Math.max(1, Math.min(WRITE_BLOCK_BYTES, length - startOffset));
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

/** Network chunks (~64 KiB each) that may wait while a block goes to the slot. */
const MAX_QUEUED_CHUNKS = 8;

/** Below this size a worker thread costs more than the sha512 read-back it would take over. */
const OFF_THREAD_MIN_BYTES = 4 * 1024 * 1024;

function wantsReadbackWorker(length: number, config: Partial<Pick<Config, 'sha512Worker'>>) {
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
  return wantsReadbackWorker(length, config) ? new WorkerSlotReadback(BLOCK_BYTES) : undefined;
}

export interface ExpectedImage {
  length: number;
  /** hex, no 0x */
  sha256: string;
  sha512: string;
}

export interface StreamInstallInput {
  url: string;
  slots: SlotStore;
  slot: SlotName;
  expected: ExpectedImage;
  dispatcher: Dispatcher;
  config: Pick<
    Config,
    | 'fetchRetries'
    | 'retryBaseDelayMs'
    | 'retryMaxDelayMs'
    | 'downloadResumes'
    | 'userAgent'
    | 'minDownloadBytesPerSecond'
    | 'downloadGraceMs'
  > &
    Partial<Pick<Config, 'sha512Worker'>>;
  /** Keep this many bytes already in the slot from an interrupted run and download the rest. */
  resumeFrom?: number;
  onProgress?: (received: number, total: number) => void;
  /** Called once the slot is open for this image, before the first byte is written. */
  onSlotOpened?: () => Promise<void>;
  /** A read-back worker from startReadbackWorker(); streamIntoSlot uses or closes it. */
  readbackWorker?: WorkerSlotReadback | undefined;
}

export interface StreamInstallResult {
  /** Bytes that came over the network in this call. */
  downloaded: number;
  /** Connection drops recovered with an HTTP Range request. */
  resumes: number;
}

function isNetworkDrop(err: unknown): boolean {
  if (err instanceof undiciErrors.UndiciError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' && /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|UND_ERR)/.test(code)
  );
}

function isTimeout(err: unknown): boolean {
  return (
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError ||
    err instanceof undiciErrors.ConnectTimeoutError
  );
}

class RetryableStatus extends Error {
  readonly statusCode: number;
  constructor(statusCode: number) {
    super(`server answered ${statusCode}`);
    this.statusCode = statusCode;
  }
}

/**
 * Single-pass install: streams the image from the network through sha256 and a length counter
 * straight into the slot, never past the length TUF promised (endless-data guard), resuming with
 * HTTP Range after a drop, while the read-back follows the writer through the slot and hashes what
 * it holds with sha512. Then the length and both hashes are checked against the TUF TargetFile:
 * sha256 of what came in, sha512 of what the slot holds (READBACK_MISMATCH when the slot is not the
 * image that came in). Nothing is buffered whole in memory and there is no temporary copy.
 */
export async function streamIntoSlot(input: StreamInstallInput): Promise<StreamInstallResult> {
  const { expected, slots, slot } = input;
  let resumeFrom = Math.min(input.resumeFrom ?? 0, expected.length);
  let writer: SlotWriter | undefined;
  let readback: SlotReadback | undefined;
  try {
    if (resumeFrom > 0) {
      const stored = await slots.storedBytes(slot);
      resumeFrom = Math.max(0, Math.min(resumeFrom, stored - RESUME_DISTRUST_BYTES));
    }
    writer = await slots.openForWrite(slot, { resumeFrom });
    await input.onSlotOpened?.();
    // sha512 of the slot may run on the second core for large images, when the slot has a
    // descriptor to read it through.
    if (writer.readBackFd !== undefined && wantsReadbackWorker(expected.length, input.config)) {
      readback = (input.readbackWorker ?? new WorkerSlotReadback(BLOCK_BYTES)).attach(
        writer.readBackFd,
      );
    } else {
      readback = new InlineSlotReadback(writer, BLOCK_BYTES);
    }
    const got = await streamHashed(input, writer, readback);
    if (got.sha256 !== expected.sha256) {
      throw new AgentError('TARGET_MISMATCH', 'image hashes differ from the TUF target');
    }
    if (got.slotBytes !== expected.length) {
      throw new AgentError(
        'READBACK_MISMATCH',
        `slot ${slot} reads back ${got.slotBytes} of ${expected.length} bytes`,
      );
    }
    if (got.slotSha512 !== expected.sha512) {
      // Rare path: tell a slot that does not hold what came in from an image that never matched
      // its signed sha512.
      const holdsStream = await readsBackSha256(writer, expected);
      throw holdsStream
        ? new AgentError('TARGET_MISMATCH', 'image hashes differ from the TUF target')
        : new AgentError('READBACK_MISMATCH', `slot ${slot} does not read back as written`);
    }
    return { downloaded: got.downloaded, resumes: got.resumes };
  } finally {
    // The read-back worker reads through the writer's descriptor: stop it before closing that.
    // A worker started ahead and not used is stopped too (closing twice is fine).
    await readback?.close();
    await input.readbackWorker?.close();
    await writer?.close();
  }
}

/** Reads the whole slot back through the writer's read-back path and hashes it. */
async function readBackDigest(
  writer: SlotWriter,
  length: number,
  algorithm: 'sha256' | 'sha512',
): Promise<{ hex: string; bytes: number }> {
  const hash = createHash(algorithm);
  const buffer = Buffer.allocUnsafe(BLOCK_BYTES);
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

/** Re-reads the slot through the same read-back path and checks it against the sha256 that came in. */
async function readsBackSha256(writer: SlotWriter, expected: ExpectedImage): Promise<boolean> {
  const got = await readBackDigest(writer, expected.length, 'sha256');
  return got.bytes === expected.length && got.hex === expected.sha256;
}

interface Streamed extends StreamInstallResult {
  /** sha256 of the bytes that came in (the kept prefix read from the slot, then the network). */
  sha256: string;
  /** sha512 of what the slot holds, read back, and how many bytes it read. */
  slotSha512: string;
  slotBytes: number;
}

async function streamHashed(
  input: StreamInstallInput,
  writer: SlotWriter,
  readback: SlotReadback,
): Promise<Streamed> {
  const { expected, slots, slot, config } = input;
  const sha256: Hash = createHash('sha256');
  let offset = writer.startOffset;
  let downloaded = 0;
  let resumes = 0;
  const blocks = new SlotBlockWriter(writer, readback, offset, expected.length);
  try {
    if (offset > 0) {
      for await (const chunk of slots.readImage(slot, offset)) {
        // Hashed straight from the slot: these bytes are their own read-back.
        sha256.update(chunk);
        readback.kept(chunk);
      }
    }
    const hashBlock = (block: Buffer): void => {
      sha256.update(block);
    };
    let failures = 0;
    while (offset < expected.length) {
      try {
        const got = await fetchRange(input, offset, (chunk) => {
          if (offset + chunk.length > expected.length) {
            throw new AgentError(
              'ENDLESS_DATA',
              `server sent more than the ${expected.length} bytes TUF promised`,
            );
          }
          offset += chunk.length;
          downloaded += chunk.length;
          input.onProgress?.(offset, expected.length);
          return blocks.push(chunk, hashBlock);
        });
        if (!got.complete || offset < expected.length) {
          throw new AgentError(
            'LENGTH_MISMATCH',
            `image ended after ${offset} of ${expected.length} bytes`,
          );
        }
      } catch (err) {
        if (err instanceof AgentError) throw err;
        // Keep what arrived: a resume (now or in a later cycle) starts after it.
        await blocks.flush(hashBlock);
        await blocks.drain();
        const retryable = isNetworkDrop(err) || err instanceof RetryableStatus;
        const budget =
          err instanceof RetryableStatus ? config.fetchRetries : config.downloadResumes;
        if (!retryable || failures >= budget) {
          if (err instanceof RetryableStatus) {
            throw new AgentError('DOWNLOAD_HTTP', `GET ${input.url}: ${err.message}`, {
              cause: err,
            });
          }
          throw new AgentError(
            isTimeout(err) ? 'DOWNLOAD_TIMEOUT' : 'DOWNLOAD_FAILED',
            `GET ${input.url} failed at byte ${offset}: ${(err as Error).message}`,
            { cause: err },
          );
        }
        failures += 1;
        if (!(err instanceof RetryableStatus)) resumes += 1;
        await sleep(
          backoffDelay(failures - 1, {
            baseDelayMs: config.retryBaseDelayMs,
            maxDelayMs: config.retryMaxDelayMs,
          }),
        );
      }
    }
    await blocks.flush(hashBlock);
    await blocks.drain();
    const [, slotHash] = await Promise.all([
      writer.sync(),
      // A read-back worker that could not run (no thread, no memory for its isolate) costs only
      // time: the same check is made here, on this thread, over the whole slot.
      readback.digest().catch(async () => {
        const inline = await readBackDigest(writer, expected.length, 'sha512');
        return { sha512: inline.hex, bytes: inline.bytes };
      }),
    ]);
    return {
      downloaded,
      resumes,
      sha256: sha256.digest('hex'),
      slotSha512: slotHash.sha512,
      slotBytes: slotHash.bytes,
    };
  } finally {
    await blocks.drain().catch(() => undefined);
  }
}

/**
 * GETs the image from `offset` through undici's dispatcher API, handing body chunks to `onChunk`
 * in order (no stream and async iterator per 64 KiB chunk: ~30% less CPU for the download on the
 * agent's interpreter-only JS). While a chunk's promise (a block going to the slot) is pending,
 * later chunks wait in a queue, and the response pauses once MAX_QUEUED_CHUNKS wait (a slot that
 * completes at once never pauses it: no stop and restart of socket reads per block). Returns complete=false when a 200 answer ended
 * early (a short image); rejects on network errors, after the chunk in progress is done, so that
 * the caller resumes after what it took. A request slower than the configured minimum rate (after
 * the grace period) is cut with DOWNLOAD_TOO_SLOW.
 */
function fetchRange(
  input: StreamInstallInput,
  offset: number,
  onChunk: (chunk: Buffer) => Promise<void> | undefined,
): Promise<{ complete: boolean }> {
  const url = new URL(input.url);
  const headers: Record<string, string> = { 'user-agent': input.config.userAgent };
  if (offset > 0) headers['range'] = `bytes=${offset}-`;
  return new Promise((resolve, reject) => {
    let controller: Dispatcher.DispatchController | undefined;
    // A server that ignores Range answers 200 with the whole image: skip what we already have.
    let skip = 0;
    let settled = false;
    let ended = false;
    let busy: Promise<void> | undefined;
    let failure: Error | undefined;
    const queue: Buffer[] = [];
    const watch = new RetrievalWatch(`GET ${input.url} from byte ${offset}`, input.config, (err) =>
      fail(err),
    );
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      watch.stop();
      const error = err instanceof Error ? err : new Error(String(err));
      if (controller && !controller.aborted) controller.abort(error);
      reject(error);
    };
    const drain = (): void => {
      while (!busy && !settled && !failure && queue.length > 0) {
        let pending: Promise<void> | undefined;
        try {
          pending = onChunk(queue.shift() as Buffer);
        } catch (err) {
          fail(err);
          return;
        }
        if (pending) {
          busy = pending;
          pending.then(() => {
            busy = undefined;
            drain();
          }, fail);
        }
      }
      if (!settled && controller?.paused && queue.length < MAX_QUEUED_CHUNKS) controller.resume();
      if (!busy && !settled && ended && queue.length === 0) {
        settled = true;
        watch.stop();
        resolve({ complete: skip === 0 });
      }
    };
    input.dispatcher.dispatch(
      { origin: url.origin, path: `${url.pathname}${url.search}`, method: 'GET', headers },
      {
        onRequestStart(c) {
          controller = c;
        },
        onResponseStart(_c, statusCode, resHeaders) {
          if (statusCode >= 500 || statusCode === 429) {
            fail(new RetryableStatus(statusCode));
          } else if (statusCode !== 200 && statusCode !== 206) {
            fail(new AgentError('DOWNLOAD_HTTP', `GET ${input.url} answered ${statusCode}`));
          } else if (statusCode === 206) {
            const range = /^bytes (\d+)-/.exec(String(resHeaders['content-range'] ?? ''));
            if (!range || Number(range[1]) !== offset) {
              fail(new AgentError('DOWNLOAD_HTTP', 'server answered a different byte range'));
            }
          } else {
            skip = offset;
          }
        },
        onResponseData(_c, data) {
          if (settled) return;
          watch.received(data.length);
          let chunk = data;
          if (skip > 0) {
            const n = Math.min(skip, chunk.length);
            skip -= n;
            chunk = chunk.subarray(n);
            if (chunk.length === 0) return;
          }
          queue.push(chunk);
          if (queue.length >= MAX_QUEUED_CHUNKS) controller?.pause();
          drain();
        },
        onResponseEnd() {
          ended = true;
          drain();
        },
        onResponseError(_c, err) {
          failure = err;
          if (busy) busy.then(() => fail(err), fail);
          else fail(err);
        },
      },
    );
  });
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

import { constants, read, readSync, write, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { SlotWriter } from './slot-store.js';

/**
 * Direct I/O transfers start and end on, and sit in memory at, multiples of this: it covers
 * devices with 512-byte and with 4 KiB logical blocks.
 */
export const DIRECT_IO_ALIGN = 4096;

const WASM_PAGE = 64 * 1024;

// The package compiles without the DOM library, which is where TypeScript declares WebAssembly.
const { WebAssembly: wasm } = globalThis as unknown as {
  WebAssembly: {
    Memory: new (descriptor: { initial: number; maximum: number }) => { buffer: ArrayBuffer };
  };
};

const alignDown = (n: number): number => n - (n % DIRECT_IO_ALIGN);
const alignUp = (n: number): number => alignDown(n + DIRECT_IO_ALIGN - 1);

/**
 * Page-aligned memory: a WebAssembly.Memory's buffer starts on a page (V8 maps it on its own),
 * which neither Buffer nor ArrayBuffer promise. Undefined when the engine cannot give one (no
 * address space for the reservation): the caller then uses ordinary memory and buffered I/O.
 */
export function allocateAligned(bytes: number): Buffer | undefined {
  try {
    const pages = Math.max(1, Math.ceil(bytes / WASM_PAGE));
    const memory = new wasm.Memory({ initial: pages, maximum: pages });
    return Buffer.from(memory.buffer, 0, bytes);
  } catch {
    return undefined;
  }
}

export interface SlotFileWriter extends SlotWriter {
  /** Whether the slot's blocks bypass the page cache (O_DIRECT). */
  readonly directIo: boolean;
  readonly readBackFd: number;
  allocateBlock(bytes: number): Buffer;
}

/**
 * Opens a slot file for an install. With `directIo` (and a file system that takes O_DIRECT), the
 * image's blocks go straight to the device and the read-back reads them from it, past the page
 * cache: the read-back then checks what the storage holds, not a cached copy of what was written,
 * a 1 GiB image does not push the vehicle's working set out of memory, and the final fsync has
 * only metadata left to flush. Whatever cannot go direct (a block not in the writer's aligned
 * memory, an unaligned tail or start) is written through the page cache on a second descriptor;
 * the kernel keeps the two coherent (a direct read first writes back cached dirty pages in its
 * range).
 *
 * `resumeFrom` keeps that many bytes already in the file (rounded down to DIRECT_IO_ALIGN in
 * direct mode, so that the blocks after it stay aligned); `startOffset` says how many were kept.
 */
export async function openSlotFile(
  path: string,
  opts: { resumeFrom: number; directIo: boolean },
): Promise<SlotFileWriter> {
  const fh: FileHandle = await open(path, opts.resumeFrom > 0 ? 'r+' : 'w+', 0o600);
  let direct: FileHandle | undefined;
  try {
    if (opts.directIo) {
      // EINVAL from file systems without O_DIRECT (tmpfs, some overlays): buffered it is.
      direct = await open(path, constants.O_RDWR | constants.O_DIRECT).catch(() => undefined);
    }
    const size = (await fh.stat()).size;
    const kept = Math.min(opts.resumeFrom, size);
    const startOffset = direct ? alignDown(kept) : kept;
    await fh.truncate(startOffset);
    return slotFileWriter(fh, direct, startOffset);
  } catch (err) {
    await direct?.close();
    await fh.close();
    throw err;
  }
}

function slotFileWriter(
  fh: FileHandle,
  direct: FileHandle | undefined,
  startOffset: number,
): SlotFileWriter {
  const aligned = new WeakSet<ArrayBufferLike>();
  let position = startOffset;
  let window: Buffer | undefined;
  // Cleared when the device refuses a direct transfer (EINVAL: a logical block larger than
  // DIRECT_IO_ALIGN) or no aligned memory is to be had: the rest goes through the page cache.
  let directOk = direct !== undefined;
  const refused = (err: unknown): boolean => {
    if ((err as { code?: unknown } | null)?.code !== 'EINVAL') return false;
    directOk = false;
    return true;
  };

  const isAligned = (chunk: Uint8Array): boolean =>
    aligned.has(chunk.buffer) && chunk.byteOffset % DIRECT_IO_ALIGN === 0;

  const writeDirect = (fd: number, chunk: Uint8Array, at: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const step = (done: number): void => {
        if (done >= chunk.length) return resolve();
        write(fd, chunk, done, chunk.length - done, at + done, (err, n) =>
          err ? reject(err) : step(done + n),
        );
      };
      step(0);
    });

  // Buffered writes and reads go to the page cache: a 256 KiB block copies in ~0.1 ms, less than
  // a round trip through libuv's thread pool costs on a busy dual core. Direct transfers wait on
  // the device instead, so they go through the pool and overlap with hashing (install/block-writer.ts).
  const writeBuffered = (chunk: Uint8Array, at: number): void => {
    for (let done = 0; done < chunk.length;) {
      done += writeSync(fh.fd, chunk, done, chunk.length - done, at + done);
    }
  };

  const readDirect = (at: number, into: Uint8Array, n: number): Promise<number> =>
    new Promise((resolve, reject) => {
      read((direct as FileHandle).fd, into, 0, n, at, (err, got) =>
        err ? reject(err) : resolve(got),
      );
    });

  const readBuffered = (at: number, into: Uint8Array): number => {
    let done = 0;
    while (done < into.length) {
      const n = readSync(fh.fd, into, done, into.length - done, at + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  };

  /** Direct reads cover whole aligned blocks: the window around the range, copied out. */
  const readBackDirect = async (at: number, into: Uint8Array): Promise<number | undefined> => {
    let done = 0;
    while (done < into.length) {
      const from = at + done;
      const start = alignDown(from);
      const span = Math.min(alignUp(at + into.length) - start, 1024 * 1024);
      if (!window || window.length < span) window = allocateAligned(span);
      if (!window) return undefined;
      const got = await readDirect(start, window, span);
      const skip = from - start;
      if (got <= skip) break;
      const n = Math.min(got - skip, into.length - done);
      into.set(window.subarray(skip, skip + n), done);
      done += n;
      if (got < span) break;
    }
    return done;
  };

  return {
    startOffset,
    get directIo() {
      return directOk;
    },
    readBackFd: (direct ?? fh).fd,
    allocateBlock(bytes: number): Buffer {
      const block = direct ? allocateAligned(bytes) : undefined;
      if (!block) return Buffer.allocUnsafe(bytes);
      aligned.add(block.buffer);
      return block;
    },
    async write(chunk: Uint8Array): Promise<void> {
      const at = position;
      position += chunk.length;
      let rest = chunk;
      if (direct && directOk && at % DIRECT_IO_ALIGN === 0 && isAligned(chunk)) {
        const whole = alignDown(chunk.length);
        try {
          if (whole > 0) await writeDirect(direct.fd, chunk.subarray(0, whole), at);
          rest = chunk.subarray(whole);
        } catch (err) {
          if (!refused(err)) throw err;
        }
      }
      if (rest.length > 0) writeBuffered(rest, position - rest.length);
    },
    async readBack(at: number, into: Uint8Array): Promise<number> {
      if (directOk) {
        try {
          const got = await readBackDirect(at, into);
          if (got !== undefined) return got;
          directOk = false;
        } catch (err) {
          if (!refused(err)) throw err;
        }
      }
      // The page cache holds no stale copy of directly written blocks: the kernel drops it.
      return readBuffered(at, into);
    },
    sync: () => fh.sync(),
    async close(): Promise<void> {
      await direct?.close();
      await fh.close();
    },
  };
}

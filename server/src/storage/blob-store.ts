import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { ServerError } from '../error.js';
import type { BlobRecord } from './store.js';

/** Content-addressed blob storage; blobs are named by their sha256. */
export interface BlobStore {
  /** Streams `source` to storage, hashing as it goes; never buffers it whole. */
  write(
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    opts: { maxBytes: number },
  ): Promise<BlobRecord>;
  /** Stores small in-memory content (e.g. an attestation bundle). */
  writeBytes(bytes: Uint8Array): Promise<BlobRecord>;
  has(sha256: string): Promise<boolean>;
  /** A whole blob in memory: for the small ones (bundles, delta bases) and the cached targets. */
  read(sha256: string): Promise<Buffer>;
  open(sha256: string, range?: { start: number; end: number }): Readable;
}

const hexSha256 = /^[0-9a-f]{64}$/;
const READ_CHUNK_BYTES = 1024 * 1024;
/** A temp file untouched this long belongs to no write still running, on any replica. */
export const STALE_TEMP_MS = 24 * 3600 * 1000;

export class FileBlobStore implements BlobStore {
  readonly #dir: string;
  readonly #tmpDir: string;

  private constructor(dir: string) {
    this.#dir = dir;
    this.#tmpDir = join(dir, 'tmp');
  }

  static async open(dir: string, now = Date.now()): Promise<FileBlobStore> {
    const store = new FileBlobStore(dir);
    await mkdir(store.#tmpDir, { recursive: true });
    await store.#dropStaleTemps(now);
    return store;
  }

  /**
   * Drops leftovers of writes a crash interrupted (never referenced). Replicas share this
   * directory, and another one may be writing right now, so only stale files go.
   */
  async #dropStaleTemps(now: number): Promise<void> {
    for (const name of await readdir(this.#tmpDir)) {
      const path = join(this.#tmpDir, name);
      const info = await stat(path).catch(() => undefined);
      if (info && now - info.mtimeMs > STALE_TEMP_MS)
        await rm(path, { recursive: true, force: true });
    }
  }

  #pathOf(sha256: string): string {
    if (!hexSha256.test(sha256)) throw new ServerError('INVALID_NAME', 'not a sha256 digest');
    return join(this.#dir, sha256.slice(0, 2), sha256);
  }

  async write(
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    opts: { maxBytes: number },
  ): Promise<BlobRecord> {
    const tmp = join(this.#tmpDir, randomUUID());
    const handle = await open(tmp, 'wx', 0o644);
    const sha256 = createHash('sha256');
    const sha512 = createHash('sha512');
    let length = 0;
    let committed = false;
    try {
      for await (const chunk of source) {
        length += chunk.byteLength;
        if (length > opts.maxBytes) {
          throw new ServerError('PAYLOAD_TOO_LARGE', `body exceeds ${opts.maxBytes} bytes`);
        }
        sha256.update(chunk);
        sha512.update(chunk);
        let offset = 0;
        while (offset < chunk.byteLength) {
          const { bytesWritten } = await handle.write(chunk, offset);
          offset += bytesWritten;
        }
      }
      await handle.sync();
      await handle.close();
      const record = { sha256: sha256.digest('hex'), sha512: sha512.digest('hex'), length };
      const finalPath = this.#pathOf(record.sha256);
      await mkdir(join(this.#dir, record.sha256.slice(0, 2)), { recursive: true });
      await rename(tmp, finalPath);
      committed = true;
      await syncDir(join(this.#dir, record.sha256.slice(0, 2)));
      return record;
    } finally {
      if (!committed) {
        await handle.close().catch(() => undefined);
        await rm(tmp, { force: true });
      }
    }
  }

  writeBytes(bytes: Uint8Array): Promise<BlobRecord> {
    return this.write([bytes], { maxBytes: bytes.byteLength });
  }

  async has(sha256: string): Promise<boolean> {
    try {
      await stat(this.#pathOf(sha256));
      return true;
    } catch {
      return false;
    }
  }

  async read(sha256: string): Promise<Buffer> {
    // Not a stream: a ReadStream allocates a whole highWaterMark buffer per read, and a 1 MiB
    // buffer behind each 256-byte blob made V8 collect its old space ~300 times while a
    // 1,000-image release read its delta bases (bench:server).
    return readFile(this.#pathOf(sha256));
  }

  open(sha256: string, range?: { start: number; end: number }): Readable {
    // 1 MiB reads: each read is a round trip to libuv's thread pool, and 64 KiB ones (the
    // default) leave a 1 MiB range request waiting on sixteen of them.
    return createReadStream(this.#pathOf(sha256), {
      highWaterMark: READ_CHUNK_BYTES,
      ...(range ? { start: range.start, end: range.end } : {}),
    });
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

import { createHash } from 'node:crypto';
import type { ZstdDecompress } from 'node:zlib';
import {
  createDeltaDecompressor,
  decodeDeltaHeader,
  DELTA_HEADER_BYTES,
  DeltaOpParser,
  TransparencyError,
  type DeltaHeader,
  type DeltaOp,
} from '@tufchain/transparency/delta';
import { AgentError } from '../error.js';
import type { SlotReader } from '../slots/slot-store.js';
import type { ChunkHandler, ImageSource } from './image-io.js';
import { HttpRangeSource, type RangeRequest } from './range-fetch.js';

/** COPY ranges are read from the base this many bytes at a time, into one reused buffer. */
const COPY_READ_BYTES = 256 * 1024;
const BASE_HASH_READ_BYTES = 1024 * 1024;

/** The delta as TUF lists it. */
export interface DeltaRef {
  url: string;
  length: number;
  /** hex, no 0x */
  sha256: string;
}

export interface DeltaSourceInput {
  delta: DeltaRef;
  /** The active slot, opened for reads, and the image its state says it holds. */
  base: { reader: SlotReader; length: number; sha256: string };
  /** The image the delta must build (TUF's). */
  target: { length: number; sha256: string };
  request: Omit<RangeRequest, 'url'>;
  /**
   * Hash the active slot before downloading (default true): a modified base is then refused at
   * once with DELTA_BASE_MISMATCH instead of after the download, by the final hash check.
   */
  verifyBase?: boolean;
}

/**
 * The new image, rebuilt from a delta (@tufchain/transparency/delta) while it downloads: the delta
 * comes over HTTP (Range resumes after a drop, range-fetch.ts) through the zstd decoder into the
 * op parser; COPYs are pread from the active slot, ADDs come from the delta, and both go on to
 * the stream's sink in order. Only the zstd window (8 MiB at most), one read buffer and the
 * chunks in flight are held. Codes: DELTA_MALFORMED, DELTA_TRUNCATED, DELTA_BASE_MISMATCH,
 * DELTA_TARGET_MISMATCH (the delta is not the one TUF lists), DELTA_UNAVAILABLE, and the
 * download's own.
 */
export class DeltaImageSource implements ImageSource {
  readonly #input: DeltaSourceInput;
  #fetched = 0;

  constructor(input: DeltaSourceInput) {
    this.#input = input;
  }

  /** Bytes of the delta that came over the network. */
  get fetched(): number {
    return this.#fetched;
  }

  async read(from: number, _length: number, onChunk: ChunkHandler): Promise<{ resumes: number }> {
    const { delta, base, request } = this.#input;
    if (from !== 0) {
      throw new AgentError('DELTA_UNAVAILABLE', 'a delta cannot continue an interrupted slot');
    }
    if (this.#input.verifyBase ?? true) await assertBaseHolds(base);
    const deltaHash = createHash('sha256');
    const head: Buffer[] = [];
    let headBytes = 0;
    let applying: OpApplier | undefined;
    const onDeltaChunk: ChunkHandler = (chunk) => {
      applying?.throwIfFailed();
      if (this.#fetched + chunk.length > delta.length) {
        throw new AgentError(
          'ENDLESS_DATA',
          `delta is longer than the ${delta.length} bytes TUF lists`,
        );
      }
      this.#fetched += chunk.length;
      deltaHash.update(chunk);
      if (applying) return applying.write(chunk);
      head.push(chunk);
      headBytes += chunk.length;
      if (headBytes < DELTA_HEADER_BYTES) return undefined;
      const all = Buffer.concat(head);
      applying = new OpApplier(this.#checkHeader(all), base.reader, onChunk);
      return applying.write(all.subarray(DELTA_HEADER_BYTES));
    };
    const source = new HttpRangeSource({ ...request, url: delta.url });
    let resumes: number;
    try {
      // A drop resumes the delta where it stopped: the decoder's state lives on in this process.
      ({ resumes } = await source.read(0, delta.length, onDeltaChunk, () => Promise.resolve()));
      if (!applying || this.#fetched < delta.length) {
        throw new AgentError(
          'DELTA_TRUNCATED',
          `delta ended after ${this.#fetched} of ${delta.length} bytes`,
        );
      }
      if (deltaHash.digest('hex') !== delta.sha256) {
        throw new AgentError('DELTA_TARGET_MISMATCH', 'delta hashes differ from its TUF target');
      }
      await applying.end();
    } finally {
      applying?.destroy();
    }
    return { resumes };
  }

  #checkHeader(bytes: Buffer): DeltaHeader {
    const { base, target } = this.#input;
    const header = asAgentError(() => decodeDeltaHeader(bytes));
    if (header.base.sha256 !== base.sha256 || header.base.length !== base.length) {
      throw new AgentError('DELTA_BASE_MISMATCH', 'the delta is for another base image');
    }
    if (header.target.sha256 !== target.sha256 || header.target.length !== target.length) {
      throw new AgentError('DELTA_MALFORMED', 'the delta builds another image than the target');
    }
    return header;
  }
}

/** Decompresses the op stream and applies each op as it is known. */
class OpApplier {
  readonly #zstd: ZstdDecompress;
  readonly #done: Promise<void>;
  #failure: AgentError | undefined;

  constructor(header: DeltaHeader, base: SlotReader, onChunk: ChunkHandler) {
    this.#zstd = createDeltaDecompressor();
    // Errors reach the loop below; this keeps a write after a failure from throwing elsewhere.
    this.#zstd.on('error', () => undefined);
    this.#done = applyOps(this.#zstd, new DeltaOpParser(header), base, onChunk).catch(
      (err: unknown) => {
        this.#failure = toAgentError(err);
        throw this.#failure;
      },
    );
    this.#done.catch(() => undefined);
  }

  throwIfFailed(): void {
    if (this.#failure) throw this.#failure;
  }

  /** Feeds compressed bytes; a promise while the decoder is full (no more network until then). */
  write(chunk: Buffer): Promise<void> | undefined {
    if (chunk.length === 0 || this.#zstd.write(chunk)) return undefined;
    return new Promise<void>((resolve, reject) => {
      this.#zstd.once('drain', resolve);
      this.#done.then(
        () => reject(new AgentError('DELTA_MALFORMED', 'delta ops ended before the delta')),
        reject,
      );
    });
  }

  async end(): Promise<void> {
    this.#zstd.end();
    await this.#done;
  }

  destroy(): void {
    this.#zstd.destroy();
  }
}

async function applyOps(
  zstd: ZstdDecompress,
  parser: DeltaOpParser,
  base: SlotReader,
  onChunk: ChunkHandler,
): Promise<void> {
  const copyBuffer = Buffer.allocUnsafe(COPY_READ_BYTES);
  const ops: DeltaOp[] = [];
  const collect = (op: DeltaOp): void => {
    ops.push(op);
  };
  for await (const out of zstd as AsyncIterable<Buffer>) {
    parser.feed(out, collect);
    for (const op of ops) {
      if (op.kind === 'add') {
        await onChunk(Buffer.from(op.bytes.buffer, op.bytes.byteOffset, op.bytes.length));
        continue;
      }
      // The sink may hold on to a chunk until its promise settles: the buffer is reused after.
      for (let done = 0; done < op.length;) {
        const view = copyBuffer.subarray(0, Math.min(copyBuffer.length, op.length - done));
        const got = await readBase(base, op.offset + done, view);
        if (got < view.length) {
          throw new AgentError('DELTA_BASE_MISMATCH', 'the active slot is shorter than the base');
        }
        await onChunk(view);
        done += got;
      }
    }
    ops.length = 0;
  }
  parser.finish();
}

async function readBase(base: SlotReader, position: number, into: Buffer): Promise<number> {
  try {
    return await base.read(position, into);
  } catch (err) {
    throw new AgentError('DELTA_UNAVAILABLE', 'the active slot could not be read', { cause: err });
  }
}

/** The active slot holds the image its state names, byte for byte. */
async function assertBaseHolds(base: DeltaSourceInput['base']): Promise<void> {
  const sha256 = createHash('sha256');
  const buffer = Buffer.allocUnsafe(BASE_HASH_READ_BYTES);
  let at = 0;
  while (at < base.length) {
    const view = buffer.subarray(0, Math.min(buffer.length, base.length - at));
    const got = await readBase(base.reader, at, view);
    if (got === 0) break;
    sha256.update(view.subarray(0, got));
    at += got;
  }
  if (at !== base.length || sha256.digest('hex') !== base.sha256) {
    throw new AgentError('DELTA_BASE_MISMATCH', 'the active slot does not hold its recorded image');
  }
}

function asAgentError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toAgentError(err);
  }
}

function toAgentError(err: unknown): AgentError {
  if (err instanceof AgentError) return err;
  if (err instanceof TransparencyError && err.code === 'DELTA_TRUNCATED') {
    return new AgentError('DELTA_TRUNCATED', err.message, { cause: err });
  }
  // The parser's DELTA_MALFORMED, and zstd's own errors (a corrupt frame, a window over 8 MiB).
  return new AgentError('DELTA_MALFORMED', `delta: ${(err as Error).message}`, { cause: err });
}

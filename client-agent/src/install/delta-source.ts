import { createHash } from 'node:crypto';
import type { ZstdDecompress } from 'node:zlib';
import {
  createDeltaDecompressor,
  decodeDeltaHeader,
  DELTA_HEADER_BYTES,
  DeltaOpParser,
  TransparencyError,
  type DeltaHeader,
  type DeltaOpHandler,
} from '@tufchain/transparency/delta';
import { AgentError } from '../error.js';
import type { SlotReader } from '../slots/slot-store.js';
import type { ChunkHandler, ImageSource } from './image-io.js';
import { HttpRangeSource, type RangeRequest } from './range-fetch.js';

/**
 * The rebuilt image goes to the sink in pieces of this size (the sink's own blocks are 512 KiB);
 * 64 KiB rather than 256 KiB: -0.3 MiB peak RSS, no slower (bench:delta).
 */
const STAGE_BYTES = 64 * 1024;
/**
 * The base is read through BASE_WINDOWS cached windows of BASE_WINDOW_BYTES (256 KiB in all); a
 * read of a whole aligned window or more goes straight to the stage. COPYs of a tree of edited
 * files jump around the base in small steps: on bench:delta's npm-upgrade pair (37,000 COPYs),
 * 4 x 256 KiB windows read 1 GB from the slot; 64 x 16 KiB 2,400 reads, 37 MiB through the
 * windows; 64 x 4 KiB 6,500 reads, 25 MiB, for the same time and 768 KiB less peak RSS.
 */
const BASE_WINDOW_BYTES = 4 * 1024;
const BASE_WINDOWS = 64;
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
   * Also hash the whole active slot while the delta applies (default false): a modified base is
   * then refused with DELTA_BASE_MISMATCH before the slot is sealed. Without it, the final check
   * of the rebuilt image against the target's hashes refuses it (TARGET_MISMATCH), which
   * installIntoSlot then tells apart by hashing the base (baseHolds). Off by default: ~100 ms of
   * CPU per 100 MiB on every install, for a case the final check covers anyway (bench:delta).
   */
  verifyBase?: boolean;
}

/**
 * The new image, rebuilt from a delta (@tufchain/transparency/delta) while it downloads: the delta
 * comes over HTTP (Range resumes after a drop, range-fetch.ts) through the zstd decoder into the
 * op parser; COPYs are pread from the active slot, ADDs come from the delta, and both go on to
 * the stream's sink in order. Only the zstd window (512 KiB as the server makes deltas, 2 MiB at most), a 64 KiB stage, 256 KiB
 * of base windows and the chunks in flight are held; no object per op. Codes: DELTA_MALFORMED, DELTA_TRUNCATED, DELTA_BASE_MISMATCH,
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
    // When asked, the active slot is hashed while the delta downloads and applies (their I/O
    // waits overlap); a base that is not the image is refused before the slot is sealed.
    let baseFailure: AgentError | undefined;
    const baseCheck = this.#input.verifyBase === true ? assertBaseHolds(base) : undefined;
    baseCheck?.catch((err: unknown) => {
      baseFailure = toAgentError(err);
    });
    const deltaHash = createHash('sha256');
    const head: Buffer[] = [];
    let headBytes = 0;
    let applying: OpApplier | undefined;
    const onDeltaChunk: ChunkHandler = (chunk) => {
      if (baseFailure) throw baseFailure;
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
      await baseCheck;
      await applying.end();
    } finally {
      applying?.destroy();
      await baseCheck?.catch(() => undefined);
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
  // No object per op (tens of thousands of them, on the interpreter): the parser calls the
  // assembler directly and stops after an op the assembler could not finish at once.
  const out = new TargetAssembler(new BaseWindows(base), onChunk);
  for await (const bytes of zstd as AsyncIterable<Buffer>) {
    let at = 0;
    while (at < bytes.length) {
      at = parser.feedFrom(bytes, at, out);
      const wait = parser.takeWait();
      if (wait) await wait;
    }
  }
  parser.finish();
  await out.flush();
}

/**
 * Gathers the rebuilt image into STAGE_BYTES pieces before they go to the sink: a delta of
 * edited files has tens of thousands of small ops (bench: 65,000 in 34 MiB), and a sink call
 * per op cost more than the whole full-image install. add() and copy() return undefined when
 * they are done at once, else a promise.
 */
class TargetAssembler implements DeltaOpHandler {
  readonly #base: BaseWindows;
  readonly #onChunk: ChunkHandler;
  readonly #stage = Buffer.allocUnsafe(STAGE_BYTES);
  #staged = 0;

  constructor(base: BaseWindows, onChunk: ChunkHandler) {
    this.#base = base;
    this.#onChunk = onChunk;
  }

  add(chunk: Uint8Array, start: number, end: number): Promise<void> | undefined {
    const length = end - start;
    if (length < this.#stage.length - this.#staged) {
      if (Buffer.isBuffer(chunk)) chunk.copy(this.#stage, this.#staged, start, end);
      else this.#stage.set(chunk.subarray(start, end), this.#staged);
      this.#staged += length;
      return undefined;
    }
    // The chunk is the decoder's and stays as it is until the promise settles.
    return this.#addSlowly(chunk.subarray(start, end));
  }

  copy(offset: number, length: number): Promise<void> | undefined {
    if (length < this.#stage.length - this.#staged) {
      const at = this.#staged;
      this.#staged += length;
      if (this.#base.copyNow(offset, length, this.#stage, at)) return undefined;
      return this.#base.read(offset, this.#stage.subarray(at, at + length));
    }
    return this.#copySlowly(offset, length);
  }

  /** The sink may hold on to a chunk until its promise settles: the stage is reused after. */
  async flush(): Promise<void> {
    if (this.#staged === 0) return;
    const chunk = this.#stage.subarray(0, this.#staged);
    this.#staged = 0;
    await this.#onChunk(chunk);
  }

  async #addSlowly(bytes: Uint8Array): Promise<void> {
    for (let done = 0; done < bytes.length;) {
      const n = Math.min(bytes.length - done, this.#stage.length - this.#staged);
      this.#stage.set(bytes.subarray(done, done + n), this.#staged);
      this.#staged += n;
      done += n;
      if (this.#staged === this.#stage.length) await this.flush();
    }
  }

  async #copySlowly(offset: number, length: number): Promise<void> {
    for (let done = 0; done < length;) {
      const n = Math.min(length - done, this.#stage.length - this.#staged);
      await this.#base.read(offset + done, this.#stage.subarray(this.#staged, this.#staged + n));
      this.#staged += n;
      done += n;
      if (this.#staged === this.#stage.length) await this.flush();
    }
  }
}

interface BaseWindow {
  start: number;
  bytes: number;
  data: Buffer;
}

/**
 * Reads of the base through cached aligned windows, direct-mapped by window number: one pread
 * per window instead of one per COPY. A read of a whole window or more goes straight to its
 * destination.
 */
class BaseWindows {
  readonly #reader: SlotReader;
  readonly #windows: BaseWindow[] = Array.from({ length: BASE_WINDOWS }, () => ({
    start: -1,
    bytes: 0,
    data: Buffer.allocUnsafe(BASE_WINDOW_BYTES),
  }));

  constructor(reader: SlotReader) {
    this.#reader = reader;
  }

  /**
   * Fills `into` at once when one window holds all of it: a cached one, or one read now when the
   * reader can read synchronously (bench:delta's npm-upgrade pair: 2,100 window reads, each
   * ~5x faster than through the thread pool). False when it cannot.
   */
  copyNow(position: number, length: number, into: Buffer, at: number): boolean {
    const from = position % BASE_WINDOW_BYTES;
    const start = position - from;
    const w = this.#slot(start);
    if (w.start !== start && this.#reader.readSync && from + length <= BASE_WINDOW_BYTES) {
      w.start = -1;
      w.bytes = readBaseSync(this.#reader, start, w.data);
      w.start = start;
    }
    if (w.start !== start || from + length > w.bytes) return false;
    w.data.copy(into, at, from, from + length);
    return true;
  }

  async read(position: number, into: Buffer): Promise<void> {
    let done = 0;
    while (done < into.length) {
      const at = position + done;
      const want = into.length - done;
      const start = at - (at % BASE_WINDOW_BYTES);
      if (want >= BASE_WINDOW_BYTES && at === start) {
        const view = into.subarray(done);
        if ((await readBase(this.#reader, at, view)) < view.length) throw baseTooShort();
        return;
      }
      const window = this.#slot(start);
      if (window.start !== start) {
        window.start = -1;
        window.bytes = await readBase(this.#reader, start, window.data);
        window.start = start;
      }
      const from = at - start;
      const n = Math.min(want, window.bytes - from);
      if (n <= 0) throw baseTooShort();
      window.data.copy(into, done, from, from + n);
      done += n;
    }
  }

  #slot(start: number): BaseWindow {
    return this.#windows[(start / BASE_WINDOW_BYTES) % BASE_WINDOWS] as BaseWindow;
  }
}

function baseTooShort(): AgentError {
  return new AgentError('DELTA_BASE_MISMATCH', 'the active slot is shorter than the base');
}

function readBaseSync(base: SlotReader, position: number, into: Buffer): number {
  try {
    return (base.readSync as NonNullable<SlotReader['readSync']>)(position, into);
  } catch (err) {
    throw new AgentError('DELTA_UNAVAILABLE', 'the active slot could not be read', { cause: err });
  }
}

/**
 * Reads the base, synchronously when the reader can: through the thread pool, the reads of the
 * long COPYs of bench:delta's npm-upgrade pair cost ~120 ms of this thread, synchronously ~10 ms.
 */
async function readBase(base: SlotReader, position: number, into: Buffer): Promise<number> {
  if (base.readSync) return readBaseSync(base, position, into);
  try {
    return await base.read(position, into);
  } catch (err) {
    throw new AgentError('DELTA_UNAVAILABLE', 'the active slot could not be read', { cause: err });
  }
}

/** Whether the active slot holds the image its state names, byte for byte. */
export async function baseHolds(base: DeltaSourceInput['base']): Promise<boolean> {
  try {
    await assertBaseHolds(base);
    return true;
  } catch {
    return false;
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
  // The parser's DELTA_MALFORMED, and zstd's own errors (a corrupt frame, a window over 2 MiB).
  return new AgentError('DELTA_MALFORMED', `delta: ${(err as Error).message}`, { cause: err });
}

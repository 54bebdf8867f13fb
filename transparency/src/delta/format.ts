import { constants, createZstdDecompress, type ZstdDecompress } from 'node:zlib';
import { TransparencyError } from '../error.js';

/**
 * tufchain's binary delta (README: Binary deltas): a plain 88-byte header binding the delta to one base image
 * and one target image, then a single zstd frame (with its content checksum) holding the op stream
 * that rebuilds the target from the base:
 *
 *   COPY  0x01  zigzag-varint(offset - end of the previous COPY)  varint(length)
 *   ADD   0x02  varint(length)  length literal bytes
 *   END   0x00  (nothing may follow)
 *
 * COPY offsets are relative to where the previous COPY ended, so the common case (the same
 * alignment as before, or a small shift) is one or two bytes that zstd squeezes further.
 */
export const DELTA_MAGIC = Buffer.from('TUFDLTA', 'latin1');
export const DELTA_FORMAT_VERSION = 1;
export const DELTA_HEADER_BYTES = 8 + 8 + 32 + 8 + 32;
export const DELTA_MEDIA_TYPE = 'application/vnd.tufchain.delta.v1';

export const OP_END = 0x00;
export const OP_COPY = 0x01;
export const OP_ADD = 0x02;

/**
 * The most zstd window an applier accepts (2^21 = 2 MiB of decoder
 * memory): zstd's own decoder limit is 2^27, which a hostile delta could use to make a vehicle
 * allocate 128 MiB. bench:delta's npm-upgrade op stream (2.5 MB) compresses to 386.7 KB with
 * 2^20, 381.3 KB with 2^21 and 381.0 KB with 2^22 or 2^23.
 */
export const DELTA_WINDOW_LOG = 21;

/**
 * The zstd window the generator uses: 2^19 = 512 KiB of the vehicle's decoder memory. On
 * npm-upgrade (above) 2^20 gave 386.8 KB and 2^19 391.1 KB (+1.1%), for 0.5 MiB less peak RSS
 * in the process that applies it; 2^18 gave 506 KB. With 2^21 the whole agent's peak RSS in a
 * delta update was ~1 MiB over its full-image update's, and over the 96 MiB goal (bench:delta).
 * Appliers still accept deltas made with 2^20 or 2^21.
 */
export const DELTA_GENERATE_WINDOW_LOG = 19;

/** Images larger than this are refused (lengths travel as u64; JS numbers are exact to 2^53). */
const MAX_IMAGE_BYTES = Number.MAX_SAFE_INTEGER;

export interface ImageRef {
  length: number;
  /** hex, no 0x */
  sha256: string;
}

export interface DeltaHeader {
  base: ImageRef;
  target: ImageRef;
}

export function encodeDeltaHeader(header: DeltaHeader): Buffer {
  const out = Buffer.alloc(DELTA_HEADER_BYTES);
  DELTA_MAGIC.copy(out, 0);
  out[7] = DELTA_FORMAT_VERSION;
  writeRef(out, 8, header.base);
  writeRef(out, 48, header.target);
  return out;
}

function writeRef(out: Buffer, at: number, ref: ImageRef): void {
  if (!Number.isSafeInteger(ref.length) || ref.length < 0) {
    throw new TransparencyError('DELTA_MALFORMED', `image length ${ref.length} is not a size`);
  }
  if (!/^[0-9a-f]{64}$/.test(ref.sha256)) {
    throw new TransparencyError('DELTA_MALFORMED', 'image sha256 is not 64 lowercase hex digits');
  }
  out.writeBigUInt64BE(BigInt(ref.length), at);
  out.write(ref.sha256, at + 8, 'hex');
}

/** Parses the first DELTA_HEADER_BYTES of a delta. DELTA_TRUNCATED if fewer; DELTA_MALFORMED. */
export function decodeDeltaHeader(bytes: Uint8Array): DeltaHeader {
  if (bytes.length < DELTA_HEADER_BYTES) {
    throw new TransparencyError(
      'DELTA_TRUNCATED',
      `delta header needs ${DELTA_HEADER_BYTES} bytes`,
    );
  }
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, DELTA_HEADER_BYTES);
  if (!buf.subarray(0, 7).equals(DELTA_MAGIC)) {
    throw new TransparencyError('DELTA_MALFORMED', 'not a tufchain delta (bad magic)');
  }
  if (buf[7] !== DELTA_FORMAT_VERSION) {
    throw new TransparencyError('DELTA_MALFORMED', `unsupported delta format version ${buf[7]}`);
  }
  return { base: readRef(buf, 8), target: readRef(buf, 48) };
}

function readRef(buf: Buffer, at: number): ImageRef {
  const length = buf.readBigUInt64BE(at);
  if (length > BigInt(MAX_IMAGE_BYTES)) {
    throw new TransparencyError('DELTA_MALFORMED', `image length ${length} is too large`);
  }
  return { length: Number(length), sha256: buf.toString('hex', at + 8, at + 40) };
}

/** The streaming zstd decoder for a delta body, limited to DELTA_WINDOW_LOG. */
export function createDeltaDecompressor(): ZstdDecompress {
  return createZstdDecompress({
    params: { [constants.ZSTD_d_windowLogMax]: DELTA_WINDOW_LOG },
  });
}

export type DeltaOp =
  | { kind: 'copy'; offset: number; length: number }
  /** A piece of an ADD literal (a long literal may come in several pieces). */
  | { kind: 'add'; bytes: Uint8Array };

/**
 * Takes the ops DeltaOpParser.feedFrom decodes, with no object per op: a COPY's range of the base,
 * an ADD piece as a range of the chunk fed (valid during the call only). A handler that cannot
 * finish an op at once returns a promise: the parser stops after that op, and the caller waits
 * for it (DeltaOpParser.takeWait) before it feeds the rest of the chunk.
 */
export interface DeltaOpHandler {
  copy(offset: number, length: number): Promise<void> | undefined;
  add(chunk: Uint8Array, start: number, end: number): Promise<void> | undefined;
}

/**
 * Decodes the (decompressed) op stream incrementally: feed() takes any split of the bytes and hands
 * out whole COPYs and ADD pieces as soon as they are known, holding at most one op header (<= 21
 * bytes) between calls, so a literal never has to be buffered. Every op is checked against the
 * header: a COPY inside the base, nothing past the target length, nothing after END.
 */
export class DeltaOpParser {
  readonly #header: DeltaHeader;
  #pending: number[] = [];
  #literalLeft = 0;
  #copyEnd = 0;
  #produced = 0;
  #ended = false;
  #wait: Promise<void> | undefined;

  constructor(header: DeltaHeader) {
    this.#header = header;
  }

  /** Target bytes the ops so far produce. */
  get produced(): number {
    return this.#produced;
  }

  get ended(): boolean {
    return this.#ended;
  }

  feed(chunk: Uint8Array, emit: (op: DeltaOp) => void): void {
    const handler: DeltaOpHandler = {
      copy: (offset, length) => {
        emit({ kind: 'copy', offset, length });
        return undefined;
      },
      add: (bytes, start, end) => {
        emit({ kind: 'add', bytes: bytes.subarray(start, end) });
        return undefined;
      },
    };
    this.feedFrom(chunk, 0, handler);
  }

  /**
   * Decodes `chunk` from `at` into `handler`'s calls, until the chunk ends or a call returns a
   * promise; returns the index reached (chunk.length when done), and keeps that promise for
   * takeWait().
   */
  feedFrom(chunk: Uint8Array, at: number, handler: DeltaOpHandler): number {
    const end = chunk.length;
    let i = at;
    while (i < end) {
      if (this.#ended) {
        throw new TransparencyError('DELTA_MALFORMED', 'bytes after the END op');
      }
      if (this.#literalLeft > 0) {
        const n = Math.min(this.#literalLeft, end - i);
        this.#literalLeft -= n;
        const wait = handler.add(chunk, i, i + n);
        i += n;
        if (wait) {
          this.#wait = wait;
          return i;
        }
        continue;
      }
      if (this.#pending.length === 0) {
        // The common case: the whole op header is in this chunk.
        const used = this.#decode(chunk, i, end, handler);
        if (used > 0) {
          i += used;
          if (this.#wait) return i;
          continue;
        }
      }
      // An op header split across chunks: gathered a byte at a time.
      this.#pending.push(chunk[i] as number);
      i += 1;
      if (this.#decode(this.#pending, 0, this.#pending.length, handler) > 0) {
        this.#pending.length = 0;
        if (this.#wait) return i;
      }
    }
    return i;
  }

  /** The promise of the handler call feedFrom stopped after, if any (once). */
  takeWait(): Promise<void> | undefined {
    const wait = this.#wait;
    this.#wait = undefined;
    return wait;
  }

  /** The op stream ended: DELTA_TRUNCATED unless END came and the target is complete. */
  finish(): void {
    if (!this.#ended || this.#literalLeft > 0 || this.#pending.length > 0) {
      throw new TransparencyError('DELTA_TRUNCATED', 'delta ends before its END op');
    }
  }

  /** Decodes the op header at bytes[at]; the bytes it took, or 0 when it is not complete yet. */
  #decode(bytes: ArrayLike<number>, at: number, end: number, handler: DeltaOpHandler): number {
    const tag = bytes[at];
    if (tag === OP_END) {
      if (this.#produced !== this.#header.target.length) {
        throw new TransparencyError(
          'DELTA_MALFORMED',
          `delta builds ${this.#produced} of ${this.#header.target.length} target bytes`,
        );
      }
      this.#ended = true;
      return 1;
    }
    if (tag !== OP_COPY && tag !== OP_ADD) {
      throw new TransparencyError('DELTA_MALFORMED', `unknown delta op 0x${tag?.toString(16)}`);
    }
    const first = readVarint(bytes, at + 1, end);
    if (first < 0) return 0;
    if (tag === OP_ADD) {
      this.#grow(first);
      this.#literalLeft = first;
      return varintEnd - at;
    }
    const length = readVarint(bytes, varintEnd, end);
    if (length < 0) return 0;
    const used = varintEnd - at;
    const offset = this.#copyEnd + unzigzag(first);
    if (offset < 0 || length === 0 || offset + length > this.#header.base.length) {
      throw new TransparencyError(
        'DELTA_MALFORMED',
        `COPY [${offset}, ${offset + length}) is outside the ${this.#header.base.length}-byte base`,
      );
    }
    this.#grow(length);
    this.#copyEnd = offset + length;
    this.#wait = handler.copy(offset, length);
    return used;
  }

  #grow(length: number): void {
    if (this.#produced + length > this.#header.target.length) {
      throw new TransparencyError(
        'DELTA_MALFORMED',
        `delta builds more than the ${this.#header.target.length} target bytes`,
      );
    }
    this.#produced += length;
  }
}

/** Longest varint accepted: 8 bytes carry 56 bits, more than any safe length. */
const MAX_VARINT_BYTES = 8;

/** Where the last complete readVarint ended (no object per varint: ops are many). */
let varintEnd = 0;

/** The varint at bytes[at], or -1 when it is not complete before `end`. */
function readVarint(bytes: ArrayLike<number>, at: number, end: number): number {
  let value = 0;
  let scale = 1;
  for (let i = at; i < end; i++) {
    const b = bytes[i] as number;
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      if (!Number.isSafeInteger(value)) {
        throw new TransparencyError('DELTA_MALFORMED', 'delta varint is too large');
      }
      varintEnd = i + 1;
      return value;
    }
    if (i - at + 1 >= MAX_VARINT_BYTES) {
      throw new TransparencyError('DELTA_MALFORMED', 'delta varint is too long');
    }
    scale *= 128;
  }
  return -1;
}

export function writeVarint(out: number[], value: number): void {
  let v = value;
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

export function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

function unzigzag(n: number): number {
  return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
}

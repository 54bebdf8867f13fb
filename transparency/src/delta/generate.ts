import { createHash } from 'node:crypto';
import { constants, zstdCompressSync } from 'node:zlib';
import {
  DELTA_GENERATE_WINDOW_LOG,
  OP_ADD,
  OP_COPY,
  OP_END,
  encodeDeltaHeader,
  writeVarint,
  zigzag,
  type DeltaHeader,
} from './format.js';

export interface DeltaOptions {
  /**
   * Bytes per indexed base block: every match of 2 * blockBytes - 1 bytes or more is found, and
   * the index holds base.length / blockBytes entries. Measured on bench:delta's pairs: 32 gave
   * the smallest deltas (npm-upgrade: 8 → 628 KB, 16 → 446 KB, 32 → 381 KB, 64 → 386 KB,
   * 128 → 407 KB): shorter COPYs inside changed text cost more than zstd saves on the literals.
   */
  blockBytes: number;
  /** zstd level of the op stream. */
  level: number;
}

export const defaultDeltaOptions: DeltaOptions = { blockBytes: 32, level: 19 };

/** A run that continues the previous COPY's alignment after a literal is taken from this length. */
const DIAGONAL_MIN_BYTES = 8;
/** Candidates with the same block hash looked at per position (repetitive images: zeros, padding). */
const MAX_CANDIDATES = 8;
const HASH_MULTIPLIER = 0x01000193;

/**
 * Builds the delta (format.ts) that rebuilds `target` from `base`. Every base block of
 * `blockBytes` goes into a hash index; a rolling hash of the target looks each position up, and a
 * hit is extended byte by byte both ways (so an insertion that shifts everything after it costs
 * only the inserted bytes). Right after a literal, the previous COPY's alignment is tried first
 * (a scattered one-byte change costs a three-byte ADD and a two-byte COPY). Literals and op
 * headers go into one zstd frame. Server side: both images are in memory.
 */
export function createDelta(
  base: Uint8Array,
  target: Uint8Array,
  options: Partial<DeltaOptions> = {},
): Buffer {
  const opts = { ...defaultDeltaOptions, ...options };
  const header: DeltaHeader = {
    base: { length: base.length, sha256: sha256(base) },
    target: { length: target.length, sha256: sha256(target) },
  };
  const ops = diffOps(base, target, opts.blockBytes);
  const body = zstdCompressSync(ops, {
    params: {
      [constants.ZSTD_c_compressionLevel]: opts.level,
      [constants.ZSTD_c_windowLog]: DELTA_GENERATE_WINDOW_LOG,
      [constants.ZSTD_c_checksumFlag]: 1,
    },
  });
  return Buffer.concat([encodeDeltaHeader(header), body]);
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The uncompressed op stream. */
export function diffOps(base: Uint8Array, target: Uint8Array, blockBytes: number): Buffer {
  const B = blockBytes;
  const index = new BlockIndex(base, B);
  const out = new OpWriter();
  let power = 1; // HASH_MULTIPLIER^(B-1)
  for (let k = 1; k < B; k++) power = Math.imul(power, HASH_MULTIPLIER);

  let i = 0;
  let literalStart = 0;
  let copyEnd = 0;
  let hash = 0;
  let hashAt = -1;
  while (i + B <= target.length) {
    // The previous alignment, continued after a literal (a changed byte or a few).
    const diagonal = copyEnd + (i - literalStart);
    if (i > literalStart && diagonal < base.length) {
      const run = matchForward(base, diagonal, target, i, DIAGONAL_MIN_BYTES);
      if (run >= DIAGONAL_MIN_BYTES) {
        const length = run + matchForward(base, diagonal + run, target, i + run, Infinity);
        out.add(target, literalStart, i);
        out.copy(diagonal, length);
        copyEnd = diagonal + length;
        i += length;
        literalStart = i;
        continue;
      }
    }
    if (hashAt === i - 1 && hashAt >= 0) {
      hash =
        (Math.imul(hash - Math.imul(target[i - 1] as number, power), HASH_MULTIPLIER) +
          (target[i + B - 1] as number)) |
        0;
    } else {
      hash = blockHash(target, i, B);
    }
    hashAt = i;
    const best = index.bestMatch(hash >>> 0, target, i, literalStart);
    if (best) {
      const start = i - best.back;
      out.add(target, literalStart, start);
      out.copy(best.offset - best.back, best.back + best.forward);
      copyEnd = best.offset + best.forward;
      i += best.forward;
      literalStart = i;
      hashAt = -1;
      continue;
    }
    i += 1;
  }
  out.add(target, literalStart, target.length);
  out.end();
  return out.finish();
}

function blockHash(bytes: Uint8Array, at: number, length: number): number {
  let h = 0;
  for (let k = 0; k < length; k++)
    h = (Math.imul(h, HASH_MULTIPLIER) + (bytes[at + k] as number)) | 0;
  return h;
}

function matchForward(
  base: Uint8Array,
  b: number,
  target: Uint8Array,
  t: number,
  limit: number,
): number {
  const max = Math.min(limit, base.length - b, target.length - t);
  let n = 0;
  while (n < max && base[b + n] === target[t + n]) n++;
  return n;
}

/** Open-addressing table of base block hashes to block offsets. */
class BlockIndex {
  readonly #base: Uint8Array;
  readonly #hashes: Uint32Array;
  /** offset + 1; 0 is empty */
  readonly #offsets: Float64Array;
  readonly #mask: number;

  constructor(base: Uint8Array, blockBytes: number) {
    this.#base = base;
    const blocks = Math.floor(base.length / blockBytes);
    let size = 1024;
    while (size < blocks * 2) size *= 2;
    this.#hashes = new Uint32Array(size);
    this.#offsets = new Float64Array(size);
    this.#mask = size - 1;
    for (let j = 0; j + blockBytes <= base.length; j += blockBytes) {
      this.#insert(blockHash(base, j, blockBytes) >>> 0, j);
    }
  }

  #insert(hash: number, offset: number): void {
    let same = 0;
    for (let slot = mix(hash) & this.#mask; ; slot = (slot + 1) & this.#mask) {
      if (this.#offsets[slot] === 0) {
        this.#hashes[slot] = hash;
        this.#offsets[slot] = offset + 1;
        return;
      }
      if (this.#hashes[slot] === hash && ++same >= MAX_CANDIDATES) return;
    }
  }

  /** The longest verified match for the block at target[t], extended back to `floor` at most. */
  bestMatch(
    hash: number,
    target: Uint8Array,
    t: number,
    floor: number,
  ): { offset: number; forward: number; back: number } | undefined {
    const base = this.#base;
    let best: { offset: number; forward: number; back: number } | undefined;
    for (let slot = mix(hash) & this.#mask; ; slot = (slot + 1) & this.#mask) {
      const stored = this.#offsets[slot] as number;
      if (stored === 0) return best;
      if (this.#hashes[slot] !== hash) continue;
      const offset = stored - 1;
      const forward = matchForward(base, offset, target, t, Infinity);
      if (forward === 0) continue;
      let back = 0;
      while (
        back < t - floor &&
        back < offset &&
        base[offset - back - 1] === target[t - back - 1]
      ) {
        back++;
      }
      if (!best || forward + back > best.forward + best.back) best = { offset, forward, back };
    }
  }
}

function mix(hash: number): number {
  return Math.imul(hash ^ (hash >>> 15), 0x2c1b3c6d) >>> 0;
}

/** Collects the op stream in parts; literals are copied once, at finish. */
class OpWriter {
  readonly #parts: Uint8Array[] = [];
  #headers: number[] = [];
  #copyEnd = 0;

  add(target: Uint8Array, from: number, to: number): void {
    if (to <= from) return;
    this.#headers.push(OP_ADD);
    writeVarint(this.#headers, to - from);
    this.#cut();
    this.#parts.push(target.subarray(from, to));
  }

  copy(offset: number, length: number): void {
    this.#headers.push(OP_COPY);
    writeVarint(this.#headers, zigzag(offset - this.#copyEnd));
    writeVarint(this.#headers, length);
    this.#copyEnd = offset + length;
  }

  end(): void {
    this.#headers.push(OP_END);
    this.#cut();
  }

  finish(): Buffer {
    return Buffer.concat(this.#parts);
  }

  #cut(): void {
    if (this.#headers.length === 0) return;
    this.#parts.push(Uint8Array.from(this.#headers));
    this.#headers = [];
  }
}

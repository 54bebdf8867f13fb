/**
 * A small RFC 9162 reference (section 2.1) for the contract's tests and gas benchmark: tree
 * hashes and consistency proofs. The production Merkle code lives in @tufchain/transparency;
 * this one is independent on purpose (contracts sits below transparency), so that the two
 * implementations and the on-chain verifier check one another.
 */
import { createHash } from 'node:crypto';

export type Hash = Buffer;

export function hashLeaf(data: Uint8Array): Hash {
  return createHash('sha256')
    .update(Buffer.from([0x00]))
    .update(data)
    .digest();
}

export function hashChildren(left: Hash, right: Hash): Hash {
  return createHash('sha256')
    .update(Buffer.from([0x01]))
    .update(left)
    .update(right)
    .digest();
}

export const EMPTY_ROOT: Hash = createHash('sha256').digest();

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * A tree over leaf hashes that keeps every complete, aligned subtree, so roots and proofs for
 * any size up to its size cost O(log n) hashes after an O(n) build.
 */
export class ReferenceTree {
  private readonly levels: Hash[][] = [[]];

  constructor(leafHashes: Iterable<Hash> = []) {
    for (const h of leafHashes) this.appendLeafHash(h);
  }

  get size(): number {
    return this.levels[0]?.length ?? 0;
  }

  appendLeafHash(leafHash: Hash): void {
    let node = leafHash;
    for (let level = 0; ; level++) {
      const row = (this.levels[level] ??= []);
      row.push(node);
      if (row.length % 2 === 1) return;
      node = hashChildren(row[row.length - 2] as Hash, node);
    }
  }

  /** MTH(D[start:start+count]). */
  subtreeRoot(start: number, count: number): Hash {
    if (count === 0) return EMPTY_ROOT;
    if ((count & (count - 1)) === 0 && start % count === 0) {
      const level = Math.log2(count);
      const node = this.levels[level]?.[start / count];
      if (node) return node;
    }
    if (count === 1) throw new Error(`leaf ${start.toString()} out of range`);
    const k = largestPowerOfTwoBelow(count);
    return hashChildren(this.subtreeRoot(start, k), this.subtreeRoot(start + k, count - k));
  }

  root(size = this.size): Hash {
    if (size > this.size) throw new Error('size beyond the tree');
    return this.subtreeRoot(0, size);
  }

  /** PROOF(m, D[n]) from RFC 9162 section 2.1.4.1. */
  consistencyProof(m: number, n: number): Hash[] {
    if (!(0 < m && m <= n && n <= this.size)) throw new Error('need 0 < m <= n <= size');
    return this.subproof(m, 0, n, true);
  }

  private subproof(m: number, start: number, n: number, complete: boolean): Hash[] {
    if (m === n) return complete ? [] : [this.subtreeRoot(start, n)];
    const k = largestPowerOfTwoBelow(n);
    if (m <= k) {
      return [...this.subproof(m, start, k, complete), this.subtreeRoot(start + k, n - k)];
    }
    return [...this.subproof(m - k, start + k, n - k, false), this.subtreeRoot(start, k)];
  }
}

/** Deterministic leaf hashes for benchmarks: hashLeaf(uint64be(i)). */
export function syntheticLeafHashes(count: number, offset = 0): Hash[] {
  const out: Hash[] = [];
  const buf = Buffer.alloc(8);
  for (let i = 0; i < count; i++) {
    buf.writeBigUInt64BE(BigInt(offset + i));
    out.push(hashLeaf(buf));
  }
  return out;
}

export const toHex = (h: Hash): string => `0x${h.toString('hex')}`;

import { TransparencyError } from '../error.js';
import { EMPTY_ROOT, HASH_SIZE, hashChildren, hashesEqual, type Hash } from './hash.js';
import {
  half,
  isOdd,
  isPowerOfTwo,
  isTreeIndex,
  largestPowerOfTwoBelow,
  log2Exact,
} from './math.js';

/**
 * Hashes of complete, aligned subtrees: node(level, index) covers leaves
 * [index * 2^level, (index + 1) * 2^level). Any storage that keeps them makes every root and
 * proof cost O(log n) lookups.
 */
export interface NodeSource {
  node(level: number, index: number): Hash;
}

/** MTH(D[start:end]) per RFC 9162 2.1.1, for end > start. */
export function subtreeRoot(src: NodeSource, start: number, end: number): Hash {
  const n = end - start;
  if (isPowerOfTwo(n) && start % n === 0) return src.node(log2Exact(n), start / n);
  const k = largestPowerOfTwoBelow(n);
  return hashChildren(subtreeRoot(src, start, start + k), subtreeRoot(src, start + k, end));
}

/** The root hash of the first `size` leaves. */
export function treeRoot(src: NodeSource, size: number): Hash {
  return size === 0 ? EMPTY_ROOT : subtreeRoot(src, 0, size);
}

/** RFC 9162 2.1.3.1: PATH(index, D[size]). */
export function inclusionProof(src: NodeSource, index: number, size: number): Hash[] {
  if (!isTreeIndex(index) || !isTreeIndex(size) || index >= size) {
    throw new TransparencyError(
      'INDEX_OUT_OF_RANGE',
      `leaf ${index} is not in a tree of size ${size}`,
    );
  }
  const path: Hash[] = [];
  const walk = (m: number, start: number, end: number): void => {
    const n = end - start;
    if (n === 1) return;
    const k = largestPowerOfTwoBelow(n);
    if (m < k) {
      walk(m, start, start + k);
      path.push(subtreeRoot(src, start + k, end));
    } else {
      walk(m - k, start + k, end);
      path.push(subtreeRoot(src, start, start + k));
    }
  };
  walk(index, 0, size);
  return path;
}

/** RFC 9162 2.1.4.1: PROOF(size1, D[size2]). Empty when size1 is 0 or equals size2. */
export function consistencyProof(src: NodeSource, size1: number, size2: number): Hash[] {
  if (!isTreeIndex(size1) || !isTreeIndex(size2) || size1 > size2) {
    throw new TransparencyError(
      'TREE_SIZE_INVALID',
      `no consistency proof from ${size1} to ${size2}`,
    );
  }
  if (size1 === 0 || size1 === size2) return [];
  const path: Hash[] = [];
  const walk = (m: number, start: number, end: number, isStart: boolean): void => {
    const n = end - start;
    if (m === n) {
      if (!isStart) path.push(subtreeRoot(src, start, end));
      return;
    }
    const k = largestPowerOfTwoBelow(n);
    if (m <= k) {
      walk(m, start, start + k, isStart);
      path.push(subtreeRoot(src, start + k, end));
    } else {
      walk(m - k, start + k, end, false);
      path.push(subtreeRoot(src, start, start + k));
    }
  };
  walk(size1, 0, size2, true);
  return path;
}

function checkHashes(
  code: 'INCLUSION_PROOF_INVALID' | 'CONSISTENCY_PROOF_INVALID',
  ...hashes: Hash[]
) {
  for (const h of hashes) {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
      throw new TransparencyError(code, 'hashes must be 32 bytes');
    }
  }
}

/** RFC 9162 2.1.3.2: the root an inclusion proof leads to. Throws INCLUSION_PROOF_INVALID. */
export function rootFromInclusionProof(
  leafHash: Hash,
  index: number,
  size: number,
  proof: readonly Hash[],
): Hash {
  const fail = (why: string) =>
    new TransparencyError('INCLUSION_PROOF_INVALID', `inclusion proof invalid: ${why}`);
  if (!isTreeIndex(index) || !isTreeIndex(size) || index >= size) throw fail('index out of range');
  checkHashes('INCLUSION_PROOF_INVALID', leafHash, ...proof);
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0) throw fail('proof too long');
    if (isOdd(fn) || fn === sn) {
      r = hashChildren(p, r);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw fail('proof too short');
  return r;
}

/** RFC 9162 2.1.3.2. Throws INCLUSION_PROOF_INVALID unless `leafHash` is leaf `index` of `root`. */
export function verifyInclusion(
  leafHash: Hash,
  index: number,
  size: number,
  proof: readonly Hash[],
  root: Hash,
): void {
  checkHashes('INCLUSION_PROOF_INVALID', root);
  if (!hashesEqual(rootFromInclusionProof(leafHash, index, size, proof), root)) {
    throw new TransparencyError(
      'INCLUSION_PROOF_INVALID',
      'inclusion proof invalid: root mismatch',
    );
  }
}

/**
 * RFC 9162 2.1.4.2. Throws CONSISTENCY_PROOF_INVALID unless the tree of `size2` leaves with
 * `root2` extends the tree of `size1` leaves with `root1`.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  root1: Hash,
  root2: Hash,
  proof: readonly Hash[],
): void {
  const fail = (why: string) =>
    new TransparencyError('CONSISTENCY_PROOF_INVALID', `consistency proof invalid: ${why}`);
  if (!isTreeIndex(size1) || !isTreeIndex(size2) || size1 > size2) throw fail('sizes go backwards');
  checkHashes('CONSISTENCY_PROOF_INVALID', root1, root2, ...proof);
  if (size1 === size2) {
    if (proof.length !== 0) throw fail('proof must be empty for equal sizes');
    if (!hashesEqual(root1, root2)) throw fail('roots differ for equal sizes');
    return;
  }
  if (size1 === 0) {
    if (proof.length !== 0) throw fail('proof must be empty from an empty tree');
    return;
  }
  if (proof.length === 0) throw fail('empty proof');
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : [...proof];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) throw fail('proof too long');
    if (isOdd(fn) || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw fail('proof too short');
  if (!hashesEqual(fr, root1)) throw fail('first root mismatch');
  if (!hashesEqual(sr, root2)) throw fail('second root mismatch');
}

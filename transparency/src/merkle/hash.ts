import { createHash, hash } from 'node:crypto';

/** A SHA-256 Merkle hash (32 bytes). */
export type Hash = Uint8Array;

export const HASH_SIZE = 32;

const LEAF_PREFIX = Buffer.from([0x00]);
/** Scratch buffer for node hashing (synchronous, so one buffer is enough). */
const nodeInput = Buffer.alloc(1 + 2 * HASH_SIZE);

/** RFC 9162 2.1.1: MTH({d}) = SHA-256(0x00 || d). */
export function hashLeaf(data: Uint8Array): Hash {
  return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
}

/** RFC 9162 2.1.1: SHA-256(0x01 || left || right). */
export function hashChildren(left: Hash, right: Hash): Hash {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) {
    return createHash('sha256')
      .update(Buffer.from([0x01]))
      .update(left)
      .update(right)
      .digest();
  }
  nodeInput[0] = 0x01;
  nodeInput.set(left, 1);
  nodeInput.set(right, 1 + HASH_SIZE);
  return hash('sha256', nodeInput, 'buffer');
}

/** RFC 9162 2.1.1: the hash of an empty tree, SHA-256(""). */
export const EMPTY_ROOT: Hash = createHash('sha256').digest();

export function hashesEqual(a: Hash, b: Hash): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

import { TransparencyError } from '../error.js';
import { hashChildren, hashLeaf, type Hash } from './hash.js';
import { consistencyProof, inclusionProof, treeRoot, type NodeSource } from './proof.js';

/**
 * Folds a new leaf hash into the stored complete subtrees: after leaf `index`, every aligned
 * subtree it completes gets its hash. `get`/`put` address node(level, index).
 */
export function appendLeafHash(
  leafHash: Hash,
  index: number,
  get: (level: number, index: number) => Hash,
  put: (level: number, index: number, hash: Hash) => void,
): void {
  put(0, index, leafHash);
  let level = 0;
  let i = index;
  let h = leafHash;
  while (i % 2 === 1) {
    h = hashChildren(get(level, i - 1), h);
    level++;
    i = Math.floor(i / 2);
    put(level, i, h);
  }
}

/** An in-memory RFC 9162 tree (for tests, proofs in memory and the auditor's replay). */
export class MemoryTree implements NodeSource {
  readonly #levels: Hash[][] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  append(data: Uint8Array): number {
    return this.appendHash(hashLeaf(data));
  }

  appendHash(leafHash: Hash): number {
    const index = this.#size;
    appendLeafHash(
      leafHash,
      index,
      (l, i) => this.node(l, i),
      (l, i, h) => {
        (this.#levels[l] ??= [])[i] = h;
      },
    );
    this.#size++;
    return index;
  }

  node(level: number, index: number): Hash {
    const h = this.#levels[level]?.[index];
    if (!h) throw new TransparencyError('ENTRY_NOT_FOUND', `no node ${level}/${index}`);
    return h;
  }

  root(size = this.#size): Hash {
    return treeRoot(this, size);
  }

  inclusionProof(index: number, size = this.#size): Hash[] {
    if (size > this.#size) throw new TransparencyError('TREE_SIZE_INVALID', 'tree is smaller');
    return inclusionProof(this, index, size);
  }

  consistencyProof(size1: number, size2 = this.#size): Hash[] {
    if (size2 > this.#size) throw new TransparencyError('TREE_SIZE_INVALID', 'tree is smaller');
    return consistencyProof(this, size1, size2);
  }
}

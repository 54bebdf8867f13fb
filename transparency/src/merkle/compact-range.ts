import { EMPTY_ROOT, hashChildren, type Hash } from './hash.js';

/**
 * The right edge of a growing tree: one perfect subtree root per set bit of the size. Replays a
 * log of any length in O(log n) memory and yields the RFC 9162 root at every size.
 */
export class CompactRange {
  readonly #levels: number[] = [];
  readonly #hashes: Hash[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  appendLeafHash(leafHash: Hash): void {
    let level = 0;
    let h = leafHash;
    while (this.#levels.length > 0 && this.#levels[this.#levels.length - 1] === level) {
      this.#levels.pop();
      h = hashChildren(this.#hashes.pop()!, h);
      level++;
    }
    this.#levels.push(level);
    this.#hashes.push(h);
    this.#size++;
  }

  root(): Hash {
    if (this.#hashes.length === 0) return EMPTY_ROOT;
    let r = this.#hashes[this.#hashes.length - 1]!;
    for (let i = this.#hashes.length - 2; i >= 0; i--) r = hashChildren(this.#hashes[i]!, r);
    return r;
  }
}

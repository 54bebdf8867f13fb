import { TransparencyError } from '../error.js';
import { HASH_SIZE, type Hash } from './hash.js';
import type { NodeSource } from './proof.js';

/** A node address: [level, index] (see NodeSource). */
export type NodeCoord = readonly [level: number, index: number];

const placeholder = new Uint8Array(HASH_SIZE);

/**
 * Runs a root or proof computation over nodes that live behind an asynchronous store, with one
 * batched read: a first pass over placeholder hashes records which nodes the computation reads
 * (the choice depends only on tree sizes and indexes, never on hash values), then those nodes are
 * fetched together and the computation runs again over them.
 */
export async function withNodes<T>(
  fetchNodes: (coords: readonly NodeCoord[]) => Promise<Hash[]>,
  compute: (src: NodeSource) => T,
): Promise<T> {
  const wanted = new Map<string, NodeCoord>();
  compute({
    node(level, index) {
      wanted.set(`${level}/${index}`, [level, index]);
      return placeholder;
    },
  });
  const coords = [...wanted.values()];
  const hashes = coords.length === 0 ? [] : await fetchNodes(coords);
  const found = new Map<string, Hash>();
  coords.forEach(([level, index], i) => found.set(`${level}/${index}`, hashes[i]!));
  return compute({
    node(level, index) {
      const hash = found.get(`${level}/${index}`);
      if (!hash) throw new TransparencyError('LOG_CORRUPT', `missing tree node ${level}/${index}`);
      return hash;
    },
  });
}

/**
 * The nodes appending to a tree of `size` leaves reads (appendLeafHash): the roots of the
 * complete subtrees along its right edge, one per bit set in `size`.
 */
export function frontier(size: number): NodeCoord[] {
  const out: NodeCoord[] = [];
  for (let level = 0; 2 ** level <= size; level++) {
    const count = Math.floor(size / 2 ** level);
    if (count % 2 === 1) out.push([level, count - 1]);
  }
  return out;
}

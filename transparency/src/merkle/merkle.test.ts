import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TransparencyError } from '../error.js';
import { EMPTY_ROOT, hashChildren, hashLeaf, type Hash } from './hash.js';
import { largestPowerOfTwoBelow } from './math.js';
import { MemoryTree } from './memory-tree.js';
import { rootFromInclusionProof, verifyConsistency, verifyInclusion } from './proof.js';

interface Vectors {
  leaves: string[];
  emptyRoot: string;
  roots: string[];
  inclusion: { leafIndex: number; treeSize: number; proof: string[] }[];
  consistency: { size1: number; size2: number; proof: string[] }[];
}
const vectors = JSON.parse(
  readFileSync(new URL('./testdata/rfc6962-vectors.json', import.meta.url), 'utf8'),
) as Vectors;
const hx = (s: string): Hash => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (h: Hash) => Buffer.from(h).toString('hex');

/** MTH straight from the RFC 9162 definition, as an independent reference. */
function referenceRoot(leaves: Uint8Array[]): Hash {
  if (leaves.length === 0) return EMPTY_ROOT;
  if (leaves.length === 1) return hashLeaf(leaves[0]!);
  const k = largestPowerOfTwoBelow(leaves.length);
  return hashChildren(referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k)));
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TransparencyError);
    return (err as TransparencyError).code;
  }
  return 'NO_ERROR';
}

function treeOf(n: number): MemoryTree {
  const t = new MemoryTree();
  for (let i = 0; i < n; i++) t.append(Buffer.from(`leaf-${i}`));
  return t;
}

describe('RFC 6962 / RFC 9162 test vectors', () => {
  const tree = new MemoryTree();
  for (const l of vectors.leaves) tree.append(hx(l));

  it('computes the published root for every tree size 0..8', () => {
    expect(toHex(tree.root(0))).toBe(vectors.emptyRoot);
    vectors.roots.forEach((root, i) => expect(toHex(tree.root(i + 1))).toBe(root));
  });

  for (const v of vectors.inclusion) {
    it(`generates and verifies the published inclusion proof for leaf ${v.leafIndex} of ${v.treeSize}`, () => {
      expect(tree.inclusionProof(v.leafIndex, v.treeSize).map(toHex)).toEqual(v.proof);
      const root = hx(vectors.roots[v.treeSize - 1]!);
      const leaf = hashLeaf(hx(vectors.leaves[v.leafIndex]!));
      verifyInclusion(leaf, v.leafIndex, v.treeSize, v.proof.map(hx), root);
    });
  }

  for (const v of vectors.consistency) {
    it(`generates and verifies the published consistency proof ${v.size1} -> ${v.size2}`, () => {
      expect(tree.consistencyProof(v.size1, v.size2).map(toHex)).toEqual(v.proof);
      verifyConsistency(
        v.size1,
        v.size2,
        hx(vectors.roots[v.size1 - 1]!),
        hx(vectors.roots[v.size2 - 1]!),
        v.proof.map(hx),
      );
    });
  }
});

describe('verifyInclusion', () => {
  const v = vectors.inclusion[2]!; // leaf 5 of 8
  const root = hx(vectors.roots[v.treeSize - 1]!);
  const leaf = hashLeaf(hx(vectors.leaves[v.leafIndex]!));
  const proof = v.proof.map(hx);
  const flipped = (i: number) =>
    proof.map((p, j) => (j === i ? p.map((b, k) => (k === 0 ? b ^ 8 : b)) : p));
  const attacks: {
    desc: string;
    tamper: () => [Hash, number, number, Hash[], Hash];
    wantCode: string;
  }[] = [
    {
      desc: 'the wrong leaf index',
      tamper: () => [leaf, v.leafIndex + 1, v.treeSize, proof, root],
      wantCode: 'INCLUSION_PROOF_INVALID',
    },
    {
      desc: 'a doubled tree size',
      tamper: () => [leaf, v.leafIndex, v.treeSize * 2, proof, root],
      wantCode: 'INCLUSION_PROOF_INVALID',
    },
    {
      desc: 'a halved tree size',
      tamper: () => [leaf, v.leafIndex, v.treeSize / 2, proof, root],
      wantCode: 'INCLUSION_PROOF_INVALID',
    },
    {
      desc: 'another leaf',
      tamper: () => [hashLeaf(Buffer.from('evil')), v.leafIndex, v.treeSize, proof, root],
      wantCode: 'INCLUSION_PROOF_INVALID',
    },
    {
      desc: 'the empty root',
      tamper: () => [leaf, v.leafIndex, v.treeSize, proof, EMPTY_ROOT],
      wantCode: 'INCLUSION_PROOF_INVALID',
    },
    {
      desc: 'trailing garbage',
      tamper: () => [leaf, v.leafIndex, v.treeSize, [...proof, root], root],
      wantCode: 'INCLUSION_PROOF_INVALID',
    },
    {
      desc: 'a preceding root',
      tamper: () => [leaf, v.leafIndex, v.treeSize, [root, ...proof], root],
      wantCode: 'INCLUSION_PROOF_INVALID',
    },
    {
      desc: 'a short hash',
      tamper: () => [leaf, v.leafIndex, v.treeSize, [new Uint8Array(31), ...proof.slice(1)], root],
      wantCode: 'INCLUSION_PROOF_INVALID',
    },
    {
      desc: 'a removed component',
      tamper: () => [leaf, v.leafIndex, v.treeSize, proof.slice(0, -1), root],
      wantCode: 'INCLUSION_PROOF_INVALID',
    },
    ...proof.map((_, i) => ({
      desc: `a flipped bit in proof[${i}]`,
      tamper: (): [Hash, number, number, Hash[], Hash] => [
        leaf,
        v.leafIndex,
        v.treeSize,
        flipped(i),
        root,
      ],
      wantCode: 'INCLUSION_PROOF_INVALID',
    })),
    {
      desc: 'an index beyond the tree',
      tamper: () => [leaf, 8, 8, proof, root],
      wantCode: 'INCLUSION_PROOF_INVALID',
    },
  ];
  for (const { desc, tamper, wantCode } of attacks) {
    it(`throws ${wantCode} for ${desc}`, () => {
      expect(codeOf(() => verifyInclusion(...tamper()))).toBe(wantCode);
    });
  }
});

describe('verifyConsistency', () => {
  const v = vectors.consistency[2]!; // 6 -> 8
  const r1 = hx(vectors.roots[v.size1 - 1]!);
  const r2 = hx(vectors.roots[v.size2 - 1]!);
  const proof = v.proof.map(hx);
  const attacks: { desc: string; tamper: () => [number, number, Hash, Hash, Hash[]] }[] = [
    { desc: 'size1 - 1', tamper: () => [v.size1 - 1, v.size2, r1, r2, proof] },
    { desc: 'size1 + 1', tamper: () => [v.size1 + 1, v.size2, r1, r2, proof] },
    { desc: 'size2 * 2', tamper: () => [v.size1, v.size2 * 2, r1, r2, proof] },
    { desc: 'swapped roots', tamper: () => [v.size1, v.size2, r2, r1, proof] },
    { desc: 'an empty proof', tamper: () => [v.size1, v.size2, r1, r2, []] },
    { desc: 'trailing root2', tamper: () => [v.size1, v.size2, r1, r2, [...proof, r2]] },
    { desc: 'preceding proof[0]', tamper: () => [v.size1, v.size2, r1, r2, [proof[0]!, ...proof]] },
    { desc: 'a truncated proof', tamper: () => [v.size1, v.size2, r1, r2, proof.slice(0, -1)] },
    { desc: 'a second tree that is older', tamper: () => [v.size2, v.size1, r2, r1, proof] },
    { desc: 'equal sizes with different roots', tamper: () => [v.size1, v.size1, r1, r2, []] },
    {
      desc: 'a non-empty proof from an empty tree',
      tamper: () => [0, v.size2, EMPTY_ROOT, r2, proof],
    },
  ];
  for (const { desc, tamper } of attacks) {
    it(`throws CONSISTENCY_PROOF_INVALID for ${desc}`, () => {
      expect(codeOf(() => verifyConsistency(...tamper()))).toBe('CONSISTENCY_PROOF_INVALID');
    });
  }
});

describe('MemoryTree properties', () => {
  it('matches the reference MTH for random sizes', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 8 }), { maxLength: 70 }), (leaves) => {
        const t = new MemoryTree();
        for (const l of leaves) t.append(l);
        expect(toHex(t.root())).toBe(toHex(referenceRoot(leaves)));
      }),
      { numRuns: 150 },
    );
  });

  it('produces inclusion proofs that verify, and fail for any other index', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 300 })
          .chain((n) => fc.tuple(fc.constant(n), fc.nat(n - 1), fc.nat(n - 1))),
        ([n, i, j]) => {
          const t = treeOf(n);
          const proof = t.inclusionProof(i, n);
          const leaf = hashLeaf(Buffer.from(`leaf-${i}`));
          verifyInclusion(leaf, i, n, proof, t.root(n));
          expect(toHex(rootFromInclusionProof(leaf, i, n, proof))).toBe(toHex(t.root(n)));
          if (j !== i)
            expect(codeOf(() => verifyInclusion(leaf, j, n, proof, t.root(n)))).toBe(
              'INCLUSION_PROOF_INVALID',
            );
        },
      ),
      { numRuns: 200 },
    );
  });

  it('produces consistency proofs that verify between any two sizes, and fail for a forked history', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }).chain((n) => fc.tuple(fc.nat(n), fc.constant(n))),
        ([m, n]) => {
          const t = treeOf(n);
          verifyConsistency(m, n, t.root(m), t.root(n), t.consistencyProof(m, n));
          if (m > 0 && m < n) {
            const fork = new MemoryTree();
            for (let i = 0; i < n; i++)
              fork.append(Buffer.from(i === m - 1 ? 'forged' : `leaf-${i}`));
            expect(
              codeOf(() =>
                verifyConsistency(m, n, t.root(m), fork.root(n), fork.consistencyProof(m, n)),
              ),
            ).toBe('CONSISTENCY_PROOF_INVALID');
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('throws INDEX_OUT_OF_RANGE / TREE_SIZE_INVALID for impossible proofs', () => {
    const t = treeOf(5);
    expect(codeOf(() => t.inclusionProof(5, 5))).toBe('INDEX_OUT_OF_RANGE');
    expect(codeOf(() => t.consistencyProof(4, 3))).toBe('TREE_SIZE_INVALID');
    expect(codeOf(() => t.consistencyProof(1, 6))).toBe('TREE_SIZE_INVALID');
  });
});

describe('CompactRange', () => {
  it('yields the same root as the full tree at every size', async () => {
    const { CompactRange } = await import('./compact-range.js');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), (n) => {
        const t = treeOf(n);
        const c = new CompactRange();
        expect(toHex(c.root())).toBe(toHex(EMPTY_ROOT));
        for (let i = 0; i < n; i++) {
          c.appendLeafHash(hashLeaf(Buffer.from(`leaf-${i}`)));
          expect(toHex(c.root())).toBe(toHex(t.root(i + 1)));
        }
      }),
      { numRuns: 30 },
    );
  });
});
